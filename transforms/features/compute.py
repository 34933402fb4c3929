"""Feature computation: the one code path that training and scoring both use.

The features stage builds the entity x as-of rows (transforms.asof.catalog_spine), drops the
columns known only after the event, joins the lookups and histories (transforms.features.joins)
and then evaluates each declared feature here: its SQL expression, its stateless steps
(transforms.features.steps) and its type (numeric -> double, categorical -> string), so the
`features` table has the same names and types in every partition.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.columns import AS_OF, FEATURE_SET, PREDICTION_TIME
from lakescore.transforms.features.leakage import source_time, source_time_column
from lakescore.transforms.features.steps import apply_step
from lakescore.transforms.sqltext import col

TYPES = {"numeric": "double", "categorical": "string"}


class FeatureExpressionError(ValueError):
    """A feature's expression does not resolve against the columns available at prediction time."""


@dataclass(frozen=True)
class FeatureDef:
    """A feature as the transforms see it: SQL, stateless steps, and its time-stamped inputs."""

    name: str
    kind: str                                   # numeric | categorical
    sql: str
    steps: tuple[tuple[str, dict[str, Any]], ...] = ()
    timed: tuple[str, ...] = field(default=())  # struct columns with a `_known_at`

    def column(self) -> Column:
        c = F.expr(self.sql)
        for op, params in self.steps:
            c = apply_step(c, op, params)
        return c.cast(TYPES[self.kind]).alias(self.name)


def drop_after_event(columns: Iterable[str]):
    """Remove the entity columns known only after the event: no later expression can read them."""

    def apply(df: DataFrame) -> DataFrame:
        lowered = {c.lower() for c in columns}
        return df.drop(*[c for c in df.columns if c.lower() in lowered])

    return apply


def _check_resolves(df: DataFrame, features: list[FeatureDef]) -> None:
    for f in features:
        try:
            df.select(f.column())
        except AnalysisException as exc:
            first = str(exc).strip().splitlines()[0]
            raise FeatureExpressionError(
                f"feature {f.name!r}: {f.sql!r} does not resolve against the columns known at the "
                f"prediction time: {first}") from None


def feature_columns(key: list[str], event_time: str | None, features: list[FeatureDef],
                    feature_set: str | None = None, source_times: bool = True):
    """Rows (entity x as_of with lookup structs) -> key, as_of, prediction_time, event time (an
    events catalog; None for a snapshot catalog), one column per feature, `feature_set` (when given)
    and, for features with time-stamped inputs (when `source_times`), their source-time columns for
    the leakage guard."""

    def apply(df: DataFrame) -> DataFrame:
        _check_resolves(df, features)
        extra = [F.lit(feature_set).alias(FEATURE_SET)] if feature_set is not None else []
        times = [source_time(list(f.timed)).alias(source_time_column(f.name))
                 for f in features if f.timed and source_times]
        return df.select(
            *[col(k) for k in key],
            F.col(AS_OF),
            F.col(PREDICTION_TIME),
            *([col(event_time)] if event_time else []),
            *[f.column() for f in features],
            *extra,
            *times,
        )

    return apply
