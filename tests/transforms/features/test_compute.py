"""The feature columns: expression + steps + type per feature, the columns known only after the
event removed before any expression runs, source-time columns for the leakage guard."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakescore.transforms.features.compute import FeatureDef, FeatureExpressionError, drop_after_event, feature_columns
from lakescore.transforms.features.leakage import source_time_column

NY = "America/New_York"


def _rows(spark):
    return spark.createDataFrame(
        [("f1", date(2013, 12, 1), datetime(2013, 12, 1, 5), datetime(2013, 12, 1, 14, 30), 1400, "UA", 25,
          (20.5, datetime(2013, 12, 1, 4)))],
        "id string, as_of date, prediction_time timestamp, ts timestamp, distance int, carrier string, "
        "arr_delay int, wx struct<temp:double,_known_at:timestamp>")


def test_feature_columns_expressions_steps_types_and_source_times(spark):
    features = [
        FeatureDef("carrier", "categorical", "carrier"),
        FeatureDef("distance", "numeric", "distance"),
        FeatureDef("band", "categorical", "distance", (("buckets", {"boundaries": [500.0, 1000.0]}),)),
        FeatureDef("hour", "numeric", "ts", (("date_part", {"part": "hour", "timezone": NY}),)),
        FeatureDef("temp", "numeric", "wx.temp * 2", timed=("wx",)),
    ]
    out = _rows(spark).transform(feature_columns(["id"], "ts", features, feature_set="abc"))
    expected = spark.createDataFrame(
        [("f1", date(2013, 12, 1), datetime(2013, 12, 1, 5), datetime(2013, 12, 1, 14, 30), "UA", 1400.0, "2", 9.0,
          41.0, "abc", datetime(2013, 12, 1, 4))],
        f"id string, as_of date, prediction_time timestamp, ts timestamp, carrier string, distance double, "
        f"band string, hour double, temp double, feature_set string, {source_time_column('temp')} timestamp")
    assert_df_equality(out, expected, ignore_nullable=True)


def test_types_stay_the_same_for_an_empty_or_all_null_input(spark):
    features = [FeatureDef("distance", "numeric", "distance"), FeatureDef("carrier", "categorical", "carrier")]
    nulls = _rows(spark).withColumn("distance", F.lit(None).cast("int")).withColumn("carrier", F.lit(None).cast("string"))
    for df in (nulls, nulls.limit(0)):
        out = df.transform(feature_columns(["id"], "ts", features))
        assert dict(out.dtypes)["distance"] == "double" and dict(out.dtypes)["carrier"] == "string"


def test_a_feature_cannot_read_a_column_known_after_the_event(spark):
    rows = _rows(spark).transform(drop_after_event(["ARR_DELAY"]))
    assert "arr_delay" not in rows.columns
    leaky = [FeatureDef("carrier", "categorical", "carrier"), FeatureDef("late", "numeric", "arr_delay > 15")]
    with pytest.raises(FeatureExpressionError, match="feature 'late': 'arr_delay > 15' does not resolve"):
        rows.transform(feature_columns(["id"], "ts", leaky))
