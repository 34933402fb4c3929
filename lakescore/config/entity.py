"""What a use case scores and learns: the entity (its source, key, time and time zone) and the
label (its SQL and when it becomes known)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lakescore.config.base import Identifier, SqlExpr, Strict


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

