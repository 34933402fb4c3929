"""The stateless feature steps (materialised in the features table): a chispa test for each,
with their edge cases, and a property test for fixed-bound clipping."""

from __future__ import annotations

import math
from datetime import datetime

import pytest
from chispa import assert_approx_column_equality, assert_column_equality
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from lakescore.transforms.features.steps import apply_step, bucketize, clip, cyclic, date_part, log_offset

NY = "America/New_York"


def test_date_parts_at_midnight_in_new_york(spark):
    # 2013-12-01 00:00 in New York is 05:00 UTC: one second earlier it is still Saturday 30 November.
    df = spark.createDataFrame([
        (datetime(2013, 12, 1, 4, 59, 59), 23, 1439, 6, 30, 11, 2013),
        (datetime(2013, 12, 1, 5, 0, 0), 0, 0, 7, 1, 12, 2013),
        (datetime(2014, 1, 1, 4, 59, 59), 23, 1439, 2, 31, 12, 2013),   # New Year's Eve, Tuesday
        (datetime(2014, 1, 1, 5, 0, 0), 0, 0, 3, 1, 1, 2014),
        (None, None, None, None, None, None, None),
    ], "ts timestamp, hour int, mod int, dow int, dom int, month int, year int")
    out = df.select(
        "*",
        date_part(F.col("ts"), "hour", NY).alias("hour_got"),
        date_part(F.col("ts"), "minute_of_day", NY).alias("mod_got"),
        date_part(F.col("ts"), "day_of_week", NY).alias("dow_got"),
        date_part(F.col("ts"), "day_of_month", NY).alias("dom_got"),
        date_part(F.col("ts"), "month", NY).alias("month_got"),
        date_part(F.col("ts"), "year", NY).alias("year_got"),
    )
    for part in ("hour", "mod", "dow", "dom", "month", "year"):
        assert_column_equality(out, part, f"{part}_got")


def test_date_parts_across_daylight_saving(spark):
    df = spark.createDataFrame([
        # spring forward, 10 March 2013: 01:59:59 EST is followed by 03:00:00 EDT
        (datetime(2013, 3, 10, 6, 59, 59), 1, 119),
        (datetime(2013, 3, 10, 7, 0, 0), 3, 180),
        # fall back, 3 November 2013: 01:00-01:59 happens twice (EDT, then EST)
        (datetime(2013, 11, 3, 5, 30, 0), 1, 90),
        (datetime(2013, 11, 3, 6, 30, 0), 1, 90),
        (datetime(2013, 11, 3, 7, 0, 0), 2, 120),
    ], "ts timestamp, hour int, mod int")
    out = df.select("*", date_part(F.col("ts"), "hour", NY).alias("hour_got"),
                    date_part(F.col("ts"), "minute_of_day", NY).alias("mod_got"))
    assert_column_equality(out, "hour", "hour_got")
    assert_column_equality(out, "mod", "mod_got")


def test_date_part_in_utc_and_unknown_part(spark):
    df = spark.createDataFrame([(datetime(2013, 12, 1, 4, 59), 4)], "ts timestamp, hour int")
    assert_column_equality(df.withColumn("got", date_part(F.col("ts"), "hour", "UTC")), "hour", "got")
    with pytest.raises(ValueError, match="unknown date part 'fortnight'"):
        date_part(F.col("ts"), "fortnight", NY)


def test_cyclic_encoding_wraps_around(spark):
    df = spark.createDataFrame([
        (0.0, 0.0, 1.0), (24.0, 0.0, 1.0), (6.0, 1.0, 0.0), (12.0, 0.0, -1.0), (18.0, -1.0, 0.0),
        (None, None, None), (float("nan"), None, None),
    ], "hour double, sin double, cos double")
    out = df.select("*", cyclic(F.col("hour"), 24, "sin").alias("sin_got"),
                    cyclic(F.col("hour"), 24, "cos").alias("cos_got"))
    assert_approx_column_equality(out, "sin", "sin_got", 1e-12)
    assert_approx_column_equality(out, "cos", "cos_got", 1e-12)
    # 23:00 lies next to 00:00 on the circle, not 23 hours away
    near = spark.createDataFrame([(23.0,), (0.0,)], "h double").select(
        cyclic(F.col("h"), 24, "sin").alias("s"), cyclic(F.col("h"), 24, "cos").alias("c")).collect()
    assert math.dist(near[0], near[1]) < 0.27
    with pytest.raises(ValueError, match="sin or cos"):
        cyclic(F.col("hour"), 24, "tan")


def test_log_offset_keeps_nulls_and_refuses_non_positive(spark):
    df = spark.createDataFrame([
        (0.0, 0.0), (math.e - 1, 1.0), (-1.0, None), (-5.0, None), (None, None), (float("nan"), None),
    ], "x double, expected double")
    out = df.withColumn("got", log_offset(F.col("x"), 1.0))
    assert_approx_column_equality(out, "expected", "got", 1e-12)


def test_log_offset_of_an_all_null_column(spark):
    df = spark.createDataFrame([(None,), (None,)], "x double").withColumn("expected", F.lit(None).cast("double"))
    assert_column_equality(df.withColumn("got", log_offset(F.col("x"), 1.0)), "expected", "got")


def test_clip_fixed_bounds(spark):
    df = spark.createDataFrame([
        (-10.0, 0.0), (0.0, 0.0), (5.5, 5.5), (100.0, 100.0), (1e9, 100.0),
        (float("inf"), 100.0), (float("-inf"), 0.0), (float("nan"), None), (None, None),
    ], "x double, expected double")
    assert_column_equality(df.withColumn("got", clip(F.col("x"), 0.0, 100.0)), "expected", "got")
    one_sided = df.withColumn("got", clip(F.col("x"), None, 1.0)).where("x IS NOT NULL AND NOT isnan(x)")
    assert one_sided.where("got > 1.0").count() == 0 and one_sided.where("x < 1.0 AND got != x").count() == 0


def test_bucketize(spark):
    df = spark.createDataFrame([
        (-1.0, 0), (0.0, 1), (499.9, 1), (500.0, 2), (10_000.0, 3), (float("inf"), 3), (None, None),
    ], "x double, expected int")
    assert_column_equality(df.withColumn("got", bucketize(F.col("x"), [0, 500, 1000])), "expected", "got")
    with pytest.raises(ValueError, match="strictly increasing"):
        bucketize(F.col("x"), [5, 1])


def test_apply_step_dispatches_and_refuses_unknown(spark):
    df = spark.createDataFrame([(datetime(2013, 12, 1, 5, 0), 0)], "ts timestamp, expected int")
    got = df.withColumn("got", apply_step(F.col("ts"), "date_part", {"part": "hour", "timezone": NY}))
    assert_column_equality(got, "expected", "got")
    with pytest.raises(ValueError, match="unknown step 'sqrt'"):
        apply_step(F.col("ts"), "sqrt", {})


finite_or_special = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=20, deadline=None)
@given(values=st.lists(finite_or_special, min_size=1, max_size=20),
       bounds=st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)).map(sorted))
def test_property_clipped_values_lie_within_their_bounds(spark, values, bounds):
    low, high = bounds
    df = spark.createDataFrame([(v,) for v in values], "x double")
    rows = df.select("x", clip(F.col("x"), low, high).alias("c")).collect()
    for r in rows:
        if r.x is None or math.isnan(r.x):
            assert r.c is None
        else:
            assert low <= r.c <= high
            assert r.c == min(max(r.x, low), high)
