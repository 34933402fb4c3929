"""Measurements of batches that the dataset-level anomalies compare with their thresholds:
volume against the previous batches, freshness at the as-of, and instants as timestamp
literals. They work on the small per-batch frames (one row per batch), never on the rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def instant(value: datetime) -> Column:
    """A timestamp literal for an instant: an aware datetime as such (whatever the session time
    zone), a naive one in the Python process's local time (as PySpark converts datetimes)."""
    if value.tzinfo is not None:
        return F.lit(value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")).cast("timestamp")
    return F.lit(value).cast("timestamp")


def previous_volumes(history: Iterable[tuple[Any, str, int]], current: Iterable[tuple[Any, str, int]],
                     batches: int, *, interleave: bool = False) -> dict[str, list[int]]:
    """For each current batch, the rows of the `batches` batches before it: the earlier batches
    of `history` (by time, then id), then the current ones landed before it. With `interleave`
    (re-checking old batches), history and current batches are put in one order and each
    current batch gets the batches just before it. Entries are (time, batch_id, rows); bounded
    (one per batch), so this runs on the driver."""
    def order(entry):
        at, batch_id, _ = entry[0]
        return (not interleave and entry[1], at is not None, at or datetime.min, batch_id)

    entries = sorted([(e, False) for e in history] + [(e, True) for e in current], key=order)
    seen: list[int] = []
    out = {}
    for (_, batch_id, rows), is_current in entries:
        if is_current:
            out[batch_id] = seen[-batches:] if batches else []
        seen.append(rows)
    return out


def _median(values: Column) -> Column:
    s = F.array_sort(values)
    n = F.size(s)
    half = F.floor(n / 2).cast("int")
    mid = F.get(s, half)
    low = F.get(s, half - 1)
    return F.when(n == 0, F.lit(None).cast("double")).when(n % 2 == 1, mid.cast("double")) \
        .otherwise((low + mid) / 2.0)


def with_volume(df: DataFrame) -> DataFrame:
    """Add `volume_baseline` (the median of `previous_rows`, NULL without history) and
    `volume_ratio` (rows_in / baseline)."""
    baseline = _median(F.coalesce(F.col("previous_rows"), F.array().cast("array<bigint>")))
    return df.withColumn("volume_baseline", baseline).withColumn(
        "volume_ratio", F.when(F.col("volume_baseline") > 0, F.col("rows_in") / F.col("volume_baseline")))


def with_freshness(reference: datetime | str):
    """Add `freshness_hours`: the age of `newest_event_at` at `reference` (the as-of's start:
    an aware datetime, or a naive one in local time; or the name of a timestamp column that
    holds it, one per batch); negative when the batch holds events after the as-of (a backfill)."""

    def apply(df: DataFrame) -> DataFrame:
        at = F.col(reference) if isinstance(reference, str) else instant(reference)
        age = (F.unix_timestamp(at) - F.unix_timestamp("newest_event_at")) / 3600.0
        return df.withColumn("freshness_hours", age.cast("double"))

    return apply
