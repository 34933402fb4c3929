"""Deterministic train/test split by a salted hash of the entity key (never randomSplit, never
row order): the same entity always lands on the same side, on any cluster, in any run."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.columns import SPLIT, TEST, TRAIN
from transforms.sqltext import col

BUCKETS = 10_000


def hash_fraction(key: list[str], salt: str) -> Column:
    """A number in [0, 1) fixed by the key values and the salt."""
    h = F.xxhash64(F.lit(salt), *[col(k).cast("string") for k in key])
    return F.pmod(h, F.lit(BUCKETS)) / F.lit(float(BUCKETS))


def assign_split(key: list[str], test_fraction: float, salt: str):
    def apply(df: DataFrame) -> DataFrame:
        return df.withColumn(
            SPLIT, F.when(hash_fraction(key, salt) < F.lit(test_fraction), TEST).otherwise(TRAIN)
        )

    return apply
