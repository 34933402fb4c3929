"""The use-case configuration: one YAML file under conf/ describes everything a use case needs.

The file is validated when it is loaded (pydantic, unknown keys refused), so a typo fails the
job before any table is touched, with one message that names the key. Identifiers that reach
SQL (schema, table and column names) are checked here and quoted where they are used.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from transforms.sql_refs import column_references

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
    known_after_event: list[Identifier] = Field(
        default_factory=list,
        description="columns of the entity row known only after the event (its outcome): never "
        "features. Columns the label's `expr` reads, and derived columns computed from any of "
        "them, are added automatically",
    )


class Label(Strict):
    name: Identifier
    kind: Literal["binary", "regression"]
    expr: SqlExpr = Field(description="SQL over the clean entity row; NULL = no label")
    known_at: SqlExpr = Field(description="SQL timestamp: when the label becomes known")


# ------------------------------------------------------------------------------ features
# When a feature's value becomes known, relative to the prediction time (all three are known
# at or before it; anything later is refused):
#   static           reference data as loaded (dimension tables)
#   catalog          the entity row's own columns known before the event (e.g. the schedule)
#   prediction_time  values as they stood at the prediction time (point-in-time lookups,
#                    windowed history, the as-of itself)
KnownAt = Literal["static", "catalog", "prediction_time"]
KNOWN_AT_ORDER: dict[str, int] = {"static": 0, "catalog": 1, "prediction_time": 2}
AS_OF_COLUMNS = ("as_of", "prediction_time")
FEATURE_SET = "feature_set"
DatePartName = Literal["hour", "minute_of_day", "day_of_week", "day_of_month", "day_of_year",
                       "week_of_year", "month", "year"]
STEP_OPS = ("date_part", "cyclic", "log", "clip", "buckets")


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(value)
    except Exception:  # noqa: BLE001 - ZoneInfo raises several kinds for a bad name
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. America/New_York)") from None
    return value


TimeZone = Annotated[str, AfterValidator(_timezone)]


class Step(Strict):
    """One stateless transform computed in the features stage (materialised in `features`):
    exactly one of the operations, with its parameters."""

    date_part: DatePartName | None = Field(
        None, description="part of a timestamp in `timezone` (default entity.timezone); "
        "day_of_week: 1 = Monday .. 7 = Sunday")
    timezone: TimeZone | None = Field(None, description="only with date_part")
    cyclic: Literal["sin", "cos"] | None = Field(None, description="sin/cos(2 pi x / period)")
    period: float | None = Field(None, gt=0, description="only with cyclic, e.g. 24 for an hour")
    log: float | None = Field(None, description="ln(x + log): 1 is log1p; NULL when x + log <= 0")
    clip: tuple[float | None, float | None] | None = Field(
        None, description="fixed bounds [low, high] (either may be null)")
    buckets: list[float] | None = Field(
        None, description="increasing boundaries b1 < ... < bn -> bucket 0 (x < b1) .. n (x >= bn)")

    @model_validator(mode="after")
    def _one_operation(self) -> Step:
        ops = [op for op in STEP_OPS if getattr(self, op) is not None]
        if len(ops) != 1:
            raise ValueError(f"a step is exactly one of {list(STEP_OPS)}, got {ops or 'none'}")
        if self.timezone is not None and self.date_part is None:
            raise ValueError("timezone goes with date_part")
        if (self.period is not None) != (self.cyclic is not None):
            raise ValueError("cyclic needs period (and period goes with cyclic)")
        if self.clip is not None:
            lo, hi = self.clip
            if lo is None and hi is None:
                raise ValueError("clip needs at least one bound")
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"clip: low {lo} is above high {hi}")
        if self.buckets is not None:
            b = self.buckets
            if not b or any(x >= y for x, y in zip(b, b[1:])):
                raise ValueError("buckets: boundaries must be strictly increasing and not empty")
        return self

    @property
    def op(self) -> str:
        return next(op for op in STEP_OPS if getattr(self, op) is not None)

    def params(self, default_timezone: str) -> dict[str, Any]:
        """The operation's parameters, for transforms.feature_steps.apply_step."""
        op = self.op
        if op == "date_part":
            return {"part": self.date_part, "timezone": self.timezone or default_timezone}
        if op == "cyclic":
            return {"fn": self.cyclic, "period": self.period}
        if op == "log":
            return {"offset": self.log}
        if op == "clip":
            return {"low": self.clip[0], "high": self.clip[1]}
        return {"boundaries": list(self.buckets)}


class Feature(Strict):
    name: Identifier
    kind: Literal["numeric", "categorical"]
    expr: SqlExpr | None = Field(
        None, description="SQL over the entity row, `as_of`, `prediction_time` and the lookups "
        "and histories (as `<name>.<column>`); default: the column `name`")
    steps: list[Step] = Field(default_factory=list, description="stateless transforms, in order")
    known_at: KnownAt | None = Field(
        None, description="when the value becomes known (static, catalog, prediction_time); checked "
        "against what `expr` reads; default: derived from it")
    description: str = ""
    in_model: bool = Field(True, description="false: materialised (for slices, monitoring) but not a model input")
    # Fitted inside the model on the training rows (numeric values are always scaled into [0, 1]):
    impute: Literal["median", "mean"] | None = Field(None, description="numeric: fill for NULL (default median)")
    clip_quantiles: tuple[float, float] | None = Field(
        None, description="numeric: clip to these training quantiles before scaling (default: training min/max)")
    min_count: int | None = Field(None, ge=1, description="categorical: rarer training values share the "
                                  "`other` bucket with unseen ones (default 1)")
    max_categories: int | None = Field(None, ge=1, description="categorical: keep the most frequent (default 100)")

    @property
    def sql(self) -> str:
        return self.expr or self.name

    @model_validator(mode="after")
    def _kind_options(self) -> Feature:
        wrong = {"numeric": ["min_count", "max_categories"],
                 "categorical": ["impute", "clip_quantiles"]}[self.kind]
        bad = [k for k in wrong if getattr(self, k) is not None]
        if bad:
            raise ValueError(f"{bad} do not apply to a {self.kind} feature")
        if self.clip_quantiles is not None:
            lo, hi = self.clip_quantiles
            if not 0.0 <= lo < hi <= 1.0:
                raise ValueError(f"clip_quantiles: need 0 <= low < high <= 1, got {list(self.clip_quantiles)}")
        return self


class Lookup(Strict):
    """A table joined to each entity row: a dimension (static), or, with `known_at`, a
    point-in-time lookup of the latest record known at or before the prediction time."""

    source: Identifier = Field(description="a source under `sources`")
    keys: dict[Identifier, Identifier] = Field(min_length=1, description="entity column: source column")
    known_at: SqlExpr | None = Field(
        None, description="SQL timestamp over the source row: when a record becomes known; set for "
        "time-stamped tables (point in time), omit for dimensions")
    max_age_hours: float | None = Field(None, gt=0, description="point in time: older records count as missing")
    description: str = ""

    @model_validator(mode="after")
    def _age_needs_time(self) -> Lookup:
        if self.max_age_hours is not None and self.known_at is None:
            raise ValueError("max_age_hours goes with known_at (a point-in-time lookup)")
        return self

    @property
    def point_in_time(self) -> bool:
        return self.known_at is not None


class Aggregate(Strict):
    agg: Literal["count", "sum", "mean", "min", "max"]
    value: SqlExpr | None = Field(None, description="SQL over the source row (count: optional, counts non-NULL)")
    prior_weight: float | None = Field(
        None, ge=0, description="mean only: shrink toward the mean over all groups with this many pseudo-events")

    @model_validator(mode="after")
    def _value(self) -> Aggregate:
        if self.value is None and self.agg != "count":
            raise ValueError(f"agg {self.agg} needs value")
        if self.prior_weight is not None and self.agg != "mean":
            raise ValueError("prior_weight goes with agg mean")
        return self


class History(Strict):
    """Aggregates over the past events of a group (a route, a carrier), per as-of: the events
    of the `window_days` days before the as-of whose values were known before its prediction time."""

    source: Identifier = Field(description="a source under `sources`: the past events")
    by: dict[Identifier, Identifier] = Field(
        default_factory=dict, description="entity column: source column (empty: every event)")
    event_time: SqlExpr = Field(description="SQL timestamp over the source row: its day places it in the window")
    known_at: SqlExpr = Field(description="SQL timestamp over the source row: when its values are known")
    window_days: int = Field(ge=1)
    where: SqlExpr | None = Field(None, description="optional SQL filter on the events")
    aggregates: dict[Identifier, Aggregate] = Field(min_length=1)
    description: str = ""


class FeatureSet(Strict):
    lookups: dict[Identifier, Lookup] = Field(default_factory=dict)
    histories: dict[Identifier, History] = Field(default_factory=dict)
    columns: list[Feature] = Field(min_length=1, description="the features, one column each")


@dataclass(frozen=True)
class FeatureInputs:
    """What a feature's expression reads, as found at config load."""

    entity_columns: tuple[str, ...]
    lookups: tuple[str, ...]          # dimension lookups
    timed: tuple[str, ...]            # point-in-time lookups and histories (carry a source time)
    as_of: bool                       # reads as_of / prediction_time
    known_at: str                     # derived: the latest of its inputs


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
    features: FeatureSet = Field(description="lookups, histories and the feature columns; a plain "
                                 "list is short for {columns: <list>}")
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
        names = self.feature_names
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

    @field_validator("features", mode="before")
    @classmethod
    def _list_is_columns(cls, value: Any) -> Any:
        return {"columns": value} if isinstance(value, list) else value

    @model_validator(mode="after")
    def _feature_checks(self) -> UseCase:
        """Static leakage guard and references of the features section (see README, Features)."""
        if self.entity.source not in self.sources:
            return self  # _cross_checks names the problem
        fs, cols, after = self.features, self.entity_columns, self.after_event_columns
        for name in self.entity.known_after_event:
            if name.lower() not in cols:
                raise ValueError(f"entity.known_after_event: {name!r} is not a column of source {self.entity.source!r}")
        if self.entity.filter:
            leaked = sorted(n for q, n in column_references(self.entity.filter) if q is None and n in after)
            if leaked:
                raise ValueError(f"entity.filter reads {leaked}, known only after the event: the catalog "
                                 "must be decidable at the prediction time")
        reserved = {c.lower() for c in [*self.entity.key, self.entity.event_time, *AS_OF_COLUMNS, FEATURE_SET]}
        clash = sorted(set(fs.lookups) & set(fs.histories))
        if clash:
            raise ValueError(f"features: {clash} name both a lookup and a history")
        joins: list[tuple[str, str, dict[str, str], str]] = (
            [(f"features.lookups.{n}", lk.source, lk.keys, "keys") for n, lk in fs.lookups.items()]
            + [(f"features.histories.{n}", h.source, h.by, "by") for n, h in fs.histories.items()])
        for where, source, on, key in joins:
            name = where.rsplit(".", 1)[1]
            if name.lower() in cols or name.lower() in reserved:
                raise ValueError(f"{where}: the name {name!r} is already a column of the entity row")
            if source not in self.sources:
                raise ValueError(f"{where}.source: {source!r} is not one of sources")
            src = self.sources[source]
            src_cols = set(src.columns) | set(src.derived)
            for entity_col, source_col in on.items():
                if entity_col.lower() not in cols:
                    raise ValueError(f"{where}.{key}: {entity_col!r} is not a column of source {self.entity.source!r}")
                if entity_col.lower() in after:
                    raise ValueError(f"{where}.{key}: {entity_col!r} is known only after the event")
                if source_col not in src_cols:
                    raise ValueError(f"{where}.{key}.{entity_col}: {source_col!r} is not a column of source {source!r}")
        for i, feature in enumerate(fs.columns):
            if feature.name.lower() in reserved:
                raise ValueError(f"features.columns.{i} ({feature.name}): the name is a column the features table "
                                 "has anyway (key, event time, as_of, prediction_time, feature_set)")
            try:
                inputs = self.feature_inputs(feature)
            except ValueError as exc:
                raise ValueError(f"features.columns.{i}: {exc}") from None
            declared = feature.known_at
            if declared and KNOWN_AT_ORDER[declared] < KNOWN_AT_ORDER[inputs.known_at]:
                reads = [*inputs.timed, *(["as_of"] if inputs.as_of else []), *inputs.entity_columns, *inputs.lookups]
                raise ValueError(f"features.columns.{i} ({feature.name}): declared known_at {declared} but it reads "
                                 f"{reads}, known at {inputs.known_at}")
        return self

    # -- helpers used by the jobs ----------------------------------------------------------
    def raw_table(self, source: str) -> str:
        return f"{self.tables.raw_prefix}{source}"

    def clean_table(self, source: str) -> str:
        return f"{self.tables.clean_prefix}{source}"

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features.columns]

    @property
    def model_features(self) -> list[Feature]:
        """The features the model takes as inputs."""
        return [f for f in self.features.columns if f.in_model]

    @property
    def entity_columns(self) -> dict[str, str]:
        """Columns of the entity row, lower-cased name -> name."""
        src = self.sources[self.entity.source]
        return {c.lower(): c for c in [*src.columns, *src.derived]}

    @cached_property
    def after_event_columns(self) -> set[str]:
        """Entity columns known only after the event (lower-cased): declared, read by the
        label's expression, or derived from one of those."""
        cols = self.entity_columns
        protected = {k.lower() for k in self.entity.key} | {self.entity.event_time.lower()}
        out = {c.lower() for c in self.entity.known_after_event}
        out |= {n for q, n in column_references(self.label.expr) if q is None and n in cols} - protected
        derived = {k.lower(): v for k, v in self.sources[self.entity.source].derived.items()}
        changed = True
        while changed:
            changed = False
            for name, sql in derived.items():
                if name not in out and name not in protected and any(
                        q is None and n in out for q, n in column_references(sql)):
                    out.add(name)
                    changed = True
        return out

    def feature_inputs(self, feature: Feature) -> FeatureInputs:
        """What `feature` reads (entity columns, lookups, histories, the as-of) and the derived
        known-at; raises ValueError naming the feature for a reference it may not make."""
        fs, cols, after = self.features, self.entity_columns, self.after_event_columns
        lookups = {k.lower(): k for k in fs.lookups}
        histories = {k.lower(): k for k in fs.histories}
        entity, dims, timed, as_of = set(), set(), set(), False
        for qualifier, name in sorted(column_references(feature.sql), key=lambda r: (r[0] or "", r[1])):
            if qualifier is None:
                if name in after:
                    raise ValueError(
                        f"feature {feature.name!r} reads column {cols[name]!r} of {self.entity.source}, known "
                        "only after the event (entity.known_after_event or the label's inputs): it would leak the label")
                if name in cols:
                    entity.add(cols[name])
                elif name in AS_OF_COLUMNS:
                    as_of = True
                elif name in lookups:
                    (timed if fs.lookups[lookups[name]].point_in_time else dims).add(lookups[name])
                elif name in histories:
                    timed.add(histories[name])
                continue
            if qualifier in lookups:
                lk = fs.lookups[lookups[qualifier]]
                src = self.sources[lk.source]
                known = {c.lower() for c in [*src.columns, *src.derived]}
                if name not in known:
                    raise ValueError(f"feature {feature.name!r} reads {qualifier}.{name}: source "
                                     f"{lk.source!r} has no column {name!r}")
                (timed if lk.point_in_time else dims).add(lookups[qualifier])
            elif qualifier in histories:
                h = fs.histories[histories[qualifier]]
                if name not in {a.lower() for a in h.aggregates}:
                    raise ValueError(f"feature {feature.name!r} reads {qualifier}.{name}: history "
                                     f"{histories[qualifier]!r} has no aggregate {name!r} (has {sorted(h.aggregates)})")
                timed.add(histories[qualifier])
            else:
                raise ValueError(f"feature {feature.name!r} reads {qualifier}.{name}: {qualifier!r} is not a "
                                 "lookup or history (features.lookups, features.histories)")
        if timed or as_of:
            level = "prediction_time"
        elif entity:
            level = "catalog"
        else:
            level = "static"
        return FeatureInputs(tuple(sorted(entity)), tuple(sorted(dims)), tuple(sorted(timed)), as_of, level)

    @property
    def feature_entity_columns(self) -> list[str]:
        """Entity columns the features stage needs: key, event time, the columns features read
        and the lookup and history keys (in the source's order)."""
        fs = self.features
        wanted = {c.lower() for c in [*self.entity.key, self.entity.event_time]}
        wanted |= {c.lower() for f in fs.columns for c in self.feature_inputs(f).entity_columns}
        wanted |= {c.lower() for lk in fs.lookups.values() for c in lk.keys}
        wanted |= {c.lower() for h in fs.histories.values() for c in h.by}
        return [c for low, c in self.entity_columns.items() if low in wanted]

    def feature_known_at(self, feature: Feature) -> str:
        return feature.known_at or self.feature_inputs(feature).known_at

    @property
    def feature_set_id(self) -> str:
        """A fingerprint of what the feature values depend on: the entity, the features section and
        the column types and derived SQL of the sources they read; descriptions and contract rules
        left out. Rows of the features table carry it, so a partition computed by other
        definitions is recomputed and a skew check can compare training and serving rows."""

        def strip(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: strip(v) for k, v in value.items() if k != "description"}
            if isinstance(value, list):
                return [strip(v) for v in value]
            return value

        fs = self.features
        used = {self.entity.source, *(lk.source for lk in fs.lookups.values()), *(h.source for h in fs.histories.values())}
        spec = {
            "entity": self.entity.model_dump(mode="json"),
            "features": strip(fs.model_dump(mode="json")),
            # a column's type, not its contract rules: those decide which rows are clean, not
            # how a feature is computed (tightening a domain must not recompute every feature)
            "sources": {name: {"columns": {c: col.type for c, col in src.columns.items()},
                               "derived": dict(src.derived)}
                        for name, src in sorted(self.sources.items()) if name in used},
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


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
        key = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"{key}: {msg}" if key else msg)  # a cross-check names its keys itself
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
