"""Joins to the entity x as-of rows: dimensions (one row per key), point-in-time lookups and
windowed histories, and the run-time leakage guard. The point-in-time tests use records stamped
one second after the prediction time: they must not be used."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import functions as F

from lakescore.transforms.features.joins import Agg, latest_per_key, with_history, with_lookup, with_point_in_time
from lakescore.transforms.features.leakage import point_in_time_violations, source_time_column

NY = "America/New_York"
PT = datetime(2013, 12, 1, 5, 0, 0)          # 2013-12-01 00:00 in New York
AS_OF = date(2013, 12, 1)


def _rows(spark, data, schema="id string, key string, as_of date, prediction_time timestamp"):
    return spark.createDataFrame(data, schema)


def test_latest_per_key_is_deterministic_and_prefers_the_last_landing(spark):
    dim = spark.createDataFrame([
        ("N1", 1999, "b1", datetime(2024, 1, 1)), ("N1", 2001, "b2", datetime(2024, 2, 1)),
        ("N2", 2010, "b1", datetime(2024, 1, 1)), ("N2", 2010, "b1", datetime(2024, 1, 1)),
    ], "tailnum string, year int, _batch_id string, _landed_at timestamp")
    out = dim.transform(latest_per_key(["tailnum"])).select("tailnum", "year", "_batch_id")
    expected = spark.createDataFrame([("N1", 2001, "b2"), ("N2", 2010, "b1")], "tailnum string, year int, _batch_id string")
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_dimension_lookup_keeps_one_row_per_entity(spark):
    rows = _rows(spark, [("f1", "N1", AS_OF, PT), ("f2", "N9", AS_OF, PT), ("f3", None, AS_OF, PT)])
    planes = spark.createDataFrame([
        ("N1", 150, "b1"), ("N1", 180, "b2"),       # the same plane in two batches
        ("N2", 50, "b1"),
    ], "tailnum string, seats int, _batch_id string")
    out = rows.transform(with_lookup("plane", planes, {"key": "tailnum"}))
    assert out.count() == 3
    got = out.select("id", F.col("plane.seats").alias("seats"), F.col("plane.tailnum").alias("tailnum"))
    expected = spark.createDataFrame([("f1", 180, "N1"), ("f2", None, None), ("f3", None, None)],
                                     "id string, seats int, tailnum string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    assert "_batch_id" not in out.schema["plane"].dataType.fieldNames()


def _weather(spark, data):
    return spark.createDataFrame(data, "origin string, time_hour timestamp, temp double, _batch_id string")


def test_point_in_time_takes_the_latest_record_known_at_the_prediction_time(spark):
    rows = _rows(spark, [("a", "EWR", AS_OF, PT), ("b", "JFK", AS_OF, PT), ("c", "LGA", AS_OF, PT),
                         ("d", "EWR", date(2013, 12, 2), datetime(2013, 12, 2, 5))])
    weather = _weather(spark, [
        ("EWR", datetime(2013, 12, 1, 4, 0, 0), 1.0, "b"),
        ("EWR", datetime(2013, 12, 1, 5, 0, 1), 3.0, "b"),   # one second after the prediction time: not used
        ("JFK", datetime(2013, 12, 1, 5, 0, 0), 2.0, "b"),   # known at that very instant: used
        ("LGA", datetime(2013, 12, 1, 5, 0, 1), 9.0, "b"),   # only a later record: nothing
    ])
    out = rows.transform(with_point_in_time("wx", weather, {"key": "origin"}, "time_hour"))
    got = out.select("id", F.col("wx.temp").alias("temp"), F.col("wx._known_at").alias("known_at"))
    expected = spark.createDataFrame([
        ("a", 1.0, datetime(2013, 12, 1, 4)), ("b", 2.0, PT), ("c", None, None),
        ("d", 3.0, datetime(2013, 12, 1, 5, 0, 1)),           # the next day's prediction time knows it
    ], "id string, temp double, known_at timestamp")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_point_in_time_known_at_expression_and_max_age(spark):
    rows = _rows(spark, [("a", "EWR", AS_OF, PT), ("b", "JFK", AS_OF, PT)])
    weather = _weather(spark, [
        ("EWR", datetime(2013, 12, 1, 4, 0), 1.0, "b"),       # known at 05:00 with the 1-hour lag: used
        ("EWR", datetime(2013, 12, 1, 4, 0, 1), 5.0, "b"),    # known at 05:00:01: not used
        ("JFK", datetime(2013, 11, 30, 20, 0), 7.0, "b"),     # known 8 hours before: older than 6 hours
    ])
    out = rows.transform(with_point_in_time("wx", weather, {"key": "origin"},
                                            "timestampadd(HOUR, 1, time_hour)", max_age_hours=6))
    got = out.select("id", F.col("wx.temp").alias("temp"))
    expected = spark.createDataFrame([("a", 1.0), ("b", None)], "id string, temp double")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_point_in_time_never_multiplies_rows(spark):
    rows = _rows(spark, [("a", "EWR", AS_OF, PT), ("b", "EWR", AS_OF, PT)])
    weather = _weather(spark, [("EWR", datetime(2013, 12, 1, 4), 1.0, "b1"), ("EWR", datetime(2013, 12, 1, 4), 1.0, "b2")])
    out = rows.transform(with_point_in_time("wx", weather, {"key": "origin"}, "time_hour"))
    assert out.count() == 2 and out.where("wx.temp = 1.0").count() == 2


def _flights(spark, data):
    return spark.createDataFrame(data, "route string, dep timestamp, landed timestamp, late int")


HISTORY = dict(event_time="dep", known_at="landed", window_days=2, timezone=NY, first=AS_OF, last=AS_OF)


def test_history_counts_only_events_known_before_the_prediction_time(spark):
    rows = _rows(spark, [("a", "JFK-LAX", AS_OF, PT)])
    flights = _flights(spark, [
        ("JFK-LAX", datetime(2013, 11, 30, 20), datetime(2013, 12, 1, 4, 59, 59), 1),  # landed 23:59:59: counted
        ("JFK-LAX", datetime(2013, 11, 30, 22), datetime(2013, 12, 1, 5, 0, 1), 1),    # landed 00:00:01: not counted
        ("JFK-LAX", datetime(2013, 11, 29, 12), datetime(2013, 11, 29, 19), 0),        # two days before: counted
        ("JFK-LAX", datetime(2013, 11, 28, 12), datetime(2013, 11, 28, 19), 1),        # three days before: outside
        ("JFK-LAX", datetime(2013, 12, 1, 12), datetime(2013, 12, 1, 16), 1),          # the as-of itself: future
        ("JFK-SFO", datetime(2013, 11, 30, 12), datetime(2013, 11, 30, 19), 1),        # another route
    ])
    aggs = [Agg("n", "count"), Agg("late_sum", "sum", "late"), Agg("late_rate", "mean", "late"),
            Agg("late_max", "max", "late"), Agg("late_min", "min", "late")]
    out = rows.transform(with_history("route", flights, {"key": "route"}, aggregates=aggs, **HISTORY))
    got = out.select("id", "route.n", "route.late_sum", "route.late_rate", "route.late_max", "route.late_min",
                     F.col("route._known_at").alias("known_at"))
    expected = spark.createDataFrame([("a", 2, 1.0, 0.5, 1.0, 0.0, datetime(2013, 12, 1, 4, 59, 59))],
                                     "id string, n long, late_sum double, late_rate double, late_max double, "
                                     "late_min double, known_at timestamp")
    assert_df_equality(got, expected, ignore_nullable=True)
    assert out.columns == [*rows.columns, "route"]


def test_history_prior_and_empty_groups(spark):
    rows = _rows(spark, [("a", "JFK-LAX", AS_OF, PT), ("b", "NEW-ROUTE", AS_OF, PT), ("c", None, AS_OF, PT)])
    flights = _flights(spark, [
        ("JFK-LAX", datetime(2013, 11, 30, 12), datetime(2013, 11, 30, 18), 1),
        ("JFK-SFO", datetime(2013, 11, 30, 12), datetime(2013, 11, 30, 19), 0),
        ("JFK-SFO", datetime(2013, 11, 30, 13), datetime(2013, 11, 30, 20), 0),
        ("JFK-SFO", datetime(2013, 11, 30, 14), datetime(2013, 11, 30, 21), 0),
    ])
    aggs = [Agg("n", "count"), Agg("rate", "mean", "late", prior_weight=4.0), Agg("raw", "mean", "late")]
    out = rows.transform(with_history("route", flights, {"key": "route"}, aggregates=aggs, **HISTORY))
    got = out.select("id", "route.n", "route.rate", "route.raw")
    # overall rate 1/4; JFK-LAX: (1 + 4 * 0.25) / (1 + 4) = 0.4; an unseen (or NULL) route gets the overall rate
    expected = spark.createDataFrame([("a", 1, 0.4, 1.0), ("b", 0, 0.25, None), ("c", 0, 0.25, None)],
                                     "id string, n long, rate double, raw double")
    assert_approx_df_equality(got, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)


def test_history_day_boundary_when_daylight_saving_ends(spark):
    # 3 November 2013 starts at 04:00 UTC (still EDT at midnight); a flight that landed at that
    # instant is not known *before* the prediction time.
    as_of = date(2013, 11, 3)
    rows = _rows(spark, [("a", "R", as_of, datetime(2013, 11, 3, 4, 0, 0))])
    flights = _flights(spark, [
        ("R", datetime(2013, 11, 2, 20), datetime(2013, 11, 3, 3, 59, 59), 1),
        ("R", datetime(2013, 11, 2, 21), datetime(2013, 11, 3, 4, 0, 0), 1),
    ])
    out = rows.transform(with_history("route", flights, {"key": "route"}, aggregates=[Agg("n", "count")],
                                      **{**HISTORY, "first": as_of, "last": as_of}))
    assert out.select("route.n").first()[0] == 1


def test_history_without_groups_and_unknown_aggregate(spark):
    rows = _rows(spark, [("a", "x", AS_OF, PT), ("b", "y", AS_OF, PT)])
    flights = _flights(spark, [("R1", datetime(2013, 11, 30, 12), datetime(2013, 11, 30, 18), 1),
                               ("R2", datetime(2013, 11, 30, 12), datetime(2013, 11, 30, 18), 0)])
    out = rows.transform(with_history("all", flights, {}, aggregates=[Agg("n", "count")], **HISTORY))
    assert [r.n for r in out.select("all.n").collect()] == [2, 2]
    with pytest.raises(ValueError, match="unknown aggregate"):
        with_history("all", flights, {}, aggregates=[Agg("n", "median", "late")], **HISTORY)


def test_leakage_guard_flags_a_value_one_second_after_the_prediction_time(spark):
    df = spark.createDataFrame([
        (PT, PT, datetime(2013, 12, 1, 4)),
        (PT, datetime(2013, 12, 1, 5, 0, 1), None),
    ], f"prediction_time timestamp, {source_time_column('temp')} timestamp, {source_time_column('rate')} timestamp")
    assert point_in_time_violations(df, ["temp", "rate"]) == {"temp": {"rows": 1, "max_lead_seconds": 1}}
    assert point_in_time_violations(df.where(F.col(source_time_column("temp")) <= F.col("prediction_time")),
                                    ["temp", "rate"]) == {}
    assert point_in_time_violations(df, []) == {}
