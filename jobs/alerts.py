"""The shared `alerts` monitoring table: one row per finding, written by any stage.

Columns (see `transforms.alerts.ALERT_SCHEMA`): `alert_id`, `as_of`, `stage`, `severity`,
`kind`, `subject`, `value`, `threshold`, `detail`, `source`, `batch_id`, `created_at`.

`write` is idempotent: alerts are merged on their deterministic `alert_id`, and the alerts of
the run's *scope* (e.g. the ingest stage's alerts of the batches it just processed) that the
run did not produce again are removed, so re-running a stage for the same batch or as-of
leaves exactly the alerts of one run. An alert that is written again keeps its first
`created_at`.
"""

from __future__ import annotations

import logging
import time

from delta.tables import DeltaTable
from pyspark.sql import DataFrame

from jobs.runtime import Context
from transforms.alerts import ALERT_COLUMNS, ALERT_SCHEMA

log = logging.getLogger("lakescore.alerts")


def ensure_table(ctx: Context) -> None:
    """Create the (empty) alerts table if it does not exist, so that it can always be queried."""
    store, table = ctx.tables, ctx.cfg.tables.alerts
    if not store.exists(table):
        store.write(store.spark.createDataFrame([], ALERT_SCHEMA), table, mode="overwrite")


def write(ctx: Context, alerts: DataFrame, scope: str, *, empty: bool | None = None) -> int:
    """Merge `alerts` (ALERT_SCHEMA) into the alerts table; alerts matching `scope` (SQL over
    the table's columns, e.g. ``stage = 'ingest' AND batch_id IN ('b1')``) that are not in
    `alerts` are deleted. Returns the rows inserted or updated; writes nothing when there is
    nothing to insert and nothing in scope. `empty` tells that `alerts` has no row, when the
    caller knows it (saves a query)."""
    store, table = ctx.tables, ctx.cfg.tables.alerts
    alerts = alerts.select(*ALERT_COLUMNS)
    if not store.exists(table):
        return store.write(alerts, table, mode="overwrite")
    target = store.spark.table(store.display(table))
    if (alerts.isEmpty() if empty is None else empty) and target.where(scope).isEmpty():
        return 0
    started = time.perf_counter()
    (DeltaTable.forName(store.spark, store.name(table)).alias("t")
     .merge(alerts.alias("s"), "t.alert_id = s.alert_id")
     .whenMatchedUpdate(set={c: f"s.`{c}`" for c in ALERT_COLUMNS if c != "created_at"})
     .whenNotMatchedInsertAll()
     .whenNotMatchedBySourceDelete(condition=scope)
     .execute())
    return store._log_write(table, started, f"merge on alert_id, replacing {scope}")
