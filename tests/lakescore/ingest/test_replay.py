"""A contract fix reaches the rows it quarantined (`lakescore ingest replay`), and a batch rejected
wholesale stops the stage with a critical alert instead of serving yesterday's data."""

from __future__ import annotations

import copy
from datetime import date

import pytest
import yaml
from pyspark.sql import functions as F
from typer.testing import CliRunner

from lakescore.cli import app
from lakescore.config import deep_merge, parse_config
from lakescore.core.runtime import Context
from lakescore.ingest.check import contract_hash
from lakescore.ingest.replay import replay
from lakescore.jobs import ingest
from tests.support import events_use_case

SCHEMA = "test_replay"
CONTRACT = {
    "null_values": ["NA"],
    "key": ["id"],
    "columns": {"id": {"type": "int", "nullable": False}, "kind": {"type": "string", "domain": ["a", "b"]},
                "price": {"type": "bigint"}, "at": {"type": "timestamp", "nullable": False}},
    "volume": None,
}
CONFIG = events_use_case("replay", SCHEMA, {"events": CONTRACT}, label="price > 1")
RAW = "id string, kind string, price string, at string"
AT = "2024-01-01 10:00:00"


@pytest.fixture()
def home(spark, lakescore_home):
    spark.sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    spark.sql(f"CREATE SCHEMA {SCHEMA}")
    return lakescore_home


def _ctx(home, as_of=date(2024, 1, 2), **events) -> Context:
    data = deep_merge(copy.deepcopy(CONFIG), {"sources": {"events": events}})
    return Context(cfg=parse_config(data), as_of=as_of, home=home)


def _batch(spark, rows, batch, landed):
    spark.createDataFrame(rows, RAW).withColumn("_batch_id", F.lit(batch)) \
        .withColumn("_landed_at", F.lit(landed).cast("timestamp")) \
        .write.format("delta").mode("append").saveAsTable(f"{SCHEMA}.raw_events")


def _split(spark, batch):
    clean = sorted(str(r["id"]) for r in spark.table(f"{SCHEMA}.clean_events").where(F.col("_batch_id") == batch).collect())
    quarantined = {r["original"]["id"]: r["reason_codes"]
                   for r in spark.table(f"{SCHEMA}.quarantine").where(F.col("batch_id") == batch).collect()}
    return clean, quarantined


def _reconciled(spark):
    """rows in = clean + quarantined for every batch, from the tables themselves."""
    dq = {r["batch_id"]: (r["rows_in"], r["rows_clean"], r["rows_quarantined"])
          for r in spark.table(f"{SCHEMA}.data_quality").collect()}
    raw = {r["_batch_id"]: r["count"] for r in spark.table(f"{SCHEMA}.raw_events").groupBy("_batch_id").count().collect()}
    counts = spark.table(f"{SCHEMA}.clean_events").groupBy("_batch_id").count().collect()
    clean = {r["_batch_id"]: r["count"] for r in counts}
    q = {r["batch_id"]: r["count"] for r in spark.table(f"{SCHEMA}.quarantine").groupBy("batch_id").count().collect()}
    for b, (rows_in, rows_clean, rows_q) in dq.items():
        assert rows_in == raw[b] == rows_clean + rows_q == clean.get(b, 0) + q.get(b, 0), b
    return dq


def test_replay_after_a_type_fix_moves_the_rows_back(spark, home, tmp_path):
    # the file writes prices as 1500.0: a bigint contract quarantines every row with a price
    _batch(spark, [("1", "a", "1500.0", AT), ("2", "b", "NA", AT), ("3", "a", "20.0", AT), ("4", "b", "NA", AT),
                   ("5", "a", "NA", AT)], "b1", "2024-01-01 12:00:00")
    assert ingest.run(_ctx(home))["events"] == {"rows_in": 5, "rows_clean": 3, "rows_quarantined": 2}
    _batch(spark, [("6", "a", "7.5", AT), ("7", "a", "NA", AT), ("8", "b", "NA", AT)], "b2", "2024-01-02 12:00:00")
    assert ingest.run(_ctx(home, as_of=date(2024, 1, 3)))["events"]["rows_quarantined"] == 1
    old_hash = spark.table(f"{SCHEMA}.data_quality").first()["contract_hash"]

    fixed = CONTRACT["columns"] | {"price": {"type": "double"}}
    derived = {"price_cents": "price * 100"}         # a column derived since the table was written
    data = deep_merge(copy.deepcopy(CONFIG), {"sources": {"events": {"columns": fixed, "derived": derived}}})
    config = tmp_path / "fixed.yml"
    config.write_text(yaml.safe_dump(data))
    # a new batch under the fixed contract cannot go into a clean table typed by the old one
    _batch(spark, [("9", "a", "3.25", AT)], "b3", "2024-01-03 12:00:00")
    with pytest.raises(ingest.IngestError, match=r"clean_events: the contract changed its columns \(price is "
                                                 r"bigint there, double in the contract, price_cents is absent there, "
                                                 r"derived in the contract\); nothing was written: .* ingest replay"):
        ingest.run(_ctx(home, as_of=date(2024, 1, 4), columns=fixed, derived=derived))

    result = CliRunner().invoke(app, ["ingest", "replay", "-c", str(config), "--source", "events"])
    assert result.exit_code == 0, result.output
    assert ("test_replay.clean_events rebuilt with the contract's columns: price bigint -> double, "
            "price_cents absent -> derived") in result.stdout
    assert "moved to clean: 3 row(s); moved to quarantine: 0 row(s)" in result.stdout
    clean = {r["id"]: r["price"] for r in spark.table(f"{SCHEMA}.clean_events").collect()}
    assert clean == {1: 1500.0, 2: None, 3: 20.0, 4: None, 5: None, 6: 7.5, 7: None, 8: None}
    assert dict(spark.table(f"{SCHEMA}.clean_events").dtypes)["price"] == "double"
    cents = {r["id"]: r["price_cents"] for r in spark.table(f"{SCHEMA}.clean_events").collect()}
    assert cents[1] == 150000.0 and cents[6] == 750.0
    assert spark.table(f"{SCHEMA}.quarantine").count() == 0
    new_hash = contract_hash(parse_config(data).sources["events"])
    dq = spark.table(f"{SCHEMA}.data_quality").collect()
    assert {(r["batch_id"], r["contract_hash"], r["as_of"]) for r in dq} == {
        ("b1", new_hash, date(2024, 1, 2)), ("b2", new_hash, date(2024, 1, 3))}  # each keeps its as-of
    assert all(r["replayed_at"] is not None for r in dq) and new_hash != old_hash
    _reconciled(spark)

    # a second replay with no contract change moves nothing and writes nothing
    versions = {t: Context(cfg=parse_config(data), as_of=date(2024, 1, 4), home=home).tables.version(t)
                for t in ("clean_events", "quarantine", "data_quality")}
    again = CliRunner().invoke(app, ["ingest", "replay", "-c", str(config), "--source", "events"])
    assert again.exit_code == 0 and "nothing to replay" in again.stdout
    ctx = _ctx(home, as_of=date(2024, 1, 4), columns=fixed, derived=derived)
    assert {t: ctx.tables.version(t) for t in versions} == versions
    # and the new batch now goes in
    assert ingest.run(ctx)["events"] == {"rows_in": 1, "rows_clean": 1, "rows_quarantined": 0}


def test_replay_of_one_batch_keeps_key_rules_and_updates_reasons(spark, home, caplog):
    _batch(spark, [("1", "a", "1", AT), ("2", "zz", "1", AT), ("3", "a", "1", AT), ("6", "zz", "1", AT)],
           "b1", "2024-01-01 12:00:00")
    _batch(spark, [("2", "a", "1", AT), ("4", "b", "1", AT)], "b2", "2024-01-01 13:00:00")
    ingest.run(_ctx(home))
    assert _split(spark, "b1") == (["1", "3"], {"2": "out_of_domain", "6": "out_of_domain"})
    assert _split(spark, "b2")[0] == ["2", "4"]  # b1's rejected row did not claim key 2

    widened = _ctx(home, columns={"kind": {"type": "string", "domain": ["a", "b", "zz"]}})
    done = replay(widened, "events", batches=["b1"])
    assert [(r.batch_id, r.clean_before, r.clean_after, r.quarantined_after) for r in done.batches] == [("b1", 2, 3, 1)]
    # 6 passes now; 2 passes the rules but its key is b2's now: it stays, with its new reason
    assert _split(spark, "b1") == (["1", "3", "6"], {"2": "duplicate_key"})
    assert _split(spark, "b2")[0] == ["2", "4"]
    alerts = {r["kind"] for r in spark.table(f"{SCHEMA}.alerts").where("batch_id = 'b1'").collect()}
    assert alerts == {"duplicate_key"}
    _reconciled(spark)
    assert replay(widened, "events", batches=["b1"]).batches == []  # idempotent
    # b2 was checked under the old contract: ingest says so
    with caplog.at_level("WARNING", logger="lakescore.ingest"):
        ingest.run(widened)
    assert "1 batch(es) of events in data_quality were checked under another contract" in caplog.text
    with pytest.raises(ingest.IngestError, match=r"batch\(es\) \['nope'\] of source events were not processed"):
        replay(widened, "events", batches=["nope"])


def test_a_batch_rejected_wholesale_fails_the_stage(spark, home, tmp_path):
    _batch(spark, [("1", "a", "1", AT)], "b1", "2024-01-01 12:00:00")
    ingest.run(_ctx(home))
    _batch(spark, [("2", "a", "x", AT), ("3", "a", "y", AT), ("4", "a", "z", AT)], "b2", "2024-01-02 12:00:00")
    before = {t: _ctx(home).tables.version(t) for t in ("clean_events", "quarantine", "data_quality")}
    config = tmp_path / "c.yml"
    config.write_text(yaml.safe_dump(CONFIG))
    result = CliRunner().invoke(app, ["run", "ingest", "-c", str(config), "--as-of", "2024-01-03"])
    assert result.exit_code == 1
    assert ("high_quarantine_rate on events in batch b2: 3 of 3 rows quarantined (100.00%), above "
            "max_quarantine_rate 0.5") in result.output
    assert {t: _ctx(home).tables.version(t) for t in before} == before  # nothing written for the batch
    alert = spark.table(f"{SCHEMA}.alerts").where("kind = 'high_quarantine_rate'").first()
    assert (alert["severity"], alert["batch_id"], alert["value"], alert["threshold"]) == ("critical", "b2", 1.0, 0.5)

    # the reviewer decides: this once, quarantine the batch instead (every row, with the reason)
    summary = ingest.run(_ctx(home, policies={"high_quarantine_rate": "quarantine"}))["events"]
    assert summary == {"rows_in": 3, "rows_clean": 0, "rows_quarantined": 3}
    assert set(_split(spark, "b2")[1].values()) == {"high_quarantine_rate,type_mismatch"}
    alert = spark.table(f"{SCHEMA}.alerts").where("kind = 'high_quarantine_rate'").first()
    assert alert["severity"] == "warning"
