"""The check phase of ingest (and of `lakescore ingest replay`): validate a source's batches of
raw_<source> against its contract without writing anything, into a `Plan` that
`lakescore.ingest.write` writes.

Row rules type and check every row (a malformed line is a `malformed_row`), key uniqueness
compares the batches' rows with each other and with the clean rows of the other batches, and
one profile pass measures each batch for the dataset-level anomalies (with the history of the
source's earlier batches in `data_quality`). Last, the share of each batch's rows quarantined
is held against `max_quarantine_rate`. An anomaly whose policy is `fail` raises `FatalAnomaly`
here, before any write.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.config import Source
from lakescore.core.errors import StageError
from lakescore.core.runtime import Context
from lakescore.ingest.raw_landing import blank_lines
from lakescore.transforms import schemas
from lakescore.transforms.columns import BATCH_ID, LANDED_AT, MALFORMED_COLUMNS, RAW_META
from lakescore.transforms.contracts import anomalies as contracts
from lakescore.transforms.contracts import keys as key_rules
from lakescore.transforms.contracts import measures
from lakescore.transforms.contracts import rules as cleaning
from lakescore.transforms.contracts.kinds import (
    COLUMN_KINDS,
    DATASET_KINDS,
    DEFAULT_POLICIES,
    FAIL,
    MISSING_COLUMN,
    QUARANTINE,
    WARN,
)
from lakescore.transforms.sqltext import all_of, eq, in_list

log = logging.getLogger("lakescore.ingest")

FINDINGS_WITH_POLICY = contracts.FINDING_SCHEMA + ", policy string"
FINDING_FIELDS = [*contracts.FINDING_COLUMNS, "policy"]
BATCH_FRAME = contracts.PROFILE_SCHEMA + ", previous_rows array<bigint>, as_of date, as_of_start timestamp"


class IngestError(StageError):
    pass


class FatalAnomaly(IngestError):
    """An anomaly whose policy is `fail`: nothing is written but its critical alert."""

    def __init__(self, message: str, source: str, findings: list):
        super().__init__(message)
        self.source = source
        self.findings = findings


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
    if spec.get("max_quarantine_rate") == Source.model_fields["max_quarantine_rate"].default:
        del spec["max_quarantine_rate"]  # added later: its default leaves earlier hashes as they were
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def as_of_start(ctx: Context, as_of: date | None = None) -> datetime:
    """An as-of's start, 00:00 in entity.timezone (an aware datetime): freshness is measured
    against it."""
    return datetime.combine(as_of or ctx.as_of, time(0), tzinfo=ZoneInfo(ctx.cfg.entity.timezone))


@dataclass
class Plan:
    """One source's checked batches, ready to write."""

    source: str
    batches: list[str]
    findings: list = field(default_factory=list)  # Rows of FINDING_SCHEMA + policy
    alert_scope: str | None = None
    rows: DataFrame | None = None  # the validated rows (persisted on disk), with every reason
    profile: list = field(default_factory=list)  # one Row per batch (PROFILE_SCHEMA)
    previous: dict = field(default_factory=dict)  # batch id -> rows of the batches before it
    counts: dict = field(default_factory=dict)  # batch id -> (rows_in, rows_clean, rows_quarantined)
    as_of: dict = field(default_factory=dict)  # batch id -> the as-of it is checked for
    blank: dict = field(default_factory=dict)  # batch id -> blank lines of its file (None: unknown)
    stale: DataFrame | None = None  # without a new batch: the stale_source check, not yet run
    snapshot: dict | None = None  # a snapshot source: keys new, changed, gone, held; versions written
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
    other_contract: int = 0  # batches checked under another contract than today's


def batch_history(ctx: Context) -> dict[str, History]:
    """Per source: the newest event over its processed batches, its most recent batches' rows
    and how many were checked under another contract, from data_quality in one query."""
    store, cfg = ctx.tables, ctx.cfg
    if not store.exists(cfg.tables.data_quality):
        return {}
    dq = store.spark.table(store.display(cfg.tables.data_quality))
    recent = max([s.volume.history_batches for s in cfg.sources.values() if s.volume] or [1])
    at = F.coalesce(*[F.col(c) for c in ("landed_at", "processed_at") if c in dq.columns])
    newest = F.max("newest_event_at") if "newest_event_at" in dq.columns else F.lit(None).cast("timestamp")
    hashes = F.create_map(*[x for s, src in cfg.sources.items() for x in (F.lit(s), F.lit(contract_hash(src)))])
    rows = dq.groupBy("source").agg(
        newest.alias("newest"),
        F.slice(F.sort_array(F.collect_list(F.struct(at.alias("at"), "batch_id", "rows_in")), asc=False),
                1, recent).alias("recent"),
        F.count_if(~F.col("contract_hash").eqNullSafe(F.try_element_at(hashes, F.col("source")))).alias("other"),
    ).collect()
    return {r["source"]: History(r["newest"], [(e["at"], e["batch_id"], int(e["rows_in"])) for e in r["recent"]],
                                 int(r["other"])) for r in rows}


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
        done = (store.spark.table(store.display(dq)).where(F.col("source") == source)
                .select(F.col("batch_id").alias(BATCH_ID)))
        batches = batches.join(done, BATCH_ID, "left_anti")
    return sorted(r[BATCH_ID] for r in batches.collect())


ABSENT = "absent"


def changed_columns(ctx: Context, source: str, src: Source) -> dict[str, tuple[str, str]]:
    """Columns of clean_<source> the contract changed since the table was written: a declared
    column whose type differs, a declared or derived column the table lacks, a column of the
    table the contract no longer declares or derives (lakescore's own `_` columns aside):
    column -> (in the table, in the contract), `absent` where it is not."""
    store, clean = ctx.tables, ctx.cfg.clean_table(source)
    if not store.exists(clean):
        return {}
    have = {f.name.lower(): (f.name, f.dataType) for f in store.spark.table(store.display(clean)).schema.fields}
    out = {}
    for name, spec in src.columns.items():
        current, wanted = have.get(name.lower()), schemas.CONTRACT_TYPES[spec.type]
        if current is None:
            out[name] = (ABSENT, wanted.simpleString())
        elif current[1].simpleString() != wanted.simpleString():
            out[name] = (current[1].simpleString(), wanted.simpleString())
    for name in src.derived:
        if name.lower() not in have:
            out[name] = (ABSENT, "derived")
    declared = {c.lower() for c in (*src.columns, *src.derived)}
    for lower, (name, dtype) in have.items():
        if lower not in declared and not name.startswith("_"):
            out[name] = (dtype.simpleString(), ABSENT)
    return out


def describe_finding(finding, source: str) -> str:
    subject = f"{source}.{finding['column']}" if finding["column"] else source
    where = f" in batch {finding['batch_id']}" if finding["batch_id"] else ""
    return f"{finding['kind']} on {subject}{where}: {finding['detail']}"


def fail_on(table: str, source: str, found: list) -> None:
    """Raise FatalAnomaly for the findings whose policy is fail."""
    fatal = [f for f in found if f["policy"] == FAIL]
    if fatal:
        shown = "; ".join(describe_finding(f, source) for f in fatal)
        raise FatalAnomaly(f"table {table}: anomaly with policy fail, nothing was written: {shown}", source, fatal)


def log_findings(source: str, found: list) -> None:
    for f in found:
        log.info("check %s: %s (policy %s)", source, describe_finding(f, source), f["policy"])


def check_stale(ctx: Context, source: str, src: Source, history: History) -> Plan:
    """A source without a new batch can still be stale: its newest event is too old now. The
    query is left in `plan.stale` (run with the other sources' in one query, `run_stale`)."""
    plan = Plan(source, [], alert_scope=all_of(eq("source", source), eq("batch_id", None), eq("as_of", ctx.as_of)))
    newest = history.newest_event_at
    # Only a source that may be stale needs the query (the usual re-run has fresh sources).
    # (PySpark gives timestamps as naive datetimes in local time: astimezone reads them so.)
    if src.freshness is not None and newest is not None and \
            as_of_start(ctx) - newest.astimezone(UTC) > timedelta(hours=src.freshness.max_age_hours):
        frame = ctx.spark.createDataFrame([(None, newest)], "batch_id string, newest_event_at timestamp")
        plan.stale = contracts.with_policies(frame.transform(measures.with_freshness(as_of_start(ctx))).transform(
            contracts.findings(contracts.stale_source(src.freshness.column, src.freshness.max_age_hours))),
            policy_map(src)).withColumn("source", F.lit(source))
    return plan


def run_stale(ctx: Context, plans: list[Plan]) -> None:
    """Run the stale_source checks of the sources without a new batch, in one query."""
    waiting = [p for p in plans if p.stale is not None]
    if not waiting:
        return
    found = waiting[0].stale
    for p in waiting[1:]:
        found = found.unionByName(p.stale)
    found = found.collect()  # at most one row per source
    for p in waiting:
        p.findings = [f for f in found if f["source"] == p.source]
        log_findings(p.source, p.findings)
        fail_on(ctx.tables.display(ctx.cfg.raw_table(p.source)), p.source, p.findings)


def check_source(ctx: Context, source: str, src: Source, history: History | None, *,
                 batches: list[str] | None = None, as_of: dict | None = None,
                 volumes: list | None = None, blank: dict | None = None) -> Plan:
    """Validate batches of one source; write nothing. Raises FatalAnomaly when an anomaly's
    policy is `fail`.

    By default the pending batches, checked for the run's as-of, with `history` (data_quality's
    recent batches) before them. A replay passes `batches`, the as-of each was first checked
    for (`as_of`) and the rows of every other batch of the source (`volumes`: (time, batch,
    rows)), so each batch is held against the batches landed just before it. `blank` holds the
    blank lines of batches landed in this run (the others' are read from landed_files)."""
    store, cfg = ctx.tables, ctx.cfg
    raw_name, clean_name = cfg.raw_table(source), cfg.clean_table(source)
    table = store.display(raw_name)
    history = history or History()
    if batches is None:
        batches = pending_batches(ctx, source)
        if not batches:
            return check_stale(ctx, source, src, history)

    raw = store.read(raw_name, where=in_list(BATCH_ID, batches), count=False)
    meta = [c for c in RAW_META if c in raw.columns]
    missing = [c for c in src.columns if c not in raw.columns]
    new = [c for c in raw.columns if c not in src.columns and c not in meta and c not in MALFORMED_COLUMNS]
    fatal_missing = [c for c in missing if src.policy(MISSING_COLUMN, c) == FAIL]
    if fatal_missing:  # schema-level: known without reading a row
        found = [{"batch_id": b, "kind": MISSING_COLUMN, "column": c, "value": None, "threshold": None,
                  "detail": f"declared column {c} is not in {table}", "policy": FAIL}
                 for b in batches for c in fatal_missing]
        raise FatalAnomaly(f"table {table}: missing column(s) {fatal_missing} declared in "
                           f"sources.{source}.columns (anomaly missing_column, policy fail)", source, found)

    rules = {name: cleaning.ColumnRules.of(spec) for name, spec in src.columns.items()}
    malformed = any(c in raw.columns for c in MALFORMED_COLUMNS)
    tolerated = [(kind, column) for kind, column in contracts.row_checks(rules, src.key, malformed)
                 if src.policy(kind, column) == WARN]
    rows = raw.transform(cleaning.validate(rules, src.null_values, keep=meta, tolerated=tolerated))
    if src.key:
        existing = None
        if src.key_checked_in == "table" and store.exists(clean_name):
            existing = store.read(clean_name, where=f"NOT ({in_list(BATCH_ID, batches)})", count=False)
        rows = rows.transform(key_rules.flag_duplicate_keys(
            src.key, batch=BATCH_ID, order=[LANDED_AT] if LANDED_AT in meta else [], scope=src.key_checked_in,
            existing=existing, existing_name=store.display(clean_name), tolerated=tolerated))
    # Kept on local disk, not in the heap: in local mode the cache lives in the driver's JVM, where
    # at 1M flights the in-memory columnar cache took the heap to its 4 GB limit; on disk it was
    # also quicker to build and to read (README: Performance).
    rows = rows.persist(StorageLevel.DISK_ONLY)
    plan = Plan(source, batches, rows=rows, cached=[rows], as_of=as_of or {b: ctx.as_of for b in batches})
    try:
        _check_batches(ctx, plan, src, table, missing, new, history, volumes)
        _check_quarantine_rate(ctx, plan, src, table)
    except BaseException:
        plan.release()
        raise
    blank = blank or {}
    unknown = [b for b in batches if b not in blank]
    plan.blank = {**blank, **blank_lines(ctx, source, unknown)}
    plan.alert_scope = all_of(eq("source", source), in_list("batch_id", plan.batches))
    return plan


def _check_batches(ctx: Context, plan: Plan, src: Source, table: str, missing: list[str], new: list[str],
                   history: History, volumes: list | None) -> None:
    spark, source = ctx.spark, plan.source
    profiled = plan.rows.transform(contracts.profile(
        list(src.columns), batch=BATCH_ID, landed=LANDED_AT,
        freshness=src.freshness.column if src.freshness else None, new_columns=new))
    plan.profile = profiled.collect()  # one small row per batch
    n = src.volume.history_batches if src.volume else 0
    current = [(r["landed_at"], r["batch_id"], int(r["rows_in"])) for r in plan.profile]
    plan.previous = measures.previous_volumes(history.recent if volumes is None else volumes, current, n,
                                              interleave=volumes is not None)
    frame = spark.createDataFrame([(*r, plan.previous[r["batch_id"]], plan.as_of[r["batch_id"]],
                                    as_of_start(ctx, plan.as_of[r["batch_id"]])) for r in plan.profile], BATCH_FRAME)
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
    measured = frame.transform(measures.with_volume).transform(measures.with_freshness("as_of_start"))
    plan.findings = contracts.with_policies(measured.transform(contracts.findings(*parts)), policy_map(src)).collect()
    log_findings(source, plan.findings)
    fail_on(table, source, plan.findings)

    # Dataset-level anomalies whose policy is quarantine send their rows to quarantine.
    _quarantine_for(plan, [f for f in plan.findings if f["policy"] == QUARANTINE and f["kind"] in DATASET_KINDS])
    if not plan.counts:
        plan.counts = {r["batch_id"]: (int(r["rows_in"]), int(r["rows_in"]) - int(r["rows_flagged"] or 0),
                                       int(r["rows_flagged"] or 0)) for r in plan.profile}


def _quarantine_for(plan: Plan, found: list) -> None:
    """Quarantine the rows behind dataset-level findings (policy quarantine) and count again."""
    if not found:
        return
    extra = [cleaning.Rule(f["kind"], f["column"], contracts.quarantine_rule(
                 f["kind"], f["column"], f["batch_id"], f["detail"], batch=BATCH_ID)) for f in found]
    plan.rows = plan.rows.transform(cleaning.add_reasons(extra))
    counts = plan.rows.groupBy(F.col(BATCH_ID).alias("batch_id")).agg(
        F.count(F.lit(1)).alias("rows_in"),
        F.sum(F.col(cleaning.QUARANTINED).cast("long")).alias("rows_flagged")).collect()
    plan.counts = {r["batch_id"]: (int(r["rows_in"]), int(r["rows_in"]) - int(r["rows_flagged"] or 0),
                                   int(r["rows_flagged"] or 0)) for r in counts}


def _check_quarantine_rate(ctx: Context, plan: Plan, src: Source, table: str) -> None:
    """high_quarantine_rate: a batch whose share of quarantined rows is above
    max_quarantine_rate (the common case, no batch above it, needs no query)."""
    limit = src.max_quarantine_rate
    above = [(b, c[0], c[2]) for b, c in plan.counts.items() if c[0] and c[2] / c[0] > limit]
    if not above:
        return
    frame = ctx.spark.createDataFrame(above, "batch_id string, rows_in bigint, rows_quarantined bigint")
    found = contracts.with_policies(frame.transform(contracts.findings(contracts.high_quarantine_rate(limit))),
                                    policy_map(src)).collect()
    plan.findings = [*plan.findings, *found]
    log_findings(plan.source, found)
    fail_on(table, plan.source, found)
    _quarantine_for(plan, [f for f in found if f["policy"] == QUARANTINE])
