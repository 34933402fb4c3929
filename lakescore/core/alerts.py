"""The shared `alerts` monitoring table: one row per finding, written by any stage.

Columns (see `transforms.schemas.ALERTS`): `alert_id`, `as_of`, `stage`, `severity`,
`kind`, `subject`, `value`, `threshold`, `detail`, `source`, `batch_id`, `created_at`.

`write` is idempotent: a run's alerts replace the alerts of its *scope* (e.g. the ingest
stage's alerts of the batches it just processed) in one replaceWhere commit, so re-running a
stage for the same batch or as-of leaves exactly the alerts of one run. An alert that is written
again (the same deterministic `alert_id`) keeps its first `created_at`.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.core.runtime import Context
from lakescore.transforms.columns import AS_OF
from lakescore.transforms.contracts.anomalies import FINDING_SCHEMA
from lakescore.transforms.monitoring.alerts import ALERT_COLUMNS, WARNING, from_findings
from lakescore.transforms.sqltext import all_of, any_of, eq, in_list


def write(ctx: Context, alerts: DataFrame, scope: str, *, empty: bool | None = None) -> int:
    """Write `alerts` (ALERT_SCHEMA) in place of the alerts table's rows matching `scope` (SQL over
    the table's columns, e.g. ``stage = 'ingest' AND batch_id IN ('b1')``) and of the alerts with
    the same ids. Returns the rows written; writes nothing when there is nothing to write and
    nothing in scope. `empty` tells that `alerts` has no row, when the caller knows it (saves a
    query). Alerts are few (one per finding): they are collected once, so that the write and the
    scope do not compute them twice."""
    store, table = ctx.tables, ctx.cfg.tables.alerts
    rows = [] if empty else alerts.select(*ALERT_COLUMNS).collect()
    exists = store.exists(table)
    if exists and not rows and store.spark.table(store.display(table)).where(scope).isEmpty():
        return 0
    frame = store.spark.createDataFrame(rows, alerts.select(*ALERT_COLUMNS).schema)
    ids = sorted({r["alert_id"] for r in rows})
    return store.replace(frame, table, any_of(scope, in_list("alert_id", ids)) if ids else scope,
                         keys=["alert_id"], keep=["created_at"])


def as_of_warnings(ctx: Context, *, stage: str, kind: str, source: str,
                   findings: list[tuple[str | None, float | None, float | None, str]]) -> int:
    """The warning alerts of `kind` for the stage and the as-of, one per finding (column, value,
    threshold, detail); they replace that kind's alerts of the stage and as-of (none: removed)."""
    rows = from_findings(ctx.spark.createDataFrame([(None, kind, *f) for f in findings], FINDING_SCHEMA),
                         stage=stage, source=source, as_of=ctx.as_of, created_at=Context.now(),
                         severity=F.lit(WARNING))
    return write(ctx, rows, all_of(eq("stage", stage), eq("kind", kind), eq(AS_OF, ctx.as_of)), empty=not findings)


def as_of_alert(ctx: Context, *, stage: str, kind: str, source: str, detail: str | None,
                value: float | None = None, threshold: float | None = None) -> None:
    """One warning alert of `kind` for the stage and the as-of (`detail` says what happened), or
    with `detail` None, none: a re-run that no longer finds it removes the alert of the as-of."""
    if detail is None and not ctx.tables.exists(ctx.cfg.tables.alerts):
        return
    as_of_warnings(ctx, stage=stage, kind=kind, source=source,
                   findings=[(None, value, threshold, detail)] if detail else [])
