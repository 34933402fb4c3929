"""The use-case configuration: one YAML file under conf/ describes everything a use case needs.

The file is validated when it is loaded (pydantic, unknown keys refused), so a typo fails the
job before any table is touched, with one message that names the key. Identifiers that reach
SQL (schema, table and column names) are checked here and quoted where they are used.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(ValueError):
    """A configuration problem; the message names the file and the key."""


def _identifier(value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(
            f"{value!r} is not a plain identifier (letters, digits and _, not starting with a digit)"
        )
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
SqlExpr = Annotated[str, Field(min_length=1)]
ColumnType = Literal["string", "int", "bigint", "double", "boolean", "date", "timestamp"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------- storage
class Storage(Strict):
    catalog: Identifier | None = Field(
        None, description="Unity Catalog catalog on Databricks; unused on the local runtime"
    )
    schema_name: Identifier = Field(alias="schema", description="database that holds every table")
    local_home: str = Field(
        ".lakescore",
        description="local runtime folder: Delta warehouse, metastore, MLflow database and "
        "artifacts; relative paths are relative to the working directory; LAKESCORE_HOME overrides",
    )


class Tables(Strict):
    raw_prefix: Identifier = "raw_"
    clean_prefix: Identifier = "clean_"
    quarantine: Identifier = "quarantine"
    data_quality: Identifier = "data_quality"
    features: Identifier = "features"
    predictions: Identifier = "predictions"
    predictions_latest: Identifier = "predictions_latest"
    model_validations: Identifier = "model_validations"
    slice_metrics: Identifier = "slice_metrics"
    drift_metrics: Identifier = "drift_metrics"
    alerts: Identifier = "alerts"


# --------------------------------------------------------------------------------- sources
class Landing(Strict):
    """Where a source's files come from when lakescore lands them itself (the demo)."""

    package: str | None = Field(
        None, description="Python package that ships the file; `path` is then inside it"
    )
    path: str = Field(description="file path (a .csv or a .zip holding one .csv)")
    format: Literal["csv"] = "csv"


class ColumnSpec(Strict):
    type: ColumnType
    nullable: bool = True


class Source(Strict):
    landing: Landing | None = Field(
        None, description="omit when the raw table is written by another system"
    )
    null_values: list[str] = Field(
        default_factory=list, description="raw text values that mean NULL (e.g. NA)"
    )
    key: list[Identifier] = Field(default_factory=list)
    columns: dict[Identifier, ColumnSpec]
    derived: dict[Identifier, SqlExpr] = Field(
        default_factory=dict, description="columns computed from the typed row, as SQL"
    )

    @model_validator(mode="after")
    def _key_in_columns(self) -> Source:
        missing = [k for k in self.key if k not in self.columns]
        if missing:
            raise ValueError(f"key columns {missing} are not declared under columns")
        clash = sorted(set(self.derived) & set(self.columns))
        if clash:
            raise ValueError(f"derived columns {clash} are also declared under columns")
        if not self.columns:
            raise ValueError("columns must declare at least one column")
        return self


# ---------------------------------------------------------------------------- entity/label
class Entity(Strict):
    source: Identifier = Field(description="source whose clean rows are the entities")
    key: list[Identifier] = Field(min_length=1)
    event_time: Identifier = Field(description="timestamp column: when the entity happens")
    timezone: str = Field("UTC", description="time zone in which as-of dates are days")
    horizon_days: int = Field(
        1, ge=1, description="an as-of scores the entities whose event time falls in "
        "[as-of 00:00, as-of + horizon_days) in `timezone`",
    )
    filter: SqlExpr | None = Field(None, description="optional SQL filter on catalog entities")


class Label(Strict):
    name: Identifier
    kind: Literal["binary", "regression"]
    expr: SqlExpr = Field(description="SQL over the clean entity row; NULL = no label")
    known_at: SqlExpr = Field(description="SQL timestamp: when the label becomes known")


class Feature(Strict):
    name: Identifier
    kind: Literal["numeric", "categorical"]
    expr: SqlExpr | None = Field(None, description="SQL over the entity row; default: the column `name`")
    description: str = ""

    @property
    def sql(self) -> str:
        return self.expr or self.name


# --------------------------------------------------------------------------- train/model
class Split(Strict):
    test_fraction: float = Field(gt=0, lt=1)
    salt: str = Field(min_length=1, description="changing it draws a different split")


class Train(Strict):
    window_days: int = Field(ge=1, description="days of labelled history before the as-of")
    seed: int
    partitions: int = Field(2, ge=1, description="fixed partitioning before fit, for reproducibility")
    min_rows: int = Field(100, ge=1, description="fewer labelled rows fails the job")


ParamValue = int | float | str | bool


class Model(Strict):
    name: Identifier = Field(description="registered model name (three-level on Unity Catalog)")
    algorithm: Literal[
        "logistic_regression", "gbt_classifier", "random_forest_classifier",
        "linear_regression", "gbt_regressor", "random_forest_regressor",
    ]
    params: dict[str, ParamValue] = Field(default_factory=dict)
    primary_metric: Literal["auc", "pr_auc", "log_loss", "accuracy", "rmse", "mae", "r2"]


class Gate(Strict):
    floors: dict[str, float] = Field(
        default_factory=dict,
        description="absolute bounds on the challenger's test metrics: minimum for "
        "higher-is-better metrics, maximum for rmse/mae/log_loss",
    )
    max_drop_vs_champion: float = Field(
        0.01, ge=0, description="sudden degradation: largest allowed loss on the primary metric "
        "against the champion, both evaluated on the challenger's test rows",
    )


class Monitor(Strict):
    lookback_days: int = Field(7, ge=1, description="prediction windows (days) refreshed per run")


class MlflowSettings(Strict):
    experiment: str = Field(description="experiment name (a workspace path on Databricks)")


# ----------------------------------------------------------------------------- use case
class UseCase(Strict):
    name: Identifier
    description: str = ""
    storage: Storage
    tables: Tables = Field(default_factory=Tables)
    sources: dict[Identifier, Source] = Field(min_length=1)
    entity: Entity
    label: Label
    features: list[Feature] = Field(min_length=1)
    slices: list[Identifier] = Field(default_factory=list)
    split: Split
    train: Train
    model: Model
    gate: Gate = Field(default_factory=Gate)
    monitor: Monitor = Field(default_factory=Monitor)
    mlflow: MlflowSettings
    targets: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-target overrides, merged before validation"
    )

    @model_validator(mode="after")
    def _cross_checks(self) -> UseCase:
        if self.entity.source not in self.sources:
            raise ValueError(f"entity.source {self.entity.source!r} is not one of sources")
        src = self.sources[self.entity.source]
        known = set(src.columns) | set(src.derived)
        for field, cols in (("entity.key", self.entity.key), ("entity.event_time", [self.entity.event_time])):
            missing = [c for c in cols if c not in known]
            if missing:
                raise ValueError(f"{field}: {missing} not a column of source {self.entity.source!r}")
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"features: duplicate names {dupes}")
        if self.label.name in names:
            raise ValueError(f"features: {self.label.name!r} is the label")
        bad_slices = [s for s in self.slices if s not in names]
        if bad_slices:
            raise ValueError(f"slices: {bad_slices} are not features")
        classification = self.model.algorithm.endswith("_classifier") or self.model.algorithm == "logistic_regression"
        if classification != (self.label.kind == "binary"):
            raise ValueError(
                f"model.algorithm {self.model.algorithm!r} does not fit label.kind {self.label.kind!r}"
            )
        allowed = _METRICS[self.label.kind]
        for key in [self.model.primary_metric, *self.gate.floors]:
            if key not in allowed:
                raise ValueError(f"metric {key!r} is not one of {sorted(allowed)} for a {self.label.kind} label")
        return self

    # -- helpers used by the jobs ----------------------------------------------------------
    def raw_table(self, source: str) -> str:
        return f"{self.tables.raw_prefix}{source}"

    def clean_table(self, source: str) -> str:
        return f"{self.tables.clean_prefix}{source}"

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]


_METRICS = {
    "binary": {"auc", "pr_auc", "log_loss", "accuracy"},
    "regression": {"rmse", "mae", "r2"},
}
LOWER_IS_BETTER = {"log_loss", "rmse", "mae"}


# ------------------------------------------------------------------------------- loading
def _deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _describe(error: ValidationError, path: str) -> str:
    lines = []
    for e in error.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"{key}: {msg}")
    head = f"{path}: invalid config: {lines[0]}"
    rest = [f"  also {line}" for line in lines[1:]]
    return "\n".join([head, *rest])


def parse_config(data: dict[str, Any], *, target: str | None = None, source: str = "<config>") -> UseCase:
    """Validate a config mapping; `target` merges `targets.<target>` over it first."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: invalid config: the top level must be a mapping")
    if target:
        targets = data.get("targets") or {}
        if target not in targets:
            raise ConfigError(f"{source}: invalid config: targets.{target}: no such target "
                              f"(known: {sorted(targets) or 'none'})")
        data = _deep_merge(data, targets[target])
    try:
        return UseCase.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None


def load_config(path: str | Path, *, target: str | None = None,
                overrides: dict[str, Any] | None = None) -> UseCase:
    """Load and validate a use-case YAML; `overrides` (a nested mapping) is merged last."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if overrides:
        data = _deep_merge(data or {}, overrides)
    return parse_config(data, target=target, source=str(path))
