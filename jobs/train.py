"""train: features + labels known before the as-of -> an MLflow run and a model version @challenger.

Static training: the stage trains only when the retraining policy says so (no @champion yet,
`--force`, @champion old enough, or a retraining trigger from the monitor stage) and otherwise
logs why it skips. The training rows are the features of every as-of in the window before D
whose label was known before D's prediction time: the last `split.out_of_time_days` as-ofs are
held out whole (out of time), the others split by a salted hash of the entity key. The Delta
versions of both inputs are recorded in the run, so promote (or anyone) can rebuild exactly the
same rows, and a retrain of the same versions gives the same model.

Around the fit: the training rows' sanity (no all-NULL or constant model feature), each
feature's power alone (label leakage), the metrics by split and slice, each feature's
permutation importance (and, optionally, drop-column importance) on the evaluation rows. The
results land in MLflow, `feature_reports`, `model_metrics` and `alerts`; the version's reference
profile (what monitor compares it with: its training rows' histograms, its test rows' quality
per slice) in `reference_profiles`, from the rows the evaluation scored, before the alias.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import mlflow
import mlflow.spark
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, Schema
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.config import LOWER_IS_BETTER, POWER_METRIC, Feature, UseCase
from lakescore.core.errors import StageError
from lakescore.core.runtime import Context
from lakescore.core.stage_result import StageResult
from lakescore.gate.inputs import ROWS_NAME
from lakescore.models import reference_profiles, registry
from lakescore.models.training_rows import evaluate_by, label_delay_days, spark_ml_scorer, training_frame
from lakescore.training import retrain_policy, run_tables
from lakescore.transforms.columns import AS_OF, FEATURE_SET, OUT_OF_TIME, PREDICTION, SLICE_KEY, SPLIT, TEST, TRAIN
from lakescore.transforms.features.asof import prediction_time
from lakescore.transforms.modeling import importance as imp
from lakescore.transforms.modeling.gate import MLFLOW_TYPES
from lakescore.transforms.modeling.leakage_power import FEATURE, POWER, leakage_findings, single_feature_power
from lakescore.transforms.modeling.pipeline import build_pipeline, fitted_preparation
from lakescore.transforms.modeling.sanity import empty_or_constant, feature_profile

log = logging.getLogger("lakescore.train")

PREFIX = {TRAIN: "train_", TEST: "test_", OUT_OF_TIME: "oot_"}


class TrainError(StageError):
    pass


@contextmanager
def _timed(seconds: dict[str, float], name: str):
    started = time.perf_counter()
    yield
    seconds[name] = round(time.perf_counter() - started, 2)


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
    inputs = [ColSpec(MLFLOW_TYPES.get(types[f], "string"), f) for f in features]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema([ColSpec("double", PREDICTION)]))


def _pipeline(cfg: UseCase, features: list[Feature]):
    return build_pipeline([f.name for f in features if f.kind == "numeric"],
                          [f.name for f in features if f.kind == "categorical"],
                          cfg.label.name, cfg.model.algorithm, cfg.model.params, cfg.train.seed,
                          options={f.name: preparation_options(f) for f in features})


def _check_rows(ctx: Context, data: DataFrame) -> dict[str, int]:
    """Rows per split; fails on rows of another feature set or too few rows to train and evaluate."""
    cfg, store = ctx.cfg, ctx.tables
    stale = (F.col(FEATURE_SET) != F.lit(cfg.feature_set_id)) if FEATURE_SET in data.columns else F.lit(True)
    summary = data.groupBy(SPLIT).agg(F.count(F.lit(1)).alias("n"),
                                      F.sum(F.when(stale, 1).otherwise(0)).alias("stale")).collect()
    counts = {s: 0 for s in PREFIX} | {r[SPLIT]: r["n"] for r in summary}
    table = store.display(cfg.tables.features)
    if any(r["stale"] for r in summary):
        raise TrainError(f"table {table}: {sum(r['stale'] for r in summary)} training rows were computed by other "
                         f"feature definitions than feature set {cfg.feature_set_id}: run the features stage for "
                         f"{ctx.as_of} first")
    if counts[TRAIN] < cfg.train.min_rows or counts[TEST] == 0:
        raise TrainError(f"table {table}: {counts[TRAIN]} training and {counts[TEST]} test rows with labels before "
                         f"{ctx.as_of}; train.min_rows is {cfg.train.min_rows}")
    if cfg.split.out_of_time_days and counts[OUT_OF_TIME] == 0:
        delay = label_delay_days(cfg)
        raise TrainError(f"table {table}: no labelled rows in the last {cfg.split.out_of_time_days} as-ofs before "
                         f"{ctx.as_of - timedelta(days=delay)} (split.out_of_time_days"
                         + (f", before the {delay}-day outcome windows that are still open" if delay else "")
                         + "): nothing to evaluate out of time on")
    return counts


def _check_sanity(cfg: UseCase, train: DataFrame) -> tuple[float | None, float | None]:
    """Fails on a model feature that is all NULL or constant in the training rows (unless
    train.allow_empty_features lists it); returns the training label's range."""
    names = [f.name for f in cfg.model_features]
    profile = feature_profile(train, [*names, cfg.label.name]).first().asDict()
    bad = {f: why for f, why in empty_or_constant(profile, names).items() if f not in cfg.train.allow_empty_features}
    if bad:
        detail = "; ".join(f"feature {f}: {why}" for f, why in bad.items())
        raise TrainError(f"training rows: {detail}: fix the feature (or its source's contract), or list it under "
                         f"train.allow_empty_features")
    label = len(names)
    return profile[f"{label}_min"], profile[f"{label}_max"]


def _refuse_leaks(cfg: UseCase, powers: dict[str, float], model_power: float | None) -> list[dict]:
    """Fails naming each feature whose power alone looks like label leakage; returns the
    flagged features that train.leakage.allow lets through."""
    leakage = cfg.train.leakage
    found = leakage_findings(powers, model_power, metric=POWER_METRIC[cfg.label.kind],
                             max_single_power=cfg.max_single_power, margin=leakage.margin,
                             margin_min_power=cfg.margin_min_power, allow=leakage.allow)
    refused = [f for f in found if not f["allowed"]]
    if refused:
        detail = "; ".join(f"feature {f['feature']}: {f['reason']}" for f in refused)
        raise TrainError(f"label leakage suspected on the {ROWS_NAME[cfg.gate.evaluate_on]} rows: {detail}: if it is "
                         f"known only after the event declare it in entity.known_after_event, else list it under "
                         f"train.leakage.allow")
    return found


def _importance(cfg: UseCase, model, rows: DataFrame, n_rows: int) -> dict[str, dict]:
    """Each model feature's permutation importance on (a hash sample of) the evaluation rows."""
    settings, order, metric = cfg.train.importance, [*cfg.entity.key, AS_OF], cfg.model.primary_metric
    sample = imp.sample_rows(rows, order, settings.max_rows, n_rows, cfg.train.seed)
    # scored once (the metrics take two passes over it)
    scored = imp.permutation_scores(model, sample, cfg.label.name, cfg.label.kind, order, settings.repeats,
                                    cfg.train.seed).cache()
    try:
        by_copy = {(r[imp.PERMUTED], r[imp.REPEAT]): r[metric]
                   for r in evaluate_by(cfg, lambda df: df, scored, [imp.PERMUTED, imp.REPEAT]).collect()}
    finally:
        scored.unpersist()
    return imp.importances(by_copy, metric in LOWER_IS_BETTER)


def _ablation(cfg: UseCase, train: DataFrame, rows: DataFrame, baseline: float) -> dict[str, float]:
    """Drop-column importance: the model retrained without each feature, on the evaluation rows."""
    metric, out = cfg.model.primary_metric, {}
    for feature in cfg.model_features:
        rest = [f for f in cfg.model_features if f.name != feature.name]
        model = _pipeline(cfg, rest).fit(train)
        metrics = evaluate_by(cfg, spark_ml_scorer(model, cfg.label.kind), rows, []).first()
        out[feature.name] = imp.ablation_delta(baseline, metrics[metric], metric in LOWER_IS_BETTER)
    return out


def min_gain(cfg: UseCase, baseline: float) -> float:
    """The importance below which a feature brings nothing (train.importance.min_gain)."""
    if cfg.train.importance.min_gain is not None:
        return cfg.train.importance.min_gain
    metric = cfg.model.primary_metric
    return 0.001 * abs(baseline) if metric in LOWER_IS_BETTER else 0.001


def feature_report(cfg: UseCase, powers: dict[str, float], leaks: list[dict], importance: dict[str, dict],
                   ablation: dict[str, float], gain: float) -> list[dict]:
    flagged = {f["feature"] for f in leaks}
    out = []
    for f in cfg.model_features:
        value = importance.get(f.name, {})
        out.append({"feature": f.name, "kind": f.kind, "single_feature_power": powers.get(f.name),
                    "power_metric": POWER_METRIC[cfg.label.kind], "permutation_importance": value.get("importance"),
                    "importance_std": value.get("std"), "importance_metric": cfg.model.primary_metric,
                    "ablation_delta": ablation.get(f.name),
                    "verdict": imp.verdict(value.get("importance"), gain, f.name in flagged)})
    return out


@dataclass(frozen=True, eq=False)
class TrainResult(StageResult):
    trained: bool                     # False: the retraining policy said it was not due
    reason: str | None = None         # why it trained, or why not
    model_version: str | None = None  # the new @challenger
    run_id: str | None = None
    test_metrics: dict = field(default_factory=dict)
    oot_metrics: dict = field(default_factory=dict)
    train_rows: int = 0
    test_rows: int = 0
    oot_rows: int = 0
    seconds: dict = field(default_factory=dict)
    feature_report: list = field(default_factory=list)

    @property
    def detail(self) -> str | None:
        return f"trained version {self.model_version}" if self.trained else self.reason


def run(ctx: Context) -> TrainResult:
    cfg, store = ctx.cfg, ctx.tables
    registry.configure(ctx)
    decision = retrain_policy.decide(ctx, ctx.force)
    log.info("train: %s: %s", "training" if decision.train else "skipped, not due", decision.reason)
    if not decision.train:
        return TrainResult(trained=False, reason=decision.reason)
    seconds: dict[str, float] = {}
    frame = training_frame(ctx, ctx.as_of)
    # A fixed partitioning and row order before fit: seeds alone do not make Spark ML reproducible.
    data = (frame.repartition(cfg.train.partitions, *cfg.entity.key)
            .sortWithinPartitions(*cfg.entity.key, AS_OF).cache())
    evaluate_on = cfg.gate.evaluate_on
    scored = None
    try:
        counts = _check_rows(ctx, data)
        train, rows = data.where(F.col(SPLIT) == TRAIN), data.where(F.col(SPLIT) == evaluate_on)
        inputs = cfg.model_features
        with _timed(seconds, "sanity"):
            label_range = _check_sanity(cfg, train)
        with _timed(seconds, "leakage"):
            powers = {r[FEATURE]: r[POWER] for r in single_feature_power(
                train, rows, [f.name for f in inputs if f.kind == "numeric"],
                [f.name for f in inputs if f.kind == "categorical"], cfg.label.name, cfg.label.kind).collect()}
            _refuse_leaks(cfg, powers, None)
        with _timed(seconds, "fit"):
            model = _pipeline(cfg, inputs).fit(train)
        scorer = spark_ml_scorer(model, cfg.label.kind)
        with _timed(seconds, "evaluation"):
            # scored once: the metrics by split and slice and the reference profile read these rows
            scored = scorer(data).select(*dict.fromkeys([SPLIT, cfg.label.name, *cfg.monitored_columns,
                                                         *cfg.slices])).cache()
            by_split = [r.asDict() for r in evaluate_by(cfg, lambda df: df, scored, [SPLIT], cfg.slices).collect()]
        metrics = {r[SPLIT]: {k: float(v) for k, v in r.items() if isinstance(v, (int, float)) and v is not None}
                   for r in by_split if r[SLICE_KEY] is None}
        evaluation = metrics.get(evaluate_on, {})
        with _timed(seconds, "reference_profile"):
            own = reference_profiles.evaluation_of({f"{PREFIX[s]}{k}": v for s, m in metrics.items() for k, v in m.items()},
                                                   reference_profiles.quality_metric(cfg))
            profile = reference_profiles.compute(cfg, scored.where(F.col(SPLIT) == TRAIN),
                                                 [r for r in by_split if r[SPLIT] == TEST], *own,
                                                 held_out=scored.where(F.col(SPLIT) == evaluate_on))
        scored.unpersist()
        leaks = _refuse_leaks(cfg, powers, evaluation.get(POWER_METRIC[cfg.label.kind]))
        with _timed(seconds, "importance"):
            importance = _importance(cfg, model, rows, counts[evaluate_on])
        ablation: dict[str, float] = {}
        if cfg.train.importance.ablation:
            with _timed(seconds, "ablation"):
                ablation = _ablation(cfg, train, rows, evaluation[cfg.model.primary_metric])
        signature = _signature(data, [f.name for f in inputs])
        prepared = fitted_preparation(model)
    finally:
        data.unpersist()
        if scored is not None:
            scored.unpersist()
    gain = min_gain(cfg, evaluation.get(cfg.model.primary_metric, 0.0))
    report = feature_report(cfg, powers, leaks, importance, ablation, gain)
    cutoff = prediction_time(ctx.as_of, cfg.entity.timezone)  # labels known before it
    with mlflow.start_run(run_name=f"{cfg.name}-{ctx.as_of}") as run:
        mlflow.log_params({
            "use_case": cfg.name, "as_of": ctx.as_of.isoformat(), "training_cutoff": cutoff.isoformat(),
            "window_days": cfg.train.window_days, "seed": cfg.train.seed,
            "partitions": cfg.train.partitions, "test_fraction": cfg.split.test_fraction,
            "split_salt": cfg.split.salt, "out_of_time_days": cfg.split.out_of_time_days,
            "evaluate_on": evaluate_on, "algorithm": cfg.model.algorithm, "label": cfg.label.name,
            "features": json.dumps([f.name for f in cfg.model_features]),
            "feature_set": cfg.feature_set_id, "retrain_reason": decision.reason[:500],
            **{f"model.{k}": v for k, v in cfg.model.params.items()},
            **preparation_params(prepared),
        })
        # every fitted preparation value (clip bounds, fill values, category vocabularies)
        mlflow.log_dict(prepared, "feature_preparation.json")
        mlflow.set_tags({"lakescore.use_case": cfg.name,
                         "lakescore.input_versions": json.dumps(store.versions_read, sort_keys=True),
                         "lakescore.runtime_versions": json.dumps(registry.runtime_versions(), sort_keys=True),
                         **ctx.run_tags()})
        mlflow.log_metrics({"train_rows": counts[TRAIN], "test_rows": counts[TEST], "oot_rows": counts[OUT_OF_TIME],
                            **{f"{PREFIX[s]}{k}": v for s, m in metrics.items() for k, v in m.items()},
                            **{f"train_label_{k}": v for k, v in zip(("min", "max"), label_range) if v is not None},
                            **{f"seconds_{k}": v for k, v in seconds.items()}})
        info = mlflow.spark.log_model(model, "model", registered_model_name=registry.model_name(ctx),
                                      pip_requirements=registry.pip_requirements(), signature=signature)
    ref = registry.by_version(ctx, str(info.registered_model_version))
    # the reports first, the alias last: a run killed before the alias leaves a version no alias
    # names, whose rows the re-run replaces (lakescore/training/run_tables.py)
    run_tables.write_model_metrics(ctx, ref.name, ref.version, run.info.run_id, by_split)
    run_tables.write_feature_report(ctx, ref.name, ref.version, run.info.run_id, report)
    run_tables.write_feature_alerts(ctx, ref.name, ref.version, report, gain)
    # the version's reference profile (what monitor compares it with) before any alias names it
    # (and the profiles of the versions it supersedes: a killed run's, the replaced challenger's)
    reference_profiles.write(ctx, ref.name, ref.version, profile,
                             replacing=tuple(run_tables.superseded_versions(ctx, ref.name, ref.version)))
    registry.set_alias(ref, registry.CHALLENGER)
    primary = cfg.model.primary_metric
    log.info("train: %s version %s, run %s, %d train / %d test / %d out-of-time rows, test %s=%.4f, "
             "out-of-time %s=%.4f; seconds %s", ref.name, ref.version, run.info.run_id, counts[TRAIN], counts[TEST],
             counts[OUT_OF_TIME], primary, metrics.get(TEST, {}).get(primary, float("nan")), primary,
             metrics.get(OUT_OF_TIME, {}).get(primary, float("nan")), seconds)
    for r in report:
        log.info("train: feature %-26s power %.3f  importance %+.5f (+-%.5f)  %s", r["feature"],
                 r["single_feature_power"] or float("nan"), r["permutation_importance"] or 0.0,
                 r["importance_std"] or 0.0, r["verdict"])
    return TrainResult(trained=True, reason=decision.reason, model_version=ref.version, run_id=run.info.run_id,
                       test_metrics=metrics.get(TEST, {}), oot_metrics=metrics.get(OUT_OF_TIME, {}),
                       train_rows=counts[TRAIN], test_rows=counts[TEST], oot_rows=counts[OUT_OF_TIME],
                       seconds=seconds, feature_report=report)


if __name__ == "__main__":
    from lakescore.core.stage_runner import stage_main

    stage_main("train", run, force_option=True)
