"""MLflow tracking and model registry, local (SQLite) or Databricks (workspace + Unity Catalog).

Models are registered versions of one registered model per use case: Spark ML pipelines that
`train` logs (scored natively by Spark) or any MLflow model that `lakescore model register`
brings (scored through `mlflow.pyfunc.spark_udf`; `lakescore.models.flavors` picks the path from the
flavor). Promotion is by alias: train and register set @challenger, promote moves @champion and
keeps the champion it replaces as @previous, which `lakescore model rollback` moves @champion
back to.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from lakescore.core.errors import StageError, reason
from lakescore.core.runtime import Context
from lakescore.models import flavors

log = logging.getLogger("lakescore.registry")

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous"
# The libraries whose versions a model records at training and the gate compares with the runtime.
LIBRARIES = ("pyspark", "mlflow", "delta-spark")


class RegistryError(StageError):
    """The MLflow tracking store cannot be opened, or an alias points at a version that is gone."""


def runtime_versions() -> dict[str, str | None]:
    """This runtime's versions of the libraries a model depends on (None: not installed as a
    package, e.g. Delta built into a Databricks runtime)."""
    out: dict[str, str | None] = {}
    for pkg in LIBRARIES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def pip_requirements() -> list[str]:
    """Written with the model: explicit requirements avoid MLflow's slow inference (DESIGN.md)."""
    return [f"{pkg}=={metadata.version(pkg)}" for pkg in ("pyspark", "mlflow")]


# The user's MLflow servers, as the environment gave them when lakescore was imported (later
# mlflow.set_tracking_uri calls set MLFLOW_TRACKING_URI in this process: a second use case's
# home would otherwise inherit the first one's store).
_USER_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI")
_USER_REGISTRY_URI = os.environ.get("MLFLOW_REGISTRY_URI")


def configure(ctx: Context) -> None:
    """Point MLflow at the right tracking server and registry and select the experiment."""
    if ctx.databricks:
        mlflow.set_tracking_uri("databricks")
        mlflow.set_registry_uri("databricks-uc")
        mlflow.set_experiment(ctx.cfg.mlflow.experiment)
        return
    ctx.home.mkdir(parents=True, exist_ok=True)
    # a shared tracking server (MLFLOW_TRACKING_URI, e.g. on a cluster) keeps its own artifact store;
    # read as the process started: mlflow.set_tracking_uri writes the variable itself
    shared = _USER_TRACKING_URI
    uri = shared or f"sqlite:///{ctx.home / 'mlflow.db'}"
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(_USER_REGISTRY_URI or uri)
        name = ctx.cfg.mlflow.experiment
        if mlflow.get_experiment_by_name(name) is None:
            location = None if shared else (ctx.home / "mlartifacts" / name).as_uri()
            mlflow.create_experiment(name, artifact_location=location)
        mlflow.set_experiment(name)
    except Exception as exc:  # noqa: BLE001 - a store that cannot be opened fails in many ways (SQLite, alembic)
        raise RegistryError(f"the MLflow tracking store {uri} cannot be opened: {reason(exc)}") from None


def model_name(ctx: Context) -> str:
    """The registered model's name: three-level on Unity Catalog."""
    if ctx.databricks and ctx.cfg.storage.catalog:
        return f"{ctx.cfg.storage.catalog}.{ctx.cfg.storage.schema_name}.{ctx.cfg.model.name}"
    return ctx.cfg.model.name


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str
    alias: str
    run_id: str
    trained_at: datetime          # the training data cutoff (logical time), not the wall clock
    uri: str


def _trained_at(run_id: str) -> datetime:
    run = MlflowClient().get_run(run_id)
    raw = run.data.params.get("training_cutoff")
    if raw:
        return datetime.fromisoformat(raw)
    return datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC).replace(tzinfo=None)


def by_alias(ctx: Context, alias: str) -> ModelRef | None:
    name = model_name(ctx)
    try:
        mv = MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        _refuse_dangling(name, alias)
        return None
    return ModelRef(name=name, version=str(mv.version), alias=alias, run_id=mv.run_id,
                    trained_at=_trained_at(mv.run_id), uri=f"models:/{name}@{alias}")


def _refuse_dangling(name: str, alias: str) -> None:
    """An alias the registered model still lists but whose version cannot be read is an error
    of its own (not "no such alias"): it names the version."""
    try:
        version = (MlflowClient().get_registered_model(name).aliases or {}).get(alias)
    except MlflowException:
        return
    if version is not None:
        raise RegistryError(f"model {name}@{alias} points at version {version}, which does not exist "
                            f"(deleted?): set the alias to an existing version (lakescore model rollback, "
                            f"or promote)")


def artifact_location(ref: ModelRef) -> str:
    """Where a version's files are (for error messages)."""
    try:
        return MlflowClient().get_model_version_download_uri(ref.name, ref.version)
    except MlflowException:
        return ref.uri


def by_version(ctx: Context, version: str, alias: str = "") -> ModelRef:
    name = model_name(ctx)
    mv = MlflowClient().get_model_version(name, version)
    return ModelRef(name=name, version=str(mv.version), alias=alias, run_id=mv.run_id,
                    trained_at=_trained_at(mv.run_id), uri=f"models:/{name}/{mv.version}")


def set_alias(ref: ModelRef, alias: str) -> None:
    MlflowClient().set_registered_model_alias(ref.name, alias, ref.version)
    log.info("alias %s@%s -> version %s", ref.name, alias, ref.version)


def promote(ref: ModelRef, champion: ModelRef | None) -> None:
    """Move @champion to `ref`; the champion it replaces becomes @previous."""
    if champion is not None and champion.version != ref.version:
        set_alias(champion, PREVIOUS)
    set_alias(ref, CHAMPION)


def rollback(ctx: Context) -> tuple[ModelRef, ModelRef]:
    """Move @champion back to @previous (and @previous to the champion it replaces, so a second
    rollback undoes the first); returns (the demoted champion, the restored version)."""
    champion, previous = by_alias(ctx, CHAMPION), by_alias(ctx, PREVIOUS)
    if champion is None or previous is None:
        missing = CHAMPION if champion is None else PREVIOUS
        raise LookupError(f"model {model_name(ctx)} has no @{missing}: nothing to roll back to")
    set_alias(previous, CHAMPION)
    set_alias(champion, PREVIOUS)
    return champion, previous


def run_data(ref: ModelRef):
    """The training run behind a model version: its params, metrics and tags."""
    return MlflowClient().get_run(ref.run_id).data


def signature_inputs(ref: ModelRef) -> dict[str, str] | None:
    """The model's input signature: column -> MLflow type (None: logged without one)."""
    signature = mlflow.models.get_model_info(ref.uri).signature
    if signature is None or signature.inputs is None:
        return None
    return {c["name"]: c["type"] for c in signature.inputs.to_dict()}


def scorer(ctx: Context, ref: ModelRef):
    """The model behind a registry reference as a scorer: rows -> the rows with `prediction`
    (double) and `score` (the positive class's probability for a binary label, the value for
    regression). Every stage that scores with a registered model goes through here; the
    execution path follows the model's flavor (`lakescore.models.flavors.scorer`): a Spark ML pipeline's
    transform, or mlflow.pyfunc.spark_udf for any other model."""
    return flavors.scorer(ctx, ref.uri)


def kind(ref: ModelRef) -> flavors.ModelKind:
    """The flavor, pyfunc prediction function and signature inputs of a registered version."""
    return flavors.kind_of(flavors.info(ref.uri))


def load(ctx: Context, ref: ModelRef):
    """The fitted PipelineModel behind a registry reference (a Spark ML model)."""
    return flavors.load_spark_model(ctx, ref.uri)
