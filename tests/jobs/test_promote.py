"""The model checks on a small synthetic use case (tests/support.py: checks_events): the gate's
slow-degradation, slice, compatibility and rollback checks, and what a failed training does to
a run. Each scenario trains once; its challengers are built from the trained model (a stage in
front of it that weakens or breaks an input) and registered with the training run's records,
so each is exactly as much worse as the test needs."""

from __future__ import annotations

import dataclasses

import mlflow
import mlflow.spark
import pytest
import yaml
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, Schema
from pyspark.ml import PipelineModel
from pyspark.ml.feature import SQLTransformer
from pyspark.sql import functions as F
from typer.testing import CliRunner

from lakescore.cli import app
from lakescore.config import deep_merge, parse_config
from lakescore.core.stage_runner import StageFailed
from lakescore.jobs import promote, train
from lakescore.jobs.pipeline import run_stages
from lakescore.models import registry
from lakescore.models.training_rows import training_frame
from lakescore.transforms.modeling.pipeline import build_pipeline
from tests.support import CHECKS_AS_OF, checks_data, context, write_checks_events

pytestmark = pytest.mark.slow   # `make slow`: CI runs it after `make test`

SCHEMA = "checks_gate"


def register_variant(ctx, base: registry.ModelRef, model: PipelineModel, inputs: list[tuple[str, str]]):
    """Register `model` as @challenger with the records of `base`'s training run (its as-of,
    input versions, metrics), as train would."""
    data = registry.run_data(base)
    with mlflow.start_run(run_name="variant"):
        mlflow.log_params(data.params)
        mlflow.set_tags({k: v for k, v in data.tags.items() if k.startswith("lakescore.")})
        mlflow.log_metrics(data.metrics)
        signature = ModelSignature(inputs=Schema([ColSpec(t, n) for n, t in inputs]),
                                   outputs=Schema([ColSpec("double", "prediction")]))
        info = mlflow.spark.log_model(model, "model", registered_model_name=base.name,
                                      pip_requirements=registry.pip_requirements(), signature=signature)
    ref = registry.by_version(ctx, str(info.registered_model_version))
    registry.set_alias(ref, registry.CHALLENGER)
    return ref


def wrapped(ctx, base: registry.ModelRef, sql: str) -> PipelineModel:
    """`base`'s fitted pipeline behind a SQL stage that rewrites its input."""
    return PipelineModel(stages=[SQLTransformer(statement=sql), *registry.load(ctx, base).stages])


INPUTS = [("region", "string"), ("x1", "double"), ("x2", "double")]


def gate_rows(spark, version: str) -> dict:
    return {r.check: r for r in spark.table(f"{SCHEMA}.model_validations")
            .where(F.col("model_version") == version).collect()}


def with_gate(ctx, gate: dict):
    cfg = parse_config(checks_data(SCHEMA, overrides={"gate": gate}), source="tests")
    return dataclasses.replace(ctx, cfg=cfg)


@pytest.fixture(scope="module")
def trained(spark, lakescore_home, tmp_path_factory):
    """The synthetic use case trained and promoted once (version 1 is @champion)."""
    write_checks_events(spark, SCHEMA)
    data = checks_data(SCHEMA)
    ctx = context(parse_config(data, source="tests"), CHECKS_AS_OF, lakescore_home)
    results = run_stages(ctx, ["features", "train", "promote"])
    assert results["promote"]["decision"] == "promoted"
    path = tmp_path_factory.mktemp("checks") / "checks.yml"
    path.write_text(yaml.safe_dump(data))
    return ctx, registry.by_version(ctx, registry.by_alias(ctx, registry.CHAMPION).version), path


def test_a_chain_of_slightly_worse_models_is_stopped_by_vs_best_recent_and_rolled_back(trained, spark):
    ctx, v1, path = trained
    # each model trusts x2 less than the one before: each step within max_drop_vs_champion, the
    # chain beyond the slow budget
    # (out-of-time AUC 0.8525, 0.8473, 0.8250: steps of 0.005 and 0.022, 0.028 in all)
    ctx = with_gate(ctx, {"max_drop_vs_champion": 0.025, "slow": {"max_drop": 0.02}, "slices": {"min_rows": 10**6}})
    v2 = register_variant(ctx, v1, wrapped(ctx, v1, "SELECT * EXCEPT (x2), x2 * 0.75 AS x2 FROM __THIS__"), INPUTS)
    assert promote.run(ctx)["decision"] == "promoted"
    v3 = register_variant(ctx, v1, wrapped(ctx, v1, "SELECT * EXCEPT (x2), x2 * 0.45 AS x2 FROM __THIS__"), INPUTS)
    result = promote.run(ctx)
    assert result["decision"] == "rejected"
    second, third = gate_rows(spark, v2.version), gate_rows(spark, v3.version)
    assert second["vs_champion"].passed and second["vs_best_recent"].passed
    assert third["vs_champion"].passed, third["vs_champion"].reason  # a small step from version 2...
    best = third["vs_best_recent"]
    assert not best.passed and f"(version {v1.version})" in best.reason  # ...too far below version 1
    assert best.baseline - best.value > 0.02 > second["vs_champion"].baseline - second["vs_champion"].value
    assert third["vs_champion"].baseline - third["vs_champion"].value > 0.02  # each step within 0.025
    assert [c for c, r in third.items() if not r.passed] == ["vs_best_recent"]
    assert registry.by_alias(ctx, registry.CHAMPION).version == v2.version
    alert = spark.table(f"{SCHEMA}.alerts").where("kind = 'challenger_rejected'").collect()
    assert len(alert) == 1 and alert[0].subject == f"{v1.name}.{v3.version}" and "vs_best_recent" in alert[0].detail

    runner = CliRunner()
    shown = runner.invoke(app, ["model", "checks", "-c", str(path)])
    assert shown.exit_code == 0, shown.output
    assert "vs_best_recent" in shown.stdout and "FAIL" in shown.stdout and f"version {v3.version}" in shown.stdout

    back = runner.invoke(app, ["model", "rollback", "-c", str(path), "--as-of", CHECKS_AS_OF.isoformat()])
    assert back.exit_code == 0, back.output
    assert registry.by_alias(ctx, registry.CHAMPION).version == v1.version
    assert registry.by_alias(ctx, registry.PREVIOUS).version == v2.version
    row = gate_rows(spark, v2.version)["rollback"]
    assert row.decision == "rollback" and f"to version {v1.version}" in row.reason
    # the rolled-back version leaves the slow check's history
    from lakescore.gate.model_validations import promoted_history
    assert promoted_history(ctx, v1.name, 5) == [v1.version]
    # a candidate is never its own best recent version (a promote killed between its rows and
    # the alias leaves it recorded as promoted; its re-run gates it again)
    assert promoted_history(ctx, v1.name, 5, excluding=v1.version) == []
    registry.promote(v1, None)  # leave version 1 serving for the other tests


def test_a_slice_only_regression_is_refused_naming_the_slice(trained, spark):
    ctx, v1, _ = trained
    registry.set_alias(v1, registry.CHAMPION)
    ctx = with_gate(ctx, {"max_drop_vs_champion": 0.05, "slow": {"max_drop": 0.05}})
    # region b loses x1: its rows are ranked by x2 alone; region a is untouched
    sql = "SELECT * EXCEPT (x1), CASE WHEN region = 'b' THEN 0.0 ELSE x1 END AS x1 FROM __THIS__"
    challenger = register_variant(ctx, v1, wrapped(ctx, v1, sql), INPUTS)
    assert promote.run(ctx)["decision"] == "rejected"
    rows = gate_rows(spark, challenger.version)
    failed = [c for c, r in rows.items() if not r.passed]
    assert failed == ["slice:region=b"], failed
    assert rows["slice:region=a"].passed and rows["vs_champion"].passed
    assert "slice region=b" in rows["slice:region=b"].reason and rows["slice:region=b"].threshold == 0.05


def test_a_signature_lacking_a_live_column_is_refused_by_compatibility(trained, spark):
    ctx, v1, _ = trained
    rows = training_frame(ctx, CHECKS_AS_OF).where("split = 'train'")
    model = build_pipeline(["x1"], ["region"], "label", "logistic_regression", {}, 3).fit(rows)
    challenger = register_variant(ctx, v1, model, [("region", "string"), ("x1", "double")])
    assert promote.run(ctx)["decision"] == "rejected"
    check = gate_rows(spark, challenger.version)["compat_signature"]
    assert not check.passed and "lacks the live feature column(s) ['x2']" in check.reason


def test_a_challenger_reading_a_column_the_features_lack_is_rejected_with_every_check_recorded(trained, spark):
    ctx, v1, _ = trained
    rows = training_frame(ctx, CHECKS_AS_OF).where("split = 'train'").withColumn("sched_arr_hour", F.col("x2") * 2)
    model = build_pipeline(["x1", "sched_arr_hour"], ["region"], "label", "logistic_regression", {}, 3).fit(rows)
    challenger = register_variant(ctx, v1, model, [("region", "string"), ("x1", "double"),
                                                   ("sched_arr_hour", "double")])
    result = promote.run(ctx)  # no exception: a rejected candidate
    assert result["decision"] == "rejected"
    checks = gate_rows(spark, challenger.version)
    for name in ("vs_champion", "vs_best_recent", "compat_signature", "infra_compatibility"):
        assert not checks[name].passed, name
    assert "sched_arr_hour" in checks["vs_champion"].reason and "sched_arr_hour" in checks["infra_compatibility"].reason
    assert "reads ['sched_arr_hour'], not in the live features table" in checks["compat_signature"].reason
    assert checks["floor_auc"].passed and checks["compat_versions"].passed
    assert {r.decision for r in checks.values()} == {"rejected"}
    assert registry.by_alias(ctx, registry.CHAMPION).version == v1.version


def test_label_shuffled_training_is_refused_by_the_floors(trained, spark):
    ctx, v1, _ = trained
    # replace every label by a coin flip decided by the key: nothing left to learn
    spark.sql(f"UPDATE {SCHEMA}.clean_events SET y = CAST(abs(xxhash64(id)) % 2 AS DOUBLE)")
    try:
        results = run_stages(dataclasses.replace(ctx, force=True), ["train", "promote"])
    finally:
        spark.sql(f"RESTORE TABLE {SCHEMA}.clean_events TO VERSION AS OF 0")
    assert results["train"]["oot_metrics"]["auc"] < 0.56
    assert results["promote"]["decision"] == "rejected"
    floor = gate_rows(spark, results["train"]["model_version"])["floor_auc"]
    assert not floor.passed and "below the floor 0.6" in floor.reason
    assert registry.by_alias(ctx, registry.CHAMPION).version == v1.version


def test_a_training_failure_does_not_stop_scoring(trained, spark):
    ctx, v1, _ = trained
    cfg = parse_config(deep_merge(checks_data(SCHEMA), {"train": {"min_rows": 10**6}}), source="tests")
    broken = dataclasses.replace(ctx, cfg=cfg, force=True)
    with pytest.raises(StageFailed, match=r"stage train failed: .*train.min_rows is 1000000 \(score ran with the "
                                          r"current champion\)") as info:
        run_stages(broken, ["train", "promote", "score"])
    assert isinstance(info.value.__cause__, train.TrainError)
    preds = spark.table(f"{SCHEMA}.predictions").where(F.col("as_of") == CHECKS_AS_OF)
    assert preds.count() == 150 and {r.model_version for r in preds.collect()} == {v1.version}
