"""The ingest stage against data contracts: policies, fatal anomalies, incremental batches,
history, freshness, alerts and data_quality, on tiny raw tables."""

from __future__ import annotations

import copy
from datetime import date, datetime

import pytest
import yaml
from pyspark.sql import functions as F
from typer.testing import CliRunner

from lakescore.cli import app
from lakescore.config import deep_merge, parse_config
from lakescore.core.runtime import Context
from lakescore.ingest.check import contract_hash
from lakescore.ingest.contract_draft import suggested_source
from lakescore.jobs import ingest
from tests.support import EVENT_CONTRACT, events_use_case

SCHEMA = "test_contracts"
CONFIG = events_use_case("contracts", SCHEMA, {
    # shops first: when events fails, shops was already checked, and must not be written
    "shops": {
        "key": ["shop"],
        "columns": {"shop": {"type": "string", "nullable": False},
                    "region": {"type": "string", "domain": ["north", "south"]}},
        "freshness": {"column": "_landed_at", "max_age_hours": 24},
    },
    "events": {
        "null_values": ["NA"],
        "key": ["id"],
        "columns": EVENT_CONTRACT,
        "freshness": {"column": "at", "max_age_hours": 48},
        "volume": {"history_batches": 3, "min_ratio": 0.5, "max_ratio": 2.0},
    },
})
EVENTS = "id string, kind string, amount string, code string, at string"
TABLES = ["raw_shops", "raw_events", "clean_shops", "clean_events", "quarantine", "data_quality", "alerts"]
AS_OF = date(2024, 1, 2)


def _ctx(home, as_of=AS_OF, **overrides) -> Context:
    return Context(cfg=parse_config(deep_merge(copy.deepcopy(CONFIG), overrides)), as_of=as_of, home=home)


def _event(i, kind="a", amount="1.5", code="AB1", at="2024-01-01 10:00:00"):
    return (str(i), kind, amount, code, at)


def _append(spark, table, rows, schema, batch, landed="2024-01-01 12:00:00"):
    df = spark.createDataFrame(rows, schema).withColumn("_batch_id", F.lit(batch)) \
        .withColumn("_landed_at", F.lit(landed).cast("timestamp"))
    df.write.format("delta").mode("append").option("mergeSchema", "true").saveAsTable(f"{SCHEMA}.{table}")


def _events(spark, rows, batch, landed="2024-01-01 12:00:00", schema=EVENTS):
    _append(spark, "raw_events", rows, schema, batch, landed)


def _shops(spark, rows, batch):
    _append(spark, "raw_shops", rows, "shop string, region string", batch, landed=datetime.now().isoformat(sep=" "))


def _versions(ctx):
    return {t: ctx.tables.version(t) if ctx.tables.exists(t) else None for t in TABLES}


def _alerts(spark, batch=None):
    df = spark.table(f"{SCHEMA}.alerts")
    df = df.where(F.col("batch_id").isNull()) if batch is None else df.where(F.col("batch_id") == batch)
    return {(r["kind"], r["subject"]): r for r in df.collect()}


def _quarantine(spark, batch):
    return {r["original"]["id"]: r["reason_codes"]
            for r in spark.table(f"{SCHEMA}.quarantine").where(F.col("batch_id") == batch).collect()}


def _dq(spark, source, batch):
    return spark.table(f"{SCHEMA}.data_quality").where((F.col("source") == source) & (F.col("batch_id") == batch)).first()


@pytest.fixture()
def home(spark, lakescore_home):
    spark.sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    spark.sql(f"CREATE SCHEMA {SCHEMA}")
    return lakescore_home


def test_fatal_anomaly_leaves_every_table_at_its_previous_version(spark, home):
    _shops(spark, [("s1", "north")], "s-1")
    _events(spark, [_event(1), _event(2, kind="zz")], "e-1")
    ingest.run(_ctx(home))
    assert _quarantine(spark, "e-1") == {"2": "out_of_domain"}
    _shops(spark, [("s2", "south")], "s-2")
    _events(spark, [_event(3), _event(4, kind="yy")], "e-2")
    before = _versions(_ctx(home))
    assert None not in before.values()

    strict = _ctx(home, sources={"events": {"columns": {"kind": {"policies": {"out_of_domain": "fail"}}}}})
    with pytest.raises(ingest.IngestError, match=(
            r"^table test_contracts.raw_events: anomaly with policy fail, nothing was written: out_of_domain on "
            r"events.kind in batch e-2: 1 of 2 rows, e.g. yy is not in the domain$")):
        ingest.run(strict)
    after = _versions(strict)
    # shops, checked before events, was not written either; only the critical alert is
    assert {t: v for t, v in after.items() if t != "alerts"} == {t: v for t, v in before.items() if t != "alerts"}
    assert after["alerts"] == before["alerts"] + 1
    critical = _alerts(spark, "e-2")[("out_of_domain", "events.kind")]
    assert (critical["severity"], critical["value"]) == ("critical", 1.0)
    assert critical["detail"].endswith("(policy fail)")

    # the batches are still pending: with the default policy the next run takes them
    assert ingest.run(_ctx(home)) == {"shops": {"rows_in": 1, "rows_clean": 1, "rows_quarantined": 0},
                                      "events": {"rows_in": 2, "rows_clean": 1, "rows_quarantined": 1}}
    assert _alerts(spark, "e-2")[("out_of_domain", "events.kind")]["severity"] == "warning"  # the same alert, now


def test_fatal_dataset_anomaly_and_missing_required_column(spark, home):
    _shops(spark, [("s1", "north")], "s-1")
    _events(spark, [_event(1, at="2023-12-01 00:00:00")], "e-1")
    stale_fails = _ctx(home, sources={"events": {"policies": {"stale_source": "fail"}}})
    with pytest.raises(ingest.IngestError, match=r"stale_source on events.at in batch e-1: newest at 2023-12-01 "):
        ingest.run(stale_fails)
    assert all(v is None for t, v in _versions(stale_fails).items() if not t.startswith("raw_") and t != "alerts")
    assert _alerts(spark, "e-1")[("stale_source", "events.at")]["severity"] == "critical"

    spark.sql(f"DROP TABLE {SCHEMA}.raw_events")
    _events(spark, [("1", "a")], "e-1", schema="id string, kind string")
    with pytest.raises(ingest.IngestError,
                       match=r"missing column\(s\) \['amount', 'code', 'at'\] declared in sources.events.columns "
                             r"\(anomaly missing_column, policy fail\)"):
        ingest.run(_ctx(home))


@pytest.mark.parametrize("policy", ["warn", "quarantine", "fail"])
def test_unexpected_string_values_policy(spark, home, policy):
    _shops(spark, [("s1", "north")], "s-1")
    _events(spark, [_event(1), _event(2), _event(3, kind="new"), _event(4, kind="new")], "e-1")
    ctx = _ctx(home, sources={"events": {
        "columns": {"kind": {"min_domain_mass": 0.9, "policies": {"out_of_domain": "warn"}}},
        "policies": {"unexpected_string_values": policy}}})
    if policy == "fail":
        with pytest.raises(ingest.IngestError, match="unexpected_string_values on events.kind in batch e-1: "
                                                     r"kind: 50.00% of values in the domain \(2 outside\)"):
            ingest.run(ctx)
        return
    summary = ingest.run(ctx)["events"]
    alerts = _alerts(spark, "e-1")
    assert set(alerts) == {("out_of_domain", "events.kind"), ("unexpected_string_values", "events.kind")}
    assert alerts[("unexpected_string_values", "events.kind")]["value"] == 0.5
    assert alerts[("unexpected_string_values", "events.kind")]["threshold"] == 0.9
    if policy == "warn":  # out_of_domain is tolerated too: the rows go on
        assert summary == {"rows_in": 4, "rows_clean": 4, "rows_quarantined": 0}
    else:
        assert summary == {"rows_in": 4, "rows_clean": 2, "rows_quarantined": 2}
        assert _quarantine(spark, "e-1") == {"3": "out_of_domain,unexpected_string_values",
                                             "4": "out_of_domain,unexpected_string_values"}
    dq = _dq(spark, "events", "e-1")
    assert dq["anomaly_kinds"] == "out_of_domain,unexpected_string_values"
    assert {a["kind"]: a["policy"] for a in dq["anomalies"]} == {"out_of_domain": "warn",
                                                                 "unexpected_string_values": policy}


def test_batches_are_processed_once_with_volume_history(spark, home):
    _shops(spark, [("s1", "north")], "s-1")
    for i, batch in enumerate(["e-1", "e-2"]):
        _events(spark, [_event(10 * i + j) for j in range(10)], batch, landed=f"2024-01-01 0{i}:00:00")
    first = ingest.run(_ctx(home))["events"]
    assert first == {"rows_in": 20, "rows_clean": 20, "rows_quarantined": 0}
    assert _dq(spark, "events", "e-2")["volume_baseline"] == 10.0  # e-1, processed in the same run, is history
    assert _dq(spark, "events", "e-1")["volume_baseline"] is None

    versions = _versions(_ctx(home))
    assert ingest.run(_ctx(home))["events"]["rows_in"] == 0
    assert _versions(_ctx(home)) == versions  # nothing new: nothing written, no alert

    _events(spark, [_event(100), _event(101)], "e-3", landed="2024-01-01 03:00:00")
    _events(spark, [_event(200 + j) for j in range(30)], "e-4", landed="2024-01-01 04:00:00")
    assert ingest.run(_ctx(home))["events"]["rows_in"] == 32
    assert _dq(spark, "events", "e-3")["volume_ratio"] == 0.2
    low = _alerts(spark, "e-3")[("low_num_examples", "events")]
    assert (low["value"], low["threshold"], low["severity"]) == (0.2, 0.5, "warning")
    high = _alerts(spark, "e-4")[("high_num_examples", "events")]
    assert high["value"] == 3.0  # 30 rows against the median of 10, 10, 2
    assert spark.table(f"{SCHEMA}.clean_events").count() == 52
    assert spark.table(f"{SCHEMA}.data_quality").where("source = 'events'").count() == 4


def test_key_already_in_the_clean_table(spark, home):
    _shops(spark, [("s1", "north"), ("s1", "north")], "s-1")  # an exact copy: one row kept
    _events(spark, [_event(1), _event(2)], "e-1")
    ingest.run(_ctx(home))
    _events(spark, [_event(1, amount="9"), _event(3)], "e-2")
    assert ingest.run(_ctx(home))["events"] == {"rows_in": 2, "rows_clean": 1, "rows_quarantined": 1}
    row = spark.table(f"{SCHEMA}.quarantine").where("batch_id = 'e-2'").first()
    assert row["reasons"][0].asDict() == {"code": "duplicate_key", "column": "id",
                                          "detail": "key already in test_contracts.clean_events"}
    assert spark.table(f"{SCHEMA}.clean_shops").count() == 1
    shop = spark.table(f"{SCHEMA}.quarantine").where("batch_id = 's-1'").collect()
    assert [(r["original"], r["reason_codes"]) for r in shop] == [({"shop": "s1", "region": "north"}, "duplicate_key")]


def test_stale_source_without_a_new_batch_alerts_once_per_as_of(spark, home):
    _shops(spark, [("s1", "north")], "s-1")
    _events(spark, [_event(1, at="2024-01-01 10:00:00")], "e-1")
    ingest.run(_ctx(home))
    assert _alerts(spark, None) == {}
    later = date(2024, 1, 10)
    for _ in range(2):
        ingest.run(_ctx(home, as_of=later))
        stale = _alerts(spark, None)
        assert set(stale) == {("stale_source", "events.at")}  # shops landed just now: fresh
        assert stale[("stale_source", "events.at")]["as_of"] == later
        assert stale[("stale_source", "events.at")]["value"] == pytest.approx(206.0)  # hours, to the as-of at 00:00 UTC
    ingest.run(_ctx(home, as_of=date(2024, 1, 11)))
    assert spark.table(f"{SCHEMA}.alerts").where("kind = 'stale_source'").count() == 2  # one per as-of


def test_new_column_and_missing_nullable_column(spark, home):
    _shops(spark, [("s1", "north")], "s-1")
    _events(spark, [("1", "a", "2", "2024-01-01 10:00:00", "hello"), ("2", "b", "3", "2024-01-01 11:00:00", None)],
            "e-1", schema="id string, kind string, amount string, at string, note string")
    summary = ingest.run(_ctx(home, sources={"events": {"policies": {"missing_column": "warn"}}}))["events"]
    assert summary == {"rows_in": 2, "rows_clean": 2, "rows_quarantined": 0}
    alerts = _alerts(spark, "e-1")
    assert set(alerts) == {("missing_column", "events.code"), ("new_column", "events.note")}
    assert alerts[("new_column", "events.note")]["value"] == 1.0
    assert "note" not in spark.table(f"{SCHEMA}.clean_events").columns  # the contract's columns only

    _events(spark, [("3", "a", "2", "2024-01-01 12:00:00", "again")], "e-2",
            schema="id string, kind string, amount string, at string, note string")
    ingest.run(_ctx(home, sources={"events": {"policies": {"missing_column": "quarantine", "new_column": "quarantine"},
                                              "max_quarantine_rate": 1}}))
    assert _quarantine(spark, "e-2") == {"3": "missing_column,new_column"}


def test_alerts_and_rows_are_not_duplicated_when_a_batch_is_reprocessed(spark, home):
    _shops(spark, [("s1", "west")], "s-1")
    _events(spark, [_event(1), _event(2, amount="-5"), _event(3, code="x")], "e-1")
    tolerant = {"shops": {"max_quarantine_rate": 1}, "events": {"max_quarantine_rate": 1}}
    ingest.run(_ctx(home, sources=tolerant))
    alerts = spark.table(f"{SCHEMA}.alerts").orderBy("alert_id").collect()
    assert {(r["kind"], r["subject"]) for r in alerts} == {
        ("out_of_domain", "shops.region"), ("unexpected_string_values", "shops.region"),
        ("out_of_range", "events.amount"), ("pattern_mismatch", "events.code")}
    # a run that died after writing alerts but before data_quality: the batches are pending again
    spark.sql(f"DELETE FROM {SCHEMA}.data_quality")
    ingest.run(_ctx(home, as_of=date(2024, 1, 3), sources=tolerant))
    again = spark.table(f"{SCHEMA}.alerts").orderBy("alert_id").collect()
    assert [(r["alert_id"], r["created_at"]) for r in again] == [(r["alert_id"], r["created_at"]) for r in alerts]
    assert {r["as_of"] for r in again} == {date(2024, 1, 3)}
    assert spark.table(f"{SCHEMA}.quarantine").count() == 3 and spark.table(f"{SCHEMA}.clean_events").count() == 1


def test_data_quality_row(spark, home):
    _shops(spark, [("s1", "north")], "s-1")
    _events(spark, [_event(1, amount="NA"), _event(2, at="2024-01-01 20:00:00"), _event(3, amount="x"),
                    _event(4, code=None)], "e-1")
    ingest.run(_ctx(home))
    dq = _dq(spark, "events", "e-1")
    assert (dq["rows_in"], dq["rows_clean"], dq["rows_quarantined"], dq["quarantine_rate"]) == (4, 3, 1, 0.25)
    assert dq["null_rates"] == {"id": 0.0, "kind": 0.0, "amount": 0.5, "code": 0.25, "at": 0.0}
    assert dq["newest_event_at"] == datetime(2024, 1, 1, 20) and dq["freshness_hours"] == 4.0
    assert dq["landed_at"] == datetime(2024, 1, 1, 12) and dq["as_of"] == AS_OF
    assert dq["anomaly_kinds"] == "type_mismatch" and len(dq["contract_hash"]) == 12
    assert (dq["volume_baseline"], dq["volume_ratio"]) == (None, None)
    changed = _ctx(home, sources={"events": {"columns": {"amount": {"max": 50}}}})
    assert contract_hash(changed.cfg.sources["events"]) != dq["contract_hash"]


def test_contract_infer_prints_a_contract_that_validates(spark, home, tmp_path):
    _events(spark, [_event(i, kind="ab"[i % 2], amount=str(i * 1.5)) for i in range(1, 9)], "e-1")
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(CONFIG))
    result = CliRunner().invoke(app, ["contract", "infer", "-c", str(path), "-s", "events"])
    assert result.exit_code == 0, result.output
    src = suggested_source(result.stdout)
    assert src.key == ["id"] and src.null_values == ["NA"]
    assert src.columns["id"].type == "int" and src.columns["id"].nullable is False
    assert src.columns["kind"].domain == ["a", "b"]
    assert (src.columns["amount"].type, src.columns["amount"].min, src.columns["amount"].max) == ("double", 0.45, 13.05)
    assert src.columns["at"].type == "timestamp"
    assert "# key ['id']: 8 distinct of 8 rows" in result.stdout
    missing = CliRunner().invoke(app, ["contract", "infer", "-c", str(path), "-s", "orders"])
    assert missing.exit_code == 1
    assert "table test_contracts.raw_orders does not exist and sources.orders.landing is not set" in missing.output


def test_contract_infer_reads_the_landing_file_and_writes_nothing(spark, home, tmp_path):
    csv = tmp_path / "events.csv"
    csv.write_text("id,kind,amount,code,at\n1,a,NA,AB1,2024-01-01T10:00:00Z\n2,b,3.5,AB2,2024-01-01T11:00:00Z\n"
                   "3,a,4,AB3,2024-01-01T12:00:00Z\n4,a,5,AB4,2024-01-01T13:00:00Z\n")
    data = copy.deepcopy(CONFIG)
    data["sources"]["events"]["landing"] = {"path": str(csv)}
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["contract", "infer", "-c", str(path), "-s", "events", "--max-domain-size", "3"])
    assert result.exit_code == 0, result.output
    assert f"inferred from the landing files {csv} (4 rows)" in result.stdout
    src = suggested_source(result.stdout)
    assert src.landing.path == str(csv)
    assert src.columns["amount"].type == "double" and src.columns["amount"].nullable is True
    assert src.columns["kind"].domain == ["a", "b"] and src.columns["code"].domain is None  # 4 distinct > 3
    assert not spark.catalog.tableExists(f"{SCHEMA}.raw_events")
