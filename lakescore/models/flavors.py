"""Registered models of any flavor: what a model is (its flavors, pyfunc predict function and
signature, read from its MLmodel file), whether it takes the use case's model inputs, how it
scores, and how old it may be when it scores.

The execution path follows the flavor:
- a Spark ML pipeline (MLflow's `spark` flavor, what `train` logs) scores natively: the fitted
  pipeline's `transform`, in the JVM;
- any other model (scikit-learn, XGBoost, LightGBM, a custom pyfunc) scores through
  `mlflow.pyfunc.spark_udf`: Arrow batches of rows go to the model in Python workers, in the
  environment `score.env_manager` names. A binary classifier whose pyfunc predicts with
  `predict_proba` gives the positive class's probability as its score.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

import mlflow
import mlflow.spark
from mlflow.exceptions import MlflowException
from mlflow.models.model import ModelInfo
from pyspark.sql import functions as F

from lakescore.config import UseCase
from lakescore.config.scoring import FAIL
from lakescore.core import alerts
from lakescore.core.errors import StageError
from lakescore.core.runtime import Context
from lakescore.models.training_rows import Scorer
from lakescore.transforms.columns import AS_OF, BINARY
from lakescore.transforms.features.asof import prediction_time
from lakescore.transforms.modeling.predictions import model_age_days, model_output, pyfunc_output
from lakescore.transforms.monitoring.alerts import WARNING, from_findings
from lakescore.transforms.sqltext import all_of, col, eq

log = logging.getLogger("lakescore.models")

SPARK_FLAVOR = "spark"
PYFUNC_FLAVOR = "python_function"
PREDICT_PROBA = "predict_proba"
# MLflow's column types of the features table's columns, by feature kind
FEATURE_INPUT_TYPES = {"numeric": "double", "categorical": "string"}
_RAW = "_model_output"
STALE_MODEL = "stale_model"     # the alert kind of a model older than score.max_model_age_days
_FINDINGS = "batch_id string, kind string, column string, value double, threshold double, detail string"


class ModelError(StageError):
    """A model that does not fit the use case, cannot be read, or is too old to score."""


@dataclass(frozen=True)
class ModelKind:
    """What scoring needs to know of a model, from its MLmodel file."""

    flavors: tuple[str, ...]
    predict_fn: str                      # the pyfunc's prediction function (predict, predict_proba, ...)
    inputs: tuple[str, ...]              # the signature's input columns, in order (empty: no signature)

    @property
    def native(self) -> bool:
        return SPARK_FLAVOR in self.flavors

    @property
    def flavor(self) -> str:
        """The model's own flavor (spark, sklearn, xgboost, ...; python_function for a custom pyfunc)."""
        return next((f for f in self.flavors if f != PYFUNC_FLAVOR), PYFUNC_FLAVOR)

    @property
    def path(self) -> str:
        return "native Spark ML transform" if self.native else f"mlflow.pyfunc.spark_udf ({self.predict_fn})"


def info(uri: str) -> ModelInfo:
    """The MLmodel of a model URI (runs:/, models:/, a path), or ModelError naming the URI."""
    try:
        return mlflow.models.get_model_info(uri)
    except (MlflowException, OSError) as exc:
        raise ModelError(f"model {uri}: cannot read its MLmodel: {str(exc).splitlines()[0][:300]}") from None


def kind_of(model: ModelInfo) -> ModelKind:
    flavors = tuple(model.flavors)
    predict_fn = model.flavors.get(PYFUNC_FLAVOR, {}).get("predict_fn", "predict")
    inputs = model.signature.inputs if model.signature is not None else None
    names = tuple(inputs.input_names()) if inputs is not None and inputs.has_input_names() else ()
    return ModelKind(flavors=flavors, predict_fn=predict_fn, inputs=names)


def expected_inputs(cfg: UseCase) -> dict[str, str]:
    """The use case's model inputs with their MLflow column types, in the features table's order."""
    return {f.name: FEATURE_INPUT_TYPES[f.kind] for f in cfg.model_features}


def signature_problems(cfg: UseCase, model: ModelInfo) -> list[str]:
    """How a model's signature differs from the use case's model inputs (names and types):
    missing and extra columns named, each type mismatch named; empty when it matches."""
    if model.signature is None or model.signature.inputs is None:
        return ["it has no signature (log it with signature=mlflow.models.infer_signature(X, ...))"]
    inputs = model.signature.inputs
    if not inputs.has_input_names():
        return ["its signature has tensor inputs without column names"]
    want = expected_inputs(cfg)
    have = {c.name: getattr(c.type, "name", str(c.type)) for c in inputs.inputs}
    problems = []
    missing = [n for n in want if n not in have]
    extra = [n for n in have if n not in want]
    if missing:
        problems.append(f"missing columns {missing}")
    if extra:
        problems.append(f"extra columns {extra} (not model inputs of the use case)")
    problems += [f"column {n} is {have[n]}, the features table has {t}"
                 for n, t in want.items() if n in have and have[n] != t]
    return problems


def check_signature(cfg: UseCase, uri: str, model: ModelInfo) -> None:
    problems = signature_problems(cfg, model)
    if problems:
        raise ModelError(f"model {uri}: its signature does not match the model inputs of use case {cfg.name} "
                         f"(feature set {cfg.feature_set_id}): " + "; ".join(problems))


# ----------------------------------------------------------------------------- scoring
def load_spark_model(ctx: Context, uri: str):
    """The fitted Spark ML PipelineModel behind a model URI."""
    tmp = ctx.home / "tmp" / "mlflow-dfs"
    tmp.mkdir(parents=True, exist_ok=True)
    kwargs = {} if ctx.databricks else {"dfs_tmpdir": str(tmp)}
    return mlflow.spark.load_model(uri, **kwargs)


def scorer(ctx: Context, uri: str, kind: ModelKind | None = None) -> Scorer:
    """The model behind `uri` as a scorer: rows -> the rows with `prediction` (double) and `score`
    (the positive class's probability for a binary label, the value for regression), by the
    execution path of its flavor."""
    kind = kind or kind_of(info(uri))
    label_kind = ctx.cfg.label.kind
    if kind.native:
        model = load_spark_model(ctx, uri)
        return lambda rows: model.transform(rows).transform(model_output(label_kind))
    probabilities = label_kind == BINARY and kind.predict_fn == PREDICT_PROBA
    udf = mlflow.pyfunc.spark_udf(ctx.spark, uri, result_type="array<double>" if probabilities else "double",
                                  env_manager=ctx.cfg.score.env_manager)
    inputs = list(kind.inputs) or list(expected_inputs(ctx.cfg))
    return lambda rows: (rows.withColumn(_RAW, udf(F.struct(*[col(c) for c in inputs])))
                         .transform(pyfunc_output(_RAW, label_kind, probabilities)))


# -------------------------------------------------------------------------- model age
def age_days(ctx: Context, trained_at: datetime, as_of: date | None = None) -> float:
    """A model's age at the prediction time of `as_of` (default the context's): days from its
    training cutoff, as `predictions.model_age_days`."""
    return model_age_days(trained_at, prediction_time(as_of or ctx.as_of, ctx.cfg.entity.timezone))


def stale_message(ctx: Context, name: str, version: str, trained_at: datetime,
                  as_of: date | None = None) -> str | None:
    """One line when the model is older than `score.max_model_age_days` at the prediction time of
    `as_of` (default the context's), else None."""
    limit = ctx.cfg.score.max_model_age_days
    as_of = as_of or ctx.as_of
    age = age_days(ctx, trained_at, as_of)
    if limit is None or age <= limit:
        return None
    return (f"model {name} version {version} (training cutoff {trained_at:%Y-%m-%d %H:%M} UTC) is {age:g} days "
            f"old at the prediction time of as-of {as_of}, more than score.max_model_age_days {limit:g}")


def enforce_age(ctx: Context, name: str, version: str, trained_at: datetime, stage: str = "score") -> str | None:
    """`score.on_stale` for a model about to score the as-of: `fail` raises ModelError before
    anything is written; `warn` writes a warning alert (kind `stale_model`, one per as-of, rewritten
    by a re-run); a model within the limit removes that alert of the as-of. Returns the message."""
    score = ctx.cfg.score
    message = stale_message(ctx, name, version, trained_at)
    if message and score.on_stale == FAIL:
        raise ModelError(f"{message} (score.on_stale fail): nothing written, the previous predictions stay")
    if message:
        log.warning("%s: %s", stage, message)
    store = ctx.tables
    if not message and (score.max_model_age_days is None or not store.exists(ctx.cfg.tables.alerts)):
        return None
    findings = [(None, STALE_MODEL, f"v{version}", age_days(ctx, trained_at), score.max_model_age_days,
                 f"{message} (policy {score.on_stale})")] if message else []
    rows = store.spark.createDataFrame(findings, _FINDINGS)
    alert_rows = from_findings(rows, stage=stage, source=name, as_of=ctx.as_of, created_at=Context.now(),
                               severity=F.lit(WARNING))
    alerts.write(ctx, alert_rows, all_of(eq("stage", stage), eq("kind", STALE_MODEL), eq(AS_OF, ctx.as_of)),
                 empty=not findings)
    return message
