"""Model health per window, the findings the monitor stage raises, and the retraining trigger.

Checks (rows of `model_health`: window, model, slice, check, metric, value, baseline,
threshold, num_labelled, passed, detail):
- `model_age`: the serving model's age at the window (days from its training cutoff to the
  prediction time) against the largest allowed;
- `quality_drop` (sudden): the window's quality metric against the previous window's, same
  slice; the loss may not exceed `max_drop`;
- `slow_degradation`: the mean metric of the windows of the last `windows` days against the
  serving model's own evaluation at training; the loss may not exceed `max_decline`.
- `estimated_degradation`: the quality estimated from the served scores (estimated_performance)
  against the model's own evaluation (and `gate.floors`), for a window whose labels are not yet
  known: with `min_labelled` of them the realized checks above decide, and this one does not.
A quality check needs `min_labelled` out-of-sample labelled rows in each window it reads;
with fewer, `passed` is NULL (no decision). A slow degradation also needs `min_windows` such
windows (a trend, not one window). Where the metric's sampling error is known from the window's
own counts (AUC by Hanley and McNeil's formula from its labelled rows and label rate; accuracy,
rates, recall and precision as proportions), a loss over the threshold is a finding only when it
is also larger than what that error explains at `confidence` (one-sided): a window of a few
hundred rows moves an AUC by several hundredths by chance.

Findings (`as_of`, `kind`, `subject`, `value`, `threshold`, `detail`) are what becomes an
alert: a drifted drift_metrics row or a failed check.
"""

from __future__ import annotations

from datetime import date
from statistics import NormalDist

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakescore.transforms.columns import (
    AS_OF,
    BASELINE,
    COLUMN_NAME,
    CONSECUTIVE,
    DRIFT_TYPE,
    EXAMPLE,
    MODEL_AGE_DAYS,
    MODEL_ID,
    NUM_LABELLED,
    PREDICTION,
    SCORE,
    SLICE_KEY,
    SLICE_VALUE,
)
from lakescore.transforms.contracts.kinds import (
    ESTIMATED_DEGRADATION,
    EXAMPLE_SKEW,
    FEATURE_DRIFT,
    MODEL_STALE,
    PREDICTION_DRIFT,
    QUALITY_DROP,
    RETRAIN_TRIGGERED,
    SLOW_DEGRADATION,
    TRAINING_SERVING_SKEW,
)
from lakescore.transforms.monitoring import attribution
from lakescore.transforms.sqltext import col

MODEL_AGE = "model_age"
CHECK_KINDS = {MODEL_AGE: MODEL_STALE, QUALITY_DROP: QUALITY_DROP, SLOW_DEGRADATION: SLOW_DEGRADATION,
               ESTIMATED_DEGRADATION: ESTIMATED_DEGRADATION}
HEALTH_COLUMNS = [AS_OF, MODEL_ID, SLICE_KEY, SLICE_VALUE, "check", "metric", "value", "baseline", "threshold",
                  NUM_LABELLED, "passed", "detail"]
FINDING_COLUMNS = [AS_OF, "kind", "subject", "value", "threshold", "detail"]


def _fmt(value: Column, digits: int = 4) -> Column:
    return F.format_number(value, digits)


def _slice_suffix() -> Column:
    return F.when(F.col(SLICE_KEY).isNull(), F.lit("")).otherwise(
        F.concat(F.lit(" ["), F.col(SLICE_KEY), F.lit("="), F.coalesce(F.col(SLICE_VALUE), F.lit("NULL")), F.lit("]")))


def model_age(windows: DataFrame, max_age_days: float) -> DataFrame:
    """Prediction rows (as_of, model_id, model_age_days) -> one `model_age` check per window
    and model (its largest age in the window)."""
    ages = windows.groupBy(AS_OF, MODEL_ID).agg(F.max(MODEL_AGE_DAYS).alias("value"))
    return ages.select(
        F.col(AS_OF), F.col(MODEL_ID), F.lit(None).cast("string").alias(SLICE_KEY),
        F.lit(None).cast("string").alias(SLICE_VALUE), F.lit(MODEL_AGE).alias("check"),
        F.lit(MODEL_AGE_DAYS).alias("metric"), F.col("value").cast("double").alias("value"),
        F.lit(None).cast("double").alias("baseline"), F.lit(float(max_age_days)).alias("threshold"),
        F.lit(None).cast("long").alias(NUM_LABELLED), (F.col("value") <= max_age_days).alias("passed"),
        F.concat(F.col(MODEL_ID), F.lit(" is "), _fmt(F.col("value"), 1), F.lit(" days old at the window (at most "),
                 F.lit(str(max_age_days)), F.lit(")")).alias("detail"))


def standard_error(metric: str, columns: list[str]) -> Column:
    """The sampling error of a window's `metric` from the window's own slice_metrics columns
    (num_labelled, label_rate, predicted_positive_rate): AUC by Hanley and McNeil (1982), the
    proportions (accuracy, label_rate, predicted_positive_rate, recall, precision) as binomial;
    NULL for a metric whose error the counts do not give (log loss, RMSE, MAE, R2, PR AUC, F1)."""
    n = F.col(NUM_LABELLED).cast("double")
    value = col(metric)
    positives = F.round(col("label_rate") * n) if "label_rate" in columns else None

    def proportion(p: Column, size: Column) -> Column:
        return F.when(size > 0, F.sqrt(p * (F.lit(1.0) - p) / size))

    if metric == "auc" and positives is not None:
        a, n1, n0 = value, positives, n - positives
        q1, q2 = a / (F.lit(2.0) - a), F.lit(2.0) * a * a / (F.lit(1.0) + a)
        var = (a * (F.lit(1.0) - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a)) / (n1 * n0)
        return F.when((n1 > 0) & (n0 > 0), F.sqrt(F.greatest(var, F.lit(0.0))))
    if metric in ("accuracy", "label_rate", "predicted_positive_rate"):
        return proportion(value, n)
    if metric == "recall" and positives is not None:
        return proportion(value, positives)
    if metric == "precision" and "predicted_positive_rate" in columns:
        return proportion(value, F.round(col("predicted_positive_rate") * n))
    return F.lit(None).cast("double")


def quality_checks(metrics: DataFrame, reference: DataFrame, metric: str, *, lower_is_better: bool,
                   min_labelled: int, max_drop: float, windows: int, max_decline: float,
                   days: list[date], min_windows: int = 1, confidence: float | None = None) -> DataFrame:
    """slice_metrics rows (as_of, model_id, slice_key, slice_value, num_labelled, `metric`, and
    label_rate where the metric's sampling error needs it; every window the checks read) and the
    models' own evaluation (model_id, slice_key, slice_value, `reference`) -> a `quality_drop` and
    a `slow_degradation` check per window of `days` and slice. `confidence` (e.g. 0.95) turns on
    the sampling-error test; `min_windows` (at most `windows`) windows with labels for a slow one."""
    enough = F.col(NUM_LABELLED) >= min_labelled
    good = F.when(enough, col(metric))
    day = F.datediff(F.col(AS_OF), F.lit(date(1970, 1, 1)))
    by_slice = Window.partitionBy(SLICE_KEY, SLICE_VALUE).orderBy(day)
    sign = -1.0 if lower_is_better else 1.0      # loss = sign * (before - now)
    z = NormalDist().inv_cdf(confidence) if confidence else None
    se = F.when(enough, standard_error(metric, metrics.columns)) if z else F.lit(None).cast("double")
    slow_frame = by_slice.rangeBetween(-(windows - 1), 0)
    needed = max(1, min(min_windows, windows))
    rows = (metrics
            .withColumn("_now", good)
            .withColumn("_se", se)
            .withColumn("_before", F.first(good, ignorenulls=True).over(by_slice.rangeBetween(-1, -1)))
            .withColumn("_se_before", F.first(F.when(good.isNotNull(), F.col("_se")), ignorenulls=True)
                        .over(by_slice.rangeBetween(-1, -1)))
            .withColumn("_mean", F.avg(good).over(slow_frame))
            .withColumn("_n", F.count(good).over(slow_frame))
            .withColumn("_se_mean", F.sqrt(F.sum(F.col("_se") * F.col("_se")).over(slow_frame)) / F.col("_n"))
            .where(F.col(AS_OF).isin(days)))
    # what the windows' sampling explains (NULL: unknown, the threshold alone decides)
    drop_noise = F.lit(z) * F.sqrt(F.col("_se") * F.col("_se") + F.col("_se_before") * F.col("_se_before")) \
        if z else F.lit(None).cast("double")
    slow_noise = F.lit(z) * F.col("_se_mean") if z else F.lit(None).cast("double")
    ref = reference.select(col(MODEL_ID), col(SLICE_KEY).alias("_rk"), col(SLICE_VALUE).alias("_rv"), "reference")
    rows = rows.join(ref, on=[rows[MODEL_ID] == ref[MODEL_ID], rows[SLICE_KEY].eqNullSafe(ref["_rk"]),
                              rows[SLICE_VALUE].eqNullSafe(ref["_rv"])], how="left").drop(ref[MODEL_ID])
    base = [F.col(AS_OF), F.col(MODEL_ID), F.col(SLICE_KEY), F.col(SLICE_VALUE)]
    drop_loss = F.lit(sign) * (F.col("_before") - F.col("_now"))
    decline = F.lit(sign) * (F.col("reference") - F.col("_mean"))
    level = f"{confidence:g}" if confidence else ""
    sudden = rows.select(
        *base, F.lit(QUALITY_DROP).alias("check"), F.lit(metric).alias("metric"), F.col("_now").alias("value"),
        F.col("_before").alias("baseline"), F.lit(float(max_drop)).alias("threshold"), F.col(NUM_LABELLED),
        F.when(F.col("_now").isNotNull() & F.col("_before").isNotNull(),
               (drop_loss <= max_drop) | F.coalesce(drop_loss <= drop_noise, F.lit(False))).alias("passed"),
        F.when(F.col("_now").isNull() | F.col("_before").isNull(),
               F.lit(f"fewer than {min_labelled} labelled rows in the window or the one before: no decision"))
         .otherwise(F.concat(F.lit(f"{metric} "), _fmt(F.col("_now")), F.lit(" vs "), _fmt(F.col("_before")),
                             F.lit(" the window before: loss "), _fmt(drop_loss), F.lit(f" (at most {max_drop}"),
                             _noise(drop_noise, drop_loss, max_drop, level, "the two windows' labelled rows"),
                             F.lit(")"))).alias("detail"))
    slow = rows.select(
        *base, F.lit(SLOW_DEGRADATION).alias("check"), F.lit(metric).alias("metric"), F.col("_mean").alias("value"),
        F.col("reference").alias("baseline"), F.lit(float(max_decline)).alias("threshold"), F.col(NUM_LABELLED),
        F.when(F.col("_mean").isNotNull() & F.col("reference").isNotNull() & (F.col("_n") >= needed),
               (decline <= max_decline) | F.coalesce(decline <= slow_noise, F.lit(False))).alias("passed"),
        F.when(F.col("_mean").isNull() | F.col("reference").isNull(),
               F.lit(f"no window of the last {windows} with {min_labelled} labelled rows, or no evaluation at training"))
         .when(F.col("_n") < needed,
               F.concat(F.col("_n"), F.lit(f" window(s) of the last {windows} with {min_labelled} labelled rows: "
                                           f"a slow degradation needs {needed}, no decision")))
         .otherwise(F.concat(F.lit(f"mean {metric} "), _fmt(F.col("_mean")), F.lit(" over "), F.col("_n"),
                             F.lit(f" window(s) of the last {windows} vs "), _fmt(F.col("reference")),
                             F.lit(" at training: loss "), _fmt(decline), F.lit(f" (at most {max_decline}"),
                             _noise(slow_noise, decline, max_decline, level, "those windows' labelled rows"),
                             F.lit(")"))).alias("detail"))
    return sudden.unionByName(slow)


def estimated_checks(estimates: DataFrame, reference: DataFrame, metric: str, *, lower_is_better: bool,
                     min_count: int, min_labelled: int, max_decline: float, floor: float | None) -> DataFrame:
    """estimated_performance rows (as_of, model_id, slice_key, slice_value, metric, estimated,
    count, num_labelled) and the models' own evaluation (as in `quality_checks`) -> an
    `estimated_degradation` check per window and slice of `metric`: the estimate may be at most
    `max_decline` worse than the reference and no worse than `floor`. No decision with fewer than
    `min_count` served rows, or once `min_labelled` labels are known (the realized checks decide)."""
    sign = -1.0 if lower_is_better else 1.0
    rows = estimates.where(F.col("metric") == metric)
    ref = reference.select(col(MODEL_ID).alias("_rm"), col(SLICE_KEY).alias("_rk"), col(SLICE_VALUE).alias("_rv"),
                           "reference")
    rows = rows.join(ref, on=[rows[MODEL_ID] == ref["_rm"], rows[SLICE_KEY].eqNullSafe(ref["_rk"]),
                              rows[SLICE_VALUE].eqNullSafe(ref["_rv"])], how="left")
    value, labelled = F.col("estimated"), F.coalesce(F.col(NUM_LABELLED), F.lit(0))
    decline = F.lit(sign) * (F.col("reference") - value)
    below = F.lit(False) if floor is None else (value > floor if lower_is_better else value < floor)
    bound = "above" if lower_is_better else "below"
    decided = value.isNotNull() & (F.col("count") >= min_count) & (labelled < min_labelled)
    passed = F.when(decided & F.col("reference").isNotNull(), (decline <= max_decline) & ~below).when(
        decided & below, F.lit(False))
    said = F.concat(F.lit(f"estimated {metric} "), _fmt(value), F.lit(" from "), F.col("count").cast("string"),
                    F.lit(" served rows (no labels yet)"),
                    F.when(F.col("reference").isNotNull(), F.concat(
                        F.lit(" vs "), _fmt(F.col("reference")), F.lit(" at training: loss "), _fmt(decline),
                        F.lit(f" (at most {max_decline})"))).otherwise(F.lit("")),
                    F.lit("") if floor is None else
                    F.when(below, F.lit(f"; {bound} the gate's floor {floor}")).otherwise(F.lit("")))
    detail = (F.when(value.isNull(), F.lit("no estimate"))
              .when(labelled >= min_labelled, F.concat(F.lit(f"estimated {metric} "), _fmt(value), F.lit(
                  f": {min_labelled} or more labels known, the realized checks decide")))
              .when(F.col("count") < min_count, F.concat(F.lit(f"estimated {metric} "), _fmt(value), F.lit(
                  f": fewer than {min_count} served rows, no decision")))
              .otherwise(said))
    return rows.select(
        F.col(AS_OF), F.col(MODEL_ID), F.col(SLICE_KEY), F.col(SLICE_VALUE), F.lit(ESTIMATED_DEGRADATION).alias("check"),
        F.lit(metric).alias("metric"), value.alias("value"), F.col("reference").alias("baseline"),
        F.lit(float(max_decline)).alias("threshold"), F.col(NUM_LABELLED), passed.alias("passed"),
        detail.alias("detail"))


def _noise(noise: Column, loss: Column, threshold: float, level: str, rows: str) -> Column:
    """The detail's words on the sampling error: what it explains, and when it decides."""
    said = F.concat(F.lit(f"; sampling error of {rows} at {level}: "), _fmt(noise))
    return (F.when(noise.isNull(), F.lit(""))
            .when((loss > threshold) & (loss <= noise), F.concat(said, F.lit(", which explains the loss: no finding")))
            .otherwise(said))


def _explained(drift: DataFrame) -> Column:
    """`; explained by 62% from x, 21% from y` where the row has an attribution, else ''."""
    if "attribution" not in drift.columns:
        return F.lit("")
    said = attribution.text(F.col("attribution"))
    return F.when(F.col("attribution").isNotNull() & (said != ""), F.concat(F.lit("; explained by "), said)) \
        .otherwise(F.lit(""))


def drift_findings(drift: DataFrame) -> DataFrame:
    """drift_metrics rows -> a finding per drifted row: training_serving_skew (BASELINE),
    feature_drift (CONSECUTIVE), prediction_drift (either, on the score or the prediction: the
    subject says which, `score (BASELINE)`; the detail names the features that explain a
    BASELINE score drift), example_skew (EXAMPLE)."""
    output = F.col(COLUMN_NAME).isin(SCORE, PREDICTION)
    kind = (F.when(F.col(DRIFT_TYPE) == EXAMPLE, F.lit(EXAMPLE_SKEW))
            .when(output, F.lit(PREDICTION_DRIFT))
            .when(F.col(DRIFT_TYPE) == BASELINE, F.lit(TRAINING_SERVING_SKEW))
            .when(F.col(DRIFT_TYPE) == CONSECUTIVE, F.lit(FEATURE_DRIFT)))
    relation = F.when(F.col("metric").isin("ks_test", "chi_squared_test"), F.lit(" p-value < ")).otherwise(F.lit(" > "))
    detail = F.concat(
        F.col(COLUMN_NAME), _slice_suffix(), F.lit(" ("), F.col(DRIFT_TYPE), F.lit(", "), F.col(MODEL_ID), F.lit("): "),
        F.col("metric"), F.lit(" "), _fmt(F.col("value")), relation, F.col("threshold").cast("string"),
        F.lit(" vs "), F.col("baseline"),
        F.when(F.col("mean").isNotNull(), F.concat(F.lit("; mean "), _fmt(F.col("mean"), 3), F.lit(" vs "),
                                                   _fmt(F.col("baseline_mean"), 3))).otherwise(F.lit("")),
        _explained(drift))
    # the score or prediction can drift against both baselines: the comparison is in the subject
    subject = F.concat(F.col(COLUMN_NAME), _slice_suffix(), F.when(output, F.concat(
        F.lit(" ("), F.col(DRIFT_TYPE), F.lit(")"))).otherwise(F.lit("")))
    return drift.where(F.col("drifted")).select(
        F.col(AS_OF), kind.alias("kind"), subject.alias("subject"),
        F.col("value"), F.col("threshold"), detail.alias("detail"))


def health_findings(health: DataFrame) -> DataFrame:
    """model_health rows -> a finding per failed check: model_stale, quality_drop, slow_degradation,
    estimated_degradation."""
    kind = F.lit(None).cast("string")
    for check, k in CHECK_KINDS.items():
        kind = F.when(F.col("check") == check, F.lit(k)).otherwise(kind)
    subject = F.when(F.col("check") == MODEL_AGE, F.col(MODEL_ID)).otherwise(F.concat(F.col("metric"), _slice_suffix()))
    return health.where(F.col("passed") == F.lit(False)).select(
        F.col(AS_OF), kind.alias("kind"), subject.alias("subject"), F.col("value"), F.col("threshold"),
        F.concat(F.col("detail"), F.lit(" ("), F.col(MODEL_ID), F.lit(")")).alias("detail"))


def retrain_trigger(findings: DataFrame, as_of: date, subject: str, *, windows: int, violations: int,
                    kinds: list[str]) -> DataFrame:
    """Findings (as_of, kind) of the windows up to `as_of` -> one `retrain_triggered` finding
    when at least `violations` of the last `windows` windows raised one of `kinds` (else none)."""
    first = F.date_sub(F.lit(as_of), windows - 1)
    hits = findings.where(F.col("kind").isin(*kinds) & (F.col(AS_OF) >= first) & (F.col(AS_OF) <= F.lit(as_of)))
    agg = hits.agg(F.countDistinct(AS_OF).alias("n"), F.array_sort(F.collect_set("kind")).alias("kinds"))
    return agg.where(F.col("n") >= violations).select(
        F.lit(as_of).alias(AS_OF), F.lit(RETRAIN_TRIGGERED).alias("kind"), F.lit(subject).alias("subject"),
        F.col("n").cast("double").alias("value"), F.lit(float(violations)).alias("threshold"),
        F.concat(F.col("n").cast("string"), F.lit(f" of the last {windows} windows raised "),
                 F.array_join(F.col("kinds"), ", "), F.lit(f" (trigger: {violations} of {windows}): retrain {subject}"))
        .alias("detail"))
