"""As-of dates: which entities an as-of scores, and the moment its predictions are made.

An as-of date D is a day in the use case's time zone. Its prediction time is D 00:00 there
(expressed in UTC, the session time zone), and it scores the entities whose event time falls
in [D, D + horizon_days). Nothing known after the prediction time may feed its features.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.columns import AS_OF, PREDICTION_TIME
from transforms.sqltext import col


def local_date(ts: Column, timezone: str) -> Column:
    """The calendar date of a UTC timestamp in `timezone`."""
    return F.to_date(F.from_utc_timestamp(ts, timezone))


def day_start(day: Column, timezone: str) -> Column:
    """00:00 of a date in `timezone`, as a UTC timestamp (daylight saving included)."""
    return F.to_utc_timestamp(day.cast("timestamp"), timezone)


def prediction_time(as_of: date, tz: str) -> datetime:
    """An as-of's prediction time (00:00 of the day in `tz`) as a naive UTC datetime."""
    local = datetime.combine(as_of, time()).replace(tzinfo=ZoneInfo(tz))
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def catalog_spine(event_time: str, timezone: str, horizon_days: int, first: date, last: date):
    """Entities -> one row per (entity, as_of) for every as-of in [first, last] that scores it,
    with `as_of` and `prediction_time` added."""

    def apply(df: DataFrame) -> DataFrame:
        event_day = local_date(col(event_time), timezone)
        in_range = event_day.between(F.lit(first), F.date_add(F.lit(last), horizon_days - 1))
        as_ofs = F.sequence(F.date_sub(event_day, horizon_days - 1), event_day)
        return (
            df.where(in_range)
            .withColumn(AS_OF, F.explode(as_ofs))
            .where(F.col(AS_OF).between(F.lit(first), F.lit(last)))
            .withColumn(PREDICTION_TIME, day_start(F.col(AS_OF), timezone))
        )

    return apply
