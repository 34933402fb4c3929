"""`lakescore ingest replay`: re-check batches ingest has processed against today's contract, as
DQX and Deequ re-process their quarantine after a rule is fixed.

Every row of a replayed batch is checked again from raw_<source> (which keeps every row as it
arrived), exactly as ingest checks a new batch: row rules, key uniqueness against the clean rows
of the other batches (the first landed owns a key), and the dataset-level anomalies, each batch
measured at the as-of it was first processed for and against the batches landed just before
it. The batch's clean rows, quarantined rows, alerts and data_quality row are then replaced:
quarantined rows that pass now move to clean_<source>, the others stay with their updated
reasons (and a row the current contract rejects leaves clean), and data_quality records the
new contract hash and `replayed_at`. Rows in = clean + quarantined is reconciled as in ingest.

By default only batches checked under another contract than today's are replayed, so a second
replay without a contract change does nothing. When the contract changed a column's type, the
clean table is rebuilt with the new types from every batch of the source; so it is when a
column was declared or derived since the table was written, or is no longer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from pyspark.sql import functions as F

from lakescore.core.runtime import Context
from lakescore.ingest.check import FatalAnomaly, IngestError, changed_columns, check_source, contract_hash
from lakescore.ingest.write import write, write_fatal

log = logging.getLogger("lakescore.replay")


@dataclass
class Replayed:
    """One replayed batch: its rows clean and quarantined before and after."""

    batch_id: str
    as_of: date
    rows_in: int
    clean_before: int
    quarantined_before: int
    clean_after: int
    quarantined_after: int
    contract_before: str | None


@dataclass
class Replay:
    source: str
    contract: str
    batches: list[Replayed]
    processed: int  # batches of the source in data_quality
    rebuilt: dict  # column -> (type in the clean table, type in the contract) when clean was rebuilt


def processed(ctx: Context, source: str) -> list:
    """The source's batches in data_quality (bounded: one row per batch)."""
    store, table = ctx.tables, ctx.cfg.tables.data_quality
    if not store.exists(table):
        return []
    at = F.coalesce(F.col("landed_at"), F.col("processed_at")).alias("at")
    return store.spark.table(store.display(table)).where(F.col("source") == source).select(
        "batch_id", "as_of", at, "rows_in", "rows_clean", "rows_quarantined", "contract_hash").collect()


def replay(ctx: Context, source: str, *, batches: list[str] | None = None, since: date | None = None,
           force: bool = False) -> Replay:
    """Re-check batches of `source` against the current contract and rewrite them (see the
    module's doc). `batches` / `since` (the as-of a batch was processed for, on or after) select
    among the processed batches; `force` replays them even when checked under today's contract."""
    cfg = ctx.cfg
    if source not in cfg.sources:
        raise IngestError(f"sources.{source}: no such source (known: {', '.join(cfg.sources)})")
    src = cfg.sources[source]
    done = processed(ctx, source)
    if not done:
        raise IngestError(f"table {ctx.tables.display(cfg.tables.data_quality)}: no batch of source {source} "
                          "was processed yet: nothing to replay (`lakescore run ingest` checks new batches)")
    current = contract_hash(src)
    by_id = {r["batch_id"]: r for r in done}
    unknown = sorted(set(batches or []) - set(by_id))
    if unknown:
        raise IngestError(f"table {ctx.tables.display(cfg.tables.data_quality)}: batch(es) {unknown} of source "
                          f"{source} were not processed (pending batches are checked by `lakescore run ingest`)")
    selected = [r for r in done if (not batches or r["batch_id"] in batches)
                and (since is None or r["as_of"] >= since) and (force or r["contract_hash"] != current)]
    rebuilt = changed_columns(ctx, source, src)
    if rebuilt:
        log.info("replay %s: the contract changed columns %s: every batch is re-checked and %s rebuilt",
                 source, rebuilt, ctx.tables.display(cfg.clean_table(source)))
        selected = list(done)
    history = bool(selected) and src.arrival == "snapshot"
    if history and not rebuilt:
        # a snapshot's versions follow from every export in order: rebuild the history
        log.info("replay %s: a snapshot source: every batch is re-checked and %s rebuilt in snapshot order",
                 source, ctx.tables.display(cfg.clean_table(source)))
        selected = list(done)
    if not selected:
        return Replay(source, current, [], len(done), {})
    ids = sorted(r["batch_id"] for r in selected)
    as_of = {r["batch_id"]: r["as_of"] for r in selected}
    others = [(r["at"], r["batch_id"], int(r["rows_in"])) for r in done if r["batch_id"] not in as_of]
    plan = None
    try:
        plan = check_source(ctx, source, src, None, batches=ids, as_of=as_of, volumes=others)
        write(ctx, [plan], replayed_at=Context.now(), rebuild=frozenset({source}) if rebuilt or history else frozenset())
    except FatalAnomaly as exc:
        write_fatal(ctx, exc, as_of)
        raise
    finally:
        if plan is not None:
            plan.release()
    out = [Replayed(b, as_of[b], plan.counts[b][0], int(by_id[b]["rows_clean"]), int(by_id[b]["rows_quarantined"]),
                    plan.counts[b][1], plan.counts[b][2], by_id[b]["contract_hash"]) for b in ids]
    for r in out:
        log.info("replay %s: batch %s: clean %d -> %d, quarantined %d -> %d", source, r.batch_id, r.clean_before,
                 r.clean_after, r.quarantined_before, r.quarantined_after)
    return Replay(source, current, out, len(done), rebuilt)
