"""The statistics behind `lakescore contract infer`: per raw text column, what type every value
casts to, how many values are present, the numeric and time range and the distinct values; and
the draft contract of a column from them (as TensorFlow Data Validation's infer_schema)."""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.sqltext import col

CANDIDATE_TYPES = ("int", "bigint", "double", "boolean", "date", "timestamp")


def _value_text(column: str, null_tokens: list[str]) -> Column:
    """A raw column's trimmed text, NULL for a null token."""
    text = F.trim(col(column).cast("string"))
    return F.when(~text.isin(null_tokens), text) if null_tokens else text


def infer_stats(columns: Iterable[str], null_tokens: Iterable[str] = ()):
    """Raw text columns -> one row per column with what type inference needs (one pass):
    `column, rows, present, max_length, fails_<type>` (values that do not cast to each
    candidate type), numeric `min_value`/`max_value` (as double), `min_time`/`max_time`,
    `distinct` (approximate)."""
    columns = list(columns)
    tokens = list(null_tokens)

    def apply(df: DataFrame) -> DataFrame:
        stats = []
        for c in columns:
            value = _value_text(c, tokens)
            fails = {t: F.count(F.when(value.isNotNull() & value.try_cast(t).isNull(), 1)) for t in CANDIDATE_TYPES}
            number = value.try_cast("double")
            stats.append(F.struct(
                F.lit(c).alias("column"),
                F.count(F.lit(1)).alias("rows"),
                F.count(value).alias("present"),
                F.max(F.length(value)).alias("max_length"),
                *[fails[t].alias(f"fails_{t}") for t in CANDIDATE_TYPES],
                F.min(number).alias("min_value"),
                F.max(number).alias("max_value"),
                F.min(value.try_cast("timestamp")).alias("min_time"),
                F.max(value.try_cast("timestamp")).alias("max_time"),
                F.approx_count_distinct(value).alias("distinct"),
            ))
        return df.agg(F.array(*stats).alias("s")).select(F.explode("s").alias("s")).select("s.*")

    return apply


def domain_values(columns: Iterable[str], null_tokens: Iterable[str] = ()):
    """The distinct non-null values of (low-cardinality) columns, sorted: one row, one array
    column per column. Call it only on columns whose `distinct` is small."""
    columns = list(columns)
    tokens = list(null_tokens)

    def apply(df: DataFrame) -> DataFrame:
        return df.agg(*[F.array_sort(F.collect_set(_value_text(c, tokens))).alias(c) for c in columns])

    return apply


def _round_out(lo: float, hi: float, integer: bool) -> tuple[float, float]:
    if integer:
        return float(math.floor(lo)), float(math.ceil(hi))
    # round() first: 13.05 * 100 is 1305.0000000000002 in floating point
    return math.floor(round(lo * 100, 6)) / 100, math.ceil(round(hi * 100, 6)) / 100


def suggest_column(stats: Mapping[str, Any], *, margin: float = 0.1, max_domain_size: int = 50,
                   values: list[str] | None = None) -> dict[str, Any]:
    """A draft contract for one column from its `infer_stats` row (and, for a low-cardinality
    string column, its distinct `values`): the narrowest type every value casts to, nullable
    only when some value is missing, a domain for a categorical string column (at most
    `max_domain_size` values, each seen twice on average), a range widened by `margin` of its
    span (never crossing 0 when the data does not)."""
    present = stats["present"]
    spec: dict[str, Any] = {}
    if present == 0:
        spec["type"] = "string"
    elif stats["fails_int"] == 0:
        spec["type"] = "int"
    elif stats["fails_bigint"] == 0:
        spec["type"] = "bigint"
    elif stats["fails_double"] == 0:
        spec["type"] = "double"
    elif stats["fails_boolean"] == 0:
        spec["type"] = "boolean"
    elif stats["fails_date"] == 0 and (stats["max_length"] or 0) <= 10:
        spec["type"] = "date"
    elif stats["fails_timestamp"] == 0:
        spec["type"] = "timestamp"
    else:
        spec["type"] = "string"
    if present == stats["rows"] and present > 0:
        spec["nullable"] = False
    if spec["type"] in ("int", "bigint", "double") and stats["min_value"] is not None:
        lo, hi = float(stats["min_value"]), float(stats["max_value"])
        pad = (hi - lo) * margin if hi > lo else 1.0
        new_lo, new_hi = lo - pad, hi + pad
        if lo >= 0:
            new_lo = max(new_lo, 0.0)
        if hi <= 0:
            new_hi = min(new_hi, 0.0)
        new_lo, new_hi = _round_out(new_lo, new_hi, spec["type"] != "double")
        cast = int if spec["type"] != "double" else float
        spec["min"], spec["max"] = cast(new_lo), cast(new_hi)
    if spec["type"] == "string" and values is not None and 0 < len(values) <= max_domain_size \
            and len(values) * 2 <= present:
        spec["domain"] = list(values)
    return spec


def is_domain_candidate(stats: Mapping[str, Any], max_domain_size: int) -> bool:
    """Worth fetching the distinct values: a string-looking column with few distinct values
    (the approximate count may be off by a few percent)."""
    return stats["fails_double"] > 0 and 0 < stats["distinct"] <= max_domain_size * 1.1 + 1
