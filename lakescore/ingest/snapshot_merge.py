"""Writing a snapshot source (`arrival: snapshot`): each batch is a full export of a catalog, and
`clean_<source>` keeps every version of each key with when it was valid ([_valid_from,
_valid_to), see `transforms.contracts.snapshots`).

The batches of a run are applied in the order of their snapshot time (`snapshot_time`, default
the time the batch landed), each as one MERGE: new keys open a version, changed keys close the
current version and open one (the columns `snapshot_time` reads are not compared: they change
with every export), keys missing from the export close theirs (gone). A key whose row
the contract rejected is held: it keeps its previous version, and the run counts such keys
(alert `snapshot_held`). A rebuild (a replay after the contract changed a column type) starts
from an empty table and applies every batch again."""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.core.runtime import Context
from lakescore.ingest.check import IngestError
from lakescore.transforms.columns import BATCH_ID, LANDED_AT, VALID_FROM, VALID_TO
from lakescore.transforms.contracts.rules import rejected_keys
from lakescore.transforms.contracts.snapshots import CHANGE, CLOSE, change_counts, snapshot_changes
from lakescore.transforms.features.sql_refs import column_references

log = logging.getLogger("lakescore.ingest")

_AT = "_snapshot_at"


def snapshot_times(ctx: Context, source: str, rows: DataFrame) -> list[tuple[str, object]]:
    """(batch id, snapshot time) of each batch in `rows` (validated rows), oldest first: one
    small aggregate (a row per batch)."""
    src = ctx.cfg.sources[source]
    at = F.expr(src.snapshot_time) if src.snapshot_time else F.col(LANDED_AT)
    found = rows.groupBy(BATCH_ID).agg(F.max(at.cast("timestamp")).alias(_AT)).collect()
    return sorted(((r[BATCH_ID], r[_AT]) for r in found), key=lambda x: (x[1] is None, x[1], x[0]))


def write_snapshots(ctx: Context, source: str, rows: DataFrame, clean: DataFrame,
                    rebuild: bool) -> tuple[dict, dict[str, int]]:
    """Apply the batches of `rows`/`clean` (validated and clean rows of one snapshot source) to
    its clean table, oldest first. Returns the counts: clean rows applied, keys new, changed,
    gone and held (rejected by the contract, previous version kept), and versions written; and
    the held keys per batch."""
    cfg, store = ctx.cfg, ctx.tables
    src, table = cfg.sources[source], cfg.clean_table(source)
    key = list(src.key)
    # the export's own time (the columns snapshot_time reads) changes with every export: not a change
    stamp = {name.lower() for _, name in column_references(src.snapshot_time)} if src.snapshot_time else set()
    value_columns = [c for c in clean.columns if c not in (*key, BATCH_ID, LANDED_AT) and c.lower() not in stamp]
    totals = {"rows_clean": 0, "new": 0, "changed": 0, "gone": 0, "held": 0, "versions_written": 0}
    held_in: dict[str, int] = {}
    if rebuild and store.exists(table):
        empty = clean.limit(0).withColumns({VALID_FROM: F.lit(None).cast("timestamp"),
                                            VALID_TO: F.lit(None).cast("timestamp")})
        store.write(empty, table, overwrite_schema=True)
    for batch, at in snapshot_times(ctx, source, rows):
        if at is None:
            raise IngestError(f"sources.{source}.snapshot_time: NULL for batch {batch}: the export's time is unknown")
        incoming = clean.where(F.col(BATCH_ID) == batch)
        held = rejected_keys(rows.where(F.col(BATCH_ID) == batch), key)
        current = store.read(table, where=f"{VALID_TO} IS NULL", count=False) if store.exists(table) else \
            incoming.limit(0).withColumns({VALID_FROM: F.lit(None).cast("timestamp"),
                                           VALID_TO: F.lit(None).cast("timestamp")})
        staged = snapshot_changes(current, incoming, key, value_columns, F.lit(at), held,
                                  carry=[c for c in clean.columns if c.lower() in stamp]).cache()
        try:
            counts = change_counts(staged).first().asDict()
            expected = staged.count()
            if store.exists(table):
                written = store.merge_versions(staged, table, key, CLOSE, VALID_TO, drop=[CHANGE])
            else:
                written = store.write(staged.where(~F.col(CLOSE)).drop(CLOSE, CHANGE), table)
                expected = counts["new"] + counts["changed"]
        finally:
            staged.unpersist()
        if written != expected:
            raise IngestError(f"table {store.display(table)}: batch {batch}: {expected} version changes staged, "
                               f"{written} written")
        n_clean = incoming.count()
        # held: rejected here, with no valid row in this batch, and a previous version to keep
        # (a key first seen in a rejected row has none: it is only quarantined)
        n_held = held.join(incoming.select(*key), on=key, how="left_anti") \
            .join(current.select(*key), on=key, how="left_semi").count()
        log.info("clean %s: snapshot %s at %s: %d rows, %d new, %d changed, %d gone, %d held", source, batch, at,
                 n_clean, counts["new"] or 0, counts["changed"] or 0, counts["gone"] or 0, n_held)
        totals["rows_clean"] += n_clean
        totals["held"] += n_held
        if n_held:
            held_in[batch] = n_held
        totals["versions_written"] += written
        for k in ("new", "changed", "gone"):
            totals[k] += counts[k] or 0
    return totals, held_in
