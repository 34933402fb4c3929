"""Snapshot sources (`arrival: snapshot`): each batch is a full export of a catalog, and
`clean_<source>` keeps every version of every entity with the time it was valid from and to
(a type-2 slowly changing dimension), so a point-in-time reader sees the version known at a
prediction time and an entity is never duplicated.

`snapshot_changes` compares a batch's clean rows with the current versions and returns what the
write must do, as one staged frame for a single MERGE:

- a key new to the table: a new version, valid from the snapshot's time;
- a key whose values changed: the current version closes at the snapshot's time and a new one
  opens;
- a key the snapshot no longer holds: the current version closes (the entity is gone);
- a key whose row was rejected by the contract (`held`): nothing changes, the entity keeps its
  previous valid version;
- an unchanged key: nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.columns import BATCH_ID, LANDED_AT, VALID_FROM, VALID_TO
from lakescore.transforms.sqltext import col

CLOSE = "_close"          # staged row closes the current version of its key (else: opens one)
CHANGE = "_change"        # new | changed | gone: what happened to the key, for the counts
NEW, CHANGED, GONE = "new", "changed", "gone"


def version_hash(columns: Iterable[str]) -> Column:
    """A hash of a version's values (NULL-safe, type-aware): equal values, equal hash."""
    return F.xxhash64(*[F.struct(F.lit(c), col(c)) for c in columns])


def snapshot_changes(current: DataFrame, incoming: DataFrame, key: list[str], value_columns: list[str],
                     at: Column, held: DataFrame | None = None, carry: Iterable[str] = ()) -> DataFrame:
    """The staged rows of one snapshot batch: `incoming` (the batch's clean rows: key unique,
    `value_columns`, `_batch_id`, `_landed_at`) against `current` (the table's versions with
    `_valid_to` NULL). `at` is the snapshot's time; `held` holds the keys of the batch's rows
    the contract rejected; `carry` columns are stored with a new version but not compared (the
    export's own date). Returns the columns of the table plus `_close` (true: close the current
    version of this key at `_valid_to`; false: insert this version) and `_change`."""
    cur = current.where(col(VALID_TO).isNull()).select(
        *[col(k) for k in key], version_hash(value_columns).alias("_h_cur"))
    new = incoming.select(*[col(c) for c in incoming.columns], version_hash(value_columns).alias("_h_new"))
    both = new.join(cur, on=key, how="full_outer")
    if held is not None:
        both = both.join(held.select(*[col(k) for k in key]).distinct().withColumn("_held", F.lit(True)),
                         on=key, how="left")
    else:
        both = both.withColumn("_held", F.lit(None).cast("boolean"))
    is_new = F.col("_h_cur").isNull() & F.col("_h_new").isNotNull()
    changed = F.col("_h_cur").isNotNull() & F.col("_h_new").isNotNull() & (F.col("_h_cur") != F.col("_h_new"))
    gone = F.col("_h_cur").isNotNull() & F.col("_h_new").isNull() & F.col("_held").isNull()
    change = F.when(is_new, NEW).when(changed, CHANGED).when(gone, GONE)
    both = both.withColumn(CHANGE, change).where(F.col(CHANGE).isNotNull())
    columns = [*key, *value_columns, *carry, BATCH_ID, LANDED_AT]
    opens = both.where(F.col(CHANGE) != GONE).select(
        *[col(c) for c in columns], at.cast("timestamp").alias(VALID_FROM),
        F.lit(None).cast("timestamp").alias(VALID_TO), F.lit(False).alias(CLOSE), col(CHANGE))
    closes = both.where(F.col(CHANGE) != NEW).select(
        *[col(k) for k in key], *[F.lit(None).cast(incoming.schema[c].dataType).alias(c)
                                  for c in columns if c not in key],
        F.lit(None).cast("timestamp").alias(VALID_FROM), at.cast("timestamp").alias(VALID_TO),
        F.lit(True).alias(CLOSE), col(CHANGE))
    return opens.unionByName(closes)


def change_counts(staged: DataFrame) -> DataFrame:
    """One row: how many keys are new, changed and gone in a staged batch."""
    opened = ~F.col(CLOSE)
    return staged.agg(
        F.sum(F.when(opened & (F.col(CHANGE) == NEW), 1).otherwise(0)).alias(NEW),
        F.sum(F.when(opened & (F.col(CHANGE) == CHANGED), 1).otherwise(0)).alias(CHANGED),
        F.sum(F.when(F.col(CHANGE) == GONE, 1).otherwise(0)).alias(GONE))
