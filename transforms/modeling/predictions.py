"""Shape a fitted model's output into the `predictions` table's rows: Spark ML's output
(`model_output`) or a pyfunc model's (`pyfunc_output`) -> `prediction` and `score`, then the
table's columns (`prediction_rows`)."""

from __future__ import annotations

from datetime import datetime

from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.columns import (
    AS_OF,
    BATCH,
    BINARY,
    MODEL_AGE_DAYS,
    MODEL_ALIAS,
    MODEL_NAME,
    MODEL_TRAINED_AT,
    MODEL_VERSION,
    PREDICTION,
    PREDICTION_TIME,
    PROBABILITY,
    RUN_ID,
    SCORE,
    SCORED_AT,
    SERVED_BY,
)
from lakescore.transforms.sqltext import col


def model_output(kind: str):
    """Spark ML output -> `prediction` (double) and `score`: the positive class's probability for a
    binary label, the predicted value for regression."""

    def apply(df: DataFrame) -> DataFrame:
        score = vector_to_array(F.col(PROBABILITY))[1] if kind == BINARY else F.col(PREDICTION)
        return df.withColumn(PREDICTION, F.col(PREDICTION).cast("double")).withColumn(SCORE, score.cast("double"))

    return apply


def pyfunc_output(raw: str, kind: str, probabilities: bool, threshold: float = 0.5):
    """A pyfunc model's output column `raw` -> `prediction` (double) and `score`, `raw` dropped.

    Binary label: with `probabilities` `raw` is predict_proba's row (an array, the positive class
    second) and `score` is its second element; otherwise `raw` is predict's value, taken as the
    score (a probability, or the class itself). `prediction` is 1.0 when the score is above
    `threshold` (as Spark ML's and scikit-learn's binary classifiers decide), else 0.0.
    Regression: `prediction` and `score` are the predicted value."""

    def apply(df: DataFrame) -> DataFrame:
        if kind != BINARY:
            value = F.col(raw).cast("double")
            return df.withColumn(PREDICTION, value).withColumn(SCORE, value).drop(raw)
        score = (F.element_at(F.col(raw), 2) if probabilities else F.col(raw)).cast("double")
        return (df.withColumn(SCORE, score)
                .withColumn(PREDICTION, F.when(F.col(SCORE) > threshold, 1.0).when(F.col(SCORE).isNotNull(), 0.0))
                .drop(raw))

    return apply


def model_age_days(trained_at: datetime, prediction_time: datetime) -> float:
    """Days from a model's training cutoff to a prediction time (both naive UTC), as
    `prediction_rows` writes them in `model_age_days`."""
    return round((prediction_time - trained_at).total_seconds() / 86400.0, 3)


def prediction_rows(key: list[str], event_time: str | None, model_name: str, model_version: str,
                    model_alias: str, trained_at: datetime, run_id: str, scored_at: datetime,
                    served_by: str = BATCH):
    """Scored rows (with `prediction` and `score`, see `model_output`) -> the predictions table's
    columns: key, as_of, prediction time, event time (None: a snapshot catalog has none),
    prediction, score, the model's identity and age (days from its training cutoff to the
    prediction time) and `served_by` (batch, on_demand)."""

    def apply(df: DataFrame) -> DataFrame:
        trained = F.lit(trained_at).cast("timestamp")
        age_seconds = F.unix_timestamp(F.col(PREDICTION_TIME)) - F.unix_timestamp(trained)
        return df.select(
            *[col(k) for k in key],
            F.col(AS_OF),
            F.col(PREDICTION_TIME),
            *([col(event_time)] if event_time else []),
            F.col(PREDICTION),
            F.col(SCORE),
            F.lit(model_name).alias(MODEL_NAME),
            F.lit(str(model_version)).alias(MODEL_VERSION),
            F.lit(model_alias).alias(MODEL_ALIAS),
            trained.alias(MODEL_TRAINED_AT),
            F.round(age_seconds / F.lit(86400.0), 3).alias(MODEL_AGE_DAYS),
            F.lit(run_id).alias(RUN_ID),
            F.lit(scored_at).cast("timestamp").alias(SCORED_AT),
            F.lit(served_by).alias(SERVED_BY),
        )

    return apply
