"""Bring your own model: `lakescore model register` puts any MLflow model (a scikit-learn
pipeline from a notebook, XGBoost, LightGBM, a custom pyfunc, a Spark ML pipeline) in the
use case's registered model as a new version @challenger, so that `promote` gates it exactly as
it gates a model `train` made, and `score` runs it.

What it checks: the model's signature takes the use case's model inputs, no more, no fewer, with
the features table's types (numeric double, categorical string); nothing is written otherwise.

What it records, so that the gate can evaluate it like a trained model: an MLflow run of its own
in the use case's experiment (run name `<use case>-<as-of>-registered`) with
- params `as_of` (the as-of the model was trained for: its labels were known before that day's
  prediction time; `--trained-until`, else the source run's `as_of` param), `training_cutoff`
  (that prediction time: the model's age counts from it), `feature_set`, `features`,
  `source_model_uri`, `flavor`, `predict_fn`;
- tag `lakescore.input_versions`: the Delta versions of `features` and the entity's clean table
  it was evaluated on (promote rebuilds the same test rows from them for vs_champion);
- metrics `test_<metric>` on lakescore's test split of the training window before `as_of` (the
  split `train` uses: a hash of the entity key), `test_rows`, `train_rows`;
- the model itself, copied under `model/`; the version is created from that copy, tagged
  `lakescore.feature_set` (the feature set it expects), `lakescore.flavor`, `lakescore.source`.

For a binary label, a model whose pyfunc has `predict_proba` (scikit-learn, XGBoost and LightGBM
classifiers) is registered predicting with it (the copy's MLmodel says `predict_fn:
predict_proba`, as `log_model(..., pyfunc_predict_fn="predict_proba")` would have written), so its
score is the positive class's probability; a model without it must return that probability (or
the class) from `predict`.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import mlflow
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from pyspark.sql import functions as F

from lakescore.core.runtime import Context
from lakescore.models import flavors, registry
from lakescore.models.training_rows import evaluate, training_frame
from lakescore.transforms.columns import BINARY, FEATURE_SET, OUT_OF_TIME, SPLIT, TEST, TRAIN
from lakescore.transforms.features.asof import prediction_time

log = logging.getLogger("lakescore.registration")

SOURCE_RUN_PARAM = "as_of"


def source_as_of(uri: str) -> date | None:
    """The `as_of` param of the run that logged the model (runs:/<id>/..., models:/<name>/<version>
    or @alias), if it has one."""
    client = MlflowClient()
    try:
        if uri.startswith("runs:/"):
            run_id = uri.removeprefix("runs:/").split("/", 1)[0]
        elif uri.startswith("models:/"):
            name, _, ref = uri.removeprefix("models:/").partition("/")
            name, _, alias = name.partition("@")
            mv = client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, ref)
            run_id = mv.run_id
        else:
            return None
        raw = client.get_run(run_id).data.params.get(SOURCE_RUN_PARAM) if run_id else None
    except MlflowException:
        return None
    return date.fromisoformat(raw) if raw else None


def _use_probabilities(path: Path, kind: flavors.ModelKind) -> str:
    """For a binary label: make the copy's pyfunc predict with predict_proba when its
    implementation has it; returns the predict function the copy uses."""
    if kind.native or kind.predict_fn == flavors.PREDICT_PROBA or flavors.PYFUNC_FLAVOR not in kind.flavors:
        return kind.predict_fn
    mlmodel = path / "MLmodel"
    original = mlmodel.read_text()
    spec = yaml.safe_load(original)
    spec["flavors"][flavors.PYFUNC_FLAVOR]["predict_fn"] = flavors.PREDICT_PROBA
    mlmodel.write_text(yaml.safe_dump(spec, sort_keys=False))
    try:
        mlflow.pyfunc.load_model(str(path))
    except Exception as exc:  # noqa: BLE001 - a model that cannot predict_proba keeps its predict
        mlmodel.write_text(original)
        log.warning("register: the model's pyfunc has no predict_proba (%s): its predict is the score",
                    str(exc).splitlines()[0][:200])
        return kind.predict_fn
    return flavors.PREDICT_PROBA


def _test_rows(ctx: Context, as_of: date):
    """Labelled feature rows of the window before `as_of` (lakescore's split), and the counts."""
    cfg, store = ctx.cfg, ctx.tables
    frame = training_frame(ctx, as_of).cache()
    stale = F.col(FEATURE_SET) != F.lit(cfg.feature_set_id)
    label = F.col(cfg.label.name)
    summary = {r[SPLIT]: r for r in frame.groupBy(SPLIT).agg(
        F.count(F.lit(1)).alias("n"), F.sum(F.when(stale, 1).otherwise(0)).alias("stale"),
        F.min(label).alias("lo"), F.max(label).alias("hi")).collect()}
    n_test = summary[TEST]["n"] if TEST in summary else 0
    n_train = summary[TRAIN]["n"] if TRAIN in summary else 0
    n_stale = sum(r["stale"] for r in summary.values())
    table = store.display(cfg.tables.features)
    if n_stale:
        frame.unpersist()
        raise flavors.ModelError(f"table {table}: {n_stale} rows of the window before {as_of} were computed by "
                                f"other feature definitions than feature set {cfg.feature_set_id}: run the "
                                f"features stage for {as_of} first")
    if n_test == 0:
        frame.unpersist()
        raise flavors.ModelError(f"table {table}: no labelled test rows in the window before {as_of} to evaluate "
                                "the model on: run the features stage for that as-of first")
    label_range = (summary[TRAIN]["lo"], summary[TRAIN]["hi"]) if TRAIN in summary else (None, None)
    return frame, n_train, n_test, (summary[OUT_OF_TIME]["n"] if OUT_OF_TIME in summary else 0), label_range


def _create_version(name: str, source: str, run_id: str, tags: dict[str, str]) -> str:
    client = MlflowClient()
    try:
        client.create_registered_model(name)
    except MlflowException:
        pass  # it exists
    mv = client.create_model_version(name, source, run_id=run_id, tags=tags)
    deadline = time.monotonic() + 600
    while mv.status == "PENDING_REGISTRATION" and time.monotonic() < deadline:  # Unity Catalog copies the files
        time.sleep(2)
        mv = client.get_model_version(name, mv.version)
    if mv.status != "READY":
        raise flavors.ModelError(f"model {name} version {mv.version}: registration ended {mv.status}")
    return str(mv.version)


def register(ctx: Context, uri: str, trained_until: date | None = None) -> dict:
    """Check, evaluate and register the model at `uri` as a new version @challenger (see the module)."""
    cfg = ctx.cfg
    registry.configure(ctx)
    model = flavors.info(uri)
    flavors.check_signature(cfg, uri, model)
    as_of = trained_until or source_as_of(uri)
    if as_of is None:
        raise flavors.ModelError(f"model {uri}: give --trained-until YYYY-MM-DD, the as-of it was trained for (its "
                                f"labels known before that day's prediction time); its run has no {SOURCE_RUN_PARAM} param")
    kind = flavors.kind_of(model)
    if cfg.label.kind != BINARY and kind.predict_fn == flavors.PREDICT_PROBA:
        raise flavors.ModelError(f"model {uri}: it predicts with predict_proba but label {cfg.label.name} is "
                                f"{cfg.label.kind}")
    (ctx.home / "tmp").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="register-", dir=ctx.home / "tmp"))
    try:
        return _register_copy(ctx, uri, as_of, kind, work, getattr(model, "mlflow_version", None))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _register_copy(ctx: Context, uri: str, as_of: date, kind: flavors.ModelKind, work: Path,
                   model_mlflow: str | None = None) -> dict:
    cfg, store = ctx.cfg, ctx.tables
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(work)))
    predict_fn = _use_probabilities(local, kind) if cfg.label.kind == BINARY else kind.predict_fn
    kind = flavors.ModelKind(flavors=kind.flavors, predict_fn=predict_fn, inputs=kind.inputs)
    frame, n_train, n_test, n_oot, label_range = _test_rows(ctx, as_of)
    inputs = [store.display(cfg.tables.features), store.display(cfg.clean_table(cfg.entity.source))]
    versions = {t: store.versions_read[t] for t in inputs}
    # the rows the gate reads a training run's metrics on: test and out-of-time, as train logs them
    scorer = flavors.scorer(ctx, str(local), kind)
    try:
        metrics = evaluate(cfg, scorer, frame.where(F.col(SPLIT) == TEST))
        oot = evaluate(cfg, scorer, frame.where(F.col(SPLIT) == OUT_OF_TIME)) if n_oot else {}
    finally:
        frame.unpersist()
    cutoff = prediction_time(as_of, cfg.entity.timezone)
    with mlflow.start_run(run_name=f"{cfg.name}-{as_of}-registered") as run:
        mlflow.log_params({
            "use_case": cfg.name, "as_of": as_of.isoformat(), "training_cutoff": cutoff.isoformat(),
            "window_days": cfg.train.window_days, "test_fraction": cfg.split.test_fraction,
            "split_salt": cfg.split.salt, "out_of_time_days": cfg.split.out_of_time_days,
            "evaluate_on": cfg.gate.evaluate_on, "label": cfg.label.name, "feature_set": cfg.feature_set_id,
            "features": json.dumps([f.name for f in cfg.model_features]), "source_model_uri": uri,
            "flavor": kind.flavor, "predict_fn": kind.predict_fn,
        })
        # the library versions known of a model trained elsewhere: the MLflow that logged it
        recorded = {"mlflow": model_mlflow} if model_mlflow else {}
        mlflow.set_tags({"lakescore.use_case": cfg.name, "lakescore.registered_from": uri,
                         "lakescore.input_versions": json.dumps(versions, sort_keys=True),
                         "lakescore.runtime_versions": json.dumps(recorded, sort_keys=True), **ctx.run_tags()})
        mlflow.log_metrics({"train_rows": n_train, "test_rows": n_test, "oot_rows": n_oot,
                            **{f"test_{k}": v for k, v in metrics.items()},
                            **{f"oot_{k}": v for k, v in oot.items()},
                            **{f"train_label_{k}": float(v) for k, v in zip(("min", "max"), label_range)
                               if v is not None}})
        mlflow.log_artifacts(str(local), "model")
        source = f"{run.info.artifact_uri.rstrip('/')}/model"
    version = _create_version(registry.model_name(ctx), source, run.info.run_id, {
        "lakescore.feature_set": cfg.feature_set_id, "lakescore.flavor": kind.flavor, "lakescore.source": uri})
    ref = registry.by_version(ctx, version)
    registry.set_alias(ref, registry.CHALLENGER)
    primary = cfg.model.primary_metric
    log.info("register: %s version %s @%s from %s (%s, %s), run %s, test %s=%.4f on %d rows before %s",
             ref.name, version, registry.CHALLENGER, uri, kind.flavor, kind.path, run.info.run_id, primary,
             metrics.get(primary, float("nan")), n_test, as_of)
    return {"model_version": version, "run_id": run.info.run_id, "flavor": kind.flavor,
            "predict_fn": kind.predict_fn, "as_of": as_of, "test_metrics": metrics, "test_rows": n_test,
            "oot_metrics": oot, "oot_rows": n_oot}
