"""End to end: every stage of the flights use case on a slice of the real data."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from chispa import assert_df_equality
from mlflow import MlflowClient
from pyspark.sql import functions as F

from lakescore.jobs.pipeline import run_stages
from tests.support import E2E_AS_OF as AS_OF
from tests.support import run_e2e


def test_every_catalog_entity_gets_one_prediction(e2e, spark):
    ctx, _ = e2e
    preds = spark.table("e2e_flights.predictions").where(F.col("as_of") == AS_OF)
    # The catalog of 2013-12-01: flights scheduled that day in New York (the data's own date columns).
    catalog = spark.table("e2e_flights.clean_flights").where("year = 2013 AND month = 12 AND day = 1")
    assert catalog.count() > 500
    assert preds.count() == catalog.count()
    assert preds.select("flight_id").distinct().count() == preds.count()
    assert preds.join(catalog, "flight_id", "left_anti").count() == 0
    missing_model = preds.where("model_name IS NULL OR model_version IS NULL OR score IS NULL").count()
    assert missing_model == 0
    row = preds.agg(F.min("score").alias("lo"), F.max("score").alias("hi")).first()
    assert 0.0 <= row["lo"] < row["hi"] <= 1.0


def test_latest_view_and_monitoring(e2e, spark):
    ctx, results = e2e
    assert spark.table("e2e_flights.predictions_latest").count() == results["score"]["predictions"]
    whole = spark.table("e2e_flights.slice_metrics").where("slice_key IS NULL AND as_of = DATE'2013-12-01'").first()
    assert whole["count"] == results["score"]["predictions"]
    # seen by the run of 2 December: the flights that had landed by its midnight, none in-sample
    assert 0.9 * whole["count"] < whole["num_labelled"] < whole["count"] and whole["num_in_sample"] == 0
    assert 0.5 < whole["auc"] < 1.0
    carriers = spark.table("e2e_flights.slice_metrics").where("slice_key = 'carrier'")
    assert carriers.agg(F.sum("count")).first()[0] == whole["count"]
    decisions = spark.table("e2e_flights.model_validations").select("decision").distinct().collect()
    assert [r.decision for r in decisions] == ["promoted"]


def test_training_reports_every_feature_and_the_gate_records_every_check(e2e, spark):
    ctx, results = e2e
    version = results["train"]["model_version"]
    report = spark.table("e2e_flights.feature_reports").where(F.col("model_version") == version)
    assert sorted(r.feature for r in report.collect()) == sorted(f.name for f in ctx.cfg.model_features)
    assert report.where("single_feature_power < 0.5 OR single_feature_power > 0.85 "
                        "OR permutation_importance IS NULL OR verdict IS NULL").count() == 0
    metrics = spark.table("e2e_flights.model_metrics").where(F.col("model_version") == version)
    whole = {(r.split, r.metric): r.value for r in metrics.where("slice_key IS NULL").collect()}
    assert whole[("out_of_time", "auc")] == pytest.approx(results["train"]["oot_metrics"]["auc"])
    assert {"train", "test", "out_of_time"} == {s for s, _ in whole}
    checks = {r.check for r in spark.table("e2e_flights.model_validations").collect()}
    assert {"floor_auc", "vs_champion", "vs_best_recent", "compat_signature", "compat_versions",
            "infra_compatibility", "scoring_speed", "sanity_constant_scores"} <= checks


@pytest.mark.slow
def test_rerun_is_idempotent_and_training_reproducible(e2e, spark):
    ctx, first = e2e
    before = spark.table("e2e_flights.predictions").select("flight_id", "as_of", "prediction", "score").cache()
    before.count()
    assert run_stages(ctx, ["train"])["train"]["trained"] is False  # @champion is new: nothing to retrain
    second = run_e2e(dataclasses.replace(ctx, force=True))
    after = spark.table("e2e_flights.predictions").select("flight_id", "as_of", "prediction", "score")
    # Same inputs, same seed, same split: the retrained model gives the same scores.
    assert second["train"]["model_version"] != first["train"]["model_version"]
    assert second["train"]["test_metrics"] == pytest.approx(first["train"]["test_metrics"], abs=1e-9)
    assert second["train"]["oot_metrics"] == pytest.approx(first["train"]["oot_metrics"], abs=1e-9)
    assert second["promote"]["decision"] == "promoted"
    assert_df_equality(before, after, ignore_row_order=True)
    assert second["ingest"]["flights"]["rows_in"] == 0  # the landed batch was not processed twice
    assert spark.table("e2e_flights.clean_flights").count() == first["ingest"]["flights"]["rows_in"]
    before.unpersist()


def test_training_logs_the_fitted_preparation_and_feature_set(e2e, tmp_path):
    ctx, results = e2e
    client = MlflowClient()
    run = client.get_run(results["train"]["run_id"])
    params = run.data.params
    assert params["feature_set"] == ctx.cfg.feature_set_id
    assert json.loads(params["features"]) == [f.name for f in ctx.cfg.model_features]
    assert float(params["prep.distance.min"]) < float(params["prep.distance.max"])
    path = client.download_artifacts(run.info.run_id, "feature_preparation.json", str(tmp_path))
    prepared = json.loads(Path(path).read_text())
    assert set(prepared) == {f.name for f in ctx.cfg.model_features}
    assert "UA" in prepared["carrier"]["categories"] and prepared["carrier"]["slots"][-2:] == ["__missing__", "__other__"]
    assert prepared["plane_age"]["clip_quantiles"] == [0.0, 0.99]


def test_monitoring_compares_every_feature_and_the_score_with_the_training_rows(e2e, spark):
    ctx, results = e2e
    drift = spark.table("e2e_flights.drift_metrics").where(F.col("as_of") == AS_OF)
    baseline = {r.column_name for r in drift.where("drift_type = 'BASELINE'").collect()}
    assert baseline == {f.name for f in ctx.cfg.model_features} | {"score", "prediction"}
    # the served rows are the rows as they are now: no example skew
    example = drift.where("drift_type = 'EXAMPLE'")
    assert example.count() == len(ctx.cfg.model_features) and example.where("rows_different > 0").count() == 0
    age = spark.table("e2e_flights.model_health").where("check = 'model_age'").first()
    assert age.value == 0.0 and age.passed
    first_run = spark.table("e2e_flights.alerts").where("stage = 'monitor'")
    assert first_run.where("kind = 'model_stale' OR kind = 'example_skew'").count() == 0
    assert set(results["next_day_monitor"]) >= {"slice_metrics", "drift_metrics", "model_health", "alerts"}


def test_dep_delay_as_an_undeclared_feature_would_be_refused_by_the_leakage_defaults(e2e, spark):
    """The issue's requirement on the defaults, on the slice's training rows: flights' own model
    features pass; `dep_delay` (known only after departure) added as a feature is refused."""
    from lakescore.models.training_rows import training_frame
    from lakescore.transforms.modeling.leakage_power import leakage_findings, single_feature_power

    ctx, results = e2e
    cfg = ctx.cfg
    rows = training_frame(ctx, AS_OF).join(
        spark.table("e2e_flights.clean_flights").select("flight_id", "dep_delay"), "flight_id")
    numeric = [f.name for f in cfg.model_features if f.kind == "numeric"] + ["dep_delay"]
    categorical = [f.name for f in cfg.model_features if f.kind == "categorical"]
    powers = {r.feature: r.single_feature_power for r in single_feature_power(
        rows.where("split = 'train'"), rows.where("split = 'out_of_time'"), numeric, categorical,
        cfg.label.name, cfg.label.kind).collect()}
    model_power = results["train"]["oot_metrics"]["auc"]
    found = leakage_findings(powers, model_power, metric="auc", max_single_power=cfg.max_single_power,
                             margin=cfg.train.leakage.margin, margin_min_power=cfg.margin_min_power)
    assert [f["feature"] for f in found] == ["dep_delay"] and powers["dep_delay"] >= cfg.max_single_power
