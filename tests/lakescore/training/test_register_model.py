"""Bring your own model, on the end-to-end tables: `lakescore model register` takes the Spark ML
model `train` made (scored natively) and a scikit-learn pipeline trained in a notebook on the
`features` train split (scored through mlflow.pyfunc.spark_udf); `promote` gates the pyfunc
challenger against the native champion; `score` writes its predictions, which must equal
scikit-learn's own predict_proba on the same rows. The model-age policy at scoring: a warning
alert, or a refusal that writes nothing."""

from __future__ import annotations

import json
from datetime import date

import mlflow
import mlflow.sklearn
import numpy as np
import pytest
import yaml
from mlflow import MlflowClient
from mlflow.models import infer_signature
from pyspark.sql import functions as F
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from typer.testing import CliRunner

from lakescore import notebook
from lakescore.cli import app
from lakescore.config import parse_config
from lakescore.jobs import promote, score
from lakescore.models import flavors, registry
from tests.support import E2E_AS_OF as AS_OF
from tests.support import context, flights_data

SCHEMA = "e2e_flights"
# the end-to-end tables, but a registered model and gate/prediction tables of its own
BYO = {"model": {"name": "e2e_byo_model"},
       "tables": {"predictions": "byo_predictions", "predictions_latest": "byo_predictions_latest",
                  "model_validations": "byo_model_validations"},
       "gate": {"max_drop_vs_champion": 1.0}}
runner = CliRunner()


def _config(tmp_path, flights_files, overrides=None):
    data = flights_data(flights_files, SCHEMA, BYO)
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    path = tmp_path / "byo.yml"
    path.write_text(yaml.safe_dump(data))
    return path, parse_config(data, source="tests")


def sklearn_pipeline(numeric: list[str], categorical: list[str]):
    return make_pipeline(
        make_column_transformer(
            (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                           OneHotEncoder(handle_unknown="ignore")), categorical)),
        LogisticRegression(max_iter=1000))


def log_sklearn(model, X, drop=None, extra=None):
    """Log a fitted model as a notebook would; `drop`/`extra` spoil its signature."""
    sample = X.drop(columns=[drop]) if drop else X.copy()
    if extra:
        sample[extra] = 1.0
    with mlflow.start_run(run_name="notebook"):
        info = mlflow.sklearn.log_model(model, name="model", signature=infer_signature(sample),
                                        serialization_format="cloudpickle")
    return info.model_uri


@pytest.fixture(scope="module")
def byo(e2e, lakescore_home, flights_files, tmp_path_factory):
    e2e_ctx, results = e2e
    path, cfg = _config(tmp_path_factory.mktemp("byo"), flights_files)
    ctx = context(cfg, AS_OF, lakescore_home)
    registry.configure(ctx)
    # 1. the Spark ML model train logged for the end-to-end use case, registered as it is
    spark_uri = f"runs:/{results['train']['run_id']}/model"
    native = runner.invoke(app, ["model", "register", "-c", str(path), "--model-uri", spark_uri])
    assert native.exit_code == 0, native.output
    first = promote.run(ctx)
    # 2. a scikit-learn pipeline fitted in a notebook on the train split of the same window
    X, y = notebook.training_rows(ctx)
    numeric = [f.name for f in cfg.model_features if f.kind == "numeric"]
    categorical = [f.name for f in cfg.model_features if f.kind == "categorical"]
    model = sklearn_pipeline(numeric, categorical).fit(X, y)
    uri = log_sklearn(model, X)
    registered = runner.invoke(app, ["model", "register", "-c", str(path), "--model-uri", uri,
                                     "--trained-until", AS_OF.isoformat()])
    assert registered.exit_code == 0, registered.output
    second = promote.run(ctx)
    scored = score.run(ctx)
    return {"ctx": ctx, "path": path, "files": flights_files, "model": model, "X": X, "uri": uri, "native": native.output,
            "registered": registered.output, "first": first, "second": second, "score": scored}


def test_the_trained_spark_model_registers_and_scores_natively(byo):
    assert "(spark, predicts with predict)" in byo["native"]
    assert byo["first"]["decision"] == "promoted"
    v1 = registry.by_version(byo["ctx"], "1")
    assert registry.kind(v1).native


def test_sklearn_pipeline_register_promote_score(byo, spark):
    ctx = byo["ctx"]
    cfg = ctx.cfg
    assert "version 2 @challenger (sklearn, predicts with predict_proba)" in byo["registered"]
    ref = registry.by_version(ctx, "2")
    kind = registry.kind(ref)
    assert not kind.native and kind.predict_fn == "predict_proba" and kind.flavor == "sklearn"
    client = MlflowClient()
    version = client.get_model_version(ref.name, "2")
    assert version.tags["lakescore.feature_set"] == cfg.feature_set_id
    run = client.get_run(ref.run_id)
    assert run.data.params["as_of"] == "2013-12-01" and run.data.params["feature_set"] == cfg.feature_set_id
    assert ref.trained_at.isoformat() == "2013-12-01T05:00:00"  # 00:00 New York
    versions = json.loads(run.data.tags["lakescore.input_versions"])
    assert set(versions) == {f"{SCHEMA}.features", f"{SCHEMA}.clean_flights"}
    assert 0.55 < run.data.metrics["test_auc"] < 1.0 and run.data.metrics["test_rows"] > 1000
    # the gate: every check, vs_champion evaluated both models (pyfunc vs native) on the same rows
    checks = {c["check"]: c for c in byo["second"]["checks"]}
    assert byo["second"]["decision"] == "promoted"
    assert set(checks) >= {"floor_auc", "floor_log_loss", "vs_champion", "infra_compatibility"}
    assert checks["vs_champion"]["value"] == pytest.approx(run.data.metrics["oot_auc"], abs=1e-9)  # gate.evaluate_on
    assert 0.55 < checks["vs_champion"]["baseline"] < 1.0
    assert registry.by_alias(ctx, registry.CHAMPION).version == "2"
    # score went through the pyfunc path; the scores are scikit-learn's own predict_proba
    assert byo["score"]["flavor"] == "sklearn"
    preds = spark.table(f"{SCHEMA}.byo_predictions").where(F.col("as_of") == AS_OF)
    features = spark.table(f"{SCHEMA}.features").where(F.col("as_of") == AS_OF)
    assert preds.count() == features.count() == byo["score"]["predictions"] > 500
    rows = (features.join(preds.select("flight_id", "score", "prediction", "model_version", "served_by"), "flight_id")
            .orderBy("flight_id").toPandas())
    names = [f.name for f in cfg.model_features]
    expected = byo["model"].predict_proba(rows[names])[:, 1]
    np.testing.assert_allclose(rows["score"].to_numpy(), expected, rtol=0, atol=1e-12)
    assert (rows["prediction"] == (expected > 0.5).astype(float)).all()
    assert set(rows["model_version"]) == {"2"} and set(rows["served_by"]) == {"batch"}


def test_register_names_missing_extra_and_mistyped_columns(byo, lakescore_home, tmp_path):
    ctx = byo["ctx"]
    X = byo["X"]
    bad_uri = log_sklearn(byo["model"], X, drop="distance", extra="tail_number_hash")
    before = MlflowClient().search_model_versions(f"name = '{ctx.cfg.model.name}'")
    out = runner.invoke(app, ["model", "register", "-c", str(byo["path"]), "--model-uri", bad_uri,
                              "--trained-until", "2013-12-01"])
    assert out.exit_code == 1
    assert "missing columns ['distance']" in out.output and "extra columns ['tail_number_hash']" in out.output
    assert len(out.output.strip().splitlines()) == 1
    retyped = X.assign(distance=X["distance"].astype("int64"))
    with mlflow.start_run():
        typed_uri = mlflow.sklearn.log_model(byo["model"], name="model", signature=infer_signature(retyped),
                                             serialization_format="cloudpickle").model_uri
    problems = flavors.signature_problems(ctx.cfg, flavors.info(typed_uri))
    assert "column distance is long, the features table has double" in problems
    after = MlflowClient().search_model_versions(f"name = '{ctx.cfg.model.name}'")
    assert len(after) == len(before)  # nothing registered
    no_as_of = runner.invoke(app, ["model", "register", "-c", str(byo["path"]), "--model-uri", byo["uri"]])
    assert no_as_of.exit_code == 1 and "give --trained-until" in no_as_of.output


def test_stale_champion_warns_or_refuses_to_write(byo, lakescore_home, tmp_path, spark):
    """The champion's cutoff is 2013-12-01 00:00 New York: at the as-of 2013-12-02 it is 1 day old."""
    later = date(2013, 12, 2)
    _, warn_cfg = _config(tmp_path, byo["files"], {"score": {"max_model_age_days": 0.5}})
    warn_ctx = context(warn_cfg, later, lakescore_home)
    score.run(warn_ctx)
    alerts = spark.table(f"{SCHEMA}.alerts").where("stage = 'score' AND kind = 'stale_model' AND as_of = DATE'2013-12-02'")
    row = alerts.collect()
    assert len(row) == 1 and row[0].severity == "warning" and row[0].value == 1.0 and row[0].threshold == 0.5
    assert "model e2e_byo_model version 2 (training cutoff 2013-12-01 05:00 UTC) is 1 days old" in row[0].detail
    champion = registry.by_alias(warn_ctx, registry.CHAMPION)
    flavors.enforce_age(warn_ctx, champion.name, champion.version, champion.trained_at)  # as a re-run does
    assert alerts.count() == 1  # rewritten, not added

    _, fail_cfg = _config(tmp_path, byo["files"], {"score": {"max_model_age_days": 0.5, "on_stale": "fail"}})
    fail_ctx = context(fail_cfg, later, lakescore_home)
    table_version = fail_ctx.tables.version("byo_predictions")
    with pytest.raises(flavors.ModelError, match=r"^model e2e_byo_model version 2 \(training cutoff 2013-12-01 05:00 "
                                                r"UTC\) is 1 days old at the prediction time of as-of 2013-12-02, more "
                                                r"than score.max_model_age_days 0.5 \(score.on_stale fail\): nothing "
                                                r"written, the previous predictions stay$"):
        score.run(fail_ctx)
    assert fail_ctx.tables.version("byo_predictions") == table_version

    _, fresh_cfg = _config(tmp_path, byo["files"], {"score": {"max_model_age_days": 2}})
    assert flavors.enforce_age(context(fresh_cfg, later, lakescore_home), champion.name, champion.version,
                              champion.trained_at) is None
    assert alerts.count() == 0  # within the limit again: the as-of's alert is gone
