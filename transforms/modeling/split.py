"""Deterministic splits of the labelled rows (never randomSplit, never row order).

- out of time: the rows of the last as-ofs before the cutoff (from `out_of_time_from` on) are
  held out whole: trained on by no model, they show how a model does on days it has not seen;
- hash: the other rows go to train or test by a salted hash of the entity key, so the same
  entity always lands on the same side, on any cluster, in any run.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.columns import AS_OF, OUT_OF_TIME, SPLIT, TEST, TRAIN
from lakescore.transforms.sqltext import col

BUCKETS = 10_000


def hash_fraction(key: list[str], salt: str) -> Column:
    """A number in [0, 1) fixed by the key values and the salt."""
    h = F.xxhash64(F.lit(salt), *[col(k).cast("string") for k in key])
    return F.pmod(h, F.lit(BUCKETS)) / F.lit(float(BUCKETS))


def assign_split(key: list[str], test_fraction: float, salt: str, out_of_time_from: date | None = None):
    """Rows -> with `split`: out_of_time (as_of on or after `out_of_time_from`, when given), else
    test or train by the hash of the key."""

    def apply(df: DataFrame) -> DataFrame:
        hashed = F.when(hash_fraction(key, salt) < F.lit(test_fraction), TEST).otherwise(TRAIN)
        if out_of_time_from is not None:
            hashed = F.when(F.col(AS_OF) >= F.lit(out_of_time_from), OUT_OF_TIME).otherwise(hashed)
        return df.withColumn(SPLIT, hashed)

    return apply
