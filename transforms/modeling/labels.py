"""Labels: computed from the clean entity row by the config's SQL, usable only once known."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.columns import LABEL_KNOWN_AT
from transforms.sqltext import col


def labels(key: list[str], name: str, expr: str, known_at: str, known_before: Column | None = None):
    """Entity rows -> (key, label, label_known_at) for rows with a label, optionally only those
    whose label was known strictly before `known_before`."""

    def apply(df: DataFrame) -> DataFrame:
        out = df.select(
            *[col(k) for k in key],
            F.expr(expr).cast("double").alias(name),
            F.expr(known_at).cast("timestamp").alias(LABEL_KNOWN_AT),
        ).where(F.col(name).isNotNull())
        if known_before is not None:
            out = out.where(F.col(LABEL_KNOWN_AT) < known_before)
        return out

    return apply
