"""Direct loss estimation (a regression model's expected MAE and RMSE before labels) against two
independent references: the true expected loss of a model whose errors are known in law
(heteroscedastic Gaussian noise: E|e| = sigma * sqrt(2 / pi), E[e^2] = sigma^2), and scikit-learn's
least squares on the same one-hot design."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from lakescore.transforms.monitoring import loss

REGIONS = ["a", "b", "c"]


def _sigma(x1, region):
    # the model errs more for large x1, twice as much in region c
    return (0.2 + 1.5 * x1) * np.where(region == "c", 2.0, 1.0)


def _rows(rng, x1, region):
    prediction = 3.0 * x1
    y = prediction + rng.normal(0, 1, len(x1)) * _sigma(x1, region)
    return prediction, y


def _terms(x1, prediction):
    edges = lambda v: tuple(float(e) for e in np.unique(np.quantile(v, np.linspace(0.1, 0.9, 9))))
    return [loss.Term("x1", "numeric", edges=edges(x1)), loss.Term("region", "categorical", categories=tuple(REGIONS)),
            loss.Term("prediction", "numeric", edges=edges(prediction))]


def _one_hot(terms, columns):
    """The same design in numpy: per term, its slot as `loss.slot` defines it."""
    blocks = []
    for t in terms:
        v = columns[t.column]
        if t.kind == "numeric":
            s = np.array([len(t.edges) + 1 if x is None else sum(e < x for e in t.edges) for x in v])
        else:
            s = np.array([len(t.categories) + 1 if x is None else
                          (t.categories.index(x) if x in t.categories else len(t.categories)) for x in v])
        blocks.append(np.eye(t.size)[s])
    return np.hstack(blocks)


@pytest.fixture(scope="module")
def fitted(spark):
    rng = np.random.default_rng(3)
    n = 5000
    x1, region = rng.uniform(0, 1, n), rng.choice(REGIONS, n, p=[0.45, 0.4, 0.15])
    prediction, y = _rows(rng, x1, region)
    rows = spark.createDataFrame([(float(a), str(r), float(p), float(t)) for a, r, p, t in zip(x1, region, prediction, y)],
                                 "x1 double, region string, prediction double, y double")
    terms = _terms(x1, prediction)
    model = loss.fit_loss_model(rows, terms, "y", "prediction")
    return model, terms, (x1, region, prediction, y)


def test_the_estimate_follows_the_true_expected_loss_under_covariate_shift(spark, fitted):
    model, _, _ = fitted
    assert model.rows == 5000
    rng = np.random.default_rng(5)
    m = 3000
    windows = {1: (rng.uniform(0, 1, m), rng.choice(REGIONS, m, p=[0.45, 0.4, 0.15])),   # as at training
               2: (rng.beta(4, 1, m), rng.choice(REGIONS, m, p=[0.45, 0.4, 0.15])),    # leans to large x1
               3: (rng.uniform(0, 1, m), rng.choice(REGIONS, m, p=[0.1, 0.1, 0.8]))}   # mostly region c
    served = spark.createDataFrame([(w, "m/1", float(a), str(r), float(3.0 * a)) for w, (x1, region) in windows.items()
                                    for a, r in zip(x1, region)],
                                   "w int, model_id string, x1 double, region string, prediction double")
    got = {r["w"]: r.asDict() for r in loss.estimated_loss_metrics(
        loss.expected_loss(served, {"m/1": model}), ["w", "model_id"]).collect()}
    for w, (x1, region) in windows.items():
        sigma = _sigma(x1, region)
        true_mae, true_rmse = float(np.mean(sigma) * math.sqrt(2 / math.pi)), float(np.sqrt(np.mean(sigma ** 2)))
        assert got[w]["count"] == m
        # a piecewise-constant fit of a linear sigma on deciles, from 5,000 noisy rows
        assert got[w]["mae"] == pytest.approx(true_mae, rel=0.03), w
        assert got[w]["rmse"] == pytest.approx(true_rmse, rel=0.03), w
    # the shifted windows are estimated worse, as they truly are
    assert got[1]["mae"] < got[2]["mae"] and got[1]["mae"] < got[3]["mae"]
    assert got[1]["rmse"] < got[2]["rmse"] and got[1]["rmse"] < got[3]["rmse"]


def test_the_fit_is_least_squares_on_the_one_hot_design(spark, fitted):
    model, terms, (x1, region, prediction, y) = fitted
    design = _one_hot(terms, {"x1": list(x1), "region": list(region), "prediction": list(prediction)})
    rng = np.random.default_rng(9)
    probe_x1, probe_region = rng.uniform(-0.2, 1.2, 400), rng.choice([*REGIONS, "zz"], 400)
    probe_x1 = [None if i % 37 == 0 else float(v) for i, v in enumerate(probe_x1)]
    probe_region = [None if i % 41 == 0 else str(v) for i, v in enumerate(probe_region)]
    probe_pred = [None if v is None else 3.0 * v for v in probe_x1]
    served = spark.createDataFrame([("m/1", a, r, p) for a, r, p in zip(probe_x1, probe_region, probe_pred)],
                                   "model_id string, x1 double, region string, prediction double")
    got = [(r["_abs"], r["_sq"]) for r in loss.expected_loss(served, {"m/1": model}).collect()]
    probe = _one_hot(terms, {"x1": probe_x1, "region": probe_region, "prediction": probe_pred})
    err = y - prediction
    for k, target in enumerate((np.abs(err), err ** 2)):
        # the same objective as Spark's: a small L2 penalty that only breaks the one-hot's ties
        ref = Ridge(alpha=1e-6, fit_intercept=True).fit(design, target).predict(probe)
        ours = np.array([g[k] for g in got])
        assert np.max(np.abs(ours - np.maximum(ref, 0.0))) < 0.02 * float(np.mean(target)), k
    # the slots' held-out rows are counted, and an unseen value lands in a slot of no rows
    region_term = next(t for t in model.terms if t.column == "region")
    assert sum(region_term.rows) == 5000 and region_term.rows[-2:] == (0, 0)
