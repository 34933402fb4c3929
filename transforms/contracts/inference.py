"""The statistics behind `lakescore contract infer`: per raw text column, what type every value
casts to, how many values are present, the numeric and time range and the distinct values; and
the draft contract of a column from them (as TensorFlow Data Validation's infer_schema).

Inference never overflows on what real files hold: only text shaped like an ISO date or
timestamp is tried as one (so an id such as 16060 is never read as the year 16060), ranges are
doubles, times are returned as text, and integers written with a leading zero (zip codes,
account numbers) stay text. Values that look like the usual null markers (NA, N/A, NULL, ...)
are counted apart, so a numeric column with NA in it is still numeric, and the markers are
suggested as the source's `null_values`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.sqltext import col

CANDIDATE_TYPES = ("int", "bigint", "double", "boolean", "date", "timestamp")
NUMERIC_TYPES = ("int", "bigint", "double")
TIME_TYPES = ("date", "timestamp")
# Text a file may use for a missing value; suggested as null_values when it sits among values
# of another type (NA among numbers).
NULL_TOKEN_CANDIDATES = ("NA", "N/A", "n/a", "#N/A", "NaN", "nan", "NULL", "null", "None", "none", "-", "?")
# ISO dates and timestamps (2013-01-01, 2013-01-01 05:00[:00[.000]], T, a zone): nothing else is
# tried as a time.
TIME_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$"
# An integer written with a leading zero is an identifier, not a number (02134, 007).
LEADING_ZERO = r"^[+-]?0[0-9]+([.]|$)"


def _value_text(column: str, null_tokens: list[str]) -> Column:
    """A raw column's trimmed text, NULL for a null token."""
    text = F.trim(col(column).cast("string"))
    return F.when(~text.isin(null_tokens), text) if null_tokens else text


def _casts(value: Column, type_name: str) -> Column:
    """The value as `type_name`, NULL when it is not one (text that is not shaped like a time is
    never cast to one, a number with a leading zero is not a number)."""
    if type_name in TIME_TYPES:
        return F.when(value.rlike(TIME_TEXT), value.try_cast(type_name))
    if type_name in NUMERIC_TYPES:
        return F.when(~value.rlike(LEADING_ZERO), value.try_cast(type_name))
    return value.try_cast(type_name)


def infer_stats(columns: Iterable[str], null_tokens: Iterable[str] = (), candidates: Iterable[str] = ()):
    """Raw text columns -> one row per column with what type inference needs (one pass):
    `column, rows, present, max_length, fails_<type>` (values that do not cast to each
    candidate type), numeric `min_value`/`max_value` (as double), `min_time`/`max_time` (as
    text), `distinct` (approximate), and `tokens` (the `candidates` null markers found, which
    count as missing values here)."""
    columns = list(columns)
    tokens = list(null_tokens)
    markers = [t for t in candidates if t not in tokens]

    def apply(df: DataFrame) -> DataFrame:
        stats = []
        for c in columns:
            text = F.trim(col(c).cast("string"))
            value = _value_text(c, tokens + markers)
            fails = {t: F.count(F.when(value.isNotNull() & _casts(value, t).isNull(), 1)) for t in CANDIDATE_TYPES}
            found = F.array_sort(F.collect_set(F.when(text.isin(markers), text))) if markers \
                else F.array().cast("array<string>")
            stats.append(F.struct(
                F.lit(c).alias("column"),
                F.count(F.lit(1)).alias("rows"),
                F.count(value).alias("present"),
                F.max(F.length(value)).alias("max_length"),
                *[fails[t].alias(f"fails_{t}") for t in CANDIDATE_TYPES],
                F.min(_casts(value, "double")).alias("min_value"),
                F.max(_casts(value, "double")).alias("max_value"),
                F.min(_casts(value, "timestamp")).cast("string").alias("min_time"),
                F.max(_casts(value, "timestamp")).cast("string").alias("max_time"),
                F.approx_count_distinct(value).alias("distinct"),
                found.alias("tokens"),
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


def infer_type(stats: Mapping[str, Any]) -> str:
    """The narrowest type every present value casts to (string when none does, or none is present)."""
    if not stats["present"]:
        return "string"
    for t in CANDIDATE_TYPES:
        if stats[f"fails_{t}"] == 0 and (t != "date" or (stats["max_length"] or 0) <= 10):
            return t
    return "string"


def suggested_null_tokens(stats: Iterable[Mapping[str, Any]]) -> list[str]:
    """The null markers found in columns whose other values have a type (NA among numbers):
    those are missing values, not text."""
    found = {t for s in stats if infer_type(s) != "string" for t in (s.get("tokens") or [])}
    return [t for t in NULL_TOKEN_CANDIDATES if t in found]


def suggest_column(stats: Mapping[str, Any], *, margin: float = 0.1, max_domain_size: int = 50,
                   values: list[str] | None = None) -> dict[str, Any]:
    """A draft contract for one column from its `infer_stats` row (and, for a low-cardinality
    string column, its distinct `values`): the narrowest type every value casts to, nullable
    only when some value is missing, a domain for a categorical string column (at most
    `max_domain_size` values, each seen twice on average), a range widened by `margin` of its
    span (never crossing 0 when the data does not)."""
    present = stats["present"]
    spec: dict[str, Any] = {"type": infer_type(stats)}
    if present == stats["rows"] and present > 0:
        spec["nullable"] = False
    finite = stats["min_value"] is not None and math.isfinite(stats["min_value"]) and math.isfinite(stats["max_value"])
    if spec["type"] in NUMERIC_TYPES and finite:
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
    """Worth fetching the distinct values: a string column with few distinct values (the
    approximate count may be off by a few percent)."""
    return infer_type(stats) == "string" and 0 < stats["distinct"] <= max_domain_size * 1.1 + 1
