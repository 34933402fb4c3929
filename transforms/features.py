"""Feature computation: the one code path that training and scoring both use."""

from __future__ import annotations

from typing import Iterable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.asof import AS_OF, PREDICTION_TIME


def feature_columns(key: list[str], event_time: str, features: Iterable[tuple[str, str]]):
    """Spine rows (entity x as_of) -> key, as_of, prediction_time, event time and one column per
    (name, SQL expression) feature."""

    def apply(df: DataFrame) -> DataFrame:
        return df.select(
            *[F.col(f"`{k}`") for k in key],
            F.col(AS_OF),
            F.col(PREDICTION_TIME),
            F.col(f"`{event_time}`"),
            *[F.expr(sql).alias(name) for name, sql in features],
        )

    return apply
