"""Per-example skew, feedback correlation, out-of-sample quality and the drift_metrics rows of a
tiny two-window case."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakescore.transforms.monitoring import comparisons, skew
from lakescore.transforms.monitoring.decisions import DriftTest
from lakescore.transforms.monitoring.quality import out_of_sample, window_quality

D1, D2 = date(2024, 1, 1), date(2024, 1, 2)


def test_example_skew_counts_rows_that_differ_now(spark):
    served = spark.createDataFrame([("a", D1, 1.0, "x"), ("b", D1, 2.0, "y"), ("c", D1, None, "z"), ("d", D1, 4.0, "w")],
                                   "id string, as_of date, n double, c string")
    now = spark.createDataFrame([("a", D1, 1.0 + 1e-12, "x"), ("b", D1, 2.5, "y"), ("c", D1, 3.0, None),
                                 ("e", D1, 5.0, "v")], "id string, as_of date, n double, c string")
    got = skew.example_skew(served, now, ["id"], {"n": "numeric", "c": "categorical"})
    expected = spark.createDataFrame([(D1, 4, 4, 3, "n", "numeric", 2), (D1, 4, 4, 3, "c", "categorical", 1)],
                                     "as_of date, baseline_count long, count long, rows_compared long, "
                                     "column_name string, column_kind string, rows_different long")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True, ignore_column_order=True)


def test_feedback_correlation_pairs_a_score_with_the_later_value(spark):
    scored = spark.createDataFrame([(k, D1, s) for k, s in (("a", 0.1), ("b", 0.5), ("c", 0.9))] + [("a", D2, 0.3)],
                                   "id string, as_of date, score double")
    later = spark.createDataFrame([(k, D2, v) for k, v in (("a", 1.0), ("b", 5.0), ("c", 9.0))] + [("a", D1, 7.0)],
                                  "id string, as_of date, f double")
    got = skew.feedback_correlation(scored, later, ["id"], ["f"], 1).collect()
    assert [(r.as_of, r.column_name, r.rows_compared) for r in got] == [(D1, "f", 3)]
    assert got[0].correlation == pytest.approx(1.0)


def test_quality_counts_in_sample_labels_apart(spark):
    trained = datetime(2024, 1, 1, 12)
    rows = [("a", 1.0, 0.9, 1.0, datetime(2024, 1, 1, 6)),     # label known before the cutoff: in-sample
            ("b", 1.0, 0.8, 1.0, datetime(2024, 1, 2, 6)),
            ("c", 0.0, 0.3, 0.0, datetime(2024, 1, 2, 6)),
            ("d", None, 0.6, 1.0, None)]                         # no label yet
    df = spark.createDataFrame([(*r, trained, "g") for r in rows], "id string, label double, score double, "
                               "prediction double, label_known_at timestamp, model_trained_at timestamp, g string")
    got = window_quality(df.transform(out_of_sample("label")), ["g"], "binary", "label", "score", "prediction").first()
    assert (got["count"], got["num_labelled"], got["num_in_sample"]) == (4, 2, 1)
    assert got["auc"] == 1.0 and got["label_rate"] == 0.5
    assert window_quality(df.transform(out_of_sample("label")), ["g"], "binary", "label", "score", "prediction") \
        .columns[:4] == ["g", "count", "num_labelled", "num_in_sample"]


def test_drift_rows_compare_each_window_with_the_baseline_and_the_day_before(spark):
    def wide(day, model, xs, cs, scored=True):
        return [(day, model, x, c, float(x > 1), 0.5, scored) for x, c in zip(xs, cs)]

    columns = {"x": "numeric", "c": "categorical", "score": "numeric", "prediction": "categorical"}
    schema = "as_of date, model_id string, x double, c string, score double, prediction double, _scored boolean"
    base = [0.0, 1.0, 2.0, 3.0] * 50
    serving = spark.createDataFrame(wide(D1, "m/1", base, ["a", "b"] * 100) + wide(D2, "m/1", [v + 5 for v in base],
                                                                                   ["a", "b"] * 100), schema)
    previous = spark.createDataFrame(wide(D1, "m/1", base, ["a", "b"] * 100, scored=False)
                                     + wide(D2, "m/1", base, ["a", "b"] * 100), schema)
    baseline = spark.createDataFrame(wide(None, "m/1", base * 2, ["a", "b"] * 200), schema).drop("as_of", "_scored")
    rows = comparisons.drift_rows(
        serving.drop("_scored"), previous, baseline, columns, [], bins=10, coarse_bins=2, baselines={"m/1": "train"},
        defaults={"numeric": DriftTest("wasserstein_distance", 0.2), "categorical": DriftTest("l_infinity_distance", 0.1)},
        overrides={}, min_count=10, small_sample=5, max_null_rate_increase=0.1)
    assert rows.columns == comparisons.ROW_COLUMNS
    got = {(r.as_of, r.drift_type, r.column_name): r for r in rows.collect()}
    # 1 January: the day before was not scored, so no CONSECUTIVE score or prediction
    assert (D1, "CONSECUTIVE", "score") not in got and (D1, "CONSECUTIVE", "x") in got
    assert len(got) == 2 * 4 + 4 + 2
    assert got[(D1, "BASELINE", "x")].drifted is False and got[(D2, "BASELINE", "x")].drifted is True
    assert got[(D2, "CONSECUTIVE", "x")].drifted is True and got[(D2, "CONSECUTIVE", "c")].drifted is False
    assert got[(D2, "BASELINE", "x")].baseline == "train" and got[(D2, "CONSECUTIVE", "x")].baseline == "window 2024-01-01"
    assert got[(D2, "BASELINE", "x")].mean == pytest.approx(6.5) and got[(D2, "BASELINE", "c")].mean is None
    assert got[(D1, "BASELINE", "c")].l_infinity_distance == 0.0
    assert rows.where(F.col("correlation").isNotNull()).count() == 0


def test_drift_rows_per_slice_compare_each_slice_with_the_same_slice_of_the_baseline(spark):
    schema = "as_of date, model_id string, x double, g string, score double, prediction double"
    # slice a moves, slice b does not; the whole table moves by half as much
    serving = spark.createDataFrame([(D1, "m/1", float(i % 10) + (5.0 if g == "a" else 0.0), g, 0.5, 0.0)
                                     for i in range(200) for g in ("a", "b")], schema)
    baseline = spark.createDataFrame([(None, "m/1", float(i % 10), g, 0.5, 0.0) for i in range(200) for g in ("a", "b")],
                                     schema).drop("as_of")
    previous = serving.withColumn(comparisons.SCORED, F.lit(False)).where("FALSE")
    rows = comparisons.drift_rows(
        serving, previous, baseline, {"x": "numeric", "g": "categorical"}, ["g"], bins=10, coarse_bins=2,
        baselines={"m/1": "train"}, defaults={"numeric": DriftTest("wasserstein_distance", 0.2),
                                              "categorical": DriftTest("l_infinity_distance", 0.1)},
        overrides={}, min_count=10, small_sample=5, max_null_rate_increase=0.1)
    got = {(r.slice_key, r.slice_value, r.column_name): r for r in rows.where("drift_type = 'BASELINE'").collect()}
    assert got[("g", "a", "x")].drifted is True and got[("g", "b", "x")].drifted is False
    assert got[(None, None, "x")].drifted is True and got[("g", "a", "x")].baseline_count == 200
    assert got[(None, None, "g")].l_infinity_distance == 0.0 and got[("g", "a", "g")].drifted is False
