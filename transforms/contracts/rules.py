"""Typing and row-level validation of raw data (the row-level half of a data contract).

A raw row arrives as text. Each rule is a `Column` that is NULL when the row passes and a
reason struct `(code, column, detail)` when it fails; `with_reasons` gathers every failed rule
of a row into the array column `_reasons`, and decides from the policies which rows go to
quarantine (`_quarantined`): a row whose failed rules all have the policy `warn` stays clean.
Every other row is quarantined with its original values as text, so nothing is lost, and every
reason it failed (including the tolerated ones).

Row-level reason codes (TensorFlow Data Validation's anomaly names where one fits):

| code | the row fails when |
|---|---|
| `type_mismatch` | the text does not cast to the declared type |
| `missing_value` | a required (nullable: false) column is NULL (or one of the null tokens) |
| `out_of_domain` | the value is not one of the column's `domain` |
| `out_of_range` | the value is below `min` or above `max` |
| `pattern_mismatch` | a string value does not match the column's `pattern` |
| `duplicate_key` | another row has the same key (`transforms.contracts.keys`) |
| `malformed_row` | the line did not parse into the header's fields (text in `_corrupt_record`, or `_rescued_data` set) |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.columns import MALFORMED_COLUMNS, RESCUED_DATA
from lakescore.transforms.contracts.kinds import (
    MALFORMED_ROW,
    MISSING_VALUE,
    OUT_OF_DOMAIN,
    OUT_OF_RANGE,
    PATTERN_MISMATCH,
    TYPE_MISMATCH,
)
from lakescore.transforms.sqltext import col

REASONS = "_reasons"
ORIGINAL = "_original"
QUARANTINED = "_quarantined"
ROW_HASH = "_row_hash"
BOOKKEEPING = (ORIGINAL, REASONS, QUARANTINED, ROW_HASH)
REASON_TYPE = "array<struct<code:string,column:string,detail:string>>"
SHOWN_CHARS = 200  # of a malformed line's text, in its reason (quarantine.original keeps all of it)


@dataclass(frozen=True)
class Rule:
    """A row rule: `check` is NULL when the row passes and the reason struct when it fails;
    `code` and `column` say which policy applies to it."""

    code: str
    column: str | None
    check: Column


@dataclass(frozen=True)
class ColumnRules:
    """What a declared column must satisfy (the row-level part of its contract)."""

    type: str
    nullable: bool = True
    domain: tuple | None = None
    min: Any = None
    max: Any = None
    pattern: str | None = None

    @classmethod
    def of(cls, spec: Any) -> ColumnRules:
        """From a (type, nullable) tuple, a ColumnRules, or any object with those attributes
        (the config's ColumnSpec)."""
        if isinstance(spec, ColumnRules):
            return spec
        if isinstance(spec, tuple):
            return cls(*spec)
        domain = getattr(spec, "domain", None)
        return cls(type=spec.type, nullable=spec.nullable, domain=tuple(domain) if domain else None,
                   min=getattr(spec, "min", None), max=getattr(spec, "max", None),
                   pattern=getattr(spec, "pattern", None))


def key_text(key: Iterable[str]) -> str:
    """How a (composite) key is named in reasons and alerts: its columns joined with commas."""
    return ",".join(key)


# ------------------------------------------------------------------------------ reasons
def reason(code: str, column: str | None, detail: Column | str) -> Column:
    detail_col = detail if isinstance(detail, Column) else F.lit(detail)
    return F.struct(
        F.lit(code).alias("code"), F.lit(column).cast("string").alias("column"),
        detail_col.cast("string").alias("detail"),
    )


def failed(condition: Column, code: str, column: str | None, detail: Column | str) -> Column:
    """A rule: the reason when `condition` is true, NULL otherwise (a NULL condition passes)."""
    return F.when(F.coalesce(condition, F.lit(False)), reason(code, column, detail))


def _text(value: Column) -> Column:
    return F.coalesce(value.cast("string"), F.lit("NULL"))


def _literal(value: Any, type_name: str) -> Column:
    return F.lit(value).cast(type_name)


def _shown(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)  # not SQL: a value shown in a reason


# -------------------------------------------------------------------------------- rules
def rule(code: str, column: str | None, condition: Column, detail: Column | str) -> Rule:
    return Rule(code, column, failed(condition, code, column, detail))


def type_rule(name: str, raw: Column, value: Column, type_name: str) -> Rule:
    """type_mismatch: a raw text that is there but does not cast to the declared type."""
    return rule(TYPE_MISMATCH, name, raw.isNotNull() & value.isNull(),
                F.concat(F.lit(f"not a {type_name}: "), raw.cast("string")))


def required_rule(name: str, raw: Column) -> Rule:
    """missing_value: a required column is NULL (after null tokens)."""
    return rule(MISSING_VALUE, name, raw.isNull(), "required value is null")


def domain_rule(name: str, value: Column, domain: Iterable[Any], type_name: str) -> Rule:
    """out_of_domain: a value outside the column's allowed values (NULL passes)."""
    allowed = [_literal(v, type_name) for v in domain]
    return rule(OUT_OF_DOMAIN, name, ~value.isin(allowed),
                F.concat(_text(value), F.lit(" is not in the domain")))


def range_rule(name: str, value: Column, lo: Any, hi: Any, type_name: str) -> Rule:
    """out_of_range: a value below `lo` or above `hi` (either may be None; NULL passes)."""
    too_small = value < _literal(lo, type_name) if lo is not None else F.lit(False)
    too_large = value > _literal(hi, type_name) if hi is not None else F.lit(False)
    bounds = f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
    return rule(OUT_OF_RANGE, name, too_small | too_large,
                F.concat(_text(value), F.lit(f" is outside {bounds}")))


def pattern_rule(name: str, value: Column, pattern: str) -> Rule:
    """pattern_mismatch: a string value that does not match the (Java) regular expression."""
    return rule(PATTERN_MISMATCH, name, ~value.rlike(pattern),
                F.concat(_text(value), F.lit(f" does not match {pattern}")))


def malformed_rule(column: str) -> Rule:
    """malformed_row: the raw row has a value in `column` (`_corrupt_record`: the text of a line
    that did not parse into the header's fields; `_rescued_data`: what Auto Loader could not fit)."""
    text = col(column).cast("string")
    what = "line does not fit the header's fields: " if column != RESCUED_DATA else f"{RESCUED_DATA}: "
    shown = F.when(F.length(text) > SHOWN_CHARS, F.concat(F.substring(text, 1, SHOWN_CHARS), F.lit("..."))) \
        .otherwise(text)
    return rule(MALFORMED_ROW, None, text.isNotNull(), F.concat(F.lit(what), shown))


def malformed_rules(present: Iterable[str]) -> list[Rule]:
    """The malformed_row rules of the raw columns `present` (none when the raw table has no
    corrupt-record or rescued-data column)."""
    present = set(present)
    return [malformed_rule(c) for c in MALFORMED_COLUMNS if c in present]


def typed_rules(columns: Mapping[str, Any], present: Iterable[str] | None = None
                ) -> tuple[dict[str, Column], list[Rule]]:
    """Typed values and every row rule of the declared columns.

    `columns` maps a name to its ColumnRules (or a (type, nullable) tuple). A declared column
    that is not in `present` (when given) is typed as NULL: whether its absence is fatal is
    the dataset-level missing_column anomaly's business.
    """
    present = None if present is None else set(present)
    typed: dict[str, Column] = {}
    rules: list[Rule] = []
    for name, spec in columns.items():
        r = ColumnRules.of(spec)
        raw = col(name) if present is None or name in present else F.lit(None).cast("string")
        value = F.trim(raw.cast("string")).try_cast(r.type) if r.type != "string" else raw.cast("string")
        typed[name] = value
        if r.type != "string":
            rules.append(type_rule(name, raw, value, r.type))
        if not r.nullable:
            rules.append(required_rule(name, raw))
        if r.domain:
            rules.append(domain_rule(name, value, r.domain, r.type))
        if r.min is not None or r.max is not None:
            rules.append(range_rule(name, value, r.min, r.max, r.type))
        if r.pattern:
            rules.append(pattern_rule(name, value, r.pattern))
    return typed, rules


# -------------------------------------------------------------------- rows and reasons
def original_values(columns: list[str]) -> Column:
    """Every raw column as text in one map, so a quarantined row keeps what arrived."""
    pairs = []
    for name in columns:
        pairs += [F.lit(name), col(name).cast("string")]
    return F.create_map(*pairs) if pairs else F.create_map().cast("map<string,string>")


def row_hash(columns: list[str]) -> Column:
    """A 64-bit hash of the text of `columns`. Each value is preceded by its NULL flag: Spark's
    hash skips NULLs, so ("x", NULL) and (NULL, "x") would otherwise hash alike."""
    if not columns:
        return F.lit(0).cast("long")
    return F.xxhash64(*[x for c in columns for x in (col(c).isNull(), col(c).cast("string"))])


def nulls_from_tokens(columns: list[str], tokens: list[str]):
    """Raw text tokens that mean NULL (e.g. ``NA``) become NULL in the named columns."""

    def apply(df: DataFrame) -> DataFrame:
        names = [c for c in columns if c in df.columns]
        if not tokens or not names:
            return df
        return df.withColumns({
            c: F.when(F.trim(col(c).cast("string")).isin(tokens), F.lit(None)).otherwise(col(c))
            for c in names
        })

    return apply


def _as_rule(r: Rule | Column) -> Rule:
    return r if isinstance(r, Rule) else Rule("", None, r)


def _pairs(tolerated: Iterable[tuple[str, str | None]]) -> set[tuple[str, str | None]]:
    return {(code, column) for code, column in tolerated}


def _fired(rules: list[Rule]) -> Column:
    """The reasons of the rules that fail, as an array (concat of one-element arrays: no
    lambda, so Spark generates code for it)."""
    empty = F.array().cast(REASON_TYPE)
    return F.concat(*[F.when(r.check.isNotNull(), F.array(r.check)).otherwise(empty) for r in rules])


def _blocking(rules: list[Rule], tolerated: set) -> Column:
    blocking = [r.check.isNotNull() for r in rules if (r.code, r.column) not in tolerated]
    return reduce(lambda a, b: a | b, blocking) if blocking else F.lit(False)


def with_reasons(rules: list[Rule | Column], tolerated: Iterable[tuple[str, str | None]] = ()):
    """Add `_reasons` (the failed rules of each row: an empty array when it is clean) and
    `_quarantined` (a failed rule whose (code, column) is not `tolerated`, i.e. whose policy
    is not warn). A bare Column counts as a rule that is never tolerated."""
    rules = [_as_rule(r) for r in rules]
    tolerated = _pairs(tolerated)

    def apply(df: DataFrame) -> DataFrame:
        if not rules:
            return df.withColumns({REASONS: F.array().cast(REASON_TYPE), QUARANTINED: F.lit(False)})
        return df.withColumns({REASONS: _fired(rules), QUARANTINED: _blocking(rules, tolerated)})

    return apply


def add_reasons(rules: list[Rule | Column], tolerated: Iterable[tuple[str, str | None]] = ()):
    """Append more failed rules to `_reasons` and update `_quarantined` accordingly."""
    rules = [_as_rule(r) for r in rules]
    tolerated = _pairs(tolerated)

    def apply(df: DataFrame) -> DataFrame:
        if not rules:
            return df
        flagged = F.col(QUARANTINED) if QUARANTINED in df.columns else F.size(REASONS) > 0
        return df.withColumns({REASONS: F.concat(F.col(REASONS), _fired(rules)),
                               QUARANTINED: flagged | _blocking(rules, tolerated)})

    return apply


def validate(columns: Mapping[str, Any], null_tokens: list[str], keep: Iterable[str] = (),
             tolerated: Iterable[tuple[str, str | None]] = ()):
    """Raw text rows -> `keep` columns as they are + typed columns + `_original` (the raw text),
    `_row_hash`, `_reasons` and `_quarantined` (see `with_reasons`).

    `columns` maps each declared column to its ColumnRules (or (type, nullable)). Every input
    column except `keep` is kept as text in `_original` (a malformed line's text too: see
    `malformed_rule`); declared columns missing from the input are typed as NULL.
    """
    keep = list(keep)

    def apply(df: DataFrame) -> DataFrame:
        raw_columns = [c for c in df.columns if c not in keep]
        with_original = df.withColumns({
            ORIGINAL: original_values(raw_columns),
            # identifies exact copies (same text in every column) for the key-uniqueness rule
            ROW_HASH: row_hash(raw_columns),
        })
        normalized = with_original.transform(nulls_from_tokens(list(columns), null_tokens))
        typed, rules = typed_rules(columns, present=raw_columns)
        rules = [*malformed_rules(raw_columns), *rules]
        checked = normalized.transform(with_reasons(rules, tolerated))
        return checked.select(
            *[col(k) for k in keep],
            *[c.alias(name) for name, c in typed.items()],
            F.col(ORIGINAL),
            F.col(ROW_HASH),
            F.col(REASONS),
            F.col(QUARANTINED),
        )

    return apply


# ---------------------------------------------------------------------- clean/quarantine
def _quarantined(df: DataFrame) -> Column:
    return F.col(QUARANTINED) if QUARANTINED in df.columns else F.size(REASONS) > 0


def clean_rows(df: DataFrame, derived: Mapping[str, str] | None = None) -> DataFrame:
    """The rows that go on, without the bookkeeping columns, plus derived columns (SQL)."""
    out = df.where(~_quarantined(df)).drop(*BOOKKEEPING)
    return out.withColumns({name: F.expr(sql) for name, sql in (derived or {}).items()})


def rejected_keys(df: DataFrame, key: list[str]) -> DataFrame:
    """The distinct keys (all parts non-NULL) of the rejected rows."""
    return df.where(_quarantined(df)).select(*[col(k) for k in key]).dropna(how="any").distinct()


def quarantine_rows(df: DataFrame, source: str, carry: Iterable[str] = ()) -> DataFrame:
    """The rejected rows: source, the `carry` columns (batch id), original text values and
    every reason, with their codes also as one sorted comma-separated string for SQL."""
    return df.where(_quarantined(df)).select(
        F.lit(source).alias("source"),
        *[col(c) for c in carry],
        F.col(ORIGINAL).alias("original"),
        F.col(REASONS).alias("reasons"),
        F.array_join(F.array_sort(F.array_distinct(F.transform(REASONS, lambda r: r["code"]))), ",").alias("reason_codes"),
    )
