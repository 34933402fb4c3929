"""The features section: lookups (dimension and point-in-time), histories (windowed aggregates
over past events) and the feature columns with their stateless steps, known-at and fitted
preparation options."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from lakescore.config.base import Identifier, SqlExpr, Strict, TimeZone
from lakescore.transforms.features.leakage import KNOWN_AT_LEVELS
from lakescore.transforms.features.steps import DATE_PARTS, STEP_OPS

# When a feature's value becomes known, relative to the prediction time (static, catalog,
# prediction_time: see transforms.features.leakage); anything later is refused.
KnownAt = Literal[KNOWN_AT_LEVELS]  # type: ignore[valid-type]
DatePartName = Literal[DATE_PARTS]  # type: ignore[valid-type]


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
