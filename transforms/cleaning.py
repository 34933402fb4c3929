"""Typing and row-level validation of raw data.

A raw row arrives as text. Each rule is a `Column` that is NULL when the row passes and a
reason struct `(code, column, detail)` when it fails; `with_reasons` gathers every failed rule
of a row into the array column `_reasons`. A row with no reasons is clean; every other row is
quarantined with its original values as text, so nothing is lost.
"""

from __future__ import annotations

from typing import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

REASONS = "_reasons"
ORIGINAL = "_original"

# Reason codes, named after TensorFlow Data Validation's anomaly types where one fits.
TYPE_MISMATCH = "type_mismatch"
MISSING_VALUE = "missing_value"


def reason(code: str, column: str, detail: Column | str) -> Column:
    detail_col = detail if isinstance(detail, Column) else F.lit(detail)
    return F.struct(
        F.lit(code).alias("code"), F.lit(column).alias("column"), detail_col.cast("string").alias("detail")
    )


def failed(condition: Column, code: str, column: str, detail: Column | str) -> Column:
    """A rule: the reason when `condition` is true, NULL otherwise (a NULL condition passes)."""
    return F.when(F.coalesce(condition, F.lit(False)), reason(code, column, detail))


def original_values(columns: list[str]) -> Column:
    """Every raw column as text in one map, so a quarantined row keeps what arrived."""
    pairs = []
    for name in columns:
        pairs += [F.lit(name), F.col(f"`{name}`").cast("string")]
    return F.create_map(*pairs) if pairs else F.create_map().cast("map<string,string>")


def nulls_from_tokens(columns: list[str], tokens: list[str]):
    """Raw text tokens that mean NULL (e.g. ``NA``) become NULL in the named columns."""

    def apply(df: DataFrame) -> DataFrame:
        if not tokens:
            return df
        return df.withColumns({
            c: F.when(F.trim(F.col(f"`{c}`").cast("string")).isin(tokens), F.lit(None)).otherwise(F.col(f"`{c}`"))
            for c in columns
        })

    return apply


def typed_rules(columns: Mapping[str, tuple[str, bool]]) -> tuple[dict[str, Column], list[Column]]:
    """Typed values and type/null rules for declared columns {name: (type, nullable)}."""
    typed: dict[str, Column] = {}
    rules: list[Column] = []
    for name, (type_name, nullable) in columns.items():
        raw = F.col(f"`{name}`")
        value = F.trim(raw.cast("string")).try_cast(type_name) if type_name != "string" else raw.cast("string")
        typed[name] = value
        rules.append(failed(raw.isNotNull() & value.isNull(), TYPE_MISMATCH, name,
                            F.concat(F.lit(f"not a {type_name}: "), raw.cast("string"))))
        if not nullable:
            rules.append(failed(raw.isNull(), MISSING_VALUE, name, "required value is null"))
    return typed, rules


def with_reasons(rules: list[Column]):
    """Add `_reasons`: the failed rules of each row (an empty array when it is clean)."""

    def apply(df: DataFrame) -> DataFrame:
        if not rules:
            return df.withColumn(REASONS, F.array().cast("array<struct<code:string,column:string,detail:string>>"))
        return df.withColumn(REASONS, F.filter(F.array(*rules), lambda r: r.isNotNull()))

    return apply


def validate(columns: Mapping[str, tuple[str, bool]], null_tokens: list[str], keep: list[str] = ()):
    """Raw text rows -> typed columns + `_original` + `_reasons` (+ the `keep` columns as they are).

    `columns` maps each declared column to (type, nullable). Every declared column must be
    present in the input; the caller checks that and names the table.
    """

    def apply(df: DataFrame) -> DataFrame:
        raw_columns = [c for c in df.columns if c not in keep]
        with_original = df.withColumn(ORIGINAL, original_values(raw_columns))
        normalized = with_original.transform(nulls_from_tokens(list(columns), null_tokens))
        typed, rules = typed_rules(columns)
        checked = normalized.transform(with_reasons(rules))
        return checked.select(
            *[F.col(f"`{k}`") for k in keep],
            *[col.alias(name) for name, col in typed.items()],
            F.col(ORIGINAL),
            F.col(REASONS),
        )

    return apply


def clean_rows(df: DataFrame, derived: Mapping[str, str] | None = None) -> DataFrame:
    """The valid rows, without the bookkeeping columns, plus derived columns (SQL)."""
    out = df.where(F.size(REASONS) == 0).drop(ORIGINAL, REASONS)
    return out.withColumns({name: F.expr(sql) for name, sql in (derived or {}).items()})


def quarantine_rows(df: DataFrame, source: str, carry: list[str] = ()) -> DataFrame:
    """The rejected rows: source, the `carry` columns (batch id), original text values and
    every reason, with their codes also as one sorted comma-separated string for SQL."""
    return df.where(F.size(REASONS) > 0).select(
        F.lit(source).alias("source"),
        *[F.col(f"`{c}`") for c in carry],
        F.col(ORIGINAL).alias("original"),
        F.col(REASONS).alias("reasons"),
        F.array_join(F.array_sort(F.array_distinct(F.transform(REASONS, lambda r: r["code"]))), ",").alias("reason_codes"),
    )
