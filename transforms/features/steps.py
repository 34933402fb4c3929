"""Stateless feature transforms: `Column -> Column`, computed in the features stage and
materialised in the `features` table (nothing is fitted, so training and serving compute the
same value from the same input).

NULL stays NULL through every step; NaN counts as NULL (it is not a value a feature can carry).
Fitted transforms (scaling into [0, 1], quantile clipping, imputation, category encoding) live
in the model instead: see transforms/preparation.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

STEP_OPS = ("date_part", "cyclic", "log", "clip", "buckets")
DATE_PARTS = ("hour", "minute_of_day", "day_of_week", "day_of_month", "day_of_year", "week_of_year",
              "month", "year")


def _value(x: Column) -> Column:
    """A double with NaN turned into NULL."""
    d = x.cast("double")
    return F.when(~F.isnan(d), d)


def date_part(ts: Column, part: str, timezone: str) -> Column:
    """A calendar part of a UTC timestamp as seen in `timezone` (daylight saving included):
    hour 0-23, minute_of_day 0-1439, day_of_week 1 (Monday) - 7 (Sunday), day_of_month,
    day_of_year, week_of_year (ISO), month, year."""
    local = F.from_utc_timestamp(ts.cast("timestamp"), timezone)
    parts: dict[str, Callable[[], Column]] = {
        "hour": lambda: F.hour(local),
        "minute_of_day": lambda: F.hour(local) * 60 + F.minute(local),
        "day_of_week": lambda: F.weekday(local) + 1,
        "day_of_month": lambda: F.dayofmonth(local),
        "day_of_year": lambda: F.dayofyear(local),
        "week_of_year": lambda: F.weekofyear(local),
        "month": lambda: F.month(local),
        "year": lambda: F.year(local),
    }
    if part not in parts:
        raise ValueError(f"unknown date part {part!r}; one of {list(DATE_PARTS)}")
    return parts[part]()


def cyclic(x: Column, period: float, fn: str) -> Column:
    """sin or cos of 2 pi x / period: hour 23 lies next to hour 0, December next to January."""
    if period <= 0:
        raise ValueError("period must be positive")
    angle = _value(x) * F.lit(2.0 * math.pi / period)
    if fn == "sin":
        return F.sin(angle)
    if fn == "cos":
        return F.cos(angle)
    raise ValueError(f"cyclic: fn must be sin or cos, not {fn!r}")


def log_offset(x: Column, offset: float) -> Column:
    """ln(x + offset); NULL where x + offset <= 0 (offset 1 is log1p for counts and amounts)."""
    shifted = _value(x) + F.lit(float(offset))
    return F.when(shifted > 0, F.log(shifted))


def clip(x: Column, low: float | None, high: float | None) -> Column:
    """x limited to the fixed bounds [low, high] (either may be None); +-inf goes to the bound."""
    v = _value(x)
    out = v
    if low is not None:
        out = F.when(out < F.lit(float(low)), F.lit(float(low))).otherwise(out)
    if high is not None:
        out = F.when(out > F.lit(float(high)), F.lit(float(high))).otherwise(out)
    return F.when(v.isNotNull(), out)


def bucketize(x: Column, boundaries: list[float]) -> Column:
    """The bucket of x among increasing boundaries b1 < ... < bn: 0 below b1, i for
    b_i <= x < b_(i+1), n at or above bn."""
    if not boundaries or any(a >= b for a, b in zip(boundaries, boundaries[1:])):
        raise ValueError("boundaries must be strictly increasing and not empty")
    v = _value(x)
    index = sum((v >= F.lit(float(b))).cast("int") for b in boundaries)
    return F.when(v.isNotNull(), index)


def apply_step(x: Column, op: str, params: dict[str, Any]) -> Column:
    """One declared step (see lakescore.config.features.Step) applied to a column."""
    if op == "date_part":
        return date_part(x, params["part"], params["timezone"])
    if op == "cyclic":
        return cyclic(x, params["period"], params["fn"])
    if op == "log":
        return log_offset(x, params["offset"])
    if op == "clip":
        return clip(x, params.get("low"), params.get("high"))
    if op == "buckets":
        return bucketize(x, params["boundaries"])
    raise ValueError(f"unknown step {op!r}")
