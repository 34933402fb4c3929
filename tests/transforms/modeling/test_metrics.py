import math
import random

import pytest
from chispa import assert_approx_df_equality
from sklearn import metrics as skm

from lakescore.transforms.modeling.metrics import binary_metrics, explode_slices, quality_metrics, regression_metrics


def _binary_rows(n=400, seed=3):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        y = 1.0 if rng.random() < 0.3 else 0.0
        score = round(min(max(rng.gauss(0.35 + 0.3 * y, 0.2), 0.0), 1.0), 2)  # rounded: many ties
        rows.append(("g1" if i % 2 else "g2", y, score, 1.0 if score >= 0.5 else 0.0))
    return rows


def test_binary_metrics_match_scikit_learn(spark):
    rows = _binary_rows()
    df = spark.createDataFrame(rows, "g string, y double, s double, p double")
    got = binary_metrics(df, [], "y", "s", "p").first().asDict()
    ys, ss, ps = [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]
    assert got["count"] == got["num_labelled"] == len(rows)
    assert got["auc"] == pytest.approx(skm.roc_auc_score(ys, ss), abs=1e-12)
    assert got["pr_auc"] == pytest.approx(skm.average_precision_score(ys, ss), abs=1e-12)
    assert got["log_loss"] == pytest.approx(skm.log_loss(ys, ss), abs=1e-9)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(ys, ps))
    assert got["precision"] == pytest.approx(skm.precision_score(ys, ps))
    assert got["recall"] == pytest.approx(skm.recall_score(ys, ps))
    assert got["f1"] == pytest.approx(skm.f1_score(ys, ps))


def test_binary_metrics_per_group_and_unlabelled_rows(spark):
    rows = _binary_rows() + [("g1", None, 0.9, 1.0)]
    df = spark.createDataFrame(rows, "g string, y double, s double, p double")
    out = {r["g"]: r for r in binary_metrics(df, ["g"], "y", "s", "p").collect()}
    g1 = [r for r in rows if r[0] == "g1" and r[1] is not None]
    assert out["g1"]["count"] == len(g1) + 1 and out["g1"]["num_labelled"] == len(g1)
    assert out["g1"]["auc"] == pytest.approx(skm.roc_auc_score([r[1] for r in g1], [r[2] for r in g1]), abs=1e-12)


def test_auc_is_null_when_one_class_only(spark):
    df = spark.createDataFrame([(1.0, 0.2, 0.0), (1.0, 0.7, 1.0)], "y double, s double, p double")
    row = binary_metrics(df, [], "y", "s", "p").first()
    assert row["auc"] is None and row["accuracy"] == 0.5


def test_regression_metrics(spark):
    rows = [(1.0, 1.5), (2.0, 1.0), (3.0, 3.5), (4.0, 4.0), (None, 9.0)]
    df = spark.createDataFrame(rows, "y double, p double")
    got = regression_metrics(df, [], "y", "p")
    ys, ps = [r[0] for r in rows[:4]], [r[1] for r in rows[:4]]
    expected = spark.createDataFrame(
        [(5, 4, math.sqrt(skm.mean_squared_error(ys, ps)), skm.mean_absolute_error(ys, ps), skm.r2_score(ys, ps),
          2.5, sum(ps + [9.0]) / 5)],
        "count long, num_labelled long, rmse double, mae double, r2 double, mean_label double, mean_prediction double")
    assert_approx_df_equality(got, expected, 1e-9, ignore_nullable=True)


def test_explode_slices_whole_table_and_each_column(spark):
    df = spark.createDataFrame([("AA", "JFK")], "carrier string, origin string")
    out = df.transform(explode_slices(["carrier", "origin"]))
    assert sorted((r.slice_key or "", r.slice_value or "") for r in out.collect()) == [
        ("", ""), ("carrier", "AA"), ("origin", "JFK")]


def test_quality_metrics_dispatch(spark):
    df = spark.createDataFrame([(1.0, 0.9, 1.0), (0.0, 0.1, 0.0)], "y double, s double, p double")
    assert quality_metrics(df, [], "binary", "y", "s", "p").first()["auc"] == 1.0
    assert quality_metrics(df, [], "regression", "y", "s", "p").first()["rmse"] == 0.0
