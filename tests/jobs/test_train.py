"""The training-time checks on the synthetic use case (tests/support.py: checks_events): empty
features, label leakage by power, permutation importance and its verdicts, the per-version
tables; and a regression challenger against the default (relative) change threshold."""

from __future__ import annotations

import math

import pytest
from mlflow import MlflowClient
from pyspark.ml import PipelineModel
from pyspark.ml.feature import SQLTransformer
from pyspark.sql import functions as F

from lakescore.jobs import promote, train
from lakescore.jobs.pipeline import run_stages
from lakescore.models import reference_profiles, registry
from lakescore.transforms.monitoring import loss
from tests.jobs.test_promote import register_variant
from tests.support import CHECKS_AS_OF, checks_use_case, context, write_checks_events


def test_empty_and_leaky_features_fail_train_by_name_and_the_report_judges_every_feature(spark, lakescore_home):
    schema = "checks_training"
    features = ["region", "x1", "x2", "noise", "leak", "empty"]
    # an L1 penalty leaves the pure-noise feature out of the model: permuting it changes nothing
    model = {"model": {"params": {"regParam": 0.03, "elasticNetParam": 1.0, "maxIter": 50}}}

    def ctx_with(**train):
        cfg = checks_use_case(schema, features=features, overrides={**model, "train": train})
        return context(cfg, CHECKS_AS_OF, lakescore_home)

    write_checks_events(spark, schema)
    run_stages(ctx_with(), ["features"])
    with pytest.raises(train.TrainError, match=r"training rows: feature empty: NULL in all \d+ training rows: .*"
                                               r"train.allow_empty_features"):
        train.run(ctx_with())
    with pytest.raises(train.TrainError, match=r"label leakage suspected on the out-of-time rows: feature leak: alone "
                                               r"it reaches auc 0\.9\d+, at or above train.leakage.max_single_power "
                                               r"0.85: if it is known only after the event declare it in "
                                               r"entity.known_after_event, else list it under train.leakage.allow$"):
        train.run(ctx_with(allow_empty_features=["empty"]))
    assert not spark.catalog.tableExists(f"{schema}.feature_reports")  # nothing written

    result = train.run(ctx_with(allow_empty_features=["empty"], leakage={"allow": ["leak"]}))
    report = {r["feature"]: r for r in result["feature_report"]}
    assert report["leak"]["verdict"] == "leak_suspect" and report["leak"]["single_feature_power"] > 0.9
    assert report["noise"]["permutation_importance"] <= 0 and report["noise"]["verdict"] == "no_gain"
    assert report["empty"]["verdict"] == "no_gain"
    assert 0.65 < report["x1"]["single_feature_power"] < 0.85
    table = spark.table(f"{schema}.feature_reports")
    assert sorted(r.feature for r in table.collect()) == sorted(features)
    row = table.where("feature = 'noise'").first()
    assert row.model_version == result["model_version"] and row.verdict == "no_gain" and row.power_metric == "auc"
    alerts = {r.subject: r for r in spark.table(f"{schema}.alerts").where("kind = 'feature_no_gain'").collect()}
    assert {f"{schema}_model.noise", f"{schema}_model.empty"} <= set(alerts)
    assert alerts[f"{schema}_model.noise"].severity == "warning"
    metrics = spark.table(f"{schema}.model_metrics").where(F.col("model_version") == result["model_version"])
    whole = {(r.split, r.metric): r.value for r in metrics.where("slice_key IS NULL").collect()}
    assert whole[("out_of_time", "auc")] == pytest.approx(result["oot_metrics"]["auc"])
    assert whole[("test", "auc")] == pytest.approx(result["test_metrics"]["auc"])
    assert metrics.where("slice_key = 'region' AND split = 'out_of_time' AND metric = 'auc'").count() == 2
    run = MlflowClient().get_run(result["run_id"])
    assert {"oot_auc", "test_auc", "seconds_fit", "seconds_importance"} <= set(run.data.metrics)
    artifacts = {a.path for a in MlflowClient().list_artifacts(result["run_id"])}
    assert {"feature_report.json", "model_metrics.json"} <= artifacts


def shifted(ctx, base, by: float) -> PipelineModel:
    """`base`'s model with every prediction moved by `by`."""
    stage = SQLTransformer(statement=f"SELECT * EXCEPT (prediction), prediction + {by!r} AS prediction FROM __THIS__")
    return PipelineModel(stages=[*registry.load(ctx, base).stages, stage])


def test_a_strong_regression_feature_passes_and_the_change_threshold_is_relative(spark, lakescore_home):
    schema = "checks_regression"
    cfg = checks_use_case(schema, features=["x1", "x2"], regression=True)
    ctx = context(cfg, CHECKS_AS_OF, lakescore_home)
    write_checks_events(spark, schema)
    results = run_stages(ctx, ["features", "train", "promote"])
    # x1 alone explains about 85% of the target's variance, less than the whole model: not a leak
    report = {r["feature"]: r for r in results["train"]["feature_report"]}
    assert 0.8 < report["x1"]["single_feature_power"] < 0.88 < results["train"]["oot_metrics"]["r2"]
    assert results["promote"]["decision"] == "promoted"
    v1 = registry.by_alias(ctx, registry.CHAMPION)
    base = results["train"]["oot_metrics"]
    rmse, bias = base["rmse"], base["mean_prediction"] - base["mean_label"]
    # the version's loss model (direct loss estimation) is stored with its reference profile: read
    # back and applied to the held-out rows it was fitted on, it gives back their realized loss
    fitted = reference_profiles.loss_models(reference_profiles.read(ctx, v1.name, [v1.version]))[f"{v1.name}/{v1.version}"]
    assert {t.column for t in fitted.terms} == {"x1", "x2", "prediction"}
    assert fitted.rows == results["train"]["oot_rows"] and all(sum(t.rows) == fitted.rows for t in fitted.terms)
    held_out = reference_profiles.scored_training_rows(ctx, v1).where(F.col("split") == cfg.gate.evaluate_on)
    expected = loss.expected_loss(held_out.withColumn("model_id", F.lit(f"{v1.name}/{v1.version}")),
                                  {f"{v1.name}/{v1.version}": fitted})
    got = loss.estimated_loss_metrics(expected, []).first()
    assert got["mae"] == pytest.approx(base["mae"], rel=0.02) and got["rmse"] == pytest.approx(rmse, rel=0.02)

    def shift_for(worse: float) -> float:
        """The prediction shift c that makes the RMSE `worse` times larger: rmse^2 + 2 c bias + c^2."""
        target = rmse * (1 + worse)
        return -bias + math.sqrt(bias * bias + target * target - rmse * rmse)

    def gate(worse: float) -> dict:
        register_variant(ctx, v1, shifted(ctx, v1, shift_for(worse)), [("x1", "double"), ("x2", "double")])
        return {c["check"]: c for c in promote.run(ctx)["checks"]}

    tiny = gate(0.0001)
    assert tiny["vs_champion"]["passed"] and tiny["vs_champion"]["value"] == pytest.approx(rmse * 1.0001, rel=1e-6)
    assert "relative 1.00%" in tiny["vs_champion"]["reason"]
    assert tiny["sanity_out_of_range"]["passed"]
    registry.promote(v1, None)  # compare the next one with version 1 again
    five = gate(0.05)
    assert not five["vs_champion"]["passed"] and five["vs_champion"]["value"] == pytest.approx(rmse * 1.05, rel=1e-6)
    assert five["vs_champion"]["threshold"] == pytest.approx(0.01 * rmse)
