"""Key uniqueness (the `duplicate_key` row rule of a data contract): which rows of new batches
share their key with another row, in the batch, in another new batch, or in the clean table."""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lakescore.transforms.columns import BATCH_ID
from lakescore.transforms.contracts.kinds import DUPLICATE_KEY
from lakescore.transforms.contracts.rules import (
    QUARANTINED,
    ROW_HASH,
    Rule,
    add_reasons,
    failed,
    key_text,
)
from lakescore.transforms.sqltext import col


def flag_duplicate_keys(key: list[str], *, batch: str = BATCH_ID, order: Iterable[str] = (),
                        scope: str = "table", existing: DataFrame | None = None,
                        existing_name: str = "the clean table", tolerated: Iterable[tuple[str, str | None]] = ()):
    """Add a `duplicate_key` reason to rows whose key is not unique.

    Only rows not already quarantined by another rule take part: a rejected row does not
    claim its key. Among those rows:

    - scope `table`: the first batch (by `order`, then batch id) that holds a key owns it;
      the key's rows in later batches are duplicates. Keys already in `existing` (the clean
      table's keys from earlier batches) are duplicates too.
    - scope `batch`: each batch owns its keys (full snapshots re-landed as batches).
    - inside the owning batch, exact copies (same original text) keep one row and quarantine
      the other copies; rows sharing the key with different values are all duplicates, since
      nothing says which one is right.

    Rows whose key has a NULL part are left alone (a key column is required anyway).
    `tolerated` as in `with_reasons`: when (duplicate_key, <key>) is in it, duplicates are
    reported but not quarantined.
    """
    name = key_text(key)
    order = [c for c in order if c != batch]

    def apply(df: DataFrame) -> DataFrame:
        if not key:
            return df
        columns = df.columns
        keys = [col(k) for k in key]
        candidate = ~F.col(QUARANTINED)
        for k in keys:
            candidate = candidate & k.isNotNull()
        out = df.withColumns({"__candidate": candidate, "__hash": F.col(ROW_HASH)})
        by_key = Window.partitionBy("__candidate", *keys)
        by_batch = Window.partitionBy("__candidate", *keys, col(batch))
        by_copy = Window.partitionBy("__candidate", *keys, col(batch), "__hash").orderBy(col(batch))
        rank = F.struct(*[col(c) for c in order], col(batch).alias("__batch"))
        out = out.withColumns({
            "__first": F.min(rank).over(by_key)["__batch"] if scope == "table" else col(batch),
            "__rows": F.count(F.lit(1)).over(by_batch),
            "__versions_differ": F.min("__hash").over(by_batch) != F.max("__hash").over(by_batch),
            "__copy": F.row_number().over(by_copy),
        })
        if existing is not None and scope == "table":
            # Only the new rows' keys are looked up: the clean table's keys are first narrowed to
            # them (a semi join), so the distinct that follows is over the matches, not over every
            # key the table holds (a daily batch against years of history).
            wanted = df.select(*keys).dropna(how="any").distinct()
            seen = (existing.select(*keys).join(wanted, key, "left_semi").distinct()
                    .withColumn("__exists", F.lit(True)))
            out = out.join(seen, key, "left")
        else:
            out = out.withColumn("__exists", F.lit(None).cast("boolean"))
        later = col(batch) != F.col("__first")
        rules = [
            failed(F.col("__candidate") & F.col("__exists"), DUPLICATE_KEY, name,
                   f"key already in {existing_name}"),
            failed(F.col("__candidate") & later, DUPLICATE_KEY, name,
                   F.concat(F.lit("key already in batch "), F.col("__first"))),
            failed(F.col("__candidate") & ~later & F.col("__versions_differ"), DUPLICATE_KEY, name,
                   F.concat(F.lit("key on "), F.col("__rows").cast("string"),
                            F.lit(" rows of the batch with different values"))),
            failed(F.col("__candidate") & ~later & ~F.col("__versions_differ") & (F.col("__copy") > 1),
                   DUPLICATE_KEY, name, "exact copy of another row of the batch"),
        ]
        # One duplicate_key reason per row: the first rule that applies.
        first = Rule(DUPLICATE_KEY, name, F.coalesce(*rules))
        return out.transform(add_reasons([first], tolerated)).select(*columns)

    return apply
