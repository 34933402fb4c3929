"""Model health checks, findings, the retraining trigger and monitor alert rows on tiny frames."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import functions as F

from lakescore.transforms.monitoring import health
from lakescore.transforms.monitoring.alerts import from_monitor_findings

D = [date(2024, 1, d) for d in range(1, 8)]


def test_model_age_per_window(spark):
    preds = spark.createDataFrame([(D[0], "m/1", 2.0), (D[0], "m/1", 2.0), (D[1], "m/1", 3.0)],
                                  "as_of date, model_id string, model_age_days double")
    got = health.model_age(preds, 2.5).select("as_of", "check", "value", "threshold", "passed")
    expected = spark.createDataFrame([(D[0], "model_age", 2.0, 2.5, True), (D[1], "model_age", 3.0, 2.5, False)],
                                     "as_of date, check string, value double, threshold double, passed boolean")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def _metrics(spark, aucs, labelled):
    rows = [(d, "m/1", None, None, n, a) for d, a, n in zip(D, aucs, labelled)]
    rows += [(d, "m/1", "k", "v", n, a) for d, a, n in zip(D, aucs, labelled)]
    return spark.createDataFrame(rows, "as_of date, model_id string, slice_key string, slice_value string, "
                                       "num_labelled long, auc double")


def test_quality_drop_and_slow_degradation(spark):
    # day 3 drops by 0.2; day 5 has too few labels; the model's own evaluation is 0.80 (none for the slice)
    metrics = _metrics(spark, [0.80, 0.82, 0.62, 0.60, 0.10, 0.62, 0.81], [500, 500, 500, 500, 10, 500, 500])
    reference = spark.createDataFrame([("m/1", None, None, 0.80)],
                                      "model_id string, slice_key string, slice_value string, reference double")
    got = health.quality_checks(metrics, reference, "auc", lower_is_better=False, min_labelled=100, max_drop=0.1,
                                windows=2, max_decline=0.05, days=D[1:])
    whole = got.where("slice_key IS NULL").select("as_of", "check", "value", "baseline", "passed")
    expected = spark.createDataFrame([
        (D[1], "quality_drop", 0.82, 0.80, True), (D[2], "quality_drop", 0.62, 0.82, False),
        (D[3], "quality_drop", 0.60, 0.62, True), (D[4], "quality_drop", None, 0.60, None),
        (D[5], "quality_drop", 0.62, None, None), (D[6], "quality_drop", 0.81, 0.62, True),
        (D[1], "slow_degradation", 0.81, 0.80, True), (D[2], "slow_degradation", 0.72, 0.80, False),
        (D[3], "slow_degradation", 0.61, 0.80, False), (D[4], "slow_degradation", 0.60, 0.80, False),
        (D[5], "slow_degradation", 0.62, 0.80, False), (D[6], "slow_degradation", 0.715, 0.80, False),
    ], "as_of date, check string, value double, baseline double, passed boolean")
    assert_approx_df_equality(whole, expected, precision=1e-9, ignore_row_order=True, ignore_nullable=True)
    sliced = {(r.as_of, r.check): r.passed for r in got.where("slice_key = 'k'").collect()}
    assert sliced[(D[2], "quality_drop")] is False and sliced[(D[2], "slow_degradation")] is None  # no reference


def test_lower_is_better_metrics_lose_when_they_rise(spark):
    rows = [(D[0], "m/1", None, None, 500, 0.50), (D[1], "m/1", None, None, 500, 0.70)]
    metrics = spark.createDataFrame(rows, "as_of date, model_id string, slice_key string, slice_value string, "
                                          "num_labelled long, log_loss double")
    reference = spark.createDataFrame([("m/1", None, None, 0.5)],
                                      "model_id string, slice_key string, slice_value string, reference double")
    got = {r.check: r.passed for r in health.quality_checks(
        metrics, reference, "log_loss", lower_is_better=True, min_labelled=100, max_drop=0.1, windows=1,
        max_decline=0.1, days=[D[1]]).collect()}
    assert got == {"quality_drop": False, "slow_degradation": False}


def test_findings_from_drift_rows_and_failed_checks(spark):
    drift = spark.createDataFrame([
        (D[0], "m/1", "BASELINE", "x", None, None, "wasserstein_distance", 0.5, 0.2, True, 1.0, 0.0, "training"),
        (D[0], "m/1", "CONSECUTIVE", "x", None, None, "wasserstein_distance", 0.1, 0.2, False, 1.0, 0.9, "window"),
        (D[0], "m/1", "CONSECUTIVE", "c", "s", "a", "l_infinity_distance", 0.3, 0.1, True, None, None, "window"),
        (D[0], "m/1", "BASELINE", "score", None, None, "ks_test", 0.001, 0.01, True, 0.3, 0.2, "training"),
        (D[0], "m/1", "CONSECUTIVE", "score", None, None, "mean_shift", 3.0, 2.0, True, 0.3, 0.1, "window"),
        (D[0], "m/1", "EXAMPLE", "x", None, None, "rows_different_share", 0.5, 0.01, True, None, None, "served"),
        (D[0], "m/1", "BASELINE", "y", None, None, None, None, None, None, 1.0, 0.0, "training"),
    ], "as_of date, model_id string, drift_type string, column_name string, slice_key string, slice_value string, "
       "metric string, value double, threshold double, drifted boolean, mean double, baseline_mean double, "
       "baseline string")
    got = {(r.kind, r.subject) for r in health.drift_findings(drift).collect()}
    assert got == {("training_serving_skew", "x"), ("feature_drift", "c [s=a]"), ("prediction_drift", "score (BASELINE)"),
                   ("prediction_drift", "score (CONSECUTIVE)"), ("example_skew", "x")}
    detail = health.drift_findings(drift).where("subject = 'score (BASELINE)'").first().detail
    assert "ks_test 0.0010 p-value < 0.01 vs training; mean 0.300 vs 0.200" in detail
    checks = spark.createDataFrame([
        (D[0], "m/1", None, None, "model_age", "model_age_days", 40.0, None, 30.0, None, False, "old"),
        (D[0], "m/1", "s", "a", "quality_drop", "auc", 0.5, 0.8, 0.1, 300, False, "dropped"),
        (D[0], "m/1", None, None, "slow_degradation", "auc", 0.8, 0.8, 0.05, 300, True, "fine"),
        (D[1], "m/1", None, None, "quality_drop", "auc", None, None, 0.1, 3, None, "few labels"),
    ], "as_of date, model_id string, slice_key string, slice_value string, check string, metric string, "
       "value double, baseline double, threshold double, num_labelled long, passed boolean, detail string")
    assert {(r.kind, r.subject) for r in health.health_findings(checks).collect()} == {
        ("model_stale", "m/1"), ("quality_drop", "auc [s=a]")}


def test_retrain_trigger_needs_k_of_the_last_n_windows(spark):
    findings = spark.createDataFrame([(D[1], "quality_drop"), (D[1], "slow_degradation"), (D[3], "slow_degradation"),
                                      (D[5], "feature_drift"), (D[0], "quality_drop")], "as_of date, kind string")
    kinds = ["quality_drop", "slow_degradation"]
    fired = health.retrain_trigger(findings, D[4], "m/1", windows=4, violations=2, kinds=kinds).collect()
    assert [(r.as_of, r.kind, r.value, r.threshold) for r in fired] == [(D[4], "retrain_triggered", 2.0, 2.0)]
    assert "2 of the last 4 windows raised quality_drop, slow_degradation" in fired[0].detail
    assert health.retrain_trigger(findings, D[6], "m/1", windows=4, violations=2, kinds=kinds).count() == 0
    assert health.retrain_trigger(findings, D[4], "m/1", windows=4, violations=3, kinds=kinds).count() == 0


def test_monitor_alert_rows_have_stable_ids_and_the_failing_kinds_are_critical(spark):
    findings = spark.createDataFrame([(D[0], "quality_drop", "auc", 0.5, 0.1, "dropped"),
                                      (D[0], "feature_drift", "x", 0.3, 0.2, "moved")],
                                     "as_of date, kind string, subject string, value double, threshold double, "
                                     "detail string")
    one = from_monitor_findings(findings, stage="monitor", created_at=datetime(2024, 1, 2), critical_kinds=["quality_drop"])
    two = from_monitor_findings(findings, stage="monitor", created_at=datetime(2024, 1, 3), critical_kinds=[])
    assert_df_equality(one.select("alert_id"), two.select("alert_id"), ignore_row_order=True)
    rows = {r.kind: r for r in one.collect()}
    assert rows["quality_drop"].severity == "critical" and rows["feature_drift"].severity == "warning"
    assert rows["feature_drift"].source is None and rows["feature_drift"].stage == "monitor"
    assert one.select(F.countDistinct("alert_id")).first()[0] == 2


def test_checks_without_enough_labels_decide_nothing(spark):
    metrics = _metrics(spark, [0.8] * 7, [5] * 7)
    reference = spark.createDataFrame([("m/1", None, None, 0.9)],
                                      "model_id string, slice_key string, slice_value string, reference double")
    got = health.quality_checks(metrics, reference, "auc", lower_is_better=False, min_labelled=100, max_drop=0.1,
                                windows=3, max_decline=0.05, days=D)
    assert got.where(F.col("passed").isNotNull()).count() == 0
    assert got.where("check = 'slow_degradation'").first().detail.startswith("no window of the last 3")


@pytest.mark.parametrize("windows, expected", [(1, 0.81), (3, (0.80 + 0.82 + 0.81) / 3)])
def test_slow_degradation_averages_the_last_windows(spark, windows, expected):
    metrics = _metrics(spark, [0.80, 0.82, 0.81, 0.5, 0.5, 0.5, 0.5], [500] * 7)
    reference = spark.createDataFrame([("m/1", None, None, 0.9)],
                                      "model_id string, slice_key string, slice_value string, reference double")
    got = health.quality_checks(metrics, reference, "auc", lower_is_better=False, min_labelled=100, max_drop=0.1,
                                windows=windows, max_decline=0.05, days=[D[2]])
    row = got.where("check = 'slow_degradation' AND slice_key IS NULL").first()
    assert row.value == pytest.approx(expected)


def _counted(spark, rows):
    """(as_of, num_labelled, label_rate, auc) -> slice_metrics rows of the whole table."""
    return spark.createDataFrame([(d, "m/1", None, None, n, rate, auc) for d, n, rate, auc in rows],
                                 "as_of date, model_id string, slice_key string, slice_value string, "
                                 "num_labelled long, label_rate double, auc double")


def test_the_auc_standard_error_matches_the_spread_of_simulated_aucs(spark):
    """Hanley and McNeil's error, from a window's labelled rows and label rate, against the
    standard deviation of scikit-learn's AUC over 400 simulated windows of the same size."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    for n1, n0, shift in ((60, 240, 1.0), (400, 1600, 0.6)):
        aucs = []
        for _ in range(400):
            scores = np.concatenate([rng.normal(shift, 1, n1), rng.normal(0, 1, n0)])
            aucs.append(roc_auc_score(np.r_[np.ones(n1), np.zeros(n0)], scores))
        n, mean_auc = n1 + n0, float(np.mean(aucs))
        row = _counted(spark, [(D[0], n, n1 / n, mean_auc)]).select(
            health.standard_error("auc", ["label_rate"]).alias("se")).first()
        assert row.se == pytest.approx(float(np.std(aucs)), rel=0.15), (n1, n0)


def test_a_loss_the_sample_explains_is_no_finding_and_a_real_one_still_is(spark):
    reference = spark.createDataFrame([("m/1", None, None, 0.76)],
                                      "model_id string, slice_key string, slice_value string, reference double")
    kw = dict(lower_is_better=False, min_labelled=100, max_drop=0.05, windows=3, max_decline=0.05,
              min_windows=3, confidence=0.95)
    # a slice of 300 flights (20% late): AUC 0.76 then 0.69 is within its noise (error about 0.037 a window)
    windows = [(D[0], 0.76), (D[1], 0.69), (D[2], 0.70), (D[3], 0.69)]
    small = _counted(spark, [(d, 300, 0.2, auc) for d, auc in windows])
    got = {(r.as_of, r.check): r for r in health.quality_checks(small, reference, "auc", days=D[1:4], **kw).collect()}
    drop = got[(D[1], "quality_drop")]
    assert drop.passed is True and "which explains the loss: no finding" in drop.detail, drop.detail
    assert got[(D[1], "slow_degradation")].passed is None                       # 2 windows: no trend yet
    assert "a slow degradation needs 3" in got[(D[1], "slow_degradation")].detail
    assert got[(D[2], "slow_degradation")].passed is True                       # mean 0.7167: within max_decline
    # three windows in a row at 0.69: the mean's error is a third of a window's variance, a finding
    assert got[(D[3], "slow_degradation")].passed is False
    # the same AUCs on 20,000 rows a window: the same losses are findings
    big = _counted(spark, [(d, 20000, 0.2, auc) for d, auc in windows])
    got = {(r.as_of, r.check): r for r in health.quality_checks(big, reference, "auc", days=D[1:4], **kw).collect()}
    assert got[(D[1], "quality_drop")].passed is False and got[(D[3], "slow_degradation")].passed is False
    assert "sampling error of those windows' labelled rows at 0.95" in got[(D[3], "slow_degradation")].detail
    # a collapse on the small slice is caught too
    collapse = _counted(spark, [(D[0], 300, 0.2, 0.76), (D[1], 300, 0.2, 0.52), (D[2], 300, 0.2, 0.50),
                                (D[3], 300, 0.2, 0.51)])
    got = {(r.as_of, r.check): r.passed for r in health.quality_checks(collapse, reference, "auc", days=D[1:4], **kw)
           .collect()}
    assert got[(D[1], "quality_drop")] is False and got[(D[3], "slow_degradation")] is False
    # without label_rate (or for a metric whose error is unknown) the thresholds alone decide
    bare = small.drop("label_rate")
    assert {r.passed for r in health.quality_checks(bare, reference, "auc", days=[D[1]], **kw)
            .where("check = 'quality_drop'").collect()} == {False}


def test_estimated_degradation_decides_only_before_the_labels(spark):
    # window 1: labelled (the realized checks decide); 2: a small loss; 3: a large loss; 4: too few rows;
    # 5: below the gate's floor though within max_decline of a low evaluation
    rows = [(D[0], "m/1", None, None, "auc", 0.60, 1000, 900), (D[1], "m/1", None, None, "auc", 0.78, 1000, 0),
            (D[2], "m/1", None, None, "auc", 0.70, 1000, 0), (D[3], "m/1", None, None, "auc", 0.50, 50, 0),
            (D[4], "m/2", None, None, "auc", 0.64, 1000, 0), (D[2], "m/1", None, None, "accuracy", 0.1, 1000, 0)]
    estimates = spark.createDataFrame(rows, "as_of date, model_id string, slice_key string, slice_value string, "
                                            "metric string, estimated double, count long, num_labelled long")
    reference = spark.createDataFrame([("m/1", None, None, 0.80), ("m/2", None, None, 0.66)],
                                      "model_id string, slice_key string, slice_value string, reference double")
    got = {r.as_of: r for r in health.estimated_checks(
        estimates, reference, "auc", lower_is_better=False, min_count=200, min_labelled=100, max_decline=0.05,
        floor=0.65).collect()}
    assert {d: r.passed for d, r in got.items()} == {D[0]: None, D[1]: True, D[2]: False, D[3]: None, D[4]: False}
    assert got[D[2]].check == "estimated_degradation" and got[D[2]].baseline == 0.80
    assert "estimated auc 0.7000 from 1000 served rows (no labels yet) vs 0.8000 at training: loss 0.1000" \
        in got[D[2]].detail
    assert "below the gate's floor 0.65" in got[D[4]].detail and "realized checks decide" in got[D[0]].detail
    findings = health.health_findings(health.estimated_checks(
        estimates, reference, "auc", lower_is_better=False, min_count=200, min_labelled=100, max_decline=0.05,
        floor=None).withColumn("model_age_days", F.lit(None)))
    assert [(r.as_of, r.kind) for r in findings.collect()] == [(D[2], "estimated_degradation")]
