"""The shared `alerts` monitoring table: one row per finding, written by any stage.

Columns (see `transforms.schemas.ALERTS`): `alert_id`, `as_of`, `stage`, `severity`,
`kind`, `subject`, `value`, `threshold`, `detail`, `source`, `batch_id`, `created_at`.

`write` is idempotent: alerts are merged on their deterministic `alert_id`, and the alerts of
the run's *scope* (e.g. the ingest stage's alerts of the batches it just processed) that the
run did not produce again are removed, so re-running a stage for the same batch or as-of
leaves exactly the alerts of one run. An alert that is written again keeps its first
`created_at`.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.core.runtime import Context
from lakescore.transforms.columns import AS_OF
from lakescore.transforms.contracts.anomalies import FINDING_SCHEMA
from lakescore.transforms.monitoring.alerts import ALERT_COLUMNS, WARNING, from_findings
from lakescore.transforms.sqltext import all_of, eq


def write(ctx: Context, alerts: DataFrame, scope: str, *, empty: bool | None = None) -> int:
    """Merge `alerts` (ALERT_SCHEMA) into the alerts table; alerts matching `scope` (SQL over
    the table's columns, e.g. ``stage = 'ingest' AND batch_id IN ('b1')``) that are not in
    `alerts` are deleted. Returns the rows inserted or updated; writes nothing when there is
    nothing to insert and nothing in scope. `empty` tells that `alerts` has no row, when the
    caller knows it (saves a query)."""
    store, table = ctx.tables, ctx.cfg.tables.alerts
    alerts = alerts.select(*ALERT_COLUMNS)
    if store.exists(table) and (alerts.isEmpty() if empty is None else empty) \
            and store.spark.table(store.display(table)).where(scope).isEmpty():
        return 0
    return store.merge(alerts, table, ["alert_id"], keep=["created_at"], delete_where=scope)


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
