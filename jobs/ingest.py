"""ingest: raw_<source> -> clean_<source> + quarantine + data_quality + alerts.

Each raw row carries the batch it arrived in. A batch is processed once: its clean rows, its
quarantined rows, its alerts and its data_quality row are written with replaceWhere/MERGE on
the batch id, so re-running changes nothing and a run that died mid-way is finished by the
next one (data_quality is written last: it is what marks a batch as done). When the config
names a file as a source's landing (the demo), the file is first landed into raw_<source> as
a new batch, unless that exact file was landed already.

The run has two phases. *Check*: for every source, validate its pending batches against the
source's contract (row rules, then dataset-level anomalies from one profile pass and the
history of earlier batches) without writing anything; an anomaly whose policy is `fail`
stops the job here, so every table stays at its previous Delta version. *Write*: clean and
quarantined rows per source, reconciled against the rows in (from the Delta commit metrics),
then the alerts and the data_quality rows of all sources.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore import alerts as alerts_table
from lakescore.config import Source
from lakescore.errors import StageError
from lakescore.landing import digest, landing_file, read_landing
from lakescore.runtime import Context
from transforms.columns import BATCH_ID, LANDED_AT, RAW_META
from transforms.contracts import anomalies as contracts
from transforms.contracts import quality
from transforms.contracts import rules as cleaning
from transforms.contracts.kinds import (
    COLUMN_KINDS,
    DATASET_KINDS,
    DEFAULT_POLICIES,
    FAIL,
    MISSING_COLUMN,
    QUARANTINE,
    WARN,
)
from transforms.monitoring import alerts as alert_rows
from transforms.sqltext import all_of, any_of, eq, in_list

log = logging.getLogger("lakescore.ingest")

STAGE = "ingest"


class IngestError(StageError):
    pass


def land(ctx: Context, source: str, src: Source) -> str | None:
    """Append the landing file to raw_<source> as one batch, unless it is there already.
    Returns the new batch id, or None when nothing was landed."""
    store = ctx.tables
    path = landing_file(ctx, source, src)
    batch_id = f"{source}-{digest(path)}"
    raw = ctx.cfg.raw_table(source)
    if store.exists(raw):
        seen = store.spark.table(store.display(raw)).where(F.col(BATCH_ID) == batch_id).limit(1).count()
        if seen:
            log.info("land  %s: batch %s is already in %s", source, batch_id, store.display(raw))
            return None
    df = (read_landing(ctx, path)
          .withColumn(BATCH_ID, F.lit(batch_id))
          .withColumn(LANDED_AT, F.lit(Context.now()).cast("timestamp")))
    store.write(df, raw, mode="append")
    return batch_id


# ------------------------------------------------------------------------------ check
def pending_batches(ctx: Context, source: str) -> list[str]:
    """Batch ids in raw_<source> that data_quality has not recorded yet (bounded: one per batch)."""
    store = ctx.tables
    raw = store.spark.table(store.display(ctx.cfg.raw_table(source)))
    if BATCH_ID not in raw.columns:
        raise IngestError(f"table {store.display(ctx.cfg.raw_table(source))}: missing column {BATCH_ID}: "
                          "every raw row must name the batch it arrived in")
    batches = raw.select(BATCH_ID).distinct()
    dq = ctx.cfg.tables.data_quality
    if store.exists(dq):
        done = store.spark.table(store.display(dq)).where(F.col("source") == source).select(F.col("batch_id").alias(BATCH_ID))
        batches = batches.join(done, BATCH_ID, "left_anti")
    return sorted(r[BATCH_ID] for r in batches.collect())


def policy_map(src: Source) -> dict[str, str]:
    """Every policy of a source as `kind|column` (column overrides) and `kind|` keys."""
    out = {f"{kind}|": src.policy(kind) for kind in DEFAULT_POLICIES}
    for name, spec in src.columns.items():
        for kind in COLUMN_KINDS:
            if kind in spec.policies:
                out[f"{kind}|{name}"] = spec.policies[kind]
    return out


def contract_hash(src: Source) -> str:
    """A short hash of the contract (everything but the landing), recorded with each batch."""
    spec = src.model_dump(mode="json", exclude={"landing"})
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def as_of_start(ctx: Context) -> datetime:
    """The as-of's start, 00:00 in entity.timezone (an aware datetime): freshness is measured
    against it."""
    return datetime.combine(ctx.as_of, time(0), tzinfo=ZoneInfo(ctx.cfg.entity.timezone))


@dataclass
class Plan:
    """One source's checked batches, ready to write."""

    source: str
    batches: list[str]
    findings: list = field(default_factory=list)  # Rows of FINDING_SCHEMA + policy
    alert_scope: str | None = None
    rows: DataFrame | None = None  # the validated rows (cached), with every reason
    profile: list = field(default_factory=list)  # one Row per batch (PROFILE_SCHEMA)
    previous: dict = field(default_factory=dict)  # batch id -> rows of the batches before it
    counts: dict = field(default_factory=dict)  # batch id -> (rows_in, rows_clean, rows_quarantined)
    stale: DataFrame | None = None  # without a new batch: the stale_source check, not yet run
    cached: list[DataFrame] = field(default_factory=list)

    def release(self) -> None:
        for df in self.cached:
            df.unpersist()
        self.cached.clear()


@dataclass
class History:
    """What data_quality knows of a source's earlier batches (bounded: a few rows)."""

    newest_event_at: datetime | None = None
    recent: list = field(default_factory=list)  # (time, batch_id, rows_in), newest first


FINDINGS_WITH_POLICY = contracts.FINDING_SCHEMA + ", policy string"
FINDING_FIELDS = [*contracts.FINDING_COLUMNS, "policy"]


def batch_history(ctx: Context) -> dict[str, History]:
    """Per source: the newest event over its processed batches and its most recent batches'
    rows, from data_quality in one query."""
    store, cfg = ctx.tables, ctx.cfg
    if not store.exists(cfg.tables.data_quality):
        return {}
    dq = store.spark.table(store.display(cfg.tables.data_quality))
    recent = max([s.volume.history_batches for s in cfg.sources.values() if s.volume] or [1])
    at = F.coalesce(*[F.col(c) for c in ("landed_at", "processed_at") if c in dq.columns])
    newest = F.max("newest_event_at") if "newest_event_at" in dq.columns else F.lit(None).cast("timestamp")
    rows = dq.groupBy("source").agg(
        newest.alias("newest"),
        F.slice(F.sort_array(F.collect_list(F.struct(at.alias("at"), "batch_id", "rows_in")), asc=False),
                1, recent).alias("recent")).collect()
    return {r["source"]: History(r["newest"], [(e["at"], e["batch_id"], int(e["rows_in"])) for e in r["recent"]])
            for r in rows}


def _describe(finding, source: str) -> str:
    subject = f"{source}.{finding['column']}" if finding["column"] else source
    where = f" in batch {finding['batch_id']}" if finding["batch_id"] else ""
    return f"{finding['kind']} on {subject}{where}: {finding['detail']}"


def _fail(table: str, source: str, found: list) -> None:
    fatal = [f for f in found if f["policy"] == FAIL]
    if fatal:
        shown = "; ".join(_describe(f, source) for f in fatal)
        raise IngestError(f"table {table}: anomaly with policy fail, nothing was written: {shown}")


def _log_findings(source: str, found: list) -> None:
    for f in found:
        log.info("check %s: %s (policy %s)", source, _describe(f, source), f["policy"])


def check_source(ctx: Context, source: str, src: Source, history: History | None) -> Plan:
    """Validate the pending batches of one source; write nothing. Raises IngestError when an
    anomaly's policy is `fail`."""
    store, cfg, spark = ctx.tables, ctx.cfg, ctx.spark
    raw_name, clean_name = cfg.raw_table(source), cfg.clean_table(source)
    table = store.display(raw_name)
    policies = policy_map(src)
    history = history or History()
    batches = pending_batches(ctx, source)
    if not batches:
        # No new batch, but the source can still be stale: its newest event is too old now
        # (evaluated with the other sources' in `run`, in one query).
        plan = Plan(source, [], alert_scope=(
            all_of(eq("source", source), eq("batch_id", None), eq("as_of", ctx.as_of))))
        newest = history.newest_event_at
        # Only a source that may be stale needs the query (the usual re-run has fresh sources).
        # (PySpark gives timestamps as naive datetimes in local time: astimezone reads them so.)
        if src.freshness is not None and newest is not None and \
                as_of_start(ctx) - newest.astimezone(timezone.utc) > timedelta(hours=src.freshness.max_age_hours):
            frame = spark.createDataFrame([(None, newest)], "batch_id string, newest_event_at timestamp")
            plan.stale = contracts.with_policies(frame.transform(contracts.with_freshness(as_of_start(ctx))).transform(
                contracts.findings(contracts.stale_source(src.freshness.column, src.freshness.max_age_hours))),
                policies).withColumn("source", F.lit(source))
        return plan

    raw = store.read(raw_name, where=in_list(BATCH_ID, batches), count=False)
    meta = [c for c in RAW_META if c in raw.columns]
    missing = [c for c in src.columns if c not in raw.columns]
    new = [c for c in raw.columns if c not in src.columns and c not in meta]
    fatal_missing = [c for c in missing if src.policy(MISSING_COLUMN, c) == FAIL]
    if fatal_missing:  # schema-level: known without reading a row
        raise IngestError(f"table {table}: missing column(s) {fatal_missing} declared in "
                          f"sources.{source}.columns (anomaly missing_column, policy fail)")

    rules = {name: cleaning.ColumnRules.of(spec) for name, spec in src.columns.items()}
    tolerated = [(kind, column) for kind, column in contracts.row_checks(rules, src.key)
                 if src.policy(kind, column) == WARN]
    rows = raw.transform(cleaning.validate(rules, src.null_values, keep=meta, tolerated=tolerated))
    if src.key:
        existing = None
        if src.key_scope == "table" and store.exists(clean_name):
            existing = store.read(clean_name, where=f"NOT ({in_list(BATCH_ID, batches)})", count=False)
        rows = rows.transform(cleaning.flag_duplicate_keys(
            src.key, batch=BATCH_ID, order=[LANDED_AT] if LANDED_AT in meta else [], scope=src.key_scope,
            existing=existing, existing_name=store.display(clean_name), tolerated=tolerated))
    rows = rows.cache()
    plan = Plan(source, batches, rows=rows, cached=[rows])
    try:
        _check_batches(ctx, plan, src, table, policies, missing, new, history)
    except BaseException:
        plan.release()
        raise
    return plan


def _check_batches(ctx: Context, plan: Plan, src: Source, table: str, policies: dict,
                   missing: list[str], new: list[str], history: History) -> None:
    spark, source = ctx.spark, plan.source
    profiled = plan.rows.transform(contracts.profile(
        list(src.columns), batch=BATCH_ID, landed=LANDED_AT,
        freshness=src.freshness.column if src.freshness else None, new_columns=new))
    plan.profile = profiled.collect()  # one small row per batch
    n = src.volume.history_batches if src.volume else 0
    plan.previous = contracts.previous_volumes(
        history.recent, [(r["landed_at"], r["batch_id"], int(r["rows_in"])) for r in plan.profile], n)
    frame = spark.createDataFrame([(*r, plan.previous[r["batch_id"]]) for r in plan.profile],
                                  contracts.PROFILE_SCHEMA + ", previous_rows array<bigint>")
    parts = [
        contracts.row_rule_findings(),
        contracts.missing_columns(missing, table),
        contracts.new_columns(),
        contracts.unexpected_string_values({
            c: spec.min_domain_mass if spec.min_domain_mass is not None else 1.0
            for c, spec in src.columns.items() if spec.domain}),
        contracts.low_presence({c: spec.min_presence for c, spec in src.columns.items()
                                if spec.min_presence is not None}),
    ]
    if src.volume is not None:
        parts.append(contracts.volume_anomalies(src.volume.min_ratio, src.volume.max_ratio))
    if src.freshness is not None:
        parts.append(contracts.stale_source(src.freshness.column, src.freshness.max_age_hours))
    measured = frame.transform(contracts.with_volume).transform(contracts.with_freshness(as_of_start(ctx)))
    plan.findings = contracts.with_policies(measured.transform(contracts.findings(*parts)), policies).collect()
    _log_findings(source, plan.findings)
    _fail(table, source, plan.findings)

    # Dataset-level anomalies whose policy is quarantine send their rows to quarantine.
    extra = [cleaning.Rule(f["kind"], f["column"], contracts.quarantine_rule(
                 f["kind"], f["column"], f["batch_id"], f["detail"], batch=BATCH_ID))
             for f in plan.findings if f["policy"] == QUARANTINE and f["kind"] in DATASET_KINDS]
    if extra:
        plan.rows = plan.rows.transform(cleaning.add_reasons(extra))
        counts = plan.rows.groupBy(F.col(BATCH_ID).alias("batch_id")).agg(
            F.count(F.lit(1)).alias("rows_in"),
            F.sum(F.col(cleaning.QUARANTINED).cast("long")).alias("rows_flagged")).collect()
    else:
        counts = plan.profile
    plan.counts = {r["batch_id"]: (int(r["rows_in"]), int(r["rows_in"]) - int(r["rows_flagged"] or 0),
                                   int(r["rows_flagged"] or 0)) for r in counts}
    plan.alert_scope = all_of(eq("source", source), in_list("batch_id", plan.batches))


# ------------------------------------------------------------------------------ write
def _data_quality(ctx: Context, plan: Plan, src: Source, now: datetime) -> DataFrame:
    anomalies = {b: [] for b in plan.batches}
    for f in plan.findings:
        anomalies[f["batch_id"]].append((f["kind"], f["column"], f["value"], f["threshold"], f["detail"], f["policy"]))
    rows = [(*r, plan.previous[r["batch_id"]], plan.counts[r["batch_id"]][1], plan.counts[r["batch_id"]][2],
             anomalies[r["batch_id"]]) for r in plan.profile]
    frame = ctx.spark.createDataFrame(rows, contracts.PROFILE_SCHEMA + ", previous_rows array<bigint>, "
                                      "rows_clean bigint, rows_quarantined bigint, anomalies " + contracts.ANOMALY_TYPE)
    return frame.transform(quality.data_quality_rows(
        source=plan.source, as_of=ctx.as_of, processed_at=now, reference=as_of_start(ctx),
        contract_hash=contract_hash(src)))


def _union(frames: list[DataFrame]) -> DataFrame:
    out = frames[0]
    for more in frames[1:]:
        out = out.unionByName(more)
    return out


def write(ctx: Context, plans: list[Plan]) -> dict:
    """Write every checked source: clean rows (one commit per source), quarantined rows (one
    commit), alerts (one merge), data_quality (one merge, last: it marks the batches done)."""
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
            written = store.write(cleaning.clean_rows(p.rows, cfg.sources[p.source].derived),
                                  cfg.clean_table(p.source), replace_where=in_list(BATCH_ID, p.batches))
            rows_in, expected_clean, expected_q = (sum(c[i] for c in p.counts.values()) for i in range(3))
            if written != expected_clean:
                raise IngestError(f"table {store.display(cfg.clean_table(p.source))}: reconciliation failed for "
                                  f"batches {p.batches}: {rows_in} rows in, {expected_clean} clean expected, "
                                  f"{written} written")
            summary[p.source] = {"rows_in": rows_in, "rows_clean": written, "rows_quarantined": expected_q}
        quarantine = _union([
            cleaning.quarantine_rows(p.rows, p.source, carry=[BATCH_ID]).withColumnRenamed(BATCH_ID, "batch_id")
            for p in active]).withColumn("as_of", F.lit(ctx.as_of)).withColumn(
            "quarantined_at", F.lit(now).cast("timestamp"))
        where = any_of(*[all_of(eq("source", p.source), in_list("batch_id", p.batches)) for p in active])
        written_q = store.write(quarantine, cfg.tables.quarantine, replace_where=where)
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
        frames = [alert_rows.from_findings(
                      ctx.spark.createDataFrame([[f[c] for c in FINDING_FIELDS] for f in p.findings], FINDINGS_WITH_POLICY),
                      stage=STAGE, source=p.source, as_of=ctx.as_of, created_at=now)
                  for p in plans if p.findings] or [ctx.spark.createDataFrame([], alert_rows.ALERT_SCHEMA)]
        alerts_table.write(ctx, _union(frames), all_of(eq("stage", STAGE), any_of(*scopes)), empty=not found)
    if active:
        store.merge(_union([_data_quality(ctx, p, cfg.sources[p.source], now) for p in active]),
                    cfg.tables.data_quality, keys=["source", "batch_id"])
    log.info("ingest: %d finding(s) over %d source(s)", len(found), len(plans))
    return summary


def _check_stale(ctx: Context, plans: list[Plan]) -> None:
    """Run the stale_source checks of the sources without a new batch, in one query."""
    waiting = [p for p in plans if p.stale is not None]
    if not waiting:
        return
    found = _union([p.stale for p in waiting]).collect()  # at most one row per source
    for p in waiting:
        p.findings = [f for f in found if f["source"] == p.source]
        _log_findings(p.source, p.findings)
        _fail(ctx.tables.display(ctx.cfg.raw_table(p.source)), p.source, p.findings)


def run(ctx: Context) -> dict:
    cfg, store = ctx.cfg, ctx.tables
    for source, src in cfg.sources.items():
        if src.landing is not None:
            land(ctx, source, src)
        elif not store.exists(cfg.raw_table(source)):
            raise IngestError(f"table {store.display(cfg.raw_table(source))} does not exist and "
                              f"sources.{source}.landing is not set")
    history = batch_history(ctx)
    plans: list[Plan] = []
    try:
        # Check every source before writing anything: a fatal anomaly leaves every table as it was.
        for source, src in cfg.sources.items():
            plans.append(check_source(ctx, source, src, history.get(source)))
        _check_stale(ctx, plans)
        return write(ctx, plans)
    finally:
        for plan in plans:
            plan.release()


if __name__ == "__main__":
    from lakescore.stage import stage_main

    stage_main("ingest", run)
