"""The table store on real Delta tables: a write is one commit whose rows it reports, a
replaceWhere write replaces only its scope, a merge upserts by key (keeping the columns asked and
deleting what its scope no longer holds), a read pins and records the version it logged, and a
write off the documented schema or a read of a missing table stops with one line naming it."""

from __future__ import annotations

from datetime import date

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakescore.config import parse_config
from lakescore.core.table_store import SchemaError, table_properties
from lakescore.transforms.sqltext import eq
from tests.support import context, events_use_case

EVENTS = {"id": {"type": "int", "nullable": False}, "kind": {"type": "string"}, "at": {"type": "timestamp"}}
D1, D2 = date(2024, 1, 1), date(2024, 1, 2)


@pytest.fixture(scope="module")
def store(spark, lakescore_home):
    cfg = parse_config(events_use_case("store", "test_table_store", {"events": {"columns": EVENTS}}))
    return context(cfg, D1, lakescore_home).tables


def _rows(spark, rows):
    return spark.createDataFrame(rows, "id int, tag string, as_of date")


def test_writes_report_their_rows_and_replace_only_their_scope(spark, store):
    assert not store.exists("parts")
    assert store.write(_rows(spark, [(1, "a", D1), (2, "a", D1)]), "parts", partition_by=["as_of"]) == 2
    assert store.write(_rows(spark, [(3, "b", D2)]), "parts", mode="append") == 1
    # the as-of's rows are replaced, the other as-of's kept; the count is what this write wrote
    assert store.write(_rows(spark, [(9, "c", D1)]), "parts", replace_where=eq("as_of", D1)) == 1
    assert_df_equality(spark.table("test_table_store.parts"), _rows(spark, [(9, "c", D1), (3, "b", D2)]),
                       ignore_row_order=True)


def test_a_read_pins_the_version_it_logged(spark, store):
    store.write(_rows(spark, [(1, "v0", D1)]), "pinned")
    version = store.version("pinned")
    df = store.read("pinned", where=eq("as_of", D1))
    store.write(_rows(spark, [(2, "v1", D1)]), "pinned")           # a later commit
    assert store.versions_read["test_table_store.pinned"] == version
    assert [r.tag for r in df.collect()] == ["v0"]                  # the frame reads the version logged
    assert store.version("pinned") == version + 1


def test_merge_upserts_by_key_keeps_asked_columns_and_deletes_what_its_scope_lost(spark, store):
    store.write(_rows(spark, [(1, "old", D1), (2, "old", D1), (3, "old", D2)]), "merged")
    written = store.merge(_rows(spark, [(1, "new", D1), (4, "new", D1)]), "merged", ["id"],
                          delete_where=eq("as_of", D1))
    assert written == 2                                             # one updated, one inserted
    assert_df_equality(spark.table("test_table_store.merged"),
                       _rows(spark, [(1, "new", D1), (4, "new", D1), (3, "old", D2)]), ignore_row_order=True)
    store.merge(_rows(spark, [(4, "newer", D2)]), "merged", ["id"], keep=["as_of"])
    assert spark.table("test_table_store.merged").where("id = 4").first().as_of == D1


def test_each_write_finds_its_own_commit_and_a_merge_that_changes_nothing_wrote_nothing(spark, store):
    # a table created by an append (CREATE TABLE AS SELECT) records its commit's metadata too
    assert store.write(_rows(spark, [(1, "a", D1), (2, "a", D1), (3, "a", D1)]), "created", mode="append") == 3
    first = spark.sql("DESCRIBE HISTORY test_table_store.created").first()
    assert first.operation == "CREATE TABLE AS SELECT" and first.userMetadata
    store.write(_rows(spark, [(7, "b", D2)]), "created", mode="append")
    # versions to close or open: none (an unchanged snapshot export); Delta makes no commit, and
    # the count is 0, not the newest commit's
    versioned = _rows(spark, [(1, "a", D1)]).withColumn("_valid_to", F.lit(None).cast("date"))
    store.write(versioned, "versioned")
    staged = versioned.where("FALSE").withColumn("_close", F.lit(False))
    version = store.version("versioned")
    assert store.merge_versions(staged, "versioned", ["id"], "_close", "_valid_to") == 0
    assert store.version("versioned") == version


def test_a_write_off_the_documented_schema_names_the_table_and_column(spark, store):
    alerts = store.cfg.tables.alerts
    bad = spark.range(1).select(F.lit("x").alias("alert_id"))
    with pytest.raises(SchemaError, match=r"test_table_store\.alerts.*(as_of|missing)"):
        store.write(bad, alerts)
    assert not store.exists(alerts)                                 # nothing was written


def test_a_missing_table_is_one_line_and_predictions_carry_the_change_feed(store):
    with pytest.raises(LookupError, match=r"table test_table_store\.nowhere does not exist: run the stage"):
        store.read("nowhere")
    assert table_properties(store.cfg, store.cfg.tables.predictions) == {"delta.enableChangeDataFeed": "true"}
    assert table_properties(store.cfg, store.cfg.tables.alerts) == {}
