from datetime import date, datetime

from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakescore.transforms.features.asof import catalog_spine, day_start, local_date, prediction_time

NY = "America/New_York"


def test_local_date_and_day_start_across_daylight_saving(spark):
    df = spark.createDataFrame([
        (datetime(2013, 3, 10, 4, 59), date(2013, 3, 10)),   # 23:59 EST on 9 March, 00:00 EDT starts at 05:00 UTC
        (datetime(2013, 3, 10, 5, 0), date(2013, 3, 10)),
        (datetime(2013, 11, 3, 3, 59), date(2013, 11, 3)),
        (datetime(2013, 11, 3, 4, 0), date(2013, 11, 3)),
    ], "ts timestamp, d date")
    out = df.select(local_date(F.col("ts"), NY).alias("local"), day_start(F.col("d"), NY).alias("start"))
    expected = spark.createDataFrame([
        (date(2013, 3, 9), datetime(2013, 3, 10, 5, 0)),
        (date(2013, 3, 10), datetime(2013, 3, 10, 5, 0)),
        (date(2013, 11, 2), datetime(2013, 11, 3, 4, 0)),
        (date(2013, 11, 3), datetime(2013, 11, 3, 4, 0)),
    ], "local date, start timestamp")
    assert_df_equality(out, expected, ignore_nullable=True)


def test_prediction_time_matches_spark(spark):
    for d in (date(2013, 1, 15), date(2013, 3, 10), date(2013, 7, 1), date(2013, 11, 3)):
        expected = spark.range(1).select(day_start(F.lit(d), NY).alias("t")).first()["t"]
        assert prediction_time(d, NY) == expected


def test_catalog_spine_one_day_horizon(spark):
    entities = spark.createDataFrame([
        ("a", datetime(2013, 12, 1, 5, 0)),    # 00:00 in New York on 1 Dec: scored on 1 Dec
        ("b", datetime(2013, 12, 1, 4, 59)),   # 23:59 on 30 Nov
        ("c", datetime(2013, 12, 2, 4, 59)),   # 23:59 on 1 Dec
        ("d", datetime(2013, 12, 3, 12, 0)),   # outside the range
    ], "id string, ts timestamp")
    out = entities.transform(catalog_spine("ts", NY, 1, date(2013, 11, 30), date(2013, 12, 1)))
    expected = spark.createDataFrame([
        ("a", datetime(2013, 12, 1, 5, 0), date(2013, 12, 1), datetime(2013, 12, 1, 5, 0)),
        ("b", datetime(2013, 12, 1, 4, 59), date(2013, 11, 30), datetime(2013, 11, 30, 5, 0)),
        ("c", datetime(2013, 12, 2, 4, 59), date(2013, 12, 1), datetime(2013, 12, 1, 5, 0)),
    ], "id string, ts timestamp, as_of date, prediction_time timestamp")
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_catalog_spine_longer_horizon_scores_an_entity_on_each_day_before_it(spark):
    entities = spark.createDataFrame([("a", datetime(2013, 12, 3, 12, 0))], "id string, ts timestamp")
    out = entities.transform(catalog_spine("ts", "UTC", 3, date(2013, 11, 1), date(2013, 12, 31)))
    assert sorted(r.as_of for r in out.collect()) == [date(2013, 12, 1), date(2013, 12, 2), date(2013, 12, 3)]
    # every as-of predicts before the event happens
    assert out.where(F.col("prediction_time") > F.col("ts")).count() == 0
