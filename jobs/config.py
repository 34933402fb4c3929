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


# The data contract. Every anomaly kind has a policy: `warn` (alert; rows go on as usual),
# `quarantine` (the offending rows go to quarantine with the kind as reason code) or `fail`
# (the job stops before any write). Row-level kinds are checked on every row; dataset-level
# kinds on the batch as a whole. Names follow TensorFlow Data Validation's anomaly types.
Policy = Literal["warn", "quarantine", "fail"]
AnomalyKind = Literal[
    # row level
    "type_mismatch", "missing_value", "out_of_domain", "out_of_range", "pattern_mismatch",
    "duplicate_key",
    # dataset level
    "missing_column", "new_column", "unexpected_string_values", "low_presence",
    "low_num_examples", "high_num_examples", "stale_source",
]
ROW_KINDS = ("type_mismatch", "missing_value", "out_of_domain", "out_of_range", "pattern_mismatch",
             "duplicate_key")
DATASET_KINDS = ("missing_column", "new_column", "unexpected_string_values", "low_presence",
                 "low_num_examples", "high_num_examples", "stale_source")
# Kinds that concern one declared column, so a column may override their policy.
COLUMN_KINDS = ("type_mismatch", "missing_value", "out_of_domain", "out_of_range", "pattern_mismatch",
                "missing_column", "unexpected_string_values", "low_presence")
DEFAULT_POLICIES: dict[str, str] = {
    **{kind: "quarantine" for kind in ROW_KINDS},
    "missing_column": "fail",
    "new_column": "warn",
    "unexpected_string_values": "warn",
    "low_presence": "warn",
    "low_num_examples": "warn",
    "high_num_examples": "warn",
    "stale_source": "warn",
}
Bound = int | float | str
_NUMERIC = ("int", "bigint", "double")
_TIME = ("date", "timestamp")
# Raw-table columns that lakescore's landing adds; a freshness rule may use `_landed_at`.
LANDED_AT_COLUMN = "_landed_at"


def _check_policies(policies: dict[str, str], allowed: tuple[str, ...], where: str) -> None:
    bad = sorted(k for k in policies if k not in allowed)
    if bad:
        raise ValueError(f"{where}: {bad} cannot be set here (allowed: {', '.join(allowed)})")


class ColumnSpec(Strict):
    type: ColumnType
    nullable: bool = Field(True, description="false: a NULL is a missing_value")
    domain: list[str | int | float | bool] | None = Field(
        None, min_length=1, description="allowed values (a categorical domain): others are out_of_domain")
    min_domain_mass: float | None = Field(
        None, ge=0, le=1, description="smallest tolerated share of non-null values inside the domain "
        "(TFDV's min_domain_mass, default 1.0): below it the batch has unexpected_string_values")
    min: Bound | None = Field(None, description="smallest allowed value (numbers; ISO text for dates)")
    max: Bound | None = Field(None, description="largest allowed value")
    pattern: str | None = Field(None, min_length=1, description="Java regular expression a string value must match")
    min_presence: float | None = Field(
        None, ge=0, le=1, description="smallest tolerated share of rows with a value: below it, low_presence")
    policies: dict[AnomalyKind, Policy] = Field(
        default_factory=dict, description="per-column policy overrides of column-level anomaly kinds")

    @model_validator(mode="after")
    def _consistent(self) -> ColumnSpec:
        if self.min_domain_mass is not None and self.domain is None:
            raise ValueError("min_domain_mass needs a domain")
        if self.pattern is not None:
            if self.type != "string":
                raise ValueError(f"pattern applies to string columns, not {self.type}")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern {self.pattern!r} is not a regular expression: {exc}") from None
        for name in ("min", "max"):
            bound = getattr(self, name)
            if bound is None:
                continue
            if self.type in _NUMERIC and (isinstance(bound, (bool, str))):
                raise ValueError(f"{name}: {bound!r} is not a number for a {self.type} column")
            if self.type in _TIME and not isinstance(bound, str):
                raise ValueError(f"{name}: write a {self.type} bound as ISO text, e.g. '2013-01-01'")
            if self.type not in _NUMERIC + _TIME:
                raise ValueError(f"{name} applies to numeric, date and timestamp columns, not {self.type}")
            if self.type in _TIME:
                _parse_time(bound, name)
        if self.min is not None and self.max is not None:
            lo, hi = (_parse_time(self.min, "min"), _parse_time(self.max, "max")) if self.type in _TIME \
                else (self.min, self.max)
            if lo > hi:
                raise ValueError(f"min {self.min!r} is larger than max {self.max!r}")
        _check_policies(self.policies, COLUMN_KINDS, "policies")
        return self

    def policy(self, kind: str, source_policies: dict[str, str]) -> str:
        return self.policies.get(kind) or source_policies.get(kind) or DEFAULT_POLICIES[kind]


def _parse_time(value: str, name: str):
    from datetime import datetime

    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not an ISO date or timestamp") from None


class Freshness(Strict):
    column: Identifier = Field(description="a date/timestamp column of the source (the event time), "
                               "or _landed_at (when the batch was landed)")
    max_age_hours: float = Field(gt=0, description="the newest value may be at most this old at the "
                                 "as-of (00:00 in entity.timezone); older: stale_source")


class Volume(Strict):
    history_batches: int = Field(5, ge=1, description="compare a batch with the median rows of this many "
                                 "previous batches of the source")
    min_ratio: float = Field(0.5, gt=0, description="rows / median below this: low_num_examples")
    max_ratio: float = Field(2.0, gt=0, description="rows / median above this: high_num_examples")

    @model_validator(mode="after")
    def _ordered(self) -> Volume:
        if not self.min_ratio <= 1 <= self.max_ratio:
            raise ValueError("volume needs min_ratio <= 1 <= max_ratio")
        return self


class Source(Strict):
    landing: Landing | None = Field(
        None, description="omit when the raw table is written by another system"
    )
    null_values: list[str] = Field(
        default_factory=list, description="raw text values that mean NULL (e.g. NA)"
    )
    key: list[Identifier] = Field(default_factory=list)
    key_scope: Literal["table", "batch"] = Field(
        "table", description="table: a key may appear once in clean_<source> (facts arrive once); "
        "batch: once per batch (full snapshots of a reference table)")
    columns: dict[Identifier, ColumnSpec]
    derived: dict[Identifier, SqlExpr] = Field(
        default_factory=dict, description="columns computed from the typed row, as SQL"
    )
    freshness: Freshness | None = Field(None, description="stale_source check; none when omitted")
    volume: Volume | None = Field(default_factory=Volume, description="volume against history; "
                                  "null turns the check off")
    policies: dict[AnomalyKind, Policy] = Field(
        default_factory=dict, description="policy per anomaly kind for this source (defaults: "
        "row-level kinds quarantine, missing_column fail, the other dataset-level kinds warn)")

    @model_validator(mode="after")
    def _key_in_columns(self) -> Source:
        if not self.columns:
            raise ValueError("columns must declare at least one column")
        missing = [k for k in self.key if k not in self.columns]
        if missing:
            raise ValueError(f"key columns {missing} are not declared under columns")
        nullable = [k for k in self.key if self.columns[k].nullable]
        if nullable:
            raise ValueError(f"key columns {nullable} must be declared nullable: false")
        dupes = sorted({k for k in self.key if self.key.count(k) > 1})
        if dupes:
            raise ValueError(f"key columns {dupes} are listed twice")
        clash = sorted(set(self.derived) & set(self.columns))
        if clash:
            raise ValueError(f"derived columns {clash} are also declared under columns")
        if self.freshness is not None and self.freshness.column != LANDED_AT_COLUMN:
            col = self.columns.get(self.freshness.column)
            if col is None or col.type not in _TIME:
                raise ValueError(f"freshness.column {self.freshness.column!r} must be a date or timestamp "
                                 f"column of the source, or {LANDED_AT_COLUMN}")
        return self

    def policy(self, kind: str, column: str | None = None) -> str:
        """The policy of an anomaly kind (on a column): column override, source, default."""
        if column is not None and column in self.columns:
            return self.columns[column].policy(kind, self.policies)
        return self.policies.get(kind) or DEFAULT_POLICIES[kind]


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
