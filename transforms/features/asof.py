"""As-of dates: which entities an as-of scores, and the moment its predictions are made.

An as-of date D is a day in the use case's time zone. Its prediction time is D 00:00 there
(expressed in UTC, the session time zone), and it scores the entities whose event time falls
in [D, D + horizon_days). Nothing known after the prediction time may feed its features.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.columns import AS_OF, PREDICTION_TIME, VALID_FROM, VALID_TO
from lakescore.transforms.sqltext import col


def local_date(ts: Column, timezone: str) -> Column:
    """The calendar date of a UTC timestamp in `timezone`."""
    return F.to_date(F.from_utc_timestamp(ts, timezone))


def day_start(day: Column, timezone: str) -> Column:
    """00:00 of a date in `timezone`, as a UTC timestamp (daylight saving included)."""
    return F.to_utc_timestamp(day.cast("timestamp"), timezone)


def prediction_time(as_of: date, tz: str) -> datetime:
    """An as-of's prediction time (00:00 of the day in `tz`) as a naive UTC datetime."""
    local = datetime.combine(as_of, time()).replace(tzinfo=ZoneInfo(tz))
    return local.astimezone(UTC).replace(tzinfo=None)


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


def valid_at(at: Column, valid_from: str = VALID_FROM, valid_to: str = VALID_TO) -> Column:
    """A version of a snapshot source is the one known at `at`: valid from at or before it, not
    yet superseded or gone."""
    return (col(valid_from) <= at) & (col(valid_to).isNull() | (col(valid_to) > at))


def snapshot_spine(timezone: str, first: date, last: date, valid_from: str = VALID_FROM,
                   valid_to: str = VALID_TO):
    """Versions of a snapshot catalog -> one row per (version, as_of) for every as-of in
    [first, last] whose prediction time (00:00 in `timezone`) lies in [valid_from, valid_to),
    with `as_of` and `prediction_time` added: the catalog of an as-of is every entity as it was
    known at its prediction time. No cross join: each version expands to its own as-ofs."""

    def apply(df: DataFrame) -> DataFrame:
        d0 = local_date(col(valid_from), timezone)
        start = F.when(day_start(d0, timezone) >= col(valid_from), d0).otherwise(F.date_add(d0, 1))
        e0 = local_date(col(valid_to), timezone)
        end = F.when(col(valid_to).isNull(), F.lit(last)).when(
            day_start(e0, timezone) < col(valid_to), e0).otherwise(F.date_sub(e0, 1))
        start, end = F.greatest(start, F.lit(first)), F.least(end, F.lit(last))
        return (df.where(col(valid_from).isNotNull())
                .withColumn(AS_OF, F.explode(F.when(start <= end, F.sequence(start, end))))
                .withColumn(PREDICTION_TIME, day_start(F.col(AS_OF), timezone)))

    return apply
