"""Quality per window, counted only on rows the serving model did not learn from.

A prediction's label counts when it was known by the monitoring run's as-of (a backfill sees
what a daily run saw that day) and after the serving model's training cutoff (`model_trained_at`):
an earlier label could have been in its training rows, so that row is in-sample and is counted
apart (`num_in_sample`), never in the metrics.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.columns import LABEL_KNOWN_AT, MODEL_TRAINED_AT, NUM_IN_SAMPLE
from lakescore.transforms.modeling.metrics import quality_metrics
from lakescore.transforms.sqltext import col

IN_SAMPLE = "_in_sample"


def out_of_sample(label: str):
    """Rows with `label`, `label_known_at` and `model_trained_at` -> `label` NULL where the label
    was known before the model's training cutoff, flagged in `_in_sample`."""

    def apply(df: DataFrame) -> DataFrame:
        seen = col(label).isNotNull() & (F.col(LABEL_KNOWN_AT) < F.col(MODEL_TRAINED_AT))
        return (df.withColumn(IN_SAMPLE, F.coalesce(seen, F.lit(False)))
                .withColumn(label, F.when(~F.col(IN_SAMPLE), col(label))))

    return apply


def window_quality(df: DataFrame, groups: list[str], kind: str, label: str, score: str, prediction: str) -> DataFrame:
    """`out_of_sample` rows -> per group: count, num_labelled, num_in_sample and the quality
    metrics of the out-of-sample labelled rows."""
    metrics = quality_metrics(df, groups, kind, label, score, prediction)
    in_sample = df.groupBy(*[col(g) for g in groups]).agg(
        F.sum(F.col(IN_SAMPLE).cast("long")).alias(NUM_IN_SAMPLE))
    r = in_sample.select(*[col(g).alias(f"_r_{g}") for g in groups], NUM_IN_SAMPLE)
    joined = metrics.join(r, on=[col(g).eqNullSafe(col(f"_r_{g}")) for g in groups], how="left")
    names = [c for c in metrics.columns if c not in groups]
    first = names.index("num_labelled") + 1
    return joined.select(*[col(g) for g in groups], *[col(c) for c in names[:first]],
                         F.coalesce(F.col(NUM_IN_SAMPLE), F.lit(0)).cast("long").alias(NUM_IN_SAMPLE),
                         *[col(c) for c in names[first:]])
