"""Drift from histograms on tiny frames: long rows, quantile edges, bins, the distances of a hand
computed example, and the decision."""

from __future__ import annotations

import math

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import functions as F
from scipy import stats

from lakescore.transforms.monitoring import drift
from lakescore.transforms.monitoring.decisions import DriftTest, decide


def _long(spark, rows, schema="side string, x double, c string"):
    df = spark.createDataFrame(rows, schema).withColumn("m", F.lit("m1"))
    return df.transform(drift.long_values({"x": "numeric", "c": "categorical"}, ["side", "m"]))


def test_long_values_one_row_per_column_and_nan_is_null(spark):
    got = _long(spark, [("a", 1.5, "u"), ("a", float("nan"), None)]).drop("m")
    expected = spark.createDataFrame(
        [("a", "x", "numeric", 1.5, None), ("a", "c", "categorical", None, "u"),
         ("a", "x", "numeric", None, None), ("a", "c", "categorical", None, None)],
        "side string, column_name string, column_kind string, num double, cat string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def _wide(spark, rows, schema="side string, x double, c string"):
    return spark.createDataFrame(rows, schema).withColumn("m", F.lit("m1"))


def test_quantile_edges_merge_repeats_and_coarse_edges_are_among_them(spark):
    rows = [("r", float(v), "u") for v in [1, 1, 1, 1, 2, 3, 4, 5, 6, 7]] + [("r", float("nan"), "u")]
    edges = drift.quantile_edges(_wide(spark, rows), ["m"], ["x"], bins=10, coarse_bins=2).first()
    assert edges["edges"] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]          # the deciles, repeats merged, NaN left out
    assert edges["coarse_edges"] == [2.0] and set(edges["coarse_edges"]) <= set(edges["edges"])
    with pytest.raises(ValueError, match="multiple"):
        drift.quantile_edges(_wide(spark, rows), ["m"], ["x"], bins=10, coarse_bins=3)


def test_bin_of_counts_the_edges_below(spark):
    df = spark.createDataFrame([(v,) for v in (0.5, 1.0, 1.5, 3.0, 9.0)], "v double")
    got = df.select(drift.bin_of(F.col("v"), F.array(*[F.lit(e) for e in (1.0, 2.0, 3.0)])).alias("b"))
    assert [r.b for r in got.collect()] == [0, 0, 1, 2, 3]           # bin i holds (e_i, e_{i+1}]


def _compare(spark, current, reference, bins=4, coarse_bins=2):
    cur, ref = _long(spark, current).where("side = 'cur'"), _long(spark, reference).where("side = 'ref'")
    edges = drift.quantile_edges(_wide(spark, reference), ["m"], ["x"], bins, coarse_bins)
    return drift.compare(drift.histogram(cur, edges, ["m"], ["m"]), drift.histogram(ref, edges, ["m"], ["m"]),
                         edges, ["m"], ["m"])


def test_categorical_distances_of_a_hand_computed_example(spark):
    # current a, a, b (+ one NULL) against reference a, b, b, c: p = (2/3, 1/3, 0), q = (1/4, 1/2, 1/4)
    current = [("cur", 1.0, "a"), ("cur", 1.0, "a"), ("cur", 1.0, "b"), ("cur", 1.0, None)]
    reference = [("ref", 1.0, "a"), ("ref", 1.0, "b"), ("ref", 1.0, "b"), ("ref", 1.0, "c")]
    row = _compare(spark, current, reference).where("column_name = 'c'")
    p, q = [2 / 3, 1 / 3, 0.0], [0.25, 0.5, 0.25]
    m = [(a + b) / 2 for a, b in zip(p, q)]
    js = math.sqrt(sum(0.5 * (a * math.log2(a / c) if a else 0) + 0.5 * (b * math.log2(b / c)) for a, b, c in zip(p, q, m)))
    e = [max(v, 1e-4) for v in p]
    psi = sum((a - b) * math.log(a / b) for a, b in zip(e, q))
    expected = spark.createDataFrame(
        [(4, 4, 0.25, 0.0, 3, 4, 5 / 12, 5 / 12, js, psi, 0.0)],
        "count long, baseline_count long, null_rate double, baseline_null_rate double, valid_count long, "
        "baseline_valid_count long, l_infinity_distance double, tv_distance double, js_distance double, "
        "population_stability_index double, unseen_share double")
    assert_approx_df_equality(row.select(*expected.columns), expected, precision=1e-9, ignore_nullable=True)
    chi = row.first()["chi_squared_test"]
    statistic, pvalue, dof, _ = stats.chi2_contingency([[2, 1, 0], [1, 2, 1]], correction=False)
    assert dof == 2 and chi.statistic == pytest.approx(statistic) and chi.pvalue == pytest.approx(pvalue)
    assert row.first()["wasserstein_distance"] is None and row.first()["ks_test"] is None


def test_numeric_distances_are_exact_on_few_distinct_values(spark):
    # every value its own bin: KS and W1 of the raw samples; current 1, 2, 2, 3; reference 1, 1, 2, 2
    current = [("cur", v, "a") for v in (1.0, 2.0, 2.0, 3.0)]
    reference = [("ref", v, "a") for v in (1.0, 1.0, 2.0, 2.0)]
    row = _compare(spark, current, reference).where("column_name = 'x'").first()
    sd = math.sqrt(sum((v - 1.5) ** 2 for v in (1, 1, 2, 2)) / 3)
    assert row["ks_test"].statistic == pytest.approx(0.25)          # at 1: 1/4 vs 2/4; at 2: 3/4 vs 1
    assert row["wasserstein_distance"] == pytest.approx(0.5 / sd)   # |F - G| = 1/4 on [1, 3)
    assert row["mean"] == pytest.approx(2.0) and row["baseline_stddev"] == pytest.approx(sd)
    assert row["l_infinity_distance"] is None and row["unseen_share"] is None


def test_an_unseen_category_shows_in_unseen_share(spark):
    current = [("cur", 1.0, c) for c in ("a", "new", "new", "new")]
    reference = [("ref", 1.0, c) for c in ("a", "b")]
    row = _compare(spark, current, reference).where("column_name = 'c'").first()
    assert row["unseen_share"] == pytest.approx(0.75) and row["l_infinity_distance"] == pytest.approx(0.75)


def test_a_column_missing_on_one_side_is_not_compared(spark):
    cur = _long(spark, [("cur", 1.0, "a")])
    ref = _long(spark, [("ref", 1.0, "a")]).where("column_name = 'x'")
    edges = drift.quantile_edges(_wide(spark, [("ref", 1.0, "a")]), ["m"], ["x"], 4, 2)
    out = drift.compare(drift.histogram(cur, edges, ["m"], ["m"]), drift.histogram(ref, edges, ["m"], ["m"]),
                        edges, ["m"], ["m"])
    assert [r.column_name for r in out.collect()] == ["x"]


def _decided(spark, rows, **kw):
    schema = ("drift_type string, column_name string, column_kind string, valid_count long, "
              "baseline_valid_count long, null_rate double, baseline_null_rate double, wasserstein_distance double, "
              "ks_test struct<statistic:double,pvalue:double>, js_distance double, l_infinity_distance double, "
              "population_stability_index double, tv_distance double, "
              "chi_squared_test struct<statistic:double,pvalue:double>, unseen_share double, mean double, "
              "baseline_mean double, baseline_stddev double")
    df = spark.createDataFrame([(*r, *means) for *r, means in rows], schema)
    defaults = {"numeric": DriftTest("wasserstein_distance", 0.1, "ks_test", 0.01),
                "categorical": DriftTest("l_infinity_distance", 0.1)}
    args = {"min_count": 10, "small_sample": 100, "max_null_rate_increase": 0.1, **kw}
    overrides = {("CONSECUTIVE", "x"): None, ("BASELINE", "y"): DriftTest("js_distance", 0.5),
                 ("BASELINE", "z"): DriftTest("mean_shift", 1.0)}
    out = df.transform(decide(defaults, overrides, **args))
    return out.select("column_name", "drift_type", "metric", "value", "threshold", "drifted").orderBy("column_name")


def test_decision_by_metric_sample_size_override_and_nulls(spark):
    ks = lambda p: (0.2, p)  # noqa: E731
    none = (None, None, None)
    rows = [
        ("BASELINE", "a", "numeric", 1000, 1000, 0.0, 0.0, 0.15, ks(0.5), 0.1, None, 0.1, None, None, None, none),
        ("BASELINE", "b", "numeric", 50, 1000, 0.0, 0.0, 0.15, ks(0.5), 0.1, None, 0.1, None, None, None, none),
        ("BASELINE", "c", "numeric", 5, 1000, 0.0, 0.0, 0.9, ks(0.0), 0.1, None, 0.1, None, None, None, none),
        ("BASELINE", "d", "numeric", 1000, 1000, 0.3, 0.1, 0.01, ks(0.5), 0.1, None, 0.1, None, None, None, none),
        ("CONSECUTIVE", "x", "numeric", 1000, 1000, 0.0, 0.0, 0.9, ks(0.0), 0.1, None, 0.1, None, None, None, none),
        ("BASELINE", "y", "categorical", 1000, 1000, 0.0, 0.0, None, None, 0.4, 0.3, 0.1, 0.3, None, 0.0, none),
        ("BASELINE", "z", "numeric", 1000, 1000, 0.0, 0.0, 0.01, ks(0.5), 0.1, None, 0.1, None, None, None,
         (12.0, 10.0, 1.6)),
    ]
    got = _decided(spark, rows)
    expected = spark.createDataFrame([
        ("a", "BASELINE", "wasserstein_distance", 0.15, 0.1, True),     # a distance above its threshold
        ("b", "BASELINE", "ks_test", 0.5, 0.01, False),                 # small sample: the test's p-value
        ("c", "BASELINE", "ks_test", 0.0, 0.01, None),                  # below min_count: no decision
        ("d", "BASELINE", "null_rate", 0.2, 0.1, True),                 # NULLs rose by 0.2
        ("x", "CONSECUTIVE", None, None, None, None),                   # switched off
        ("y", "BASELINE", "js_distance", 0.4, 0.5, False),              # its own test
        ("z", "BASELINE", "mean_shift", 1.25, 1.0, True),               # the level moved by 1.25 sd
    ], "column_name string, drift_type string, metric string, value double, threshold double, drifted boolean")
    assert_approx_df_equality(got, expected, precision=1e-12, ignore_nullable=True)
