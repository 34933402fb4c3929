"""The fitted preparation inside the model: min-max scaling with clipping and imputation,
category encoding with missing/other buckets, persistence through MLflow, and the property
that every scaled value lies in [0, 1] for any training and serving input."""

from __future__ import annotations

import math

import mlflow
import mlflow.spark
import pytest
from chispa import assert_approx_column_equality, assert_column_equality, assert_df_equality
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F

from lakescore.transforms.modeling.pipeline import build_pipeline, fitted_preparation
from lakescore.transforms.modeling.preparation import (
    MISSING,
    OTHER,
    CategoryEncoder,
    MinMaxClipScaler,
    MinMaxClipScalerModel,
    encoded_slots,
    one_hot,
    scale_column,
)


def test_scale_column_clips_fills_and_maps_onto_unit_interval(spark):
    df = spark.createDataFrame([
        (10.0, 0.0), (15.0, 0.5), (20.0, 1.0),
        (-100.0, 0.0), (1e12, 1.0),                 # serving values outside the training range
        (float("inf"), 1.0), (float("-inf"), 0.0),
        (None, 0.25), (float("nan"), 0.25),          # NULL/NaN -> the fitted fill (12.5)
    ], "x double, expected double")
    out = df.withColumn("got", scale_column(F.col("x"), 10.0, 20.0, 12.5))
    assert_approx_column_equality(out, "expected", "got", 1e-12)


def test_scale_column_degenerate_ranges_are_constant_zero(spark):
    df = spark.createDataFrame([(7.0,), (None,), (-3.0,)], "x double").withColumn("expected", F.lit(0.0))
    assert_column_equality(df.withColumn("got", scale_column(F.col("x"), 7.0, 7.0, 7.0)), "expected", "got")
    # a range wider than the largest double is scaled without overflow
    wide = spark.createDataFrame([(-1.7e308, 0.0), (0.0, 0.5), (1.7e308, 1.0)], "x double, expected double")
    assert_approx_column_equality(wide.withColumn("got", scale_column(F.col("x"), -1.7e308, 1.7e308, 0.0)),
                                  "expected", "got", 1e-12)


def _fit_scaler(spark, values, **kwargs):
    df = spark.createDataFrame([(v,) for v in values], "x double")
    return MinMaxClipScaler(inputCols=["x"], outputCols=["s"], **kwargs).fit(df)


def test_scaler_fits_min_max_and_median(spark):
    model = _fit_scaler(spark, [1.0, 2.0, 3.0, 10.0, None, float("nan"), float("inf")])
    assert model.fitted() == {"x": {"min": 1.0, "max": 10.0, "fill": 2.5, "impute": "median",
                                    "clip_quantiles": [0.0, 1.0]}}
    serving = spark.createDataFrame([(0.0, 0.0), (5.5, 0.5), (11.0, 1.0), (None, 1.5 / 9)], "x double, expected double")
    assert_approx_column_equality(model.transform(serving), "expected", "s", 1e-12)


def test_scaler_quantile_clipping_and_mean_imputation(spark):
    values = [float(v) for v in range(101)] + [10_000.0]     # one outlier
    model = _fit_scaler(spark, values, lowerQuantiles=[0.01], upperQuantiles=[0.99], imputeStrategies=["mean"])
    fitted = model.fitted()["x"]
    assert fitted["min"] == pytest.approx(1.01) and fitted["max"] == pytest.approx(99.99)
    assert fitted["fill"] == pytest.approx(sum(values) / len(values))
    out = model.transform(spark.createDataFrame([(10_000.0,), (-5.0,), (None,)], "x double")).collect()
    assert [r.s for r in out] == [1.0, 0.0, 1.0]  # the mean (147.5) lies above the clip bound


def test_scaler_single_value_and_all_null_training_columns(spark):
    single = _fit_scaler(spark, [4.0, 4.0, 4.0])
    allnull = _fit_scaler(spark, [None, None])
    assert allnull.fitted()["x"]["min"] == allnull.fitted()["x"]["max"] == 0.0
    serving = spark.createDataFrame([(4.0,), (100.0,), (None,)], "x double").withColumn("expected", F.lit(0.0))
    assert_column_equality(single.transform(serving), "expected", "s")
    assert_column_equality(allnull.transform(serving), "expected", "s")


def test_scaler_refuses_bad_options(spark):
    df = spark.createDataFrame([(1.0,)], "x double")
    with pytest.raises(ValueError, match="quantiles need 0 <= low < high <= 1"):
        MinMaxClipScaler(inputCols=["x"], outputCols=["s"], lowerQuantiles=[0.9], upperQuantiles=[0.1]).fit(df)
    with pytest.raises(ValueError, match="unknown impute strategy"):
        MinMaxClipScaler(inputCols=["x"], outputCols=["s"], imputeStrategies=["mode"]).fit(df)


def test_one_hot_slots(spark):
    df = spark.createDataFrame([
        ("a", [1.0, 0.0, 0.0, 0.0]), ("b", [0.0, 1.0, 0.0, 0.0]),
        (None, [0.0, 0.0, 1.0, 0.0]), ("never-seen", [0.0, 0.0, 0.0, 1.0]),
    ], "c string, expected array<double>")
    out = df.withColumn("got", vector_to_array(one_hot(F.col("c"), ["a", "b"])))
    assert_column_equality(out, "expected", "got")
    assert encoded_slots(["a", "b"]) == ["a", "b", MISSING, OTHER]


def test_category_encoder_vocabulary_unseen_missing_and_rare(spark):
    train = spark.createDataFrame(
        [("x", 1)] * 5 + [("y", 2)] * 5 + [("z", 3)] * 2 + [("rare", 4)] + [(None, None)] * 3, "c string, n int")
    model = CategoryEncoder(inputCols=["c", "n"], outputCols=["c_vec", "n_vec"], minCounts=[2, 1],
                            maxCategories=[100, 2]).fit(train)
    # most frequent first, ties by value; `rare` (1 row < minCount 2) left out; n keeps its top 2
    assert model.fitted() == {"c": {"categories": ["x", "y", "z"], "slots": ["x", "y", "z", MISSING, OTHER]},
                              "n": {"categories": ["1", "2"], "slots": ["1", "2", MISSING, OTHER]}}
    serving = spark.createDataFrame([
        ("z", 3, [0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]),
        ("rare", 1, [0.0, 0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]),
        ("new", None, [0.0, 0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0]),
        (None, 2, [0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0]),
    ], "c string, n int, c_expected array<double>, n_expected array<double>")
    out = model.transform(serving).select("*", vector_to_array("c_vec").alias("c_got"),
                                          vector_to_array("n_vec").alias("n_got"))
    assert_column_equality(out, "c_expected", "c_got")
    assert_column_equality(out, "n_expected", "n_got")


def test_category_encoder_all_null_column(spark):
    train = spark.createDataFrame([(None,), (None,)], "c string")
    model = CategoryEncoder(inputCols=["c"], outputCols=["v"]).fit(train)
    assert model.fitted()["c"]["categories"] == []
    out = model.transform(spark.createDataFrame([(None, [1.0, 0.0]), ("a", [0.0, 1.0])], "c string, expected array<double>"))
    assert_column_equality(out.withColumn("got", vector_to_array("v")), "expected", "got")


def _training_rows(spark):
    rows = [(float(i % 10) if i % 7 else None, "a" if i % 3 else "b", None, 1.0 if (i % 10) > 5 else 0.0)
            for i in range(300)]
    return spark.createDataFrame(rows, "x double, c string, empty double, y double")


def test_pipeline_survives_an_mlflow_round_trip(spark, tmp_path):
    """Pure-Python stages persist inside the PipelineModel: log it with MLflow's spark flavor,
    load it back and get the same scores and the same fitted parameters."""
    model = build_pipeline(["x", "empty"], ["c"], "y", "logistic_regression", {"maxIter": 20}, 7,
                           {"x": {"clip_quantiles": (0.1, 0.9)}}).fit(_training_rows(spark))
    serving = spark.createDataFrame([(3.0, "a", None), (None, None, 1.0), (1e6, "unseen", -1.0)],
                                    "x double, c string, empty double")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("roundtrip", artifact_location=(tmp_path / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.spark.log_model(model, "model", pip_requirements=["pyspark"])
    loaded = mlflow.spark.load_model(info.model_uri, dfs_tmpdir=str(tmp_path / "dfs"))
    before = model.transform(serving).select(vector_to_array("probability").alias("p"))
    after = loaded.transform(serving).select(vector_to_array("probability").alias("p"))
    assert_df_equality(before, after)
    assert fitted_preparation(loaded) == fitted_preparation(model)
    prepared = fitted_preparation(model)
    assert prepared["x"]["clip_quantiles"] == [0.1, 0.9] and prepared["empty"]["max"] == 0.0
    assert prepared["c"]["categories"] == ["a", "b"]
    assert isinstance(loaded.stages[0], MinMaxClipScalerModel)


training = st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), min_size=1, max_size=15)
serving_values = st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), min_size=1, max_size=15)
quantiles = st.tuples(st.sampled_from([0.0, 0.01, 0.1]), st.sampled_from([0.9, 0.99, 1.0]))


@settings(max_examples=20, deadline=None)
@given(train=training, serve=serving_values, q=quantiles, impute=st.sampled_from(["median", "mean"]))
def test_property_every_scaled_value_lies_in_the_unit_interval(spark, train, serve, q, impute):
    model = MinMaxClipScaler(inputCols=["x"], outputCols=["s"], lowerQuantiles=[q[0]], upperQuantiles=[q[1]],
                             imputeStrategies=[impute]).fit(spark.createDataFrame([(v,) for v in train], "x double"))
    fitted = model.fitted()["x"]
    assert math.isfinite(fitted["min"]) and math.isfinite(fitted["max"]) and fitted["min"] <= fitted["max"]
    out = model.transform(spark.createDataFrame([(v,) for v in serve], "x double")).collect()
    assert len(out) == len(serve)
    for r in out:
        assert r.s is not None and 0.0 <= r.s <= 1.0, (r.x, r.s, fitted)
