"""Reference profiles: what monitor compares a serving model with, computed once per model
version from its training rows (the table is `lakescore.models.reference_profiles`).

A profile has two parts (`part`):

- `drift`: one row per (model, column, slice) of the model's training-split rows: the column's
  quantile edges (`edges`, `coarse_edges`: the whole table's, shared by every slice, as
  `comparisons.reference_edges` computes them), its histogram on them (`histogram`: the buckets of
  `drift.histogram`, rows `n`, sum `s1` and sum of squares `s2` per fine bin of a numeric column,
  per value of a categorical one, NULLs in bin -1), its rows (`count`) and NULLs (`null_count`).
  The coarse bins (PSI, JS) are sums of the fine ones, so the fine histogram is all drift needs;
- `health`: one row per slice of the model's test rows (the whole table: slice NULL): the
  configured quality metric there (`metric`, `value`), its labelled rows (`num_labelled`), and on
  the whole-table row the model's own evaluation (`evaluation`, `evaluation_name`).

Two profiles on the same edges merge by adding their buckets (`merge_drift`): the counts and
sums are additive, so the profile of a union is the sum of the profiles.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.columns import COLUMN_KIND, COLUMN_NAME, MODEL_ID, NUMERIC, SLICE_KEY, SLICE_VALUE
from lakescore.transforms.monitoring import comparisons, drift

DRIFT, HEALTH = "drift", "health"
PART = "part"
# a histogram bucket as stored (drift.histogram's columns)
BUCKET = "struct<bin:int,category:string,n:bigint,s1:double,s2:double>"
DRIFT_COLUMNS = [MODEL_ID, COLUMN_NAME, COLUMN_KIND, SLICE_KEY, SLICE_VALUE, "count", "null_count", "edges",
                 "coarse_edges", "histogram"]
_SLICE = [MODEL_ID, SLICE_KEY, SLICE_VALUE, COLUMN_NAME, COLUMN_KIND]


def _collected(hist: DataFrame, edges: DataFrame) -> DataFrame:
    """drift.histogram rows -> one row per (model, slice, column) with its buckets and edges."""
    bucket = F.struct(F.col(drift.BIN).cast("int").alias("bin"), F.col(drift.CATEGORY).alias("category"),
                      F.col("n").cast("long").alias("n"), F.col("s1").cast("double").alias("s1"),
                      F.col("s2").cast("double").alias("s2"))
    rows = hist.groupBy(*_SLICE).agg(
        F.sum("n").cast("long").alias("count"),
        F.sum(F.when(F.col(drift.BIN) == drift.NULL_BIN, F.col("n")).otherwise(0)).cast("long").alias("null_count"),
        F.array_sort(F.collect_list(bucket)).alias("histogram"))
    return rows.join(edges.select(MODEL_ID, COLUMN_NAME, "edges", "coarse_edges"), on=[MODEL_ID, COLUMN_NAME],
                     how="left").select(*DRIFT_COLUMNS)


def drift_profile(rows: DataFrame, columns: dict[str, str], slices: list[str], bins: int,
                  coarse_bins: int) -> DataFrame:
    """A model's training-split rows (model_id, `columns` with their kinds, `slices`) -> the drift
    part of its profile (`DRIFT_COLUMNS`): one pass for the quantile edges, one for the
    histograms. Small: a row per model, column and slice value."""
    edges = comparisons.reference_edges(rows, columns, bins, coarse_bins)
    return _collected(comparisons.reference_histogram(rows, edges, columns, slices), edges)


def reference_edges(profile: DataFrame) -> DataFrame:
    """The drift part of profiles -> `comparisons.reference_edges`' shape: a row per model and
    numeric column that has edges (model_id, column_name, edges, coarse_edges)."""
    numeric = profile.where((F.col(COLUMN_KIND) == NUMERIC) & F.col("edges").isNotNull())
    return numeric.select(MODEL_ID, COLUMN_NAME, "edges", "coarse_edges").dropDuplicates([MODEL_ID, COLUMN_NAME])


def reference_histogram(profile: DataFrame) -> DataFrame:
    """The drift part of profiles -> `comparisons.reference_histogram`'s rows (model_id, slice,
    column, bin, category, n, s1, s2), what `comparisons.drift_rows` takes as `reference`."""
    exploded = profile.select(*_SLICE, F.explode("histogram").alias("_b"))
    return exploded.select(*_SLICE, F.col("_b.bin").alias(drift.BIN), F.col("_b.category").alias(drift.CATEGORY),
                           F.col("_b.n").alias("n"), F.col("_b.s1").alias("s1"), F.col("_b.s2").alias("s2"))


def merge_drift(profiles: DataFrame, model_id: str) -> DataFrame:
    """Drift parts on the same edges (say, of two samples of a model's rows) -> one, as
    `model_id`: buckets added, counts and NULLs summed. Fails on profiles whose edges differ
    for a column (their bins are not the same bins)."""
    edges = profiles.select(COLUMN_NAME, "edges", "coarse_edges").distinct()
    clash = edges.groupBy(COLUMN_NAME).count().where(F.col("count") > 1).select(COLUMN_NAME).collect()
    if clash:
        raise ValueError(f"merge_drift: the profiles' edges differ for {', '.join(r[0] for r in clash)}")
    hist = reference_histogram(profiles).withColumn(MODEL_ID, F.lit(model_id))
    summed = hist.groupBy(*_SLICE, drift.BIN, drift.CATEGORY).agg(
        F.sum("n").alias("n"), F.sum("s1").alias("s1"), F.sum("s2").alias("s2"))
    return _collected(summed, reference_edges(profiles.withColumn(MODEL_ID, F.lit(model_id))))


def health_reference(profile: DataFrame, min_labelled: int) -> DataFrame:
    """The health part of profiles -> what the serving model's quality is held against, per
    model and slice (model_id, slice_key, slice_value, reference): its own evaluation for the
    whole table, its test rows' metric in a slice that has `min_labelled` of them."""
    reference = F.when(F.col(SLICE_KEY).isNull(), F.col("evaluation")).when(
        F.col("num_labelled") >= min_labelled, F.col("value"))
    return profile.select(MODEL_ID, SLICE_KEY, SLICE_VALUE, reference.cast("double").alias("reference"))


__all__ = ["BUCKET", "DRIFT", "DRIFT_COLUMNS", "HEALTH", "PART", "drift_profile", "health_reference", "merge_drift",
           "reference_edges", "reference_histogram"]
