"""Shape a fitted model's output into the `predictions` table's rows."""

from __future__ import annotations

from datetime import datetime

from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.asof import AS_OF, PREDICTION_TIME

SCORE = "score"


def model_output(kind: str):
    """Spark ML output -> `prediction` (double) and `score`: the positive class's probability for a
    binary label, the predicted value for regression."""

    def apply(df: DataFrame) -> DataFrame:
        score = vector_to_array(F.col("probability"))[1] if kind == "binary" else F.col("prediction")
        return df.withColumn("prediction", F.col("prediction").cast("double")).withColumn(SCORE, score.cast("double"))

    return apply


def prediction_rows(key: list[str], event_time: str, kind: str, model_name: str, model_version: str,
                    model_alias: str, trained_at: datetime, run_id: str, scored_at: datetime):
    """Spark ML output -> the predictions table's columns: key, as_of, prediction, score and the
    model's identity and age (days from its training cutoff to the prediction time)."""

    def apply(df: DataFrame) -> DataFrame:
        trained = F.lit(trained_at).cast("timestamp")
        age_seconds = F.unix_timestamp(F.col(PREDICTION_TIME)) - F.unix_timestamp(trained)
        return df.transform(model_output(kind)).select(
            *[F.col(f"`{k}`") for k in key],
            F.col(AS_OF),
            F.col(PREDICTION_TIME),
            F.col(f"`{event_time}`"),
            F.col("prediction"),
            F.col(SCORE),
            F.lit(model_name).alias("model_name"),
            F.lit(str(model_version)).alias("model_version"),
            F.lit(model_alias).alias("model_alias"),
            trained.alias("model_trained_at"),
            F.round(age_seconds / F.lit(86400.0), 3).alias("model_age_days"),
            F.lit(run_id).alias("run_id"),
            F.lit(scored_at).cast("timestamp").alias("scored_at"),
        )

    return apply
