"""The notebooks run in the suite: each against the tables of the end-to-end flights run."""

from __future__ import annotations

import runpy
from datetime import timedelta

import pytest
import yaml
from pyspark.sql import functions as F

from tests.support import E2E_AS_OF, ROOT, flights_data


def test_explore_predictions_notebook(e2e, spark, flights_files, tmp_path, monkeypatch):
    ctx, results = e2e
    config = tmp_path / "flights.yml"
    config.write_text(yaml.safe_dump(flights_data(flights_files, "e2e_flights")))
    out = tmp_path / "figures"
    monkeypatch.setenv("LAKESCORE_CONFIG", str(config))
    monkeypatch.setenv("LAKESCORE_NOTEBOOK_OUT", str(out))
    ns = runpy.run_path(str(ROOT / "notebooks" / "explore_predictions.py"), run_name="__main__")

    figures = {p.name: p.stat().st_size for p in out.glob("*.png")}
    assert set(figures) == {"score_distribution.png", "calibration.png", "slice_metrics.png"}
    assert all(size > 10_000 for size in figures.values())
    per_day = ns["per_day"].set_index("as_of")
    predictions = spark.table("e2e_flights.predictions").where(F.col("as_of") == E2E_AS_OF).count()
    assert per_day.loc[E2E_AS_OF, "entities"] == predictions
    assert ns["histogram"]["count"].sum() == spark.table("e2e_flights.predictions").count()
    labelled = spark.table("e2e_flights.clean_flights").where("arr_delay IS NOT NULL").join(
        spark.table("e2e_flights.predictions"), "flight_id").count()
    assert ns["calibration"]["n"].sum() == labelled
    assert set(ns["by_slice"]["slice_key"]) <= {"carrier", "origin"} and len(ns["by_slice"]) > 0
    assert set(ns["validations"]["decision"]) == {"promoted"}


def _run(notebook: str, config, out, monkeypatch, **env) -> dict:
    monkeypatch.setenv("LAKESCORE_CONFIG", str(config))
    monkeypatch.setenv("LAKESCORE_NOTEBOOK_OUT", str(out))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "notebooks" / notebook), run_name="__main__")


def test_monitoring_over_time_notebook(e2e, spark, flights_files, tmp_path, monkeypatch):
    config = tmp_path / "flights.yml"
    config.write_text(yaml.safe_dump(flights_data(flights_files, "e2e_flights")))
    out = tmp_path / "figures"
    ns = _run("monitoring_over_time.py", config, out, monkeypatch, LAKESCORE_END=str(E2E_AS_OF + timedelta(days=1)))

    figures = {p.name: p.stat().st_size for p in out.glob("*.png")}
    assert set(figures) == {"quality_over_time.png", "drift_baseline.png", "drift_consecutive.png", "model_age.png"}
    assert all(size > 10_000 for size in figures.values())
    data = ns["data"]
    whole = spark.table("e2e_flights.slice_metrics").where("slice_key IS NULL").agg(F.sum("num_labelled")).first()[0]
    assert ns["whole"]["num_labelled"].sum() == whole > 0
    baseline = spark.table("e2e_flights.drift_metrics").where("drift_type = 'BASELINE' AND slice_key IS NULL")
    assert (data.drift["drift_type"] == "BASELINE").sum() == baseline.select("as_of", "column_name").distinct().count()
    assert list(ns["age"]["model_age_days"]) == [r[2] for r in spark.table("e2e_flights.predictions").groupBy(
        "as_of", "model_version").agg(F.max("model_age_days")).orderBy("as_of", "model_version").collect()]


def test_compare_models_notebook(e2e, spark, flights_files, tmp_path, monkeypatch):
    """Version A: the champion `train` made; version B: a scikit-learn pipeline fitted on the same
    training rows and registered under a model of its own. The notebook's AUC of B on the held-out
    rows is held against scikit-learn's own on the same rows."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.metrics import roc_auc_score

    from lakescore import notebook
    from lakescore.transforms.columns import TEST
    from tests.lakescore.training.test_register_model import sklearn_pipeline

    ctx, _ = e2e
    notebook.registry.configure(ctx)
    X, y = notebook.training_rows(ctx)
    kinds = {f.name: f.kind for f in ctx.cfg.model_features}
    model = sklearn_pipeline([n for n, k in kinds.items() if k == "numeric"],
                             [n for n, k in kinds.items() if k == "categorical"]).fit(X, y)
    with mlflow.start_run(run_name="compare-notebook"):
        info = mlflow.sklearn.log_model(model, name="model", signature=infer_signature(X),
                                        pyfunc_predict_fn="predict_proba", serialization_format="cloudpickle")
    version = mlflow.register_model(info.model_uri, "e2e_compare_model").version
    config = tmp_path / "flights.yml"
    config.write_text(yaml.safe_dump(flights_data(flights_files, "e2e_flights")))
    out = tmp_path / "figures"
    ns = _run("compare_models.py", config, out, monkeypatch, LAKESCORE_MODEL_A="@champion",
              LAKESCORE_MODEL_B=f"e2e_compare_model/{version}", LAKESCORE_AS_OF=str(E2E_AS_OF))

    figures = {p.name: p.stat().st_size for p in out.glob("*.png")}
    assert set(figures) == {"compare_slices.png", "compare_features.png", "compare_scores.png"}
    assert all(size > 5_000 for size in figures.values())
    X_test, y_test = notebook.training_rows(ctx, split=TEST)
    whole = ns["deltas"].loc["all"]
    assert whole["rows"] == len(y_test) == ns["agreement"]["rows"]
    assert whole["B"] == pytest.approx(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]), abs=0.01)
    assert whole["delta"] == pytest.approx(whole["B"] - whole["A"])
    assert 0.3 < ns["agreement"]["pearson"] < 1 and 0 < ns["agreement"]["same_prediction"] <= 1
    assert set(ns["deltas"].index) - {"all"} and all("=" in s for s in ns["deltas"].index if s != "all")
    features = ns["features"]
    assert features.loc[[f.name for f in ctx.cfg.model_features], "permutation_importance A"].notna().all()
    assert features["permutation_importance B"].isna().all()  # registered from elsewhere: no feature report
    assert "test_auc" in ns["recorded"].index and ns["recorded"].loc["test_auc"].notna().iloc[0]
