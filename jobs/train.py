"""train: features + labels known before the as-of -> an MLflow run and a model version @challenger.

The training rows are the features of every as-of in the window before D whose label was
known before D's prediction time; a salted hash of the entity key splits them. The Delta
versions of both inputs are recorded in the run, so promote (or anyone) can rebuild exactly
the same rows, and a retrain of the same versions gives the same model.
"""

from __future__ import annotations

import json
import logging

import mlflow
import mlflow.spark
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, Schema
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore import registry
from lakescore.config import Feature
from lakescore.errors import StageError
from lakescore.runtime import Context
from lakescore.training_data import evaluate, spark_ml_scorer, training_frame
from transforms.columns import AS_OF, FEATURE_SET, PREDICTION, SPLIT, TEST, TRAIN
from transforms.features.asof import prediction_time
from transforms.modeling.pipeline import build_pipeline, fitted_preparation

log = logging.getLogger("lakescore.train")

_MLFLOW_TYPES = {"double": "double", "float": "float", "int": "integer", "bigint": "long",
                 "smallint": "integer", "tinyint": "integer", "string": "string", "boolean": "boolean"}


class TrainError(StageError):
    pass


def preparation_options(feature: Feature) -> dict:
    """A feature's fitted-preparation settings, as transforms.modeling.build_pipeline takes them."""
    return {"impute": feature.impute, "clip_quantiles": feature.clip_quantiles,
            "min_count": feature.min_count, "max_categories": feature.max_categories}


def preparation_params(prepared: dict[str, dict]) -> dict[str, object]:
    """MLflow params for the fitted preparation: clip bounds and fill of each numeric feature,
    the number of categories of each categorical one (the full values are in the JSON artifact)."""
    out: dict[str, object] = {}
    for name, p in prepared.items():
        if p["kind"] == "numeric":
            out.update({f"prep.{name}.min": p["min"], f"prep.{name}.max": p["max"], f"prep.{name}.fill": p["fill"]})
        else:
            out[f"prep.{name}.categories"] = len(p["categories"])
    return out


def _signature(df: DataFrame, features: list[str]) -> ModelSignature:
    types = dict(df.dtypes)
    inputs = [ColSpec(_MLFLOW_TYPES.get(types[f], "string"), f) for f in features]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema([ColSpec("double", PREDICTION)]))


def run(ctx: Context) -> dict:
    cfg, store = ctx.cfg, ctx.tables
    registry.configure(ctx)
    frame = training_frame(ctx, ctx.as_of)
    # A fixed partitioning and row order before fit: seeds alone do not make Spark ML reproducible.
    data = (frame.repartition(cfg.train.partitions, *cfg.entity.key)
            .sortWithinPartitions(*cfg.entity.key, AS_OF).cache())
    try:
        stale = (F.col(FEATURE_SET) != F.lit(cfg.feature_set_id)) if FEATURE_SET in data.columns else F.lit(True)
        summary = data.groupBy(SPLIT).agg(F.count(F.lit(1)).alias("n"),
                                          F.sum(F.when(stale, 1).otherwise(0)).alias("stale")).collect()
        counts = {r[SPLIT]: r["n"] for r in summary}
        n_train, n_test = counts.get(TRAIN, 0), counts.get(TEST, 0)
        if any(r["stale"] for r in summary):
            raise TrainError(f"table {store.display(cfg.tables.features)}: {sum(r['stale'] for r in summary)} training "
                             f"rows were computed by other feature definitions than feature set "
                             f"{cfg.feature_set_id}: run the features stage for {ctx.as_of} first")
        if n_train < cfg.train.min_rows or n_test == 0:
            raise TrainError(f"table {store.display(cfg.tables.features)}: {n_train} training and {n_test} test "
                             f"rows with labels before {ctx.as_of}; train.min_rows is {cfg.train.min_rows}")
        inputs = cfg.model_features
        pipeline = build_pipeline([f.name for f in inputs if f.kind == "numeric"],
                                  [f.name for f in inputs if f.kind == "categorical"],
                                  cfg.label.name, cfg.model.algorithm, cfg.model.params, cfg.train.seed,
                                  options={f.name: preparation_options(f) for f in inputs})
        train, test = data.where(F.col(SPLIT) == TRAIN), data.where(F.col(SPLIT) == TEST)
        model = pipeline.fit(train)
        test_metrics = evaluate(cfg, spark_ml_scorer(model, cfg.label.kind), test)
        train_metrics = evaluate(cfg, spark_ml_scorer(model, cfg.label.kind), train)
        signature = _signature(data, [f.name for f in inputs])
        prepared = fitted_preparation(model)
    finally:
        data.unpersist()
    cutoff = prediction_time(ctx.as_of, cfg.entity.timezone)  # labels known before it
    with mlflow.start_run(run_name=f"{cfg.name}-{ctx.as_of}") as run:
        mlflow.log_params({
            "use_case": cfg.name, "as_of": ctx.as_of.isoformat(), "training_cutoff": cutoff.isoformat(),
            "window_days": cfg.train.window_days, "seed": cfg.train.seed,
            "partitions": cfg.train.partitions, "test_fraction": cfg.split.test_fraction,
            "split_salt": cfg.split.salt, "algorithm": cfg.model.algorithm, "label": cfg.label.name,
            "features": json.dumps([f.name for f in cfg.model_features]),
            "feature_set": cfg.feature_set_id,
            **{f"model.{k}": v for k, v in cfg.model.params.items()},
            **preparation_params(prepared),
        })
        # every fitted preparation value (clip bounds, fill values, category vocabularies)
        mlflow.log_dict(prepared, "feature_preparation.json")
        mlflow.set_tags({"lakescore.use_case": cfg.name,
                         "lakescore.input_versions": json.dumps(store.versions_read, sort_keys=True)})
        mlflow.log_metrics({"train_rows": n_train, "test_rows": n_test,
                            **{f"test_{k}": v for k, v in test_metrics.items()},
                            **{f"train_{k}": v for k, v in train_metrics.items()}})
        info = mlflow.spark.log_model(model, "model", registered_model_name=registry.model_name(ctx),
                                      pip_requirements=registry.pip_requirements(), signature=signature)
    ref = registry.by_version(ctx, str(info.registered_model_version))
    registry.set_alias(ref, registry.CHALLENGER)
    primary = cfg.model.primary_metric
    log.info("train: %s version %s, run %s, %d train / %d test rows, test %s=%.4f",
             ref.name, ref.version, run.info.run_id, n_train, n_test, primary, test_metrics.get(primary, float("nan")))
    return {"model_version": ref.version, "run_id": run.info.run_id, "test_metrics": test_metrics,
            "train_rows": n_train, "test_rows": n_test}


if __name__ == "__main__":
    from lakescore.stage import stage_main

    stage_main("train", run)
