"""The monitor stage on tiny synthetic data, every other stage real (ingest, features, train,
promote, score): a drift injected in one numeric feature and an unseen-category burst in one
categorical are found on those features only, their unshifted twins raise nothing; labels
shuffled in a stretch of windows raise quality_drop and slow_degradation and open the
retraining trigger; an old champion is stale; features recomputed after scoring show example
skew; the stage is idempotent and fails on the kinds it is told to.

Events of 1 to 16 January 2024, 1,000 a day (UTC days): `x_shift`, `x_twin` numeric,
`c_burst`, `c_twin` categorical, `device` (a dimension lookup gives `x_dev`). From 13 January
`x_shift` moves by two standard deviations and 40% of `c_burst` is a value never seen in
training; the labels of 13-15 January are shuffled within each day. The model is trained for
11 January (on 1-10 January) and scores 11 to 16 January; monitor runs for 17 January.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from functools import reduce

import pytest
from pyspark.sql import functions as F

from lakescore.config import deep_merge, parse_config
from lakescore.core.runtime import Context
from lakescore.jobs import features, ingest, monitor, promote, score, train
from lakescore.models import reference_profiles, registry
from lakescore.monitoring import window_inputs
from lakescore.transforms.modeling.metrics import explode_slices, quality_metrics
from lakescore.transforms.monitoring.estimated import ESTIMATED_METRICS
from tests.support import assert_frames_close

SCHEMA = "test_monitor"
TRAINED_FOR, FIRST_SCORED, LAST_SCORED, RUN = date(2024, 1, 11), date(2024, 1, 11), date(2024, 1, 16), date(2024, 1, 17)
CHANGED = date(2024, 1, 13)                      # shift and burst from this day on
SHUFFLED = [date(2024, 1, 13), date(2024, 1, 14), date(2024, 1, 15)]
WINDOWS = [FIRST_SCORED + timedelta(days=i) for i in range((LAST_SCORED - FIRST_SCORED).days + 1)]
PER_DAY = 1000


def _config(overrides=None):
    data = {
        "name": "monitored", "storage": {"schema": SCHEMA},
        "sources": {
            "events": {"key": ["id"], "columns": {
                "id": {"type": "string", "nullable": False}, "at": {"type": "timestamp", "nullable": False},
                "device": {"type": "string"}, "x_shift": {"type": "double"}, "x_twin": {"type": "double"},
                "c_burst": {"type": "string"}, "c_twin": {"type": "string"}, "y": {"type": "int"}},
                "volume": None},
            "devices": {"key": ["device"], "key_scope": "batch", "volume": None,
                        "columns": {"device": {"type": "string", "nullable": False}, "weight": {"type": "double"}}},
        },
        "entity": {"source": "events", "key": ["id"], "event_time": "at", "timezone": "UTC", "horizon_days": 1},
        "label": {"name": "label", "kind": "binary", "expr": "y", "known_at": "timestampadd(HOUR, 1, at)"},
        "features": {
            "lookups": {"dev": {"source": "devices", "keys": {"device": "device"}}},
            "columns": [
                {"name": "x_shift", "kind": "numeric"}, {"name": "x_twin", "kind": "numeric"},
                {"name": "c_burst", "kind": "categorical"}, {"name": "c_twin", "kind": "categorical"},
                {"name": "x_dev", "kind": "numeric", "expr": "dev.weight"}]},
        "slices": ["c_twin"],
        "split": {"test_fraction": 0.2, "salt": "monitor-test", "out_of_time_days": 2},
        "train": {"window_days": 10, "seed": 3, "min_rows": 500, "leakage": {"allow": ["x_twin"]}},  # strong by design
        "model": {"name": "test_monitor_model", "algorithm": "logistic_regression", "params": {"maxIter": 30},
                  "primary_metric": "auc"},
        "gate": {"floors": {"auc": 0.7}},
        "monitor": {"lookback_days": 7, "max_model_age_days": 3.5,
                    "quality": {"windows": 3, "max_drop": 0.1, "max_decline": 0.05},
                    "retrain_when": {"windows": 6, "violations": 3, "kinds": ["quality_drop", "slow_degradation"]}},
        "mlflow": {"experiment": "test-monitor"},
    }
    return parse_config(deep_merge(data, overrides or {}), source="test")


def _ctx(home, as_of, overrides=None):
    return Context(cfg=_config(overrides), as_of=as_of, home=home)


def _events(spark):
    rng = random.Random(12)
    rows = []
    for d in range(16):
        day = date(2024, 1, 1) + timedelta(days=d)
        changed = day >= CHANGED
        labels = []
        for i in range(PER_DAY):
            at = datetime.combine(day, datetime.min.time()) + timedelta(seconds=rng.randrange(0, 86_000))
            x_twin, c_twin = rng.gauss(0, 1), rng.choice("aabc")
            x_shift = rng.gauss(2.0 if changed else 0.0, 1)
            c_burst = "zz" if changed and rng.random() < 0.4 else rng.choice("pqr")
            y = int(x_twin + (1.0 if c_twin == "a" else 0.0) + rng.gauss(0, 0.5) > 0.5)
            labels.append(y)
            rows.append([f"e{d:02d}{i:04d}", at.isoformat(sep=" "), f"d{rng.randrange(20)}", str(x_shift), str(x_twin),
                         c_burst, c_twin, y])
        if day in SHUFFLED:
            rng.shuffle(labels)
            for row, y in zip(rows[-PER_DAY:], labels):
                row[-1] = y
    return spark.createDataFrame(
        [(*r[:-1], str(r[-1]), "events-1") for r in rows],
        "id string, at string, device string, x_shift string, x_twin string, c_burst string, c_twin string, "
        "y string, _batch_id string")


def _devices(spark, batch, landed, weight):
    rows = [(f"d{i}", str(weight(i)), batch, landed) for i in range(20)]
    return spark.createDataFrame(rows, "device string, weight string, _batch_id string, _landed_at timestamp")


@pytest.fixture(scope="module")
def monitored(spark, lakescore_home):
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    _events(spark).write.format("delta").mode("overwrite").saveAsTable(f"{SCHEMA}.raw_events")
    _devices(spark, "devices-1", datetime(2023, 12, 31), lambda i: float(i)).write.format("delta") \
        .mode("overwrite").saveAsTable(f"{SCHEMA}.raw_devices")
    home = lakescore_home
    ingest.run(_ctx(home, TRAINED_FOR))
    # every day's features in one pass (a window wide enough to cover 1-16 January)
    features.run(_ctx(home, LAST_SCORED, {"train": {"window_days": 15}}))
    train.run(_ctx(home, TRAINED_FOR))
    assert promote.run(_ctx(home, TRAINED_FOR))["decision"] == "promoted"
    for day in WINDOWS:
        score.run(_ctx(home, day))
    result = monitor.run(_ctx(home, RUN))
    return home, result


def _alerts(spark, kind=None):
    df = spark.table(f"{SCHEMA}.alerts").where("stage = 'monitor'")
    return df.where(F.col("kind") == kind) if kind else df


def test_drift_metrics_rows_for_every_window_column_and_comparison(monitored, spark):
    drift = spark.table(f"{SCHEMA}.drift_metrics")
    columns = {"x_shift", "x_twin", "c_burst", "c_twin", "x_dev", "score", "prediction"}
    base = drift.where("drift_type = 'BASELINE'")
    assert {(r.as_of, r.column_name) for r in base.collect()} == {(d, c) for d in WINDOWS for c in columns}
    # the day before the first window was not scored: its CONSECUTIVE rows hold the features only
    first = {r.column_name for r in drift.where(F.col("as_of") == FIRST_SCORED).where("drift_type = 'CONSECUTIVE'")
             .collect()}
    assert first == columns - {"score", "prediction"}
    row = base.where((F.col("as_of") == CHANGED) & (F.col("column_name") == "x_shift")).first()
    assert row["count"] == PER_DAY and row.baseline_count > 5000 and row.mean == pytest.approx(2.0, abs=0.15)
    assert row.baseline_mean == pytest.approx(0.0, abs=0.1) and row.ks_test.pvalue < 1e-6
    assert row.window.start == datetime(2024, 1, 13) and row.granularity == "1 day"
    assert row.model_id.startswith("test_monitor_model/") and "training rows of" in row.baseline


def test_the_shifted_features_are_flagged_and_their_twins_are_not(monitored, spark):
    skew = {(r.as_of, r.subject) for r in _alerts(spark, "training_serving_skew").collect()}
    changed = [d for d in WINDOWS if d >= CHANGED]
    assert skew == {(d, c) for d in changed for c in ("x_shift", "c_burst")}
    drift = {(r.as_of, r.subject) for r in _alerts(spark, "feature_drift").collect()}
    assert drift == {(CHANGED, "x_shift"), (CHANGED, "c_burst")}            # the day it changed, against the day before
    burst = spark.table(f"{SCHEMA}.drift_metrics").where(
        (F.col("as_of") == CHANGED) & (F.col("column_name") == "c_burst") & (F.col("drift_type") == "BASELINE")).first()
    assert burst.unseen_share == pytest.approx(0.4, abs=0.05) and burst.metric == "l_infinity_distance"
    subjects = {r.subject for r in _alerts(spark).collect()}
    assert not {s for s in subjects if s.startswith(("x_twin", "c_twin", "x_dev"))}


def test_shuffled_labels_raise_quality_drop_and_open_the_trigger(monitored, spark):
    home, result = monitored
    drops = {(r.as_of, r.subject) for r in _alerts(spark, "quality_drop").collect() if "[" not in r.subject}
    assert drops == {(CHANGED, "auc")}
    slow = {r.as_of for r in _alerts(spark, "slow_degradation").collect() if r.subject == "auc"}
    assert slow == {d for d in WINDOWS if d >= CHANGED}
    trigger = _alerts(spark, "retrain_triggered").collect()
    assert [(r.as_of, r.value, r.threshold) for r in trigger] == [(RUN, 4.0, 3.0)]
    assert "quality_drop, slow_degradation" in trigger[0].detail
    health = spark.table(f"{SCHEMA}.model_health").where("check = 'quality_drop' AND slice_key IS NULL")
    before = health.where(F.col("as_of") == CHANGED).first()
    assert before.baseline > 0.85 and before.value < 0.6 and before.passed is False
    # labels of the as-of's own window are not known yet at the run; the day before's mostly are
    metrics = {r.as_of: r for r in spark.table(f"{SCHEMA}.slice_metrics").where("slice_key IS NULL").collect()}
    assert metrics[LAST_SCORED].num_labelled > 900 and metrics[LAST_SCORED].num_in_sample == 0
    assert set(result["findings"]) >= {"quality_drop", "slow_degradation", "retrain_triggered", "model_stale"}


def test_estimated_performance_beside_the_realized_and_what_it_cannot_see(monitored, spark):
    est = spark.table(f"{SCHEMA}.estimated_performance")
    whole = {(r.as_of, r.metric): r for r in est.where("slice_key IS NULL").collect()}
    assert set(whole) == {(d, m) for d in WINDOWS for m in ESTIMATED_METRICS}
    for d in WINDOWS:
        auc = whole[(d, "auc")]
        assert auc["count"] == PER_DAY and auc.num_labelled > 900
        assert auc.error == pytest.approx(auc.estimated - auc.realized)
        # shuffled labels change P(label | score): no estimate from the scores can see it (the realized does)
        assert (auc.error > 0.3) if d in SHUFFLED else (abs(auc.error) < 0.05), (d, auc)
        assert abs(whole[(d, "label_rate")].error) < (0.06 if d not in SHUFFLED else 1)
    assert {(r.as_of, r.slice_value) for r in est.where("slice_key = 'c_twin' AND metric = 'auc'").collect()} == {
        (d, v) for d in WINDOWS for v in "abc"}
    # every window's labels are known by the run: the realized checks decide, not the estimate
    checks = spark.table(f"{SCHEMA}.model_health").where("check = 'estimated_degradation' AND slice_key IS NULL")
    assert {(r.as_of, r.passed) for r in checks.collect()} == {(d, None) for d in WINDOWS}
    assert "the realized checks decide" in checks.first().detail


def test_an_old_champion_is_stale(monitored, spark):
    stale = {r.as_of for r in _alerts(spark, "model_stale").collect()}
    assert stale == {date(2024, 1, 15), date(2024, 1, 16)}                 # 4 and 5 days after its cutoff
    age = spark.table(f"{SCHEMA}.model_health").where("check = 'model_age'")
    assert {(r.as_of, r.value) for r in age.collect()} == {(d, float((d - TRAINED_FOR).days)) for d in WINDOWS}


def _assert_score_drift_explained(spark, days):
    rows = spark.table(f"{SCHEMA}.drift_metrics").where(
        "drift_type = 'BASELINE' AND column_name = 'score' AND slice_key IS NULL").where(F.col("as_of").isin(days))
    rows = rows.collect()
    print({r.as_of: (r.value, [(e.column_name, round(e.share, 3)) for e in r.attribution or []]) for r in rows})
    assert {r.as_of for r in rows if r.drifted} == set(days)
    for r in rows:
        assert {e.column_name for e in r.attribution} == {"x_shift", "x_twin", "c_burst", "c_twin", "x_dev"}
        top = r.attribution[0]
        assert top.share == max(e.share for e in r.attribution)
        alert = _alerts(spark, "prediction_drift").where(
            (F.col("as_of") == r.as_of) & (F.col("subject") == "score (BASELINE)")).first()
        assert (f"explained by {round(top.share * 100)}% from {top.column_name}" in alert.detail) == (top.share >= 0.05)
    # against the day before too: each window whose day before was served (the day before's served
    # rows are the reference)
    consecutive = spark.table(f"{SCHEMA}.drift_metrics").where(
        "drift_type = 'CONSECUTIVE' AND column_name = 'score' AND slice_key IS NULL AND drifted").where(
        F.col("as_of").isin([d for d in days if d > FIRST_SCORED])).collect()
    assert {r.as_of for r in consecutive} == {d for d in days if d > FIRST_SCORED}
    for r in consecutive:
        assert {e.column_name for e in r.attribution} == {"x_shift", "x_twin", "c_burst", "c_twin", "x_dev"}
        assert [e.share for e in r.attribution] == sorted((e.share for e in r.attribution), reverse=True)
    # no attribution where the score did not drift (the default test, the daily run's tables)
    assert spark.table(f"{SCHEMA}.drift_metrics").where("attribution IS NOT NULL AND NOT drifted").count() == 0


def test_a_backfill_counts_only_the_labels_known_by_its_as_of(monitored, spark):
    home, _ = monitored
    # a run for 14 January sees the labels of 13 January (window 13) but not those of 14 January; it
    # also judges the score by a hair-trigger test, so that every window's score drift is explained
    hair = {"columns": {"score": {"test": {"metric": "js_distance", "threshold": 0.001}}}}
    monitor.run(_ctx(home, date(2024, 1, 14), {"monitor": {"retrain_when": None, "drift": hair}}))
    _assert_score_drift_explained(spark, [d for d in WINDOWS if d <= date(2024, 1, 14)])
    metrics = {r.as_of: r for r in spark.table(f"{SCHEMA}.slice_metrics").where("slice_key IS NULL").collect()}
    assert metrics[date(2024, 1, 14)].num_labelled == 0 and metrics[date(2024, 1, 13)].num_labelled > 900
    # window 14 has no label yet: its estimate decides, and holds the model's level (x_shift does not matter)
    check = spark.table(f"{SCHEMA}.model_health").where(
        "check = 'estimated_degradation' AND slice_key IS NULL AND as_of = DATE'2024-01-14'").first()
    assert check.passed is True and check.num_labelled == 0 and "no labels yet" in check.detail
    assert check.value == pytest.approx(check.baseline, abs=0.05)
    monitor.run(_ctx(home, RUN))   # back to the daily run's view


def test_a_rerun_is_idempotent_and_fail_on_stops_the_stage_after_writing(monitored, spark):
    home, _ = monitored
    before = sorted((r.alert_id, r.kind, r.value) for r in _alerts(spark).collect())
    with pytest.raises(monitor.MonitorFindings, match=r"quality_drop.*monitor.fail_on"):
        monitor.run(_ctx(home, RUN, {"monitor": {"fail_on": ["quality_drop"]}}))
    after = sorted((r.alert_id, r.kind, r.value) for r in _alerts(spark).collect())
    assert after == before
    critical = {r.kind for r in _alerts(spark).where("severity = 'critical'").collect()}
    assert critical == {"quality_drop"}
    monitor.run(_ctx(home, RUN))
    assert sorted((r.alert_id, r.kind, r.value) for r in _alerts(spark).collect()) == before


def test_features_recomputed_after_scoring_show_example_skew(monitored, spark):
    home, _ = monitored
    # a new snapshot of the devices changes the weight of half of them; 15 January is recomputed
    _devices(spark, "devices-2", datetime(2024, 1, 16), lambda i: float(i) + (10.0 if i % 2 else 0.0)) \
        .write.format("delta").mode("append").saveAsTable(f"{SCHEMA}.raw_devices")
    ingest.run(_ctx(home, RUN))
    features.run(_ctx(home, date(2024, 1, 15)))
    monitor.run(_ctx(home, RUN))
    example = spark.table(f"{SCHEMA}.drift_metrics").where("drift_type = 'EXAMPLE'")
    changed = example.where("drifted").collect()
    assert [(r.as_of, r.column_name) for r in changed] == [(date(2024, 1, 15), "x_dev")]
    assert 0.4 < changed[0].value < 0.6 and changed[0].rows_compared == PER_DAY
    assert example.where("NOT drifted").count() == len(WINDOWS) * 5 - 1
    assert {(r.as_of, r.subject) for r in _alerts(spark, "example_skew").collect()} == {(date(2024, 1, 15), "x_dev")}


def _old_health_reference(ctx, models, trained):
    """The code monitor ran before reference profiles: each model's test rows re-scored, their
    metric per slice, its run's evaluation overall."""
    cfg, q = ctx.cfg, ctx.cfg.monitor.quality
    metric = q.metric or cfg.model.primary_metric
    parts = []
    for model in models.values():
        test = trained[model.model_id].where(F.col("split") == "test").transform(explode_slices(cfg.slices))
        per_slice = quality_metrics(test, ["slice_key", "slice_value"], cfg.label.kind, cfg.label.name, "score",
                                    "prediction")
        parts.append(per_slice.select(F.lit(model.model_id).alias("model_id"), "slice_key", "slice_value", F.when(
            F.col("slice_key").isNull(), F.lit(model.evaluation).cast("double")).when(
            F.col("num_labelled") >= q.min_labelled, F.col(metric)).alias("reference")))
    return reduce(lambda a, b: a.unionByName(b), parts)


def _windows_of(ctx):
    """What monitor.run reads for its windows: the predictions, the served windows, their models."""
    days = [ctx.as_of - timedelta(days=i) for i in reversed(range(ctx.cfg.monitor.lookback_days))]
    preds = ctx.tables.read("predictions", where=f"as_of >= DATE'{days[0] - timedelta(days=1)}'") \
        .withColumn("model_id", F.concat_ws("/", "model_name", "model_version"))
    served = window_inputs.windows(preds.where(F.col("as_of") >= F.lit(days[0])))
    models = {w.model_id: window_inputs.served_model(ctx, w, "auc") for w in served}
    return days, preds, served, models


def test_monitor_from_profiles_equals_monitor_from_the_training_rows_re_scored(monitored, spark, monkeypatch):
    home, _ = monitored
    ctx = _ctx(home, RUN)
    registry.configure(ctx)
    # train wrote the profile: the normal path never re-reads or re-scores the training rows
    profile = spark.table(f"{SCHEMA}.reference_profiles").where(
        F.col("profile_key") == reference_profiles.profile_key(ctx.cfg))
    assert {r.source for r in profile.collect()} == {"train"}

    def refused(*args, **kwargs):
        raise AssertionError("monitor re-read the training rows")

    monkeypatch.setattr(reference_profiles, "scored_training_rows", refused)
    monkeypatch.setattr(window_inputs, "training_rows", refused)
    monitor.run(ctx)
    monkeypatch.undo()
    days, preds, served, models = _windows_of(ctx)
    trained = {m: window_inputs.training_rows(ctx, model).cache() for m, model in models.items()}
    columns = list(ctx.cfg.monitored_columns)
    baseline = reduce(lambda a, b: a.unionByName(b), [
        t.where(F.col("split") == "train").select("model_id", *columns) for t in trained.values()])
    old = monitor.drift_metrics(ctx, preds, served, models, baseline=baseline).where("drift_type = 'BASELINE'")
    new = spark.table(f"{SCHEMA}.drift_metrics").where("drift_type = 'BASELINE'")
    assert new.count() == len(WINDOWS) * len(columns)
    assert_frames_close(new, old, ["as_of", "model_id", "column_name", "slice_key", "slice_value"])
    old_health = monitor.model_health(ctx, preds, days, _old_health_reference(ctx, models, trained))
    assert_frames_close(spark.table(f"{SCHEMA}.model_health").where("check != 'estimated_degradation'"), old_health,
                        ["as_of", "model_id", "check", "slice_key", "slice_value"])
    for t in trained.values():
        t.unpersist()


def test_a_model_without_a_profile_of_the_config_gets_one_once_from_its_training_rows(monitored, spark):
    home, _ = monitored
    ctx = _ctx(home, RUN, {"monitor": {"drift": {"by_slice": True}}})    # another profile key
    registry.configure(ctx)
    days, preds, served, models = _windows_of(ctx)
    profile = monitor.reference_profiles_of(ctx, models)
    assert {r.source for r in profile.collect()} == {"training_rows"}
    assert {r.slice_key for r in profile.where("part = 'drift'").collect()} == {None, "c_twin"}
    ref = registry.by_version(ctx, next(iter(models.values())).version)
    assert reference_profiles.ensure(ctx, ref) is False                 # written: not computed again
    keys = {r.profile_key for r in spark.table(f"{SCHEMA}.reference_profiles").select("profile_key").collect()}
    assert keys == {reference_profiles.profile_key(ctx.cfg), reference_profiles.profile_key(_config())}
    # the held-out rows re-read and re-scored give the calibration train fitted
    at_train = monitor.reference_profiles_of(_ctx(home, RUN), models)
    again, first = reference_profiles.calibrations(profile), reference_profiles.calibrations(at_train)
    assert again.keys() == first.keys() == set(models)
    for m, (xs, ps) in first.items():
        assert len(xs) > 2 and again[m][0] == pytest.approx(xs) and again[m][1] == pytest.approx(ps)
    # per slice too, the comparison against the stored histograms is the comparison against the rows
    trained = {m: window_inputs.training_rows(ctx, model) for m, model in models.items()}
    baseline = reduce(lambda a, b: a.unionByName(b), [
        t.where(F.col("split") == "train").select("model_id", *dict.fromkeys([*ctx.cfg.monitored_columns, "c_twin"]))
        for t in trained.values()])
    new = monitor.drift_metrics(ctx, preds, served, models, profile=reference_profiles.drift_part(profile))
    old = monitor.drift_metrics(ctx, preds, served, models, baseline=baseline)
    keys = ["as_of", "model_id", "column_name", "slice_key", "slice_value"]
    assert_frames_close(new.where("drift_type = 'BASELINE' AND slice_key IS NOT NULL"),
          old.where("drift_type = 'BASELINE' AND slice_key IS NOT NULL"), keys)
