"""Concurrent writers of one table (threads of one session here; other processes in
test_many_processes.py).

Two writers of the same table race through Delta's optimistic concurrency: the table store
retries a lost race (bounded), so writes of different as-ofs both land and writes of the same
as-of end with one result and no duplicate."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from pyspark.sql import functions as F

from lakescore.config import parse_config
from lakescore.core.table_store import is_write_conflict
from lakescore.transforms.sqltext import eq
from tests.support import context, events_use_case

EVENTS = {"id": {"type": "int", "nullable": False}, "kind": {"type": "string"}, "at": {"type": "timestamp"}}


@pytest.fixture(scope="module")
def store(spark, lakescore_home):
    cfg = parse_config(events_use_case("concurrency", "test_concurrency", {"events": {"columns": EVENTS}}))
    return context(cfg, date(2024, 1, 1), lakescore_home).tables


def _frame(spark, day: date, tag: str, n: int = 20):
    # shaped like a table lakescore does not own, so only Delta's rules apply
    return spark.range(n).select(F.col("id").cast("int"), F.lit(tag).alias("tag"), F.lit(day).alias("as_of"))


def _race(*jobs):
    errors: list[BaseException] = []

    def run(job):
        try:
            job()
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_writers_of_different_as_ofs_both_land(spark, store):
    d1, d2 = date(2024, 1, 1), date(2024, 1, 2)
    for round_ in range(3):
        _race(lambda r=round_: store.write(_frame(spark, d1, f"a{r}"), "race_parts", replace_where=eq("as_of", d1),
                                  partition_by=["as_of"]),
              lambda r=round_: store.write(_frame(spark, d2, f"b{r}"), "race_parts", replace_where=eq("as_of", d2),
                                  partition_by=["as_of"]))
        rows = {(r.as_of, r.tag): r.n for r in spark.table("test_concurrency.race_parts")
                .groupBy("as_of", "tag").agg(F.count("*").alias("n")).collect()}
        assert rows == {(d1, f"a{round_}"): 20, (d2, f"b{round_}"): 20}


def test_writers_of_the_same_as_of_end_with_one_result(spark, store):
    day = date(2024, 1, 3)
    for round_ in range(3):
        _race(lambda r=round_: store.write(_frame(spark, day, f"x{r}"), "race_same", replace_where=eq("as_of", day),
                                  partition_by=["as_of"]),
              lambda r=round_: store.write(_frame(spark, day, f"y{r}"), "race_same", replace_where=eq("as_of", day),
                                  partition_by=["as_of"]))
        table = spark.table("test_concurrency.race_same")
        assert table.count() == 20 and table.select("id").distinct().count() == 20
        assert table.select("tag").distinct().count() == 1      # one writer's rows, whole


def test_concurrent_merges_on_a_key_keep_one_row_per_key(spark, store):
    base = spark.range(30).select(F.col("id").cast("int"), F.lit("base").alias("tag"))
    store.write(base, "race_merge")
    _race(lambda: store.merge(base.withColumn("tag", F.lit("left")), "race_merge", ["id"]),
          lambda: store.merge(base.withColumn("tag", F.lit("right")), "race_merge", ["id"]))
    table = spark.table("test_concurrency.race_merge")
    assert table.count() == 30 and table.select("id").distinct().count() == 30


def test_conflict_classification():
    from delta.exceptions import ConcurrentAppendException

    assert is_write_conflict(ConcurrentAppendException("Files were added to partition [as_of=2024-01-01]"))
    assert is_write_conflict(RuntimeError("[TABLE_OR_VIEW_ALREADY_EXISTS] Cannot create table"))
    assert is_write_conflict(RuntimeError("[DELTA_CREATE_EXTERNAL_TABLE_WITHOUT_TXN_LOG] You are trying to create"))
    assert not is_write_conflict(ValueError("column x does not exist"))
