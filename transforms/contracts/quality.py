"""The `data_quality` rows: one per source x batch, from the batch's profile, the rows written
and its findings (rows in = clean + quarantined, blank lines, null rates, freshness, volume,
anomalies)."""

from __future__ import annotations

from datetime import date, datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.contracts.anomalies import ANOMALY_TYPE
from lakescore.transforms.contracts.measures import instant, with_freshness, with_volume

ROWS_BLANK = "rows_blank"


def _optional(df: DataFrame, name: str, type_name: str) -> Column:
    return (F.col(name) if name in df.columns else F.lit(None)).cast(type_name)


def data_quality_rows(*, source: str, processed_at: datetime, contract_hash: str, as_of: date | None = None,
                      reference: datetime | str = "as_of_start", replayed_at: datetime | None = None):
    """Batch rows -> `data_quality` rows. The input is the profile plus `previous_rows`,
    `rows_clean`, `rows_quarantined` (as written), `anomalies` (the batch's findings with their
    policy; sorted by kind and column here) and, when known, `rows_blank` (lines of the landed
    file that hold no row).

    `as_of` is the run's date (None: the input's `as_of` column, one per batch, as a replay
    has); `reference` the instant freshness is measured at (or the name of a column holding it);
    `replayed_at` the time of a replay (NULL for a batch checked once)."""

    def apply(df: DataFrame) -> DataFrame:
        rows_in = F.col("rows_in")
        null_rates = F.transform_values("present", lambda k, v: F.when(rows_in > 0, 1 - v / rows_in))
        anomalies = F.array_sort(F.coalesce(F.col("anomalies"), F.array().cast(ANOMALY_TYPE)).cast(ANOMALY_TYPE))
        as_of_col = F.lit(as_of.isoformat()).cast("date") if as_of is not None else F.col("as_of").cast("date")
        replayed = instant(replayed_at) if replayed_at is not None else F.lit(None).cast("timestamp")
        return df.transform(with_volume).transform(with_freshness(reference)).select(
            F.lit(source).alias("source"),
            F.col("batch_id").cast("string"),
            as_of_col.alias("as_of"),
            instant(processed_at).alias("processed_at"),
            rows_in.cast("bigint").alias("rows_in"),
            F.col("rows_clean").cast("bigint").alias("rows_clean"),
            F.col("rows_quarantined").cast("bigint").alias("rows_quarantined"),
            F.when(rows_in > 0, F.col("rows_quarantined") / rows_in).cast("double").alias("quarantine_rate"),
            _optional(df, ROWS_BLANK, "bigint").alias(ROWS_BLANK),
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
            replayed.alias("replayed_at"),
        )

    return apply
