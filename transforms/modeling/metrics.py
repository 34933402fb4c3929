"""Model quality metrics computed in Spark, per group, in one pass over the data.

The same functions evaluate a model after training (no groups) and fill `slice_metrics`
(grouped by window and slice), so the numbers in MLflow and in the monitoring table agree.
AUC is exact, ties included: the Mann-Whitney statistic from positives and negatives counted
per distinct score, ordered within each group.
"""

from __future__ import annotations

import sys

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakescore.transforms.columns import BINARY, SLICE_KEY, SLICE_VALUE
from lakescore.transforms.sqltext import col

EPS = sys.float_info.epsilon  # as scikit-learn clips probabilities for log loss

BINARY_METRICS = ["auc", "pr_auc", "log_loss", "accuracy", "precision", "recall", "f1",
                  "label_rate", "predicted_positive_rate", "mean_score"]
REGRESSION_METRICS = ["rmse", "mae", "r2", "mean_label", "mean_prediction"]
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})


def _group_cols(groups: list[str]) -> list[Column]:
    return [col(g) for g in groups]


def _auc(df: DataFrame, groups: list[str], label: str, score: str) -> DataFrame:
    """Per group: ROC AUC (exact with ties) and PR AUC (average precision), from counts per
    distinct score."""
    by_score = df.groupBy(*_group_cols(groups), F.col(score).alias("_s")).agg(
        F.sum(F.col(label)).alias("_pos"), F.sum(1 - F.col(label)).alias("_neg"))
    # one window (one sort per group): what lies below each score, and the group's totals; the
    # positives and negatives at or above a score are the totals minus what lies below
    part = (Window.partitionBy(*_group_cols(groups)) if groups else Window.partitionBy(F.lit(0))).orderBy("_s")
    below = part.rowsBetween(Window.unboundedPreceding, -1)
    whole = part.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    ranked = (by_score
              .withColumn("_neg_below", F.coalesce(F.sum("_neg").over(below), F.lit(0.0)))
              .withColumn("_pos_below", F.coalesce(F.sum("_pos").over(below), F.lit(0.0)))
              .withColumn("_tp", F.sum("_pos").over(whole) - F.col("_pos_below"))
              .withColumn("_fp", F.sum("_neg").over(whole) - F.col("_neg_below")))
    agg = ranked.groupBy(*_group_cols(groups)).agg(
        F.sum(F.col("_pos") * (F.col("_neg_below") + 0.5 * F.col("_neg"))).alias("_u"),
        F.sum("_pos").alias("_p"), F.sum("_neg").alias("_n"),
        # average precision: sum over thresholds of precision x (recall gained)
        F.sum(F.col("_pos") * F.col("_tp") / (F.col("_tp") + F.col("_fp"))).alias("_ap"),
    )
    return agg.select(
        *_group_cols(groups),
        F.when((F.col("_p") > 0) & (F.col("_n") > 0), F.col("_u") / (F.col("_p") * F.col("_n"))).alias("auc"),
        F.when(F.col("_p") > 0, F.col("_ap") / F.col("_p")).alias("pr_auc"),
    )


def auc(df: DataFrame, groups: list[str], label: str, score: str) -> DataFrame:
    """Per group: `auc` (exact, ties included) and `pr_auc` of `score` against a 0/1 `label`."""
    return _auc(df.where(F.col(label).isNotNull() & F.col(score).isNotNull()), groups, label, score)


def binary_metrics(df: DataFrame, groups: list[str], label: str, score: str, prediction: str) -> DataFrame:
    """Per group: counts (all rows) and quality metrics (rows with a label)."""
    y, p, yhat = F.col(label), F.col(score), F.col(prediction)
    labelled = F.col(label).isNotNull()
    clipped = F.least(F.greatest(p, F.lit(EPS)), F.lit(1 - EPS))
    tp = F.sum(F.when(labelled & (yhat == 1) & (y == 1), 1).otherwise(0))
    fp = F.sum(F.when(labelled & (yhat == 1) & (y == 0), 1).otherwise(0))
    fn = F.sum(F.when(labelled & (yhat == 0) & (y == 1), 1).otherwise(0))
    counts = df.groupBy(*_group_cols(groups)).agg(
        F.count(F.lit(1)).alias("count"),
        F.count(y).alias("num_labelled"),
        F.avg(p).alias("mean_score"),
        F.avg(yhat).alias("predicted_positive_rate"),
        F.avg(y).alias("label_rate"),
        F.avg(F.when(labelled, (yhat == y).cast("double"))).alias("accuracy"),
        F.avg(F.when(labelled, -(y * F.log(clipped) + (1 - y) * F.log(1 - clipped)))).alias("log_loss"),
        tp.alias("_tp"), fp.alias("_fp"), fn.alias("_fn"),
    )
    precision = F.when(F.col("_tp") + F.col("_fp") > 0, F.col("_tp") / (F.col("_tp") + F.col("_fp")))
    recall = F.when(F.col("_tp") + F.col("_fn") > 0, F.col("_tp") / (F.col("_tp") + F.col("_fn")))
    counts = (counts.withColumn("precision", precision).withColumn("recall", recall)
              .withColumn("f1", F.when(F.col("precision") + F.col("recall") > 0,
                                       2 * F.col("precision") * F.col("recall") / (F.col("precision") + F.col("recall"))))
              .drop("_tp", "_fp", "_fn"))
    aucs = _auc(df.where(labelled), groups, label, score)
    joined = _join_groups(counts, aucs, groups)
    return joined.select(*_group_cols(groups), "count", "num_labelled", *BINARY_METRICS)


def regression_metrics(df: DataFrame, groups: list[str], label: str, prediction: str) -> DataFrame:
    y, yhat = F.col(label), F.col(prediction)
    labelled = y.isNotNull()
    err = F.when(labelled, yhat - y)
    agg = df.groupBy(*_group_cols(groups)).agg(
        F.count(F.lit(1)).alias("count"),
        F.count(y).alias("num_labelled"),
        F.sqrt(F.avg(err * err)).alias("rmse"),
        F.avg(F.abs(err)).alias("mae"),
        F.sum(err * err).alias("_sse"),
        F.var_pop(y).alias("_var"),
        F.avg(y).alias("mean_label"),
        F.avg(yhat).alias("mean_prediction"),
    )
    r2 = F.when(F.col("_var") > 0, 1 - F.col("_sse") / (F.col("_var") * F.col("num_labelled")))
    return agg.withColumn("r2", r2).select(*_group_cols(groups), "count", "num_labelled", *REGRESSION_METRICS)


def _join_groups(left: DataFrame, right: DataFrame, groups: list[str]) -> DataFrame:
    """Left join on group columns that may be NULL (the whole-table slice has NULL keys)."""
    if not groups:
        return left.crossJoin(right)
    r = right.select(*[col(g).alias(f"_r_{g}") for g in groups],
                     *[c for c in right.columns if c not in groups])
    cond = [col(g).eqNullSafe(col(f"_r_{g}")) for g in groups]
    return left.join(r, on=cond, how="left").drop(*[f"_r_{g}" for g in groups])


def explode_slices(slices: list[str]):
    """One copy of each row per slice it belongs to: the whole table (slice_key and slice_value
    NULL) and, for every slice column, that column's value (as text)."""

    def apply(df: DataFrame) -> DataFrame:
        entries = [F.struct(F.lit(None).cast("string").alias("k"), F.lit(None).cast("string").alias("v"))]
        entries += [F.struct(F.lit(s).alias("k"), col(s).cast("string").alias("v")) for s in slices]
        return (df.withColumn("_slice", F.explode(F.array(*entries)))
                .withColumn(SLICE_KEY, F.col("_slice.k"))
                .withColumn(SLICE_VALUE, F.col("_slice.v"))
                .drop("_slice"))

    return apply


def quality_metrics(df: DataFrame, groups: list[str], kind: str, label: str, score: str, prediction: str) -> DataFrame:
    if kind == BINARY:
        return binary_metrics(df, groups, label, score, prediction)
    return regression_metrics(df, groups, label, prediction)
