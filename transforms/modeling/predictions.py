"""Shape a fitted model's output into the `predictions` table's rows."""

from __future__ import annotations

from datetime import datetime

from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.columns import (
    AS_OF,
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
)
from transforms.sqltext import col


def model_output(kind: str):
    """Spark ML output -> `prediction` (double) and `score`: the positive class's probability for a
    binary label, the predicted value for regression."""

    def apply(df: DataFrame) -> DataFrame:
        score = vector_to_array(F.col(PROBABILITY))[1] if kind == BINARY else F.col(PREDICTION)
        return df.withColumn(PREDICTION, F.col(PREDICTION).cast("double")).withColumn(SCORE, score.cast("double"))

    return apply


def prediction_rows(key: list[str], event_time: str, model_name: str, model_version: str,
                    model_alias: str, trained_at: datetime, run_id: str, scored_at: datetime):
    """Scored rows (with `prediction` and `score`, see `model_output`) -> the predictions table's
    columns: key, as_of, prediction, score and the model's identity and age (days from its
    training cutoff to the prediction time)."""

    def apply(df: DataFrame) -> DataFrame:
        trained = F.lit(trained_at).cast("timestamp")
        age_seconds = F.unix_timestamp(F.col(PREDICTION_TIME)) - F.unix_timestamp(trained)
        return df.select(
            *[col(k) for k in key],
            F.col(AS_OF),
            F.col(PREDICTION_TIME),
            col(event_time),
            F.col(PREDICTION),
            F.col(SCORE),
            F.lit(model_name).alias(MODEL_NAME),
            F.lit(str(model_version)).alias(MODEL_VERSION),
            F.lit(model_alias).alias(MODEL_ALIAS),
            trained.alias(MODEL_TRAINED_AT),
            F.round(age_seconds / F.lit(86400.0), 3).alias(MODEL_AGE_DAYS),
            F.lit(run_id).alias(RUN_ID),
            F.lit(scored_at).cast("timestamp").alias(SCORED_AT),
        )

    return apply
