"""The issue's acceptance test on real data: a raw flights batch with 1% corrupt rows of each
kind puts exactly those rows in quarantine with the right reasons, the rest in clean_flights,
raises one alert per anomaly kind and shows in data_quality."""

from __future__ import annotations

import csv
import random
from collections import Counter
from datetime import date, datetime

import pytest
from pyspark.sql import functions as F

from lakescore.config import parse_config
from lakescore.jobs import ingest
from tests.support import context, flights_data

SCHEMA = "test_flights_contract"
# Each row kind: (column, corrupt raw text, reason code).
CORRUPTIONS = [
    ("dep_delay", "abc", "type_mismatch"),
    ("sched_dep_time", "NA", "missing_value"),
    ("carrier", "ZZ", "out_of_domain"),
    ("distance", "99999", "out_of_range"),
    ("tailnum", "bad tail", "pattern_mismatch"),
]


def _rows(path, first: date, last: date) -> list[dict]:
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f)
                if first <= date(int(r["year"]), int(r["month"]), int(r["day"])) <= last]


def _append(spark, rows: list[dict], columns: list[str], batch: str, landed: str) -> None:
    df = spark.createDataFrame([[r.get(c) for c in columns] for r in rows], ", ".join(f"`{c}` string" for c in columns))
    df.withColumn("_batch_id", F.lit(batch)).withColumn("_landed_at", F.lit(landed).cast("timestamp")) \
        .write.format("delta").mode("append").option("mergeSchema", "true").saveAsTable(f"{SCHEMA}.raw_flights")


@pytest.fixture(scope="module")
def flights_contract(spark, lakescore_home, flights_files):
    spark.sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    spark.sql(f"CREATE SCHEMA {SCHEMA}")
    data = flights_data(flights_files, SCHEMA)
    flights = data["sources"]["flights"]
    del flights["landing"]  # the raw table is written here, as by another system
    data["sources"] = {"flights": flights}
    # only flights is ingested here: keep the features that need no other source
    lookups = set(data["features"].pop("lookups"))
    data["features"]["columns"] = [c for c in data["features"]["columns"]
                                   if not any(f"{name}." in c.get("expr", "") for name in lookups)]
    kept = {c["name"] for c in data["features"]["columns"]}
    data["train"]["allow_empty_features"] = [f for f in data["train"].get("allow_empty_features", []) if f in kept]
    drift_columns = data.get("monitor", {}).get("drift", {}).get("columns", {})
    for name in [n for n in drift_columns if n not in kept | {"score", "prediction"}]:
        del drift_columns[name]
    flights["volume"]["min_ratio"] = 0.8
    flights["columns"]["carrier"]["min_domain_mass"] = 0.995
    flights["columns"]["sched_dep_time"]["min_presence"] = 0.995
    cfg = parse_config(data, source="tests")
    with open(flights_files["flights"], newline="") as f:
        columns = next(csv.reader(f))

    # batch a: 2013-11-10..24, the real data as it is
    first = _rows(flights_files["flights"], date(2013, 11, 10), date(2013, 11, 24))
    _append(spark, first, columns, "flights-a", "2013-11-25 05:00:00")
    summary_a = ingest.run(context(cfg, date(2013, 11, 25), lakescore_home))["flights"]

    # batch b: 2013-11-25..12-02, 1% of the rows corrupted per kind, 1% exact copies, a new column
    rows = _rows(flights_files["flights"], date(2013, 11, 25), date(2013, 12, 2))
    share = round(len(rows) * 0.01)
    picked = random.Random(13).sample(range(len(rows)), share * (len(CORRUPTIONS) + 1))
    injected = []  # (original values as landed, reason code)
    for k, (column, text, code) in enumerate(CORRUPTIONS):
        for i in picked[k * share:(k + 1) * share]:
            rows[i] = {**rows[i], column: text}
            injected.append((rows[i], code))
    copies = [dict(rows[i]) for i in picked[len(CORRUPTIONS) * share:]]
    injected += [(r, "duplicate_key") for r in copies]
    batch = [{**r, "gate": "G1"} for r in rows + copies]
    injected = [({**r, "gate": "G1"}, code) for r, code in injected]
    _append(spark, batch, [*columns, "gate"], "flights-b", "2013-12-03 05:00:00")
    summary_b = ingest.run(context(cfg, date(2013, 12, 6), lakescore_home))["flights"]
    return {"a": (first, summary_a), "b": (batch, summary_b), "injected": injected, "share": share,
            "columns": [*columns, "gate"]}


def test_the_real_data_ingests_clean(flights_contract, spark):
    rows, summary = flights_contract["a"]
    assert summary == {"rows_in": len(rows), "rows_clean": len(rows), "rows_quarantined": 0}
    assert spark.table(f"{SCHEMA}.alerts").where("batch_id = 'flights-a'").count() == 0
    dq = spark.table(f"{SCHEMA}.data_quality").where("batch_id = 'flights-a'").first()
    assert dq["anomaly_kinds"] == "" and dq["volume_baseline"] is None


def test_exactly_the_corrupt_rows_are_quarantined_with_their_reason(flights_contract, spark):
    rows, summary = flights_contract["b"]
    injected, share = flights_contract["injected"], flights_contract["share"]
    assert share >= 50 and len(injected) == 6 * share
    assert summary == {"rows_in": len(rows), "rows_clean": len(rows) - len(injected), "rows_quarantined": len(injected)}
    quarantined = spark.table(f"{SCHEMA}.quarantine").where("batch_id = 'flights-b'").collect()
    columns = flights_contract["columns"]
    got = Counter((tuple(r["original"][c] for c in columns), r["reason_codes"]) for r in quarantined)
    want = Counter((tuple(r[c] for c in columns), code) for r, code in injected)
    assert got == want
    clean = spark.table(f"{SCHEMA}.clean_flights").where("_batch_id = 'flights-b'")
    assert clean.count() == len(rows) - len(injected)
    # every key of the batch that was not corrupted is in clean_flights once (the copies' originals too)
    corrupted = {tuple(r[k] for k in ("year", "month", "day", "carrier", "flight", "origin"))
                 for r, code in injected if code != "duplicate_key"}
    keys = {tuple(r[k] for k in ("year", "month", "day", "carrier", "flight", "origin")) for r in rows}
    assert clean.select("flight_id").distinct().count() == clean.count() == len(keys - corrupted)


def test_one_alert_per_anomaly_kind(flights_contract, spark):
    share = flights_contract["share"]
    alerts = spark.table(f"{SCHEMA}.alerts").where("batch_id = 'flights-b'").collect()
    assert Counter(r["kind"] for r in alerts) == Counter({kind: 1 for kind in [
        "type_mismatch", "missing_value", "out_of_domain", "out_of_range", "pattern_mismatch", "duplicate_key",
        "new_column", "unexpected_string_values", "low_presence", "low_num_examples", "stale_source"]})
    by_kind = {r["kind"]: r for r in alerts}
    for column, _, code in CORRUPTIONS:
        assert (by_kind[code]["subject"], by_kind[code]["value"]) == (f"flights.{column}", float(share))
    assert by_kind["duplicate_key"]["subject"] == "flights.year,month,day,carrier,flight,origin"
    assert by_kind["new_column"]["subject"] == "flights.gate"
    assert by_kind["unexpected_string_values"]["value"] < 0.995
    assert by_kind["low_presence"]["subject"] == "flights.sched_dep_time"
    assert by_kind["low_num_examples"]["value"] < 0.8
    assert by_kind["stale_source"]["value"] > 48
    assert {r["as_of"] for r in alerts} == {date(2013, 12, 6)}


def test_data_quality_shows_the_batch(flights_contract, spark):
    rows, _ = flights_contract["b"]
    injected = flights_contract["injected"]
    dq = spark.table(f"{SCHEMA}.data_quality").where("batch_id = 'flights-b'").first()
    assert (dq["rows_in"], dq["rows_clean"], dq["rows_quarantined"]) == (
        len(rows), len(rows) - len(injected), len(injected))
    assert dq["quarantine_rate"] == pytest.approx(len(injected) / len(rows))
    assert dq["anomaly_kinds"] == ("duplicate_key,low_num_examples,low_presence,missing_value,new_column,"
                                   "out_of_domain,out_of_range,pattern_mismatch,stale_source,type_mismatch,"
                                   "unexpected_string_values")
    policies = {a["kind"]: a["policy"] for a in dq["anomalies"]}
    assert policies["out_of_range"] == "quarantine" and policies["stale_source"] == "warn"
    assert dq["freshness_hours"] > 48 and dq["newest_event_at"] < datetime(2013, 12, 4)
    assert dq["null_rates"]["sched_dep_time"] == pytest.approx(flights_contract["share"] / len(rows))
