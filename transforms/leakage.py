"""The run-time leakage guard: no feature value may come from after its row's prediction time.

Every feature that reads a time-stamped input (a point-in-time lookup, a history) gets a
source-time column: the latest `_known_at` among those inputs. Before the features stage writes,
`point_in_time_violations` counts, per feature, the rows whose source time is after
`prediction_time`; any count above zero stops the stage (the config-load check has already
refused features that read columns known only after the event).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.asof import PREDICTION_TIME
from transforms.feature_joins import KNOWN_AT

SOURCE_TIME_PREFIX = "_source_time_"


def source_time_column(feature: str) -> str:
    return f"{SOURCE_TIME_PREFIX}{feature}"


def source_time(inputs: list[str]) -> Column:
    """The latest `_known_at` of the named struct columns (NULL when none has a value)."""
    if not inputs:
        raise ValueError("source_time needs at least one time-stamped input")
    times = [F.col(f"`{i}`").getField(KNOWN_AT) for i in inputs]
    return F.greatest(*times) if len(times) > 1 else times[0]


def point_in_time_violations(df: DataFrame, features: list[str]) -> dict[str, dict]:
    """For each feature with a source-time column in `df`: rows whose source time is after their
    prediction time, and the largest lead in seconds. Returns only the features that violate
    (an empty dict means the rows are point-in-time correct). One aggregate, one small row."""
    if not features:
        return {}
    aggs = []
    for i, f in enumerate(features):
        src = F.col(f"`{source_time_column(f)}`")
        late = src > F.col(PREDICTION_TIME)
        aggs += [F.sum(F.when(late, 1).otherwise(0)).alias(f"n{i}"),
                 F.max(F.when(late, F.unix_seconds(src) - F.unix_seconds(F.col(PREDICTION_TIME))).cast("long")).alias(f"s{i}")]
    row = df.agg(*aggs).first()
    return {f: {"rows": int(row[f"n{i}"]), "max_lead_seconds": int(row[f"s{i}"])}
            for i, f in enumerate(features) if row[f"n{i}"]}
