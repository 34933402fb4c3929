"""The write phase of ingest (and of `lakescore ingest replay`): write checked plans (see
`lakescore.ingest.check`) with replaceWhere/MERGE on the batch ids, so re-writing a batch
replaces its rows, and reconcile rows in = clean + quarantined against the Delta commit
metrics. Also the critical alerts of a fatal anomaly, written when nothing else is."""

from __future__ import annotations

import logging
from datetime import date, datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.core import alerts as alerts_table
from lakescore.core.runtime import Context
from lakescore.ingest.check import (
    FINDING_FIELDS,
    FINDINGS_WITH_POLICY,
    FatalAnomaly,
    IngestError,
    Plan,
    as_of_start,
    contract_hash,
)
from lakescore.ingest.snapshot_merge import write_snapshots
from lakescore.transforms.columns import BATCH_ID
from lakescore.transforms.contracts import anomalies as contracts
from lakescore.transforms.contracts import quality
from lakescore.transforms.contracts import rules as cleaning
from lakescore.transforms.contracts.kinds import SNAPSHOT_HELD, WARN
from lakescore.transforms.monitoring import alerts as alert_rows
from lakescore.transforms.sqltext import all_of, any_of, eq, in_list

log = logging.getLogger("lakescore.ingest")

STAGE = "ingest"
AS_OF_TMP = "__as_of"  # a batch's as-of on its rows (a source may have a column named as_of)


def _union(frames: list[DataFrame]) -> DataFrame:
    out = frames[0]
    for more in frames[1:]:
        out = out.unionByName(more)
    return out


def _as_of(plan: Plan) -> Column:
    """The as-of each batch was checked for, as a column over rows carrying the batch id."""
    dates = sorted(set(plan.as_of.values()))
    if len(dates) == 1:
        return F.lit(dates[0].isoformat()).cast("date")
    lookup = F.create_map(*[x for b, d in sorted(plan.as_of.items()) for x in (F.lit(b), F.lit(d.isoformat()))])
    return F.try_element_at(lookup, F.col(BATCH_ID)).cast("date")


def _batch_scope(plans: list[Plan]) -> str:
    """The rows of the plans' batches in a table with `source` and `batch_id` columns."""
    return any_of(*[all_of(eq("source", p.source), in_list("batch_id", p.batches)) for p in plans])


def _data_quality(ctx: Context, plan: Plan, now: datetime, replayed_at: datetime | None) -> DataFrame:
    anomalies = {b: [] for b in plan.batches}
    for f in plan.findings:
        anomalies[f["batch_id"]].append((f["kind"], f["column"], f["value"], f["threshold"], f["detail"], f["policy"]))
    rows = []
    for r in plan.profile:
        b = r["batch_id"]
        rows.append((*r, plan.previous[b], plan.counts[b][1], plan.counts[b][2], anomalies[b], plan.blank.get(b),
                     plan.as_of[b], as_of_start(ctx, plan.as_of[b])))
    frame = ctx.spark.createDataFrame(rows, contracts.PROFILE_SCHEMA + ", previous_rows array<bigint>, "
                                      "rows_clean bigint, rows_quarantined bigint, anomalies " + contracts.ANOMALY_TYPE
                                      + ", rows_blank bigint, as_of date, as_of_start timestamp")
    return frame.transform(quality.data_quality_rows(
        source=plan.source, processed_at=now, contract_hash=contract_hash(ctx.cfg.sources[plan.source]),
        reference="as_of_start", replayed_at=replayed_at))


def _alerts(ctx: Context, plan: Plan, found: list, now: datetime) -> list[DataFrame]:
    """Alert rows of a plan's findings, each with the as-of of its batch (the run's for a
    finding about no batch)."""
    by_date: dict[date, list] = {}
    for f in found:
        by_date.setdefault(plan.as_of.get(f["batch_id"], ctx.as_of), []).append(f)
    return [alert_rows.from_findings(
                ctx.spark.createDataFrame([[f[c] for c in FINDING_FIELDS] for f in fs], FINDINGS_WITH_POLICY),
                stage=STAGE, source=plan.source, as_of=d, created_at=now)
            for d, fs in sorted(by_date.items())]


def write(ctx: Context, plans: list[Plan], *, replayed_at: datetime | None = None,
          rebuild: frozenset[str] = frozenset()) -> dict:
    """Write every checked source: clean rows (one commit per source), quarantined rows (one
    commit), alerts (one commit), data_quality (one commit, last: it marks the batches done).

    A replay passes `replayed_at` (data_quality keeps when a batch was first processed) and
    the sources whose clean table is rewritten whole, with the contract's column types
    (`rebuild`: every batch of the source is in the plan)."""
    store, cfg = ctx.tables, ctx.cfg
    now = Context.now()
    summary = {p.source: {"rows_in": 0, "rows_clean": 0, "rows_quarantined": 0} for p in plans}
    active = [p for p in plans if p.batches]
    for p in plans:
        if not p.batches:
            log.info("clean %s: no new batch", p.source)
    if active:
        # Rows written come from each commit's Delta metrics: the check is on what landed.
        for p in active:
            clean = cleaning.clean_rows(p.rows, cfg.sources[p.source].derived)
            if cfg.sources[p.source].arrival == "snapshot":
                applied, held = write_snapshots(ctx, p.source, p.rows, clean, rebuild=p.source in rebuild)
                written = applied.pop("rows_clean")
                p.snapshot = applied
                p.findings += [{"batch_id": b, "kind": SNAPSHOT_HELD, "column": None, "value": float(n),
                                "threshold": 0.0, "policy": WARN,
                                "detail": f"{n} key(s) of {store.display(cfg.clean_table(p.source))} keep their "
                                          "previous version: their row in this snapshot was quarantined"}
                               for b, n in held.items()]
            elif p.source in rebuild:
                written = store.write(clean, cfg.clean_table(p.source), overwrite_schema=True)
            else:
                written = store.write(clean, cfg.clean_table(p.source), replace_where=in_list(BATCH_ID, p.batches))
            rows_in, expected_clean, expected_q = (sum(c[i] for c in p.counts.values()) for i in range(3))
            if written != expected_clean:
                raise IngestError(f"table {store.display(cfg.clean_table(p.source))}: reconciliation failed for "
                                  f"batches {p.batches}: {rows_in} rows in, {expected_clean} clean expected, "
                                  f"{written} written")
            summary[p.source] = {"rows_in": rows_in, "rows_clean": written, "rows_quarantined": expected_q,
                                 **(p.snapshot or {})}
        quarantine = _union([
            cleaning.quarantine_rows(p.rows.withColumn(AS_OF_TMP, _as_of(p)), p.source, carry=[BATCH_ID, AS_OF_TMP])
            for p in active]).select(
            "source", F.col(BATCH_ID).alias("batch_id"), "original", "reasons", "reason_codes",
            F.col(AS_OF_TMP).alias("as_of"), F.lit(now).cast("timestamp").alias("quarantined_at"))
        written_q = store.write(quarantine, cfg.tables.quarantine, replace_where=_batch_scope(active))
        rows_in = sum(summary[p.source]["rows_in"] for p in active)
        written_clean = sum(summary[p.source]["rows_clean"] for p in active)
        if rows_in != written_clean + written_q:
            raise IngestError(f"table {store.display(cfg.tables.quarantine)}: reconciliation failed: "
                              f"{rows_in} rows in ("
                              + ", ".join(f"{p.source} {summary[p.source]}" for p in active)
                              + f"), {written_clean} clean + {written_q} quarantined written")
        for p in active:
            log.info("clean %s: %s", p.source, summary[p.source])
    found = [(p.source, f) for p in plans for f in p.findings]
    scopes = [p.alert_scope for p in plans if p.alert_scope]
    # A run that processed nothing and found nothing does not create the alerts table.
    if scopes and (active or found or store.exists(cfg.tables.alerts)):
        frames = [a for p in plans if p.findings for a in _alerts(ctx, p, p.findings, now)] \
            or [ctx.spark.createDataFrame([], alert_rows.ALERT_SCHEMA)]
        alerts_table.write(ctx, _union(frames), all_of(eq("stage", STAGE), any_of(*scopes)), empty=not found)
    if active:
        # the rows of the batches processed, replaced in one replaceWhere commit (not a MERGE)
        store.replace(_union([_data_quality(ctx, p, now, replayed_at) for p in active]), cfg.tables.data_quality,
                      _batch_scope(active), keys=["source", "batch_id"], keep=["processed_at"] if replayed_at else ())
    log.info("ingest: %d finding(s) over %d source(s)", len(found), len(plans))
    return summary


def write_fatal(ctx: Context, error: FatalAnomaly, as_of: dict | None = None) -> None:
    """Record the findings of a fatal anomaly as critical alerts (the only write of a run that
    stops: every other table stays as it was, and the batches stay pending)."""
    plan = Plan(error.source, [], as_of=as_of or {})
    frames = _alerts(ctx, plan, error.findings, Context.now())
    ids = [r["alert_id"] for f in frames for r in f.select("alert_id").collect()]
    alerts_table.write(ctx, _union(frames), all_of(eq("stage", STAGE), in_list("alert_id", ids)))
    log.error("ingest: %d critical alert(s) written for %s", len(ids), error.source)
