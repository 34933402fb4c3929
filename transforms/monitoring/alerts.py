"""Rows of the shared `alerts` table: one per finding, from any stage.

Columns (`ALERT_SCHEMA`): `alert_id` (deterministic: the same finding of the same stage,
source, batch or as-of gets the same id, so re-running a stage rewrites its alerts instead of
duplicating them), `as_of`, `stage`, `severity` (`warning`, `critical`), `kind` (the anomaly or
check, e.g. `out_of_domain`), `subject` (what it is about: `<source>.<column>`, or `<source>`),
`value`, `threshold`, `detail` (one readable sentence), `source`, `batch_id` (NULL when the
finding is not about one batch), `created_at`.
"""

from __future__ import annotations

from datetime import date, datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.transforms import schemas
from lakescore.transforms.contracts.kinds import FAIL

ALERT_SCHEMA = schemas.ALERTS.struct()
ALERT_COLUMNS = schemas.ALERTS.names
WARNING = "warning"
CRITICAL = "critical"


def alert_id(stage: Column, source: Column, batch_id: Column, as_of: Column, kind: Column,
             subject: Column) -> Column:
    """A stable id: a finding about a batch is identified by the batch (whatever the as-of it
    was processed for); a finding about no batch by the as-of."""
    scope = F.coalesce(F.concat(F.lit("batch="), batch_id), F.concat(F.lit("as_of="), as_of.cast("string")))
    parts = F.concat_ws("|", stage, F.coalesce(source, F.lit("")), scope, kind, F.coalesce(subject, F.lit("")))
    return F.substring(F.sha2(parts, 256), 1, 32)


def from_findings(findings: DataFrame, *, stage: str, source: str, as_of: date,
                  created_at: datetime, severity: Column | None = None) -> DataFrame:
    """Alert rows from findings (`batch_id, kind, column, value, threshold, detail` and
    optionally `policy`). The subject is `<source>.<column>` (`<source>` without a column).
    Severity: `severity` if given, else `critical` for a `fail` policy, `warning` otherwise."""
    policy = F.col("policy") if "policy" in findings.columns else F.lit(None).cast("string")
    if severity is None:
        severity = F.when(policy == FAIL, F.lit(CRITICAL)).otherwise(F.lit(WARNING))
    subject = F.concat_ws(".", F.lit(source), F.col("column"))
    detail = F.when(policy.isNull(), F.col("detail")).otherwise(
        F.concat(F.col("detail"), F.lit(" (policy "), policy, F.lit(")")))
    as_of_col = F.lit(as_of.isoformat()).cast("date")
    return findings.select(
        alert_id(F.lit(stage), F.lit(source), F.col("batch_id"), as_of_col, F.col("kind"), subject).alias("alert_id"),
        as_of_col.alias("as_of"),
        F.lit(stage).alias("stage"),
        severity.alias("severity"),
        F.col("kind"),
        subject.alias("subject"),
        F.col("value").cast("double").alias("value"),
        F.col("threshold").cast("double").alias("threshold"),
        detail.alias("detail"),
        F.lit(source).alias("source"),
        F.col("batch_id").cast("string").alias("batch_id"),
        F.lit(created_at).cast("timestamp").alias("created_at"),
    )


def from_monitor_findings(findings: DataFrame, *, stage: str, created_at: datetime,
                          critical_kinds: list[str]) -> DataFrame:
    """Alert rows from the monitor's findings (`as_of` (the window a finding is about), `kind`,
    `subject`, `value`, `threshold`, `detail`): no source or batch; the id is a hash of the stage,
    window, kind and subject, so a later run that finds the same thing about the same window
    rewrites the alert. Kinds in `critical_kinds` (the ones that fail the stage) are critical."""
    severity = F.when(F.col("kind").isin(*critical_kinds), F.lit(CRITICAL)).otherwise(F.lit(WARNING)) \
        if critical_kinds else F.lit(WARNING)
    none = F.lit(None).cast("string")
    return findings.select(
        alert_id(F.lit(stage), none, none, F.col("as_of"), F.col("kind"), F.col("subject")).alias("alert_id"),
        F.col("as_of").cast("date").alias("as_of"),
        F.lit(stage).alias("stage"),
        severity.alias("severity"),
        F.col("kind"),
        F.col("subject"),
        F.col("value").cast("double").alias("value"),
        F.col("threshold").cast("double").alias("threshold"),
        F.col("detail"),
        none.alias("source"),
        none.alias("batch_id"),
        F.lit(created_at).cast("timestamp").alias("created_at"),
    )
