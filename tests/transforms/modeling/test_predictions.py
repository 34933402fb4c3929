from datetime import datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakescore.transforms.modeling.pipeline import build_pipeline
from lakescore.transforms.modeling.predictions import model_age_days, model_output, prediction_rows, pyfunc_output


def _train(spark):
    rows = [(float(i % 10), "a" if i % 3 else "b", 1.0 if (i % 10) > 5 else 0.0) for i in range(300)]
    return spark.createDataFrame(rows, "x double, c string, y double")


def test_pipeline_fits_and_handles_unseen_and_missing_values(spark):
    model = build_pipeline(["x"], ["c"], "y", "logistic_regression", {"maxIter": 20}, 7).fit(_train(spark))
    serving = spark.createDataFrame([(3.0, "never-seen"), (None, None), (9.0, "a")], "x double, c string")
    out = model.transform(serving).transform(model_output("binary"))
    rows = out.select("prediction", "score").collect()
    assert len(rows) == 3 and all(r.prediction in (0.0, 1.0) and 0.0 <= r.score <= 1.0 for r in rows)
    assert rows[2].score > rows[0].score  # x > 5 means positive


def test_pipeline_rejects_unknown_parameter(spark):
    with pytest.raises(ValueError, match="model.params.maxDepthh"):
        build_pipeline(["x"], [], "y", "gbt_classifier", {"maxDepthh": 3}, 1)


def test_regression_pipeline_score_is_the_prediction(spark):
    df = spark.range(100).select(F.col("id").cast("double").alias("x"), (F.col("id") * 2.0).alias("y"))
    model = build_pipeline(["x"], [], "y", "linear_regression", {}, 1).fit(df)
    out = model.transform(df).transform(model_output("regression"))
    assert out.where(F.col("score") != F.col("prediction")).count() == 0
    assert out.where(F.abs(F.col("prediction") - F.col("y")) > 1e-6).count() == 0


def test_prediction_rows_columns_and_model_age(spark):
    model = build_pipeline(["x"], ["c"], "y", "logistic_regression", {}, 7).fit(_train(spark))
    rows = spark.createDataFrame([("k1", "2013-12-01", datetime(2013, 12, 1, 5), datetime(2013, 12, 1, 9), 3.0, "a")],
                                 "id string, as_of string, prediction_time timestamp, ts timestamp, x double, c string")
    out = model.transform(rows).transform(model_output("binary")).transform(prediction_rows(
        ["id"], "ts", "m", "3", "champion", datetime(2013, 11, 29, 5), "run1", datetime(2026, 1, 1)))
    assert out.columns == ["id", "as_of", "prediction_time", "ts", "prediction", "score", "model_name",
                           "model_version", "model_alias", "model_trained_at", "model_age_days", "run_id", "scored_at",
                           "served_by"]
    row = out.first()
    assert (row.model_name, row.model_version, row.model_alias, row.model_age_days) == ("m", "3", "champion", 2.0)
    assert row.served_by == "batch"
    assert row.model_age_days == model_age_days(datetime(2013, 11, 29, 5), row.prediction_time)
    on_demand = model.transform(rows).transform(model_output("binary")).transform(prediction_rows(
        ["id"], "ts", "m", "3", "champion", datetime(2013, 11, 29, 5), "run1", datetime(2026, 1, 1), "on_demand"))
    assert on_demand.first().served_by == "on_demand"


def test_pyfunc_output_binary_probabilities_and_values(spark):
    probabilities = spark.createDataFrame([("a", [0.9, 0.1]), ("b", [0.3, 0.7]), ("c", [0.5, 0.5]), ("d", None)],
                                          "id string, raw array<double>")
    expected = spark.createDataFrame([("a", 0.1, 0.0), ("b", 0.7, 1.0), ("c", 0.5, 0.0), ("d", None, None)],
                                     "id string, score double, prediction double")
    assert_df_equality(probabilities.transform(pyfunc_output("raw", "binary", True)), expected,
                       ignore_column_order=True, ignore_nullable=True)
    # predict's value (here classes 0/1, as an integer) is the score; above 0.5 is the positive class
    classes = spark.createDataFrame([("a", 1), ("b", 0)], "id string, raw int")
    expected = spark.createDataFrame([("a", 1.0, 1.0), ("b", 0.0, 0.0)], "id string, score double, prediction double")
    assert_df_equality(classes.transform(pyfunc_output("raw", "binary", False)), expected,
                       ignore_column_order=True, ignore_nullable=True)


def test_pyfunc_output_regression(spark):
    df = spark.createDataFrame([("a", 2.5), ("b", -1.0)], "id string, raw double")
    expected = spark.createDataFrame([("a", 2.5, 2.5), ("b", -1.0, -1.0)], "id string, prediction double, score double")
    assert_df_equality(df.transform(pyfunc_output("raw", "regression", False)), expected, ignore_nullable=True)


def test_model_age_days():
    assert model_age_days(datetime(2013, 12, 1, 5), datetime(2014, 1, 15, 17)) == 45.5
