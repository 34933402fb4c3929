"""The rows of `drift_metrics`: which samples are compared with which, per window.

- BASELINE: a window's served rows against the training rows of the model that served it
  (training-serving skew);
- CONSECUTIVE: a window's served rows against the previous day's rows (its features; its
  score and prediction when that day was scored);
- EXAMPLE: the served feature rows against the same rows now (`skew.example_skew`);
- FEEDBACK: served scores against the later value of the features a declared loop feeds.

Numeric bins come from the training rows of the model that served the window (the whole
table, so every slice and both comparisons share them).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.transforms import schemas
from lakescore.transforms.columns import (
    AS_OF,
    BASELINE,
    COLUMN_NAME,
    CONSECUTIVE,
    DRIFT_TYPE,
    EXAMPLE,
    FEEDBACK,
    MODEL_ID,
    NUMERIC,
    PREDICTION,
    SCORE,
    SLICE_KEY,
    SLICE_VALUE,
)
from lakescore.transforms.modeling.metrics import explode_slices
from lakescore.transforms.monitoring import drift
from lakescore.transforms.monitoring.decisions import DECISION, DriftTest, decide
from lakescore.transforms.sqltext import col

SCORED = "_scored"
GROUP = [AS_OF, MODEL_ID, SLICE_KEY, SLICE_VALUE]
KEYS = [AS_OF, MODEL_ID, DRIFT_TYPE, SLICE_KEY, SLICE_VALUE]
# drift_metrics columns before the window, granularity and computed_at the stage adds
ROW_COLUMNS = [c for c in schemas.DRIFT_METRICS.names if c not in ("window", "granularity", "computed_at")]


def _long(df: DataFrame, columns: dict[str, str], slices: list[str], keys: list[str]) -> DataFrame:
    """Wide rows -> long rows per slice; the score and prediction only of scored rows."""
    wide = df.transform(explode_slices(slices))
    long = wide.transform(drift.long_values(columns, [*keys, SLICE_KEY, SLICE_VALUE, SCORED]))
    return long.where(~F.col(COLUMN_NAME).isin(SCORE, PREDICTION) | F.col(SCORED)).drop(SCORED)


def drift_rows(serving: DataFrame, previous: DataFrame, baseline: DataFrame | None, columns: dict[str, str],
               slices: list[str], *, bins: int, coarse_bins: int, baselines: dict[str, str],
               defaults: dict[str, DriftTest], overrides: dict[tuple[str, str], DriftTest | None], min_count: int,
               small_sample: int, max_null_rate_increase: float, edges: DataFrame | None = None,
               reference: DataFrame | None = None) -> DataFrame:
    """BASELINE and CONSECUTIVE rows of drift_metrics (`ROW_COLUMNS`).

    serving: the windows' rows (as_of, model_id, `columns`, `slices`);
    previous: the previous day's rows of each window, with the window's as_of and model_id
      and `_scored` (false: that day was not scored, so no score or prediction);
    baseline: the training rows of each serving model (model_id, `columns`, `slices`);
    baselines: model_id -> what its training rows are (the `baseline` column's text);
    edges: `reference_edges` of the baseline, when the caller computed them already (they feed
      the three histograms and the comparison: left lazy, they are computed once per use);
    reference: the baseline's histogram (`reference_histogram`, or a stored reference profile's,
      `profiles.reference_histogram`) instead of its rows (`baseline` None): `edges` then are the
      edges it was made with."""
    serving = serving.withColumn(SCORED, F.lit(True))
    cur = _long(serving, columns, slices, [AS_OF, MODEL_ID])
    prev = _long(previous, columns, slices, [AS_OF, MODEL_ID])
    if reference is None:
        if edges is None:
            edges = reference_edges(baseline, columns, bins, coarse_bins)
        reference = reference_histogram(baseline, edges, columns, slices)
    elif edges is None:
        raise ValueError("drift_rows: a reference histogram needs the edges it was made with")
    h_cur = drift.histogram(cur, edges, GROUP, [MODEL_ID])
    h_ref = reference
    h_prev = drift.histogram(prev, edges, GROUP, [MODEL_ID])
    windows = serving.select(AS_OF, MODEL_ID).distinct()
    h_ref = h_ref.join(windows, on=MODEL_ID)
    current = (h_cur.withColumn(DRIFT_TYPE, F.lit(BASELINE))
               .unionByName(h_cur.withColumn(DRIFT_TYPE, F.lit(CONSECUTIVE))))
    reference = (h_ref.withColumn(DRIFT_TYPE, F.lit(BASELINE))
                 .unionByName(h_prev.withColumn(DRIFT_TYPE, F.lit(CONSECUTIVE))))
    compared = drift.compare(current, reference, edges, KEYS, [MODEL_ID]).transform(decide(
        defaults, overrides, min_count=min_count, small_sample=small_sample,
        max_null_rate_increase=max_null_rate_increase))
    described = F.lit(None).cast("string")
    for model_id, text in baselines.items():
        described = F.when(F.col(MODEL_ID) == model_id, F.lit(text)).otherwise(described)
    what = F.when(F.col(DRIFT_TYPE) == BASELINE, described).otherwise(
        F.concat(F.lit("window "), F.date_sub(F.col(AS_OF), 1).cast("string")))
    return _shape(compared.withColumn("baseline", what))


def reference_edges(baseline: DataFrame, columns: dict[str, str], bins: int, coarse_bins: int) -> DataFrame:
    """The quantile edges of the baseline's numeric `columns`, per model (`drift.quantile_edges`):
    one row per model and numeric column."""
    return drift.quantile_edges(baseline, [MODEL_ID], [c for c, k in columns.items() if k == NUMERIC], bins, coarse_bins)


def reference_histogram(baseline: DataFrame, edges: DataFrame, columns: dict[str, str], slices: list[str]) -> DataFrame:
    """The baseline's wide rows (model_id, `columns`, `slices`) -> its histogram per model and
    slice on `edges` (`drift.histogram`: model_id, slice_key, slice_value, column, bucket, n, s1, s2)."""
    ref = _long(baseline.withColumn(SCORED, F.lit(True)), columns, slices, [MODEL_ID])
    return drift.histogram(ref, edges, [MODEL_ID, SLICE_KEY, SLICE_VALUE], [MODEL_ID])


def _shape(df: DataFrame) -> DataFrame:
    """Any subset of drift_metrics' columns -> `ROW_COLUMNS`, the others NULL."""
    types = dict(schemas.DRIFT_METRICS.columns)
    return df.select(*[col(c) if c in df.columns else F.lit(None).cast(types[c]).alias(c) for c in ROW_COLUMNS])


def example_rows(skew: DataFrame, models: DataFrame, served_versions: Column, threshold: float) -> DataFrame:
    """`skew.example_skew` rows (per as_of and feature) + the windows' models (as_of, model_id
    and the columns `served_versions` reads) -> EXAMPLE rows: drifted when the share of compared
    rows that differ is above `threshold`."""
    share = F.when(F.col("rows_compared") > 0, F.col("rows_different") / F.col("rows_compared"))
    rows = (skew.join(models.select(AS_OF, MODEL_ID, served_versions.alias("baseline")), on=AS_OF)
            .withColumn(DRIFT_TYPE, F.lit(EXAMPLE))
            .withColumn("metric", F.lit("rows_different_share")).withColumn("value", share)
            .withColumn("threshold", F.lit(float(threshold)))
            .withColumn("drifted", F.when(share.isNotNull(), share > threshold)))
    return _shape(rows)


def feedback_rows(correlations: DataFrame, models: DataFrame, source: str) -> DataFrame:
    """`skew.feedback_correlation` rows + the windows' models (as_of, model_id) -> FEEDBACK rows
    (figures only: the loop is declared, its strength is recorded)."""
    rows = (correlations.join(models.select(AS_OF, MODEL_ID), on=AS_OF)
            .withColumn(DRIFT_TYPE, F.lit(FEEDBACK))
            .withColumn("baseline", F.lit(f"feedback loop through source {source}"))
            .withColumn("count", F.col("rows_compared")))
    return _shape(rows)


__all__ = ["DECISION", "ROW_COLUMNS", "drift_rows", "example_rows", "feedback_rows", "reference_edges",
           "reference_histogram"]
