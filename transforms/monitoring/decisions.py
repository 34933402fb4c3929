"""The drift decision of a drift_metrics row: which metric judges it, against which threshold,
and whether the column drifted.

A test is a metric and a threshold (a distance above it, or a p-value below it, is drift) and
optionally another metric and threshold for small samples (fewer than `small_sample` non-NULL
values on either side). Rows with fewer than `min_count` values on either side get figures and
no decision (`drifted` NULL), as do the (drift type, column) pairs a test is switched off for.
A rise of the NULL share by more than `max_null_rate_increase` is drift too (metric
`null_rate`), whatever the distribution of the other values says.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.columns import COLUMN_KIND, COLUMN_NAME, DRIFT_TYPE
from lakescore.transforms.monitoring.drift import DISTANCES, MEAN_SHIFT, PVALUE_METRICS

NULL_RATE = "null_rate"
DECISION = ["metric", "value", "threshold", "drifted"]


@dataclass(frozen=True)
class DriftTest:
    metric: str
    threshold: float
    small_metric: str | None = None
    small_threshold: float | None = None


def _value(metric: Column) -> Column:
    """The figure `metric` names: the distance, or the p-value of a test."""
    shift = F.abs(F.col("mean") - F.col("baseline_mean")) / F.col("baseline_stddev")
    out = F.when((metric == MEAN_SHIFT) & (F.col("baseline_stddev") > 0), shift).otherwise(F.lit(None).cast("double"))
    for name in DISTANCES:
        figure = F.col(f"{name}.pvalue") if name in PVALUE_METRICS else F.col(name)
        out = F.when(metric == name, figure).otherwise(out)
    return out


def _rule(test: DriftTest | None) -> Column:
    if test is None:
        return F.struct(F.lit(False).alias("on"), *[F.lit(None).cast(t).alias(n) for n, t in (
            ("metric", "string"), ("threshold", "double"), ("small_metric", "string"), ("small_threshold", "double"))])
    return F.struct(F.lit(True).alias("on"), F.lit(test.metric).alias("metric"),
                    F.lit(float(test.threshold)).alias("threshold"),
                    F.lit(test.small_metric).cast("string").alias("small_metric"),
                    F.lit(test.small_threshold).cast("double").alias("small_threshold"))


def decide(defaults: dict[str, DriftTest], overrides: dict[tuple[str, str], DriftTest | None], *, min_count: int,
           small_sample: int, max_null_rate_increase: float):
    """Rows of `drift.compare` (with `drift_type`, `valid_count`, `baseline_valid_count`) ->
    the rows with `metric`, `value`, `threshold` and `drifted`. `defaults` maps a column kind to
    its test; `overrides` a (drift_type, column) to its own test, or None for no decision."""

    def apply(df: DataFrame) -> DataFrame:
        rule = _rule(None)
        for kind, test in defaults.items():
            rule = F.when(F.col(COLUMN_KIND) == kind, _rule(test)).otherwise(rule)
        for (drift_type, column), test in overrides.items():
            rule = F.when((F.col(DRIFT_TYPE) == drift_type) & (F.col(COLUMN_NAME) == column), _rule(test)).otherwise(rule)
        fewest = F.least(F.col("valid_count"), F.col("baseline_valid_count"))
        small = F.col("_rule.small_metric").isNotNull() & (fewest < small_sample)
        metric = F.when(small, F.col("_rule.small_metric")).otherwise(F.col("_rule.metric"))
        threshold = F.when(small, F.col("_rule.small_threshold")).otherwise(F.col("_rule.threshold"))
        value = _value(F.col("metric"))
        beyond = F.when(F.col("metric").isin(*PVALUE_METRICS), value < F.col("threshold")).otherwise(
            value > F.col("threshold"))
        null_rise = F.col(NULL_RATE) - F.col("baseline_null_rate")
        nulls = null_rise > F.lit(max_null_rate_increase)
        enough = fewest >= min_count
        out = (df.withColumn("_rule", rule)
               .withColumn("metric", F.when(F.col("_rule.on"), metric))
               .withColumn("threshold", F.when(F.col("_rule.on"), threshold))
               .withColumn("value", value)
               .withColumn("_beyond", F.coalesce(beyond, F.lit(False)))
               .withColumn("_nulls", F.col("_rule.on") & F.coalesce(nulls, F.lit(False))))
        # the NULL share names the finding when it alone crossed its bound
        by_nulls = F.col("_nulls") & ~(enough & F.col("_beyond"))
        return (out
                .withColumn("drifted", F.when(~F.col("_rule.on"), F.lit(None).cast("boolean"))
                            .when(F.col("_nulls"), F.lit(True))
                            .when(~enough, F.lit(None).cast("boolean"))
                            .otherwise(F.col("_beyond")))
                .withColumn("metric", F.when(by_nulls, F.lit(NULL_RATE)).otherwise(F.col("metric")))
                .withColumn("value", F.when(by_nulls, null_rise).otherwise(F.col("value")))
                .withColumn("threshold", F.when(by_nulls, F.lit(float(max_null_rate_increase)))
                            .otherwise(F.col("threshold")))
                .drop("_rule", "_beyond", "_nulls"))

    return apply
