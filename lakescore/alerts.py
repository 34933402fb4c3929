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

from lakescore.runtime import Context
from transforms.monitoring.alerts import ALERT_COLUMNS


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
