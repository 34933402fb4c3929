"""Drift attribution on a real Spark ML model: a shifted feature the model leans on is named
first, whichever it is; a shifted feature the model ignores hardly moves the score."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F

from lakescore.transforms.monitoring import attribution, profiles

FEATURES = ["a", "b", "c"]


def _rows(rng, n, shift=None):
    x = {f: rng.normal(0, 1, n) for f in FEATURES}
    for f, by in (shift or {}).items():
        x[f] = x[f] + by
    y = (rng.uniform(0, 1, n) < 1 / (1 + np.exp(-(2.0 * x["a"] + 1.0 * x["b"])))).astype(int)
    return [(f"k{i}", *(float(x[f][i]) for f in FEATURES), int(y[i])) for i in range(n)]


@pytest.fixture(scope="module")
def fitted(spark):
    rng = np.random.default_rng(3)
    train = spark.createDataFrame(_rows(rng, 4000), "id string, a double, b double, c double, y int")
    model = Pipeline(stages=[VectorAssembler(inputCols=FEATURES, outputCol="v"),
                             LogisticRegression(featuresCol="v", labelCol="y")]).fit(train)

    def scorer(df):
        return model.transform(df).withColumn("score", vector_to_array("probability")[1]).drop(
            "v", "rawPrediction", "probability")

    scored = scorer(train).withColumn("model_id", F.lit("m/1"))
    kinds = {"a": "numeric", "b": "numeric", "c": "numeric", "score": "numeric"}
    profile = {r.column_name: r.histogram for r in profiles.drift_profile(scored, kinds, [], 100, 10).collect()}
    references = {f: ("numeric", *attribution.reference_atoms(profile[f], "numeric")) for f in FEATURES}
    return scorer, references, profile["score"]


@pytest.mark.parametrize("shifted", ["a", "b", "c"])
def test_the_shifted_feature_is_named_first(spark, fitted, shifted):
    scorer, references, score_hist = fitted
    rng = np.random.default_rng(5)
    served = spark.createDataFrame(_rows(rng, 3000, {shifted: 1.5 if shifted == "a" else 2.5}),
                                   "id string, a double, b double, c double, y int") \
        .withColumn("as_of", F.lit("2024-01-02").cast("date")).withColumn("model_id", F.lit("m/1"))
    got = attribution.attribute(served, ["id"], scorer, references, score_hist, size=1000).collect()
    assert len(got) == 1
    shares = {e["column_name"]: e["share"] for e in got[0].attribution}
    assert set(shares) == set(FEATURES) and got[0].score_shift > 0
    if shifted == "c":
        # the model barely uses c: shifting it by 2.5 standard deviations hardly moves the score
        assert got[0].score_shift < 0.03, got[0].score_shift
    else:
        assert got[0].attribution[0]["column_name"] == shifted and shares[shifted] > 0.6, shares
        text = spark.createDataFrame([got[0]]).select(attribution.text(F.col("attribution")).alias("t")).first().t
        assert text.startswith(f"{round(shares[shifted] * 100)}% from {shifted}")
    # the same rows and draws again: the same figures
    again = attribution.attribute(served, ["id"], scorer, references, score_hist, size=1000).first()
    assert again.attribution == got[0].attribution
