"""The model checks' transforms on tiny frames: the out-of-time split, single-feature power
(against scikit-learn and numpy), the training-data sanity profile, the permuted copies behind
permutation importance, and the verdicts."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import functions as F
from sklearn.metrics import roc_auc_score

from lakescore.transforms.modeling import importance as imp
from lakescore.transforms.modeling.leakage_power import leakage_findings, single_feature_power
from lakescore.transforms.modeling.pipeline import build_pipeline, feature_slots
from lakescore.transforms.modeling.sanity import empty_or_constant, feature_profile
from lakescore.transforms.modeling.split import assign_split


def test_the_last_as_ofs_are_held_out_whole(spark):
    df = spark.createDataFrame([(f"k{i}", date(2024, 1, 1 + i % 10)) for i in range(40)], "k string, as_of date")
    out = df.transform(assign_split(["k"], 0.25, "s", out_of_time_from=date(2024, 1, 8)))
    hashed = df.transform(assign_split(["k"], 0.25, "s"))
    expected = hashed.withColumn("split", F.when(F.col("as_of") >= F.lit(date(2024, 1, 8)), "out_of_time")
                                 .otherwise(F.col("split")))
    assert_df_equality(out, expected, ignore_row_order=True)
    assert out.where("split = 'out_of_time'").count() == 12
    assert out.where("as_of < DATE'2024-01-08'").select("split").distinct().count() == 2  # train and test


@pytest.fixture()
def binary_rows(spark):
    rng = np.random.default_rng(1)
    n = 400
    x = rng.normal(size=n)
    y = (x + rng.normal(size=n) > 0).astype(float)
    backwards = -x + rng.normal(size=n) * 0.5
    city = np.where(rng.random(n) < 0.5, "p", "q")
    y = np.where(city == "q", np.maximum(y, (rng.random(n) < 0.3)), y).astype(float)
    rows = [(float(a), float(b) if i % 10 else None, str(c), float(t), "train" if i < 200 else "eval")
            for i, (a, b, c, t) in enumerate(zip(x, backwards, city, y))]
    return spark.createDataFrame(rows, "x double, back double, city string, y double, part string")


def test_binary_single_feature_power_is_the_features_own_auc(spark, binary_rows):
    train, rows = binary_rows.where("part = 'train'"), binary_rows.where("part = 'eval'")
    out = single_feature_power(train, rows, ["x", "back"], ["city"], "y", "binary")
    ev = rows.toPandas()
    tr = train.toPandas()
    median = float(np.percentile(tr["back"].dropna(), 50, method="lower"))
    rates = tr.groupby("city")["y"].mean()
    expected = {
        "x": roc_auc_score(ev["y"], ev["x"]),
        # NULL as the training median; ranking backwards is as strong: max(AUC, 1 - AUC)
        "back": 1 - roc_auc_score(ev["y"], ev["back"].fillna(median)),
        "city": roc_auc_score(ev["y"], ev["city"].map(rates)),
    }
    want = spark.createDataFrame([(f, float(v), 200) for f, v in expected.items()],
                                 "feature string, single_feature_power double, rows long")
    assert_approx_df_equality(out, want, 1e-9, ignore_row_order=True, ignore_nullable=True)
    assert expected["back"] > 0.7


def test_regression_single_feature_power_is_r2(spark):
    rng = np.random.default_rng(2)
    n = 300
    x = rng.normal(size=n)
    group = rng.choice(["a", "b", "c"], size=n)
    y = 3 * x + np.select([group == "a", group == "b"], [5.0, -5.0], 0.0) + rng.normal(size=n)
    rows = [(float(a), str(g), float(t), "train" if i % 2 else "eval") for i, (a, g, t) in enumerate(zip(x, group, y))]
    df = spark.createDataFrame(rows, "x double, g string, y double, part string")
    out = {r.feature: r.single_feature_power for r in single_feature_power(
        df.where("part = 'train'"), df.where("part = 'eval'"), ["x"], ["g"], "y", "regression").collect()}
    ev, tr = df.where("part = 'eval'").toPandas(), df.where("part = 'train'").toPandas()
    assert out["x"] == pytest.approx(np.corrcoef(ev["x"], ev["y"])[0, 1] ** 2, rel=1e-9)
    by_mean = ev["g"].map(tr.groupby("g")["y"].mean())
    r2 = 1 - ((ev["y"] - by_mean) ** 2).sum() / ((ev["y"] - ev["y"].mean()) ** 2).sum()
    assert out["g"] == pytest.approx(r2, rel=1e-9)


def test_leakage_findings_flag_strong_features_and_respect_the_allow_list():
    powers = {"leak": 0.95, "strong": 0.78, "weak": 0.6, "allowed": 0.9}
    found = leakage_findings(powers, 0.79, metric="auc", max_single_power=0.85, margin=0.02, margin_min_power=0.7,
                             allow=["allowed"])
    assert [(f["feature"], f["allowed"]) for f in found] == [("allowed", True), ("leak", False), ("strong", False)]
    assert "within train.leakage.margin 0.02 of the whole model's 0.790" in found[2]["reason"]
    # a weak model: its best feature is about as weak, which is no leak
    assert leakage_findings({"weak": 0.6}, 0.61, metric="auc", max_single_power=0.85, margin=0.02,
                            margin_min_power=0.7) == []


def test_feature_profile_finds_empty_and_constant_features(spark):
    df = spark.createDataFrame([(1.0, None, "a", 2.0), (1.0, None, "a", None), (1.0, None, "a", 3.0)],
                               "const double, empty double, same string, ok double")
    profile = feature_profile(df, ["const", "empty", "same", "ok"]).first().asDict()
    assert empty_or_constant(profile, ["const", "empty", "same", "ok"]) == {
        "const": "the same value (1.0) in all 3 training rows", "empty": "NULL in all 3 training rows",
        "same": "the same value (a) in all 3 training rows"}


def test_permuted_copies_shuffle_one_feature_at_a_time(spark):
    rows = spark.createDataFrame([(f"k{i}", [float(i), 10.0 + i, 20.0 + i, 30.0 + i], float(i % 2)) for i in range(8)],
                                 "k string, v array<double>, y double")
    slots = {"a": (0, 1), "b": (1, 2), "c": (3, 1)}
    copies = imp.permuted_copies(rows, "v", slots, ["k"], 2, seed=7)
    again = imp.permuted_copies(rows.repartition(3), "v", slots, ["k"], 2, seed=7)
    assert_df_equality(copies, again, ignore_row_order=True)  # seeded: the same shuffles every time
    base = copies.where("_permuted IS NULL").select("k", "v", "y")
    assert_df_equality(base, rows, ignore_row_order=True)
    original = {r.k: r.v for r in rows.collect()}
    for (feature, (start, size)) in slots.items():
        for repeat in (1, 2):
            copy = {r.k: r.v for r in copies.where(f"_permuted = '{feature}' AND _repeat = {repeat}").collect()}
            assert set(copy) == set(original)
            moved = sorted(tuple(v[start:start + size]) for v in copy.values())
            assert moved == sorted(tuple(v[start:start + size]) for v in original.values())  # a permutation
            assert any(copy[k][start:start + size] != original[k][start:start + size] for k in copy)
            for k, v in copy.items():  # the other positions stay
                assert v[:start] + v[start + size:] == original[k][:start] + original[k][start + size:]


def test_feature_slots_follow_the_assembled_vector(spark):
    df = spark.createDataFrame([(1.0, "a", 2.0, "u", 1.0), (2.0, "b", 3.0, "u", 0.0), (3.0, "a", 1.0, "w", 1.0)],
                               "x double, c string, z double, d string, y double")
    model = build_pipeline(["x", "z"], ["c", "d"], "y", "logistic_regression", {}, 1).fit(df)
    # numeric first (one position each), then each category list plus missing and other
    assert feature_slots(model) == {"x": (0, 1), "z": (1, 1), "c": (2, 4), "d": (6, 4)}


def test_importances_and_verdicts():
    by_copy = {(None, 0): 0.80, ("a", 1): 0.70, ("a", 2): 0.72, ("b", 1): 0.80, ("b", 2): 0.80, ("c", 1): 0.83,
               ("c", 2): 0.81}
    out = imp.importances(by_copy, lower_is_better=False)
    assert out["a"]["importance"] == pytest.approx(0.09) and out["a"]["std"] == pytest.approx(np.std([0.1, 0.08], ddof=1))
    assert out["b"] == {"importance": 0.0, "std": 0.0}
    assert [imp.verdict(out[f]["importance"], 0.001) for f in "abc"] == ["helpful", "no_gain", "harmful"]
    assert imp.verdict(0.5, 0.001, leak_suspect=True) == "leak_suspect"
    assert imp.importances({(None, 0): 10.0, ("a", 1): 12.0}, lower_is_better=True)["a"]["importance"] == 2.0
    assert imp.ablation_delta(0.8, 0.75, False) == pytest.approx(0.05) and imp.ablation_delta(10, 11, True) == 1
