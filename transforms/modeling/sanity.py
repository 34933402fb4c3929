"""Training-data sanity: a model feature that is entirely NULL, or holds one value on every row,
in the training rows teaches the model nothing and usually means something upstream broke (a
contract typing slip that quarantined every value of a column, a lookup that stopped matching)."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.sqltext import col


def feature_profile(df: DataFrame, features: list[str]) -> DataFrame:
    """One row: `rows`, and per feature `<i>_n` (non-NULL values), `<i>_min`, `<i>_max` (as text
    for categorical columns), i being the feature's position in `features`."""
    aggs = [F.count(F.lit(1)).alias("rows")]
    for i, f in enumerate(features):
        aggs += [F.count(col(f)).alias(f"{i}_n"), F.min(col(f)).alias(f"{i}_min"), F.max(col(f)).alias(f"{i}_max")]
    return df.agg(*aggs)


def empty_or_constant(profile: dict, features: list[str]) -> dict[str, str]:
    """From `feature_profile`'s row (as a dict): feature -> what is wrong with it, for every
    feature that is entirely NULL or holds a single value on every row."""
    out = {}
    rows = profile["rows"]
    for i, f in enumerate(features):
        n, lo, hi = profile[f"{i}_n"], profile[f"{i}_min"], profile[f"{i}_max"]
        if n == 0:
            out[f] = f"NULL in all {rows} training rows"
        elif n == rows and lo == hi:
            out[f] = f"the same value ({lo}) in all {rows} training rows"
    return out
