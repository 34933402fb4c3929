"""Property tests: hypothesis throws malformed batches at the contract (wrong types, NULLs and
null tokens, unseen categories, out-of-range values, pattern breaks, duplicate keys and exact
copies, an extra column, a missing column, empty batches, random warn policies) and checks
against an independent oracle written in plain Python that

- rows in = clean + quarantined, and
- every quarantined row carries exactly the reasons it should (and only those rows are
  quarantined), with its original text,

first on the transforms (many examples), then through the ingest job on Delta tables (a few,
each also re-run to check that nothing changes). Each test prints how many batches it tried.
"""

from __future__ import annotations

import copy
import os
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from lakescore.config import parse_config
from lakescore.core.runtime import Context
from lakescore.jobs import ingest
from lakescore.transforms.contracts import anomalies as contracts
from lakescore.transforms.contracts import keys
from lakescore.transforms.contracts import rules as cleaning
from tests.support import EVENT_CONTRACT, events_use_case

# `make test` tries 12 batches on the transforms and 2 through the whole ingest job;
# LAKESCORE_PROPERTY_EXAMPLES=30,5 runs the counts of before (the 10,000-batch run of raw input
# at volume stays in `make reliability`: tests/reliability/test_raw_volume.py)
TRANSFORM_EXAMPLES, JOB_EXAMPLES = (int(n) for n in os.environ.get("LAKESCORE_PROPERTY_EXAMPLES", "12,2").split(","))

COLUMNS = ["id", "kind", "amount", "code", "at"]
RULES = {
    "id": cleaning.ColumnRules("int", False),
    "kind": cleaning.ColumnRules("string", True, domain=("a", "b", "c")),
    "amount": cleaning.ColumnRules("double", True, min=0, max=100),
    "code": cleaning.ColumnRules("string", True, pattern="^[A-Z]{2}[0-9]$"),
    "at": cleaning.ColumnRules("timestamp", False),
}
VALID_TIMES = ["2024-01-01 10:00:00", "2024-01-01T11:30:00Z", "2023-12-31 23:59:59"]
ROW_KINDS = ["type_mismatch", "missing_value", "out_of_domain", "out_of_range", "pattern_mismatch", "duplicate_key"]

VALID = {
    "id": st.integers(0, 12).map(str) | st.integers(0, 12).map(lambda i: f" {i} "),
    "kind": st.sampled_from(["a", "b", "c", "NA"]) | st.none(),
    "amount": st.floats(0, 100, allow_nan=False).map(lambda x: f"{x:.2f}") | st.sampled_from(["NA", "0", "100"]) | st.none(),
    "code": st.sampled_from(["AB1", "XY9", " NA "]) | st.none(),
    "at": st.sampled_from(VALID_TIMES),
}
BROKEN = {
    "id": st.sampled_from(["x1", "1.5", "NA"]) | st.none(),       # wrong type, null token, NULL
    "kind": st.sampled_from(["zz", "A", "d"]),                      # unseen categories
    "amount": st.sampled_from(["abc", "-1", "100.5", "250"]),       # wrong type, out of range
    "code": st.sampled_from(["ab1", "ABC1", "A1"]),                 # pattern
    "at": st.sampled_from(["notatime", "NA"]) | st.none(),
}


@dataclass
class Batch:
    rows: list[dict]
    columns: list[str]       # the raw columns, in order (a declared one may be missing, one may be extra)
    tolerated: set[str]      # row-level kinds whose policy is warn


@st.composite
def batches(draw) -> Batch:
    rows: list[dict] = []
    for _ in range(draw(st.integers(0, 24))):
        if rows and draw(st.integers(0, 4)) == 0:       # an exact copy of an earlier row
            rows.append(dict(draw(st.sampled_from(rows))))
            continue
        row = {c: draw(VALID[c]) for c in COLUMNS}
        for c in draw(st.lists(st.sampled_from(COLUMNS), max_size=2, unique=True)):
            row[c] = draw(BROKEN[c])
        rows.append(row)
    columns = list(COLUMNS)
    missing = draw(st.sampled_from([None, None, "amount", "code", "at"]))
    if missing:
        columns.remove(missing)
    if draw(st.booleans()):
        columns.append("extra")
        for row in rows:
            row["extra"] = draw(st.sampled_from(["x", "NA"]) | st.none())
    rows = [{c: r.get(c) for c in columns} for r in rows]
    return Batch(rows, columns, draw(st.sets(st.sampled_from(ROW_KINDS))))


# ------------------------------------------------------------------------------ oracle
def _value(row: dict, column: str):
    v = row.get(column)
    return None if v is None or v.strip() == "NA" else v


def _float(text: str):
    try:
        return float(text)
    except ValueError:
        return None


def row_reasons(row: dict) -> set[tuple[str, str]]:
    """What the contract says about one row, before key uniqueness."""
    out = set()
    for c in COLUMNS:
        v = _value(row, c)
        rules = RULES[c]
        if v is None:
            if not rules.nullable:
                out.add(("missing_value", c))
            continue
        if c == "id" and not re.fullmatch(r"-?\d+", v.strip()):
            out.add(("type_mismatch", c))
        elif c == "amount":
            x = _float(v.strip())
            if x is None:
                out.add(("type_mismatch", c))
            elif not 0 <= x <= 100:
                out.add(("out_of_range", c))
        elif c == "at" and v not in VALID_TIMES:
            out.add(("type_mismatch", c))
        elif c == "kind" and v not in ("a", "b", "c"):
            out.add(("out_of_domain", c))
        elif c == "code" and not re.fullmatch(r"[A-Z]{2}[0-9]", v):
            out.add(("pattern_mismatch", c))
    return out


def expected(batch: Batch):
    """(quarantined rows as Counter of (original items, reasons), clean ids as Counter,
    reason counts per (code, column))."""
    reasons = [row_reasons(r) for r in batch.rows]

    def blocks(rs):
        return any(code not in batch.tolerated for code, _ in rs)

    groups: dict[int, list[int]] = {}
    for i, (row, rs) in enumerate(zip(batch.rows, reasons)):
        v = _value(row, "id")
        if not blocks(rs) and v is not None and re.fullmatch(r"-?\d+", v.strip()):
            groups.setdefault(int(v), []).append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        texts = {tuple(batch.rows[i].get(c) for c in batch.columns) for i in members}
        flagged = members if len(texts) > 1 else members[1:]  # exact copies: keep one
        for i in flagged:
            reasons[i].add(("duplicate_key", "id"))
    quarantined, clean, counts = Counter(), Counter(), Counter()
    for row, rs in zip(batch.rows, reasons):
        counts.update(rs)
        if blocks(rs):
            quarantined[(tuple(sorted(row.items())), frozenset(rs))] += 1
        else:
            v = _value(row, "id")
            clean[int(v) if v is not None and re.fullmatch(r"-?\d+", v.strip()) else None] += 1
    return quarantined, clean, counts


def _tolerated(kinds: set[str]) -> list[tuple[str, str]]:
    return [(k, c) for k in kinds for c in COLUMNS]


def _raw(spark, batch: Batch, batch_id: str):
    schema = ", ".join(f"{c} string" for c in batch.columns)
    return spark.createDataFrame([[r[c] for c in batch.columns] for r in batch.rows], schema) \
        .withColumn("_batch_id", F.lit(batch_id))


# ------------------------------------------------------------------------ on transforms
def test_transforms_reconcile_and_explain_every_row(spark):
    tried = []

    @settings(max_examples=TRANSFORM_EXAMPLES, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(batch=batches())
    def check(batch: Batch):
        tried.append(batch)
        tolerated = _tolerated(batch.tolerated)
        checked = (_raw(spark, batch, "b1")
                   .transform(cleaning.validate(RULES, ["NA"], keep=["_batch_id"], tolerated=tolerated))
                   .transform(keys.flag_duplicate_keys(["id"], tolerated=tolerated)))
        # one query: the clean ids and the quarantined rows side by side
        out = cleaning.clean_rows(checked).select(F.lit("clean").alias("side"), F.col("id"),
                                                  F.lit(None).cast("map<string,string>").alias("original"),
                                                  F.lit(None).cast(cleaning.REASON_TYPE).alias("reasons")) \
            .unionByName(cleaning.quarantine_rows(checked, "events", carry=["_batch_id"]).select(
                F.lit("quarantine").alias("side"), F.lit(None).cast("int").alias("id"), "original", "reasons")) \
            .collect()
        want_q, want_clean, want_counts = expected(batch)
        got_q = Counter((tuple(sorted(r["original"].items())), frozenset((x["code"], x["column"]) for x in r["reasons"]))
                        for r in out if r["side"] == "quarantine")
        got_clean = Counter(r["id"] for r in out if r["side"] == "clean")
        assert len(out) == len(batch.rows)  # rows in = clean + quarantined
        assert got_q == want_q
        assert got_clean == want_clean
        # and the batch's findings count the same failures
        profile = checked.transform(contracts.profile(COLUMNS, landed=None, new_columns=["extra"]
                                                      if "extra" in batch.columns else []))
        found = {(f["kind"], f["column"]): f["value"] for f in profile.transform(
            contracts.findings(contracts.row_rule_findings(), contracts.new_columns())).collect()}
        extra = sum(1 for r in batch.rows if r.get("extra") is not None)
        assert found == {**{k: float(v) for k, v in want_counts.items()},
                         **({("new_column", "extra"): float(extra)} if extra else {})}

    check()
    print(f"\nhypothesis: {len(tried)} generated batches through the transforms "
          f"({sum(len(b.rows) for b in tried)} rows, {sum(1 for b in tried if not b.rows)} empty)")
    assert len(tried) >= TRANSFORM_EXAMPLES


# --------------------------------------------------------------------- through the job
SCHEMA = "test_contract_properties"
CONFIG = events_use_case("properties", SCHEMA, {"events": {
    "null_values": ["NA"],
    "key": ["id"],
    "columns": EVENT_CONTRACT,
    "volume": None,
    "policies": {"missing_column": "warn"},
}})
TABLES = ["clean_events", "quarantine", "data_quality", "alerts"]


def _offset(batch: Batch, by: int) -> Batch:
    """The same batch with its ids moved out of the way of earlier batches (keys are unique
    across the clean table)."""
    rows = []
    for r in batch.rows:
        v = _value(r, "id")
        if v is not None and re.fullmatch(r"-?\d+", v.strip()):
            r = {**r, "id": r["id"].replace(v.strip(), str(int(v) + by))}
        rows.append(r)
    return Batch(rows, batch.columns, batch.tolerated)


def test_ingest_job_reconciles_explains_and_is_idempotent(spark, lakescore_home):
    spark.sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    spark.sql(f"CREATE SCHEMA {SCHEMA}")
    tried, rejected = [], []

    @settings(max_examples=JOB_EXAMPLES, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(batch=batches())
    def check(batch: Batch):
        n = len(tried)
        tried.append(batch)
        batch = _offset(batch, 1000 * (n + 1))
        data = copy.deepcopy(CONFIG)
        data["sources"]["events"]["policies"].update({k: "warn" for k in batch.tolerated})
        limit = 0.5 if n % 2 else 1.0  # half the time: no limit
        data["sources"]["events"]["max_quarantine_rate"] = limit
        ctx = Context(cfg=parse_config(data), as_of=date(2024, 1, 2), home=lakescore_home)
        batch_id = f"p-{n}"
        _raw(spark, batch, batch_id).withColumn("_landed_at", F.current_timestamp()) \
            .write.format("delta").mode("append").option("mergeSchema", "true").saveAsTable(f"{SCHEMA}.raw_events")
        before = {t: ctx.tables.version(t) if ctx.tables.exists(t) else None for t in TABLES}
        want_q, want_clean, want_counts = expected(batch)
        n_q = sum(want_q.values())
        if batch.rows and n_q / len(batch.rows) > limit:  # max_quarantine_rate: the stage stops
            with pytest.raises(ingest.IngestError, match=f"high_quarantine_rate on events in batch {batch_id}: "
                                                         f"{n_q} of {len(batch.rows)} rows quarantined"):
                ingest.run(ctx)
            assert {t: ctx.tables.version(t) if ctx.tables.exists(t) else None for t in TABLES if t != "alerts"} \
                == {t: v for t, v in before.items() if t != "alerts"}
            rejected.append(batch)
            spark.sql(f"DELETE FROM {SCHEMA}.raw_events WHERE _batch_id = '{batch_id}'")  # out of the way
            return

        summary = ingest.run(ctx)["events"]

        assert summary == {"rows_in": len(batch.rows), "rows_clean": len(batch.rows) - n_q, "rows_quarantined": n_q}
        if not batch.rows:  # an empty batch leaves no trace in the raw table: nothing to do
            assert {t: ctx.tables.version(t) if ctx.tables.exists(t) else None for t in TABLES} == before
            return
        rows = spark.table(f"{SCHEMA}.quarantine").where(F.col("batch_id") == batch_id).collect()
        # the raw table may hold columns of earlier batches: they are NULL in this one
        got_q = Counter((tuple(sorted((k, v) for k, v in r["original"].items() if k in batch.columns)),
                         frozenset((x["code"], x["column"]) for x in r["reasons"])) for r in rows)
        assert got_q == want_q
        assert all(v is None for r in rows for k, v in r["original"].items() if k not in batch.columns)
        dq = spark.table(f"{SCHEMA}.data_quality").where(F.col("batch_id") == batch_id).first()
        assert (dq["rows_in"], dq["rows_clean"], dq["rows_quarantined"]) == (len(batch.rows), len(batch.rows) - n_q, n_q)
        alerts = {(r["kind"], r["subject"]): r["value"] for r in
                  spark.table(f"{SCHEMA}.alerts").where(F.col("batch_id") == batch_id).collect()}
        assert {k: v for k, v in alerts.items() if k[0] in ROW_KINDS} == {
            (code, f"events.{column}"): float(count) for (code, column), count in want_counts.items()}
        after = {t: ctx.tables.version(t) for t in TABLES}
        assert ingest.run(ctx)["events"]["rows_in"] == 0  # the same batch is not processed twice
        assert {t: ctx.tables.version(t) for t in TABLES} == after

    check()
    print(f"\nhypothesis: {len(tried)} generated batches through the ingest job "
          f"({sum(len(b.rows) for b in tried)} rows, {sum(1 for b in tried if not b.rows)} empty, "
          f"{len(rejected)} rejected as a whole)")
    assert len(tried) >= JOB_EXAMPLES
