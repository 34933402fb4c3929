"""The `data_quality` rows: one per source x batch, from the batch's profile, the rows written
and its findings (rows in = clean + quarantined, null rates, freshness, volume, anomalies)."""

from __future__ import annotations

from datetime import date, datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.contracts.anomalies import ANOMALY_TYPE, instant, with_freshness, with_volume


def data_quality_rows(*, source: str, as_of: date, processed_at: datetime, reference: datetime,
                      contract_hash: str):
    """Batch rows -> `data_quality` rows. The input is the profile plus `previous_rows`,
    `rows_clean`, `rows_quarantined` (as written) and `anomalies` (the batch's findings with
    their policy; sorted by kind and column here)."""

    def apply(df: DataFrame) -> DataFrame:
        rows_in = F.col("rows_in")
        null_rates = F.transform_values("present", lambda k, v: F.when(rows_in > 0, 1 - v / rows_in))
        anomalies = F.array_sort(F.coalesce(F.col("anomalies"), F.array().cast(ANOMALY_TYPE)).cast(ANOMALY_TYPE))
        return df.transform(with_volume).transform(with_freshness(reference)).select(
            F.lit(source).alias("source"),
            F.col("batch_id").cast("string"),
            F.lit(as_of.isoformat()).cast("date").alias("as_of"),
            instant(processed_at).alias("processed_at"),
            rows_in.cast("bigint").alias("rows_in"),
            F.col("rows_clean").cast("bigint").alias("rows_clean"),
            F.col("rows_quarantined").cast("bigint").alias("rows_quarantined"),
            F.when(rows_in > 0, F.col("rows_quarantined") / rows_in).cast("double").alias("quarantine_rate"),
            F.col("landed_at").cast("timestamp"),
            null_rates.cast("map<string,double>").alias("null_rates"),
            F.col("newest_event_at").cast("timestamp"),
            F.col("freshness_hours"),
            F.col("volume_baseline").cast("double"),
            F.col("volume_ratio").cast("double"),
            anomalies.alias("anomalies"),
            F.array_join(F.array_sort(F.array_distinct(F.transform(anomalies, lambda a: a["kind"]))),
                         ",").alias("anomaly_kinds"),
            F.lit(contract_hash).alias("contract_hash"),
        )

    return apply
