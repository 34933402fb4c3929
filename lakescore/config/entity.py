"""What a use case scores and learns: the entity (its source, key, catalog, time zone) and the
label (per entity, or from an outcome window after each prediction)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lakescore.config.base import Identifier, SqlExpr, Strict, TimeZone
from lakescore.transforms.modeling.labels import OUTCOME_AGGS

CATALOGS = ("events", "snapshot")


class Entity(Strict):
    source: Identifier = Field(description="source whose clean rows are the entities")
    key: list[Identifier] = Field(min_length=1)
    catalog: Literal[CATALOGS] = Field(  # type: ignore[valid-type]
        "events", description="events: an as-of scores the entities whose event time falls in its horizon; "
        "snapshot: an as-of scores every entity of the source as known at its prediction time")
    event_time: Identifier | None = Field(
        None, description="events: timestamp column, when the entity happens (required); snapshot: unused")
    timezone: TimeZone = Field("UTC", description="time zone in which as-of dates are days")
    horizon_days: int = Field(
        1, ge=1, description="events: an as-of scores the entities whose event time falls in "
        "[as-of 00:00, as-of + horizon_days) in `timezone`",
    )
    filter: SqlExpr | None = Field(None, description="optional SQL filter on catalog entities")
    active: SqlExpr | None = Field(
        None, description="snapshot: SQL over the entity row, true while the entity is in the catalog "
        "(e.g. retired_at IS NULL)")
    known_after_event: list[Identifier] = Field(
        default_factory=list,
        description="columns of the entity row known only after the event (its outcome): never "
        "features. Columns the label's `expr` reads, and derived columns computed from any of "
        "them, are added automatically",
    )

    @model_validator(mode="after")
    def _catalog(self) -> Entity:
        if self.catalog == "events" and self.event_time is None:
            raise ValueError("event_time is required for an events catalog (catalog: snapshot scores every "
                             "entity on every as-of without one)")
        if self.catalog == "events" and self.active is not None:
            raise ValueError("active goes with catalog: snapshot (use filter for an events catalog)")
        if self.catalog == "snapshot" and "horizon_days" in self.model_fields_set:
            raise ValueError("horizon_days goes with catalog: events (a snapshot catalog scores every entity "
                             "on every as-of)")
        return self

    @property
    def snapshot(self) -> bool:
        return self.catalog == "snapshot"


class Outcome(Strict):
    """A label from what happens to the entity after the prediction: `agg` of `expr` over the
    source's events of the entity in [prediction time, prediction time + within_days)."""

    source: Identifier = Field(description="a source under `sources`: the events")
    by: dict[Identifier, Identifier] = Field(min_length=1, description="entity key column: source column")
    event_time: SqlExpr = Field(description="SQL timestamp over the source row: places it in a window")
    known_at: SqlExpr | None = Field(None, description="SQL timestamp over the source row: when its values are "
                                     "known (default: event_time); the label is known once every event is")
    within_days: int = Field(ge=1, description="the window's length in days, from the prediction time")
    agg: Literal[OUTCOME_AGGS] = Field(  # type: ignore[valid-type]
        description="any (1 when expr holds for an event, else 0), count, sum, mean, min, max")
    expr: SqlExpr | None = Field(None, description="SQL over the source row (any: a condition; count: "
                                 "optional, counts non-NULL values)")
    empty: float | None = Field(0.0, description="the label when the window has no event (null: no label)")

    @model_validator(mode="after")
    def _expr(self) -> Outcome:
        if self.expr is None and self.agg != "count":
            raise ValueError(f"outcome agg {self.agg} needs expr")
        return self


class Label(Strict):
    name: Identifier
    kind: Literal["binary", "regression"]
    expr: SqlExpr | None = Field(None, description="per-entity label: SQL over the clean entity row; NULL = no label")
    known_at: SqlExpr | None = Field(None, description="per-entity label: SQL timestamp, when it becomes known")
    outcome: Outcome | None = Field(None, description="a label per (entity, as-of) from an outcome window")

    @model_validator(mode="after")
    def _one_kind(self) -> Label:
        per_entity = self.expr is not None or self.known_at is not None
        if per_entity == (self.outcome is not None):
            raise ValueError("a label is either per entity (expr and known_at) or an outcome window (outcome)")
        if per_entity and (self.expr is None or self.known_at is None):
            raise ValueError("a per-entity label needs both expr and known_at")
        if self.outcome is not None and self.kind == "binary" and self.outcome.agg not in ("any", "min", "max"):
            raise ValueError(f"label.outcome.agg {self.outcome.agg} does not give a 0/1 label: use any (or "
                             "min/max of a 0/1 expression) for a binary label")
        return self
