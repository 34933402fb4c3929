"""Dataset-level validation of raw batches (the other half of a data contract), the
`data_quality` rows, and the statistics behind `lakescore contract infer`.

`profile` aggregates validated rows (see `transforms.contracts.rules`) into one row per batch: rows,
rows failing each row rule, values present per column, values of undeclared columns, newest
event time. Everything else here works on that small frame (and on the rows of the earlier
batches from `data_quality`), so nothing that grows with the data reaches the driver. Each
anomaly function returns a Column (the array of findings of a profile row), so all of them
run in one projection (`findings`).

A *finding* is one anomaly of one batch (columns `FINDING_SCHEMA`): `kind` (the anomaly's
name, TFDV-flavoured), `column` (NULL for a whole-batch anomaly), `value`, `threshold`,
`detail`. Dataset-level kinds:

| kind | the batch has it when |
|---|---|
| `missing_column` | a declared column is not in the raw table |
| `new_column` | an undeclared column has values in the batch |
| `unexpected_string_values` | the share of a column's values inside its domain is below `min_domain_mass` |
| `low_presence` | the share of rows with a value in a column is below `min_presence` |
| `low_num_examples`, `high_num_examples` | rows / median rows of earlier batches below `min_ratio`, above `max_ratio` |
| `stale_source` | the newest value of the freshness column is older than `max_age_hours` at the as-of |
| `high_quarantine_rate` | the share of the batch's rows quarantined is above `max_quarantine_rate` |

Row-level rules that some rows failed are findings too (kind = the reason code, value = the
number of rows).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.columns import BATCH_ID, LANDED_AT
from lakescore.transforms.contracts.kinds import (
    DUPLICATE_KEY,
    HIGH_NUM_EXAMPLES,
    HIGH_QUARANTINE_RATE,
    LOW_NUM_EXAMPLES,
    LOW_PRESENCE,
    MALFORMED_ROW,
    MISSING_COLUMN,
    MISSING_VALUE,
    NEW_COLUMN,
    OUT_OF_DOMAIN,
    OUT_OF_RANGE,
    PATTERN_MISMATCH,
    STALE_SOURCE,
    TYPE_MISMATCH,
    UNEXPECTED_STRING_VALUES,
)
from lakescore.transforms.contracts.rules import (
    ORIGINAL,
    QUARANTINED,
    REASONS,
    ColumnRules,
    failed,
    key_text,
)
from lakescore.transforms.sqltext import col

FINDING_STRUCT = "struct<kind:string,column:string,value:double,threshold:double,detail:string>"
FINDING_SCHEMA = "batch_id string, kind string, column string, value double, threshold double, detail string"
FINDING_COLUMNS = ["batch_id", "kind", "column", "value", "threshold", "detail"]
FAILURES_TYPE = "array<struct<code:string,column:string,rows:bigint,example:string>>"
PROFILE_FIELDS = [
    ("batch_id", "string"), ("landed_at", "timestamp"), ("rows_in", "bigint"), ("rows_flagged", "bigint"),
    ("present", "map<string,bigint>"), ("new_values", "map<string,bigint>"),
    ("newest_event_at", "timestamp"), ("failures", FAILURES_TYPE),
]
PROFILE_SCHEMA = ", ".join(f"{name} {type_name}" for name, type_name in PROFILE_FIELDS)
ANOMALY_TYPE = ("array<struct<kind:string,column:string,value:double,threshold:double,"
                "detail:string,policy:string>>")


def _fmt(value: Column, digits: int = 4) -> Column:
    return F.format_number(value.cast("double"), digits)


def _text(value: Column) -> Column:
    return value.cast("string")


# ----------------------------------------------------------------------------- profile
def row_checks(columns: Mapping[str, Any], key: Iterable[str] = (), malformed: bool = False
               ) -> list[tuple[str, str | None]]:
    """The (reason code, column) pairs the row rules of a contract can produce (`malformed`:
    the raw rows have a corrupt-record or rescued-data column)."""
    checks: list[tuple[str, str | None]] = [(MALFORMED_ROW, None)] if malformed else []
    for name, spec in columns.items():
        r = ColumnRules.of(spec)
        if r.type != "string":
            checks.append((TYPE_MISMATCH, name))
        if not r.nullable:
            checks.append((MISSING_VALUE, name))
        if r.domain:
            checks.append((OUT_OF_DOMAIN, name))
        if r.min is not None or r.max is not None:
            checks.append((OUT_OF_RANGE, name))
        if r.pattern:
            checks.append((PATTERN_MISMATCH, name))
    key = list(key)
    if key:
        checks.append((DUPLICATE_KEY, key_text(key)))
    return checks


def _has_reason(code: str, column: str | None) -> Column:
    return F.exists(REASONS, lambda r: (r["code"] == code) & (r["column"].eqNullSafe(F.lit(column))))


def profile(columns: Iterable[str], *, batch: str = BATCH_ID, landed: str | None = LANDED_AT,
            freshness: str | None = None, new_columns: Iterable[str] = ()):
    """One row per batch of validated rows:

    `batch_id`, `landed_at` (earliest `landed`), `rows_in`, `rows_flagged` (rows quarantined by
    a row rule), `present` (map column -> rows with a typed value), `new_values` (map undeclared
    column -> rows with a value), `newest_event_at` (latest `freshness` value: among the rows not
    quarantined for a declared column, among all rows for metadata such as `_landed_at`),
    `failures` (code, column, rows, example: the rows that failed each row rule).

    Two passes over the rows: one aggregate, and one over the exploded reasons (the failing
    rows only).
    """
    columns = list(columns)
    new_columns = list(new_columns)

    def apply(df: DataFrame) -> DataFrame:
        present = F.create_map(*[x for c in columns for x in (F.lit(c), F.count(col(c)))])
        new_values = F.create_map(*[
            x for c in new_columns for x in (F.lit(c), F.count(F.try_element_at(ORIGINAL, F.lit(c))))
        ]) if new_columns else F.create_map().cast("map<string,bigint>")
        landed_at = F.min(col(landed)).cast("timestamp") if landed and landed in df.columns \
            else F.lit(None).cast("timestamp")
        if not freshness or freshness not in df.columns:
            newest = F.lit(None).cast("timestamp")
        elif freshness in columns:  # data: a quarantined row's time is not to be trusted
            newest = F.max(F.when(~F.col(QUARANTINED), col(freshness))).cast("timestamp")
        else:  # metadata such as _landed_at: every row landed
            newest = F.max(col(freshness)).cast("timestamp")
        main = df.groupBy(col(batch).alias("batch_id")).agg(
            landed_at.alias("landed_at"),
            F.count(F.lit(1)).alias("rows_in"),
            F.sum(F.col(QUARANTINED).cast("long")).alias("rows_flagged"),
            present.alias("present"),
            new_values.alias("new_values"),
            newest.alias("newest_event_at"),
        )
        failures = (df.select(col(batch).alias("batch_id"), F.explode(REASONS).alias("r"))
                    .groupBy("batch_id", F.col("r.code").alias("code"), F.col("r.column").alias("column"))
                    .agg(F.count(F.lit(1)).alias("rows"), F.min("r.detail").alias("example"))
                    .groupBy("batch_id")
                    .agg(F.array_sort(F.collect_list(F.struct("code", "column", "rows", "example"))).alias("failures")))
        joined = main.join(failures, "batch_id", "left")
        return joined.select(*[
            (F.coalesce(F.col(name), F.array().cast(FAILURES_TYPE)) if name == "failures" else F.col(name))
            .cast(type_name).alias(name) for name, type_name in PROFILE_FIELDS])

    return apply


# ------------------------------------------------------------------------------ findings
# Each anomaly function returns a Column: the array of findings of one profile row.
def _finding(kind: Column | str, column: Column | str | None, value: Column, threshold: Column | float | None,
             detail: Column) -> Column:
    def lit(v):
        return v if isinstance(v, Column) else F.lit(v)

    return F.struct(lit(kind).cast("string").alias("kind"), lit(column).cast("string").alias("column"),
                    value.cast("double").alias("value"), lit(threshold).cast("double").alias("threshold"),
                    detail.cast("string").alias("detail"))


def _none() -> Column:
    return F.array().cast(f"array<{FINDING_STRUCT}>")


def _when(condition: Column, finding: Column) -> Column:
    return F.when(F.coalesce(condition, F.lit(False)), F.array(finding)).otherwise(_none())


def _all(parts: list[Column]) -> Column:
    return F.concat(*parts).cast(f"array<{FINDING_STRUCT}>") if parts else _none()


def _present(column: str) -> Column:
    return F.coalesce(F.try_element_at("present", F.lit(column)), F.lit(0))


def _failed_rows(code: str, column: str) -> Column:
    matching = F.filter("failures", lambda f: (f["code"] == code) & (f["column"] == column))
    return F.coalesce(F.try_element_at(matching, F.lit(1))["rows"], F.lit(0))


def row_rule_findings() -> Column:
    """One finding per row rule that rows of the batch failed: kind = the reason code, value =
    the rows, with an example."""
    failing = F.filter("failures", lambda f: f["rows"] > 0)
    return F.transform(failing, lambda f: _finding(
        f["code"], f["column"], f["rows"], 0.0,
        F.concat(_text(f["rows"]), F.lit(" of "), _text(F.col("rows_in")), F.lit(" rows, e.g. "),
                 F.coalesce(f["example"], F.lit("-"))))).cast(f"array<{FINDING_STRUCT}>")


def unexpected_string_values(min_domain_mass: Mapping[str, float]) -> Column:
    """unexpected_string_values: the share of a column's non-null values inside its domain is
    below the column's min_domain_mass (TFDV's ENUM_TYPE_UNEXPECTED_STRING_VALUES)."""
    parts = []
    for column, mass in min_domain_mass.items():
        present, outside = _present(column), _failed_rows(OUT_OF_DOMAIN, column)
        share = F.when(present > 0, (present - outside) / present)
        detail = F.concat(F.lit(f"{column}: "), _fmt(share * 100, 2), F.lit("% of values in the domain ("),
                          _text(outside), F.lit(f" outside), below min_domain_mass {mass}"))
        parts.append(_when(share < F.lit(mass), _finding(UNEXPECTED_STRING_VALUES, column, share, mass, detail)))
    return _all(parts)


def low_presence(min_presence: Mapping[str, float]) -> Column:
    """low_presence: the share of rows with a (typed) value in a column is below its
    min_presence (TFDV's FEATURE_TYPE_LOW_FRACTION_PRESENT)."""
    parts = []
    for column, minimum in min_presence.items():
        share = F.when(F.col("rows_in") > 0, _present(column) / F.col("rows_in"))
        detail = F.concat(F.lit(f"{column}: "), _fmt(share * 100, 2),
                          F.lit(f"% of rows have a value, below min_presence {minimum}"))
        parts.append(_when(share < F.lit(minimum), _finding(LOW_PRESENCE, column, share, minimum, detail)))
    return _all(parts)


def new_columns() -> Column:
    """new_column: a column the contract does not declare has values in the batch (TFDV's
    SCHEMA_NEW_COLUMN)."""
    with_values = F.filter(F.map_entries("new_values"), lambda e: e["value"] > 0)
    return F.transform(with_values, lambda e: _finding(
        NEW_COLUMN, e["key"], e["value"], 0.0,
        F.concat(F.lit("column "), e["key"], F.lit(" is not in the contract; "), _text(e["value"]),
                 F.lit(" rows have a value")))).cast(f"array<{FINDING_STRUCT}>")


def missing_columns(missing: Iterable[str], table: str) -> Column:
    """missing_column: a declared column is absent from the raw table (TFDV's
    SCHEMA_MISSING_COLUMN)."""
    return _all([F.array(_finding(MISSING_COLUMN, c, F.col("rows_in"), None,
                                  F.lit(f"declared column {c} is not in {table}"))) for c in missing])


def volume_anomalies(min_ratio: float, max_ratio: float) -> Column:
    """low_num_examples / high_num_examples: rows against the median of the previous batches
    (TFDV's COMPARATOR_LOW/HIGH_NUM_EXAMPLES). Needs `with_volume`."""
    ratio = F.col("volume_ratio")

    def detail(word: str, bound: float) -> Column:
        return F.concat(_text(F.col("rows_in")), F.lit(" rows, "), _fmt(ratio, 3),
                        F.lit(" x the median of the previous batches ("), _fmt(F.col("volume_baseline"), 1),
                        F.lit(f"), {word} {bound}"))

    return _all([
        _when(ratio < min_ratio, _finding(LOW_NUM_EXAMPLES, None, ratio, min_ratio, detail("below min_ratio", min_ratio))),
        _when(ratio > max_ratio, _finding(HIGH_NUM_EXAMPLES, None, ratio, max_ratio, detail("above max_ratio", max_ratio))),
    ])


def stale_source(column: str, max_age_hours: float) -> Column:
    """stale_source: the newest value of the freshness column is older than max_age_hours at
    the as-of, or there is none. Needs `with_freshness`."""
    newest, hours = F.col("newest_event_at"), F.col("freshness_hours")
    detail = F.when(newest.isNull(), F.lit(f"no row has a value in {column}")).otherwise(
        F.concat(F.lit(f"newest {column} "), _text(newest), F.lit(" is "), _fmt(hours, 1),
                 F.lit(f" hours old at the as-of, above max_age_hours {max_age_hours}")))
    return _when(newest.isNull() | (hours > max_age_hours),
                 _finding(STALE_SOURCE, column, hours, max_age_hours, detail))


def high_quarantine_rate(max_rate: float) -> Column:
    """high_quarantine_rate: the share of the batch's rows that are quarantined (by row rules
    and dataset-level quarantines) is above `max_rate`: a broken batch, or a broken contract.
    Needs `rows_in` and `rows_quarantined`."""
    rows_in, rows_q = F.col("rows_in"), F.col("rows_quarantined")
    rate = F.when(rows_in > 0, rows_q / rows_in)
    detail = F.concat(_text(rows_q), F.lit(" of "), _text(rows_in), F.lit(" rows quarantined ("),
                      _fmt(rate * 100, 2), F.lit(f"%), above max_quarantine_rate {max_rate}"))
    return _when(rate > F.lit(max_rate), _finding(HIGH_QUARANTINE_RATE, None, rate, max_rate, detail))


def findings(*parts: Column):
    """Profile rows -> one row per finding (FINDING_SCHEMA), from anomaly functions' columns."""

    def apply(df: DataFrame) -> DataFrame:
        return df.select(F.col("batch_id").cast("string").alias("batch_id"),
                         F.explode(_all(list(parts))).alias("f")).select("batch_id", "f.*")

    return apply


def with_policies(findings_df: DataFrame, policies: Mapping[str, str]) -> DataFrame:
    """Add `policy` to findings from `policies`: keys `kind|column` (a column's own policy) and
    `kind|` (the source's), the first that exists."""
    lookup = F.create_map(*[x for k, v in sorted(policies.items()) for x in (F.lit(k), F.lit(v))])
    exact = F.try_element_at(lookup, F.concat(F.col("kind"), F.lit("|"), F.coalesce(F.col("column"), F.lit(""))))
    general = F.try_element_at(lookup, F.concat(F.col("kind"), F.lit("|")))
    return findings_df.withColumn("policy", F.coalesce(exact, general))


# ------------------------------------------------------------- dataset-level quarantine
def quarantine_rule(kind: str, column: str | None, batch_id: str, detail: str,
                    batch: str = BATCH_ID) -> Column:
    """The row rule that quarantines the rows behind a dataset-level finding whose policy is
    `quarantine` (reason code = the kind):

    - unexpected_string_values: the rows of the batch whose value is out of the domain;
    - low_presence: the rows of the batch without a value in the column;
    - new_column: the rows of the batch with a value in the undeclared column;
    - missing_column, low/high_num_examples, stale_source, high_quarantine_rate: every row
      of the batch.
    """
    in_batch = col(batch) == F.lit(batch_id)
    if kind == UNEXPECTED_STRING_VALUES:
        offending = _has_reason(OUT_OF_DOMAIN, column)
    elif kind == LOW_PRESENCE:
        offending = col(column).isNull()
    elif kind == NEW_COLUMN:
        offending = F.try_element_at(ORIGINAL, F.lit(column)).isNotNull()
    elif kind in (MISSING_COLUMN, LOW_NUM_EXAMPLES, HIGH_NUM_EXAMPLES, STALE_SOURCE, HIGH_QUARANTINE_RATE):
        offending = F.lit(True)
    else:
        raise ValueError(f"{kind} is not a dataset-level anomaly kind")
    return failed(in_batch & offending, kind, column, detail)
