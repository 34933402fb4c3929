"""Estimated performance (CBPE) against an independent reference: scikit-learn's isotonic
regression for the calibration, and labels drawn from the calibrated probabilities for the
expected metrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score, roc_auc_score

from lakescore.transforms.monitoring import estimated


def _reference_rows(rng, n):
    # a miscalibrated model: the true probability is score ** 2
    score = rng.uniform(0, 1, n)
    label = (rng.uniform(0, 1, n) < score ** 2).astype(int)
    return score, label


def test_the_calibration_is_scikit_learns_isotonic_regression(spark):
    rng = np.random.default_rng(7)
    score, label = _reference_rows(rng, 3000)
    rows = spark.createDataFrame([(float(s), int(y)) for s, y in zip(score, label)], "score double, y int")
    xs, ps = estimated.fit_calibration(rows, "y", "score")
    ref = IsotonicRegression(out_of_bounds="clip").fit(score, label)
    grid = np.linspace(-0.1, 1.1, 241)
    ours = np.array([estimated.predict(xs, ps, x) for x in grid])
    assert np.max(np.abs(ours - ref.predict(grid))) < 1e-9
    # and Spark applies it as `predict` does, to every row of every model
    served = spark.createDataFrame([("m/1", float(x)) for x in grid] + [("m/2", float(x)) for x in grid[::3]],
                                   "model_id string, score double")
    other = estimated.clean([0.2, 0.5, 0.5, 0.9], [0.1, 0.3, 0.4, 0.8])
    got = {(r["model_id"], r["score"]): r["_p"] for r in
           estimated.calibrated(served, {"m/1": (xs, ps), "m/2": other}, "score").collect()}
    assert len(got) == len(grid) + len(grid[::3])
    for (m, x), p in got.items():
        assert p == pytest.approx(estimated.predict(*((xs, ps) if m == "m/1" else other), x), abs=1e-12)


def test_a_single_class_has_no_calibration(spark):
    rows = spark.createDataFrame([(0.1, 0), (0.7, 0)], "score double, y int")
    assert estimated.fit_calibration(rows, "y", "score") is None


def test_expected_metrics_match_labels_drawn_from_the_calibrated_probabilities(spark):
    rng = np.random.default_rng(11)
    score, label = _reference_rows(rng, 4000)
    rows = spark.createDataFrame([(float(s), int(y)) for s, y in zip(score, label)], "score double, y int")
    xs, ps = estimated.fit_calibration(rows, "y", "score")
    # served windows under covariate shift: window 2's scores lean high, window 3's low
    windows = {1: rng.uniform(0, 1, 1500), 2: rng.beta(3, 1, 1500), 3: rng.beta(1, 3, 1500)}
    served = spark.createDataFrame([(w, "m/1", float(s), int(s >= 0.6)) for w, ss in windows.items() for s in ss],
                                   "w int, model_id string, score double, prediction int")
    got = {r["w"]: r.asDict() for r in estimated.estimated_metrics(
        estimated.calibrated(served, {"m/1": (xs, ps)}, "score"), ["w", "model_id"], "score",
        "prediction").collect()}
    for w, s in windows.items():
        p = np.array([estimated.predict(xs, ps, x) for x in s])
        yhat = (s >= 0.6).astype(int)
        draws = [(rng.uniform(0, 1, len(s)) < p).astype(int) for _ in range(200)]
        ref = {"auc": np.mean([roc_auc_score(y, s) for y in draws]),
               "accuracy": np.mean([accuracy_score(y, yhat) for y in draws]),
               "precision": np.mean([precision_score(y, yhat) for y in draws]),
               "recall": np.mean([recall_score(y, yhat) for y in draws]),
               "f1": np.mean([f1_score(y, yhat) for y in draws]),
               "log_loss": np.mean([log_loss(y, s, labels=[0, 1]) for y in draws]),
               "label_rate": np.mean([y.mean() for y in draws])}
        assert got[w]["count"] == len(s)
        for metric, value in ref.items():
            # 200 draws of 1,500 rows: the reference's own error is a few thousandths
            assert got[w][metric] == pytest.approx(value, abs=0.006), (w, metric)
    # the shift moves the estimate: the low-score window has a far lower expected precision
    assert got[3]["label_rate"] < got[1]["label_rate"] < got[2]["label_rate"]
