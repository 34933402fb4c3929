"""Snapshot catalogs: versions of a snapshot source, the spine as known at each as-of,
outcome-window labels and as-of sampling (chispa on tiny frames)."""

from __future__ import annotations

from datetime import date, datetime

from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakescore.transforms.contracts.snapshots import change_counts, snapshot_changes
from lakescore.transforms.features.asof import snapshot_spine, valid_at
from lakescore.transforms.modeling.labels import outcome_labels, sample_as_ofs

NY = "America/New_York"
UTC = "UTC"


def _current(spark, rows):
    return spark.createDataFrame(rows, "id string, seats int, _batch_id string, _landed_at timestamp, "
                                       "_valid_from timestamp, _valid_to timestamp")


def _incoming(spark, rows):
    return spark.createDataFrame(rows, "id string, seats int, _batch_id string, _landed_at timestamp")


def test_snapshot_changes_new_changed_gone_held_unchanged(spark):
    t0, t1 = datetime(2024, 1, 1), datetime(2024, 1, 2)
    current = _current(spark, [
        ("a", 10, "b0", t0, t0, None),    # unchanged
        ("b", 20, "b0", t0, t0, None),    # changed to 25
        ("c", 30, "b0", t0, t0, None),    # gone from the new snapshot
        ("d", 40, "b0", t0, t0, None),    # its new row was rejected: held
        ("e", 50, "b0", t0, t0, t0),      # an old closed version: never touched
    ])
    incoming = _incoming(spark, [("a", 10, "b1", t1), ("b", 25, "b1", t1), ("f", 60, "b1", t1)])
    held = spark.createDataFrame([("d",)], "id string")
    staged = snapshot_changes(current, incoming, ["id"], ["seats"], F.lit(t1), held)
    got = staged.select("id", "seats", "_valid_from", "_valid_to", "_close", "_change")
    expected = spark.createDataFrame([
        ("b", 25, t1, None, False, "changed"),
        ("f", 60, t1, None, False, "new"),
        ("b", None, None, t1, True, "changed"),
        ("c", None, None, t1, True, "gone"),
    ], "id string, seats int, _valid_from timestamp, _valid_to timestamp, _close boolean, _change string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    counts = change_counts(staged).first()
    assert (counts["new"], counts["changed"], counts["gone"]) == (1, 1, 1)


def test_a_null_value_change_is_a_change(spark):
    t0, t1 = datetime(2024, 1, 1), datetime(2024, 1, 2)
    current = _current(spark, [("a", 10, "b0", t0, t0, None), ("n", None, "b0", t0, t0, None)])
    incoming = _incoming(spark, [("a", None, "b1", t1), ("n", None, "b1", t1)])
    staged = snapshot_changes(current, incoming, ["id"], ["seats"], F.lit(t1))
    assert sorted((r.id, r._close) for r in staged.collect()) == [("a", False), ("a", True)]


def test_snapshot_spine_is_the_catalog_known_at_each_prediction_time(spark):
    # prediction time of as-of D in New York: D 05:00 UTC (winter)
    versions = spark.createDataFrame([
        ("a", 1, datetime(2024, 1, 1, 5), None),                    # valid from Jan 1 00:00 NY: every day
        ("b", 1, datetime(2024, 1, 2, 6), datetime(2024, 1, 4, 5)),  # landed after Jan 2's prediction time
        ("c", 1, datetime(2023, 12, 1), datetime(2024, 1, 2, 5)),   # gone at Jan 2's prediction time
        ("d", 1, None, None),                                        # never valid
    ], "id string, v int, _valid_from timestamp, _valid_to timestamp")
    out = versions.transform(snapshot_spine(NY, date(2024, 1, 1), date(2024, 1, 4)))
    got = sorted((r.id, r.as_of.isoformat()) for r in out.collect())
    assert got == [("a", "2024-01-01"), ("a", "2024-01-02"), ("a", "2024-01-03"), ("a", "2024-01-04"),
                   ("b", "2024-01-03"), ("c", "2024-01-01")]
    assert out.where(F.col("prediction_time") != F.to_utc_timestamp(F.col("as_of").cast("timestamp"), NY)).count() == 0
    # the same rule as valid_at, row by row
    checked = out.where(~valid_at(F.col("prediction_time"))).count()
    assert checked == 0


def _events(spark):
    return spark.createDataFrame([
        ("p1", datetime(2024, 1, 1, 10), 90, datetime(2024, 1, 1, 12)),
        ("p1", datetime(2024, 1, 3, 10), 5, datetime(2024, 1, 3, 11)),
        ("p1", datetime(2024, 1, 6, 23, 30), 70, datetime(2024, 1, 7, 2)),  # known after its day
        ("p2", datetime(2024, 1, 2, 10), 10, datetime(2024, 1, 2, 11)),
    ], "tail string, ts timestamp, delay int, arrived timestamp")


def test_outcome_labels_aggregate_the_window_after_the_prediction_time(spark):
    spine = spark.createDataFrame([("p1", date(2024, 1, 1)), ("p1", date(2024, 1, 2)), ("p1", date(2024, 1, 5)),
                                   ("p2", date(2024, 1, 1)), ("p3", date(2024, 1, 1))], "tail string, as_of date")
    out = spine.transform(outcome_labels(
        "late", _events(spark), by={"tail": "tail"}, event_time="ts", known_at="arrived", within_days=2,
        agg="any", expr="delay > 60", empty=0.0, timezone=UTC, first=date(2024, 1, 1), last=date(2024, 1, 5)))
    expected = spark.createDataFrame([
        ("p1", date(2024, 1, 1), 1.0, datetime(2024, 1, 3)),   # Jan 1-2: the 90-minute delay
        ("p1", date(2024, 1, 2), 0.0, datetime(2024, 1, 4)),   # Jan 2-3: only 5 minutes
        ("p1", date(2024, 1, 5), 1.0, datetime(2024, 1, 7, 2)),  # Jan 5-6: known when it arrived
        ("p2", date(2024, 1, 1), 0.0, datetime(2024, 1, 3)),
        ("p3", date(2024, 1, 1), 0.0, datetime(2024, 1, 3)),   # no event: the empty value
    ], "tail string, as_of date, late double, label_known_at timestamp")
    assert_df_equality(out.select("tail", "as_of", "late", "label_known_at"), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_outcome_labels_known_before_a_cutoff_and_count(spark):
    spine = spark.createDataFrame([("p1", date(2024, 1, 1)), ("p1", date(2024, 1, 5))], "tail string, as_of date")
    out = spine.transform(outcome_labels(
        "n", _events(spark), by={"tail": "tail"}, event_time="ts", known_at=None, within_days=3, agg="count",
        expr=None, empty=None, timezone=UTC, first=date(2024, 1, 1), last=date(2024, 1, 5),
        known_before=F.lit(datetime(2024, 1, 6))))
    # Jan 1-3: two events, known at Jan 4; Jan 5-7: its window closes Jan 8, after the cutoff
    assert [(r.as_of, r.n) for r in out.collect()] == [(date(2024, 1, 1), 2.0)]


def test_sample_as_ofs_keeps_every_nth_day_per_entity(spark):
    days = spark.range(30).select(F.date_add(F.lit(date(2024, 1, 1)), F.col("id").cast("int")).alias("as_of"))
    rows = days.crossJoin(spark.createDataFrame([(f"e{i}",) for i in range(20)], "id string"))
    kept = rows.transform(sample_as_ofs(["id"], 7))
    per_entity = {r["id"]: r["n"] for r in kept.groupBy("id").agg(F.count("*").alias("n")).collect()}
    assert set(per_entity.values()) <= {4, 5} and len(per_entity) == 20   # 30 days / 7
    phases = {r["id"]: r["d"] for r in kept.groupBy("id").agg(F.min("as_of").alias("d")).collect()}
    assert len(set(phases.values())) > 1                                   # not the same days for all
    assert kept.exceptAll(rows.transform(sample_as_ofs(["id"], 7))).count() == 0   # deterministic
    assert rows.transform(sample_as_ofs(["id"], 1)).count() == rows.count()


def test_the_split_is_by_entity_across_its_as_ofs(spark):
    """(entity, as-of) rows of a snapshot catalog: every as-of of an entity lands on the same
    side (the hash is of the key only), out-of-time rows aside."""
    from lakescore.transforms.modeling.split import assign_split

    rows = [(f"e{i}", date(2024, 1, d)) for i in range(8) for d in (1, 2, 3, 9)]
    df = spark.createDataFrame(rows, "k string, as_of date")
    got = df.transform(assign_split(["k"], 0.5, "s", out_of_time_from=date(2024, 1, 9)))
    side = {r.k: r.split for r in df.select("k").distinct().transform(assign_split(["k"], 0.5, "s")).collect()}
    expected = spark.createDataFrame(
        [(k, d, "out_of_time" if d == date(2024, 1, 9) else side[k]) for k, d in rows], "k string, as_of date, split string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    assert {"train", "test"} == set(side.values())
