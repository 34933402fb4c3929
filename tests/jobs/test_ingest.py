"""The ingest stage on tiny batches: reconciliation, quarantine, idempotence, fatal errors."""

from __future__ import annotations

from datetime import date

import pytest
from pyspark.sql import functions as F

from lakescore.config import parse_config
from lakescore.core.runtime import Context
from lakescore.jobs import ingest
from tests.support import events_use_case

CONFIG = events_use_case("tiny", "test_ingest", {"events": {
    "null_values": ["NA"],
    "key": ["id"],
    "columns": {"id": {"type": "int", "nullable": False}, "kind": {"type": "string"},
                "value": {"type": "double"}, "at": {"type": "timestamp", "nullable": False}},
    "derived": {"value_x2": "value * 2"},
}}, label="value > 1")
RAW = "id string, kind string, value string, at string, _batch_id string"


@pytest.fixture()
def ctx(spark, lakescore_home):
    spark.sql("DROP SCHEMA IF EXISTS test_ingest CASCADE")
    spark.sql("CREATE SCHEMA test_ingest")
    return Context(cfg=parse_config(CONFIG), as_of=date(2024, 1, 2), home=lakescore_home)


def _append(spark, rows, schema=RAW):
    spark.createDataFrame(rows, schema).write.format("delta").mode("append") \
        .option("mergeSchema", "true").saveAsTable("test_ingest.raw_events")


def test_batch_is_split_reconciled_and_processed_once(spark, ctx):
    _append(spark, [("1", "a", "1.5", "2024-01-01 10:00:00", "b1"),
                    ("2", "b", "NA", "2024-01-01 11:00:00", "b1"),
                    ("x", "c", "2.0", "2024-01-01 12:00:00", "b1"),
                    ("4", "d", "2.0", None, "b1")])
    assert ingest.run(ctx)["events"] == {"rows_in": 4, "rows_clean": 2, "rows_quarantined": 2}
    clean = spark.table("test_ingest.clean_events").orderBy("id")
    assert [(r.id, r.value, r.value_x2) for r in clean.collect()] == [(1, 1.5, 3.0), (2, None, None)]
    q = {r.original["id"]: r for r in spark.table("test_ingest.quarantine").collect()}
    assert q["x"].reason_codes == "type_mismatch" and q["x"].batch_id == "b1"
    assert q["4"].reasons[0].asDict() == {"code": "missing_value", "column": "at", "detail": "required value is null"}
    dq = spark.table("test_ingest.data_quality").first()
    assert (dq.rows_in, dq.rows_clean, dq.rows_quarantined) == (4, 2, 2)

    versions = {t: ctx.tables.version(t) for t in ("clean_events", "quarantine", "data_quality")}
    assert ingest.run(ctx)["events"]["rows_in"] == 0  # nothing new: nothing written
    assert {t: ctx.tables.version(t) for t in versions} == versions

    _append(spark, [("5", "e", "0.5", "2024-01-02 10:00:00", "b2")])
    assert ingest.run(ctx)["events"] == {"rows_in": 1, "rows_clean": 1, "rows_quarantined": 0}
    assert spark.table("test_ingest.clean_events").count() == 3
    assert spark.table("test_ingest.data_quality").count() == 2


def test_reprocessing_a_batch_replaces_its_rows(spark, ctx):
    _append(spark, [("1", "a", "1.0", "2024-01-01 10:00:00", "b1")])
    ingest.run(ctx)
    # a run that died after writing clean rows but before data_quality: the batch is pending again
    spark.sql("DELETE FROM test_ingest.data_quality")
    ingest.run(ctx)
    assert spark.table("test_ingest.clean_events").count() == 1
    assert spark.table("test_ingest.data_quality").count() == 1


def test_missing_declared_column_fails_before_any_write(spark, ctx):
    spark.createDataFrame([("1", "a", "2024-01-01 10:00:00", "b1")], "id string, kind string, at string, _batch_id string") \
        .write.format("delta").saveAsTable("test_ingest.raw_events")
    with pytest.raises(ingest.IngestError, match=r"table test_ingest.raw_events: missing column\(s\) \['value'\]"):
        ingest.run(ctx)
    assert not ctx.tables.exists("clean_events") and not ctx.tables.exists("data_quality")


def test_raw_table_without_batch_id_or_landing_is_refused(spark, ctx):
    with pytest.raises(ingest.IngestError, match="raw_events does not exist and sources.events.landing is not set"):
        ingest.run(ctx)
    spark.createDataFrame([("1",)], "id string").write.format("delta").saveAsTable("test_ingest.raw_events")
    with pytest.raises(ingest.IngestError, match="missing column _batch_id"):
        ingest.run(ctx)


def test_landing_a_csv_file_once(spark, ctx, tmp_path):
    csv = tmp_path / "events.csv"
    csv.write_text("id,kind,value,at\n1,a,NA,2024-01-01T10:00:00Z\n2,b,3.5,2024-01-01T11:00:00Z\n")
    cfg = parse_config({**CONFIG, "sources": {"events": {**CONFIG["sources"]["events"], "landing": {"path": str(csv)}}}})
    landed = Context(cfg=cfg, as_of=ctx.as_of, home=ctx.home)
    first = ingest.run(landed)["events"]
    assert first == {"rows_in": 2, "rows_clean": 2, "rows_quarantined": 0}
    raw = spark.table("test_ingest.raw_events")
    assert raw.where(F.col("value") == "NA").count() == 1  # raw keeps the text as it arrived
    assert ingest.run(landed)["events"]["rows_in"] == 0
    assert raw.count() == 2
