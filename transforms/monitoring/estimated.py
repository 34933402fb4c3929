"""Estimated performance: a binary model's quality per window from its served scores alone,
before any label of the window is known (confidence-based performance estimation, the method of
NannyML's CBPE), computed in Spark.

- `fit_calibration`: when a version is trained, Spark ML's isotonic regression of the label on the
  score over its held-out rows (out-of-time, else test) gives the probability that a row with that
  score is positive. The fitted boundaries and probabilities are stored with the version's
  reference profile (a few hundred numbers at most).
- `calibrated`: a served row's calibrated probability `p`, exactly as Spark's
  IsotonicRegressionModel predicts it (constant outside the boundaries, linear between them), from
  one Bucketizer pass over the union of the serving models' boundaries and a lookup of the model's
  linear piece for the bucket.
- `estimated_metrics`: per group (window, model, slice), the expected confusion matrix at the
  served prediction (expected TP = sum of p over rows predicted positive, FP = sum of 1 - p, ...),
  hence accuracy, precision, recall and F1; the expected log loss of the score; the expected
  label rate; and the expected ROC AUC: positives and negatives counted as expectations per
  calibration bucket (the served score's order), pairs inside a bucket as ties, a row never paired
  with itself.

The estimate holds while the calibration does: when P(label | score) stays what it was on the
held-out rows (covariate shift, not concept drift). It says nothing of a change in how the label
follows the inputs; the realized metric, once labels land, does (`error` in the table).
"""

from __future__ import annotations

import bisect
import math

from pyspark.ml.feature import Bucketizer
from pyspark.ml.regression import IsotonicRegression
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lakescore.transforms.columns import MODEL_ID
from lakescore.transforms.modeling.metrics import EPS
from lakescore.transforms.sqltext import col

# the metrics estimated for a binary model (a subset of slice_metrics' binary metrics)
ESTIMATED_METRICS = ["auc", "log_loss", "accuracy", "precision", "recall", "f1", "label_rate"]
P, BUCKET = "_p", "_bucket"


def fit_calibration(rows: DataFrame, label: str, score: str) -> tuple[list[float], list[float]] | None:
    """Held-out rows (a 0/1 `label`, the model's `score`) -> the isotonic calibration's
    (boundaries, probabilities); None with no labelled row or a single class."""
    data = rows.where(col(label).isNotNull() & col(score).isNotNull()).select(
        col(score).cast("double").alias("score"), col(label).cast("double").alias("label"))
    classes = data.agg(F.countDistinct("label").alias("n")).first()["n"]
    if classes < 2:
        return None
    model = IsotonicRegression(featuresCol="score", labelCol="label", isotonic=True).fit(data)
    return clean(list(model.boundaries.toArray()), list(model.predictions.toArray()))


def clean(boundaries: list[float], probabilities: list[float]) -> tuple[list[float], list[float]]:
    """Strictly increasing boundaries (a repeated one keeps its first probability), probabilities
    in [0, 1]."""
    xs, ps = [], []
    for x, p in zip(boundaries, probabilities):
        if not xs or x > xs[-1]:
            xs.append(float(x))
            ps.append(min(1.0, max(0.0, float(p))))
    return xs, ps


def predict(boundaries: list[float], probabilities: list[float], x: float) -> float:
    """The calibrated probability at score `x` (Spark's IsotonicRegressionModel.predict)."""
    if x <= boundaries[0]:
        return probabilities[0]
    if x >= boundaries[-1]:
        return probabilities[-1]
    k = bisect.bisect_right(boundaries, x) - 1
    lo, hi = boundaries[k], boundaries[k + 1]
    return probabilities[k] + (probabilities[k + 1] - probabilities[k]) * (x - lo) / (hi - lo)


def _segments(calibrations: dict[str, tuple[list[float], list[float]]]) -> tuple[list[float], list[tuple]]:
    """The union of the models' boundaries as Bucketizer splits, and per model and bucket the
    linear piece of its calibration that holds the whole bucket: (model_id, bucket, lo, p_lo, slope)."""
    edges = sorted({x for xs, _ in calibrations.values() for x in xs})
    splits = [-math.inf, *edges, math.inf]
    pieces = []
    for model_id, (xs, ps) in calibrations.items():
        for j in range(len(splits) - 1):
            start = splits[j]
            if start < xs[0]:
                pieces.append((model_id, j, 0.0, ps[0], 0.0))
                continue
            k = bisect.bisect_right(xs, start) - 1
            if k >= len(xs) - 1:
                pieces.append((model_id, j, 0.0, ps[-1], 0.0))
            else:
                pieces.append((model_id, j, xs[k], ps[k], (ps[k + 1] - ps[k]) / (xs[k + 1] - xs[k])))
    return splits, pieces


def calibrated(df: DataFrame, calibrations: dict[str, tuple[list[float], list[float]]], score: str) -> DataFrame:
    """Rows with `model_id` and `score` -> the same with `_p` (the calibrated probability) and
    `_bucket` (the calibration bucket of the score: its order). Rows of a model without a
    calibration are dropped."""
    splits, pieces = _segments(calibrations)
    if len(splits) < 3:
        # every model's calibration is a single point: one bucket, constant probability per model
        splits = [-math.inf, 0.0, math.inf]
        pieces = [(m, j, 0.0, ps[0], 0.0) for m, (_, ps) in calibrations.items() for j in (0, 1)]
    # per model, its linear pieces in bucket order as a literal array (a few hundred at most)
    chosen = None
    for model_id in calibrations:
        own = sorted((j, lo, p, slope) for m, j, lo, p, slope in pieces if m == model_id)
        array = F.array(*[F.struct(F.lit(lo).alias("lo"), F.lit(p).alias("p"), F.lit(slope).alias("slope"))
                          for _, lo, p, slope in own])
        hit = F.col(MODEL_ID) == model_id
        chosen = F.when(hit, array) if chosen is None else chosen.when(hit, array)
    s = col(score).cast("double")
    bucketed = Bucketizer(splits=splits, inputCol="_s", outputCol=BUCKET, handleInvalid="skip").transform(
        df.where(s.isNotNull()).withColumn("_s", s)).withColumn(BUCKET, F.col(BUCKET).cast("int"))
    piece = bucketed.withColumn("_piece", F.element_at(chosen, F.col(BUCKET) + 1)).where(F.col("_piece").isNotNull())
    p = F.col("_piece.p") + F.col("_piece.slope") * (F.col("_s") - F.col("_piece.lo"))
    return piece.withColumn(P, F.least(F.greatest(p, F.lit(0.0)), F.lit(1.0))).drop("_piece", "_s")


def estimated_metrics(df: DataFrame, groups: list[str], score: str, prediction: str) -> DataFrame:
    """`calibrated` rows -> per group: count and the ESTIMATED_METRICS (expected values under the
    calibration). Two aggregations: per group and bucket, then per group."""
    p, yhat = F.col(P), col(prediction)
    s = F.least(F.greatest(col(score).cast("double"), F.lit(EPS)), F.lit(1 - EPS))
    g = [col(c) for c in groups]
    per_bucket = df.groupBy(*g, F.col(BUCKET)).agg(
        F.count(F.lit(1)).alias("_n"), F.sum(p).alias("_pos"), F.sum(1 - p).alias("_neg"),
        F.sum(p * (1 - p)).alias("_self"),
        F.sum(F.when(yhat == 1, p).otherwise(0.0)).alias("_tp"),
        F.sum(F.when(yhat == 1, 1 - p).otherwise(0.0)).alias("_fp"),
        F.sum(F.when(yhat == 1, 0.0).otherwise(p)).alias("_fn"),
        F.sum(F.when(yhat == 1, 0.0).otherwise(1 - p)).alias("_tn"),
        F.sum(-(p * F.log(s) + (1 - p) * F.log(1 - s))).alias("_loss"))
    order = (Window.partitionBy(*g) if groups else Window.partitionBy(F.lit(0))).orderBy(BUCKET)
    below = F.coalesce(F.sum("_neg").over(order.rowsBetween(Window.unboundedPreceding, -1)), F.lit(0.0))
    # a positive outranks the negatives of lower buckets and ties with those of its own (not itself)
    ranked = per_bucket.withColumn("_u", F.col("_pos") * (below + 0.5 * F.col("_neg")) - 0.5 * F.col("_self"))
    agg = ranked.groupBy(*g).agg(*[F.sum(c).alias(c) for c in
                                   ("_n", "_pos", "_neg", "_self", "_tp", "_fp", "_fn", "_tn", "_loss", "_u")])
    pairs = F.col("_pos") * F.col("_neg") - F.col("_self")
    precision = F.when(F.col("_tp") + F.col("_fp") > 0, F.col("_tp") / (F.col("_tp") + F.col("_fp")))
    recall = F.when(F.col("_pos") > 0, F.col("_tp") / F.col("_pos"))
    return agg.select(
        *g, F.col("_n").alias("count"),
        F.when(pairs > 0, F.col("_u") / pairs).alias("auc"),
        (F.col("_loss") / F.col("_n")).alias("log_loss"),
        ((F.col("_tp") + F.col("_tn")) / F.col("_n")).alias("accuracy"),
        precision.alias("precision"), recall.alias("recall"),
        F.when(precision + recall > 0, 2 * precision * recall / (precision + recall)).alias("f1"),
        (F.col("_pos") / F.col("_n")).alias("label_rate"))


__all__ = ["ESTIMATED_METRICS", "calibrated", "clean", "estimated_metrics", "fit_calibration", "predict"]
