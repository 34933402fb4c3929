"""Per-example skew and feedback loops, in one pass each.

- `example_skew` (TFDV's feature skew): the feature rows that were served (the Delta version
  of `features` a prediction read) against the same rows as they are now (what training will
  read): per as-of and feature, rows on each side, rows compared (present on both), rows whose
  value differs (NULL against a value counts; numbers within a relative 1e-9 are equal).
- `feedback_correlation`: for a declared feedback loop, the Pearson correlation between the
  score served for an entity at an as-of and the value, `horizon_days` later, of each feature
  the loop feeds: how strongly the model's outputs come back as its inputs.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.columns import AS_OF, COLUMN_KIND, COLUMN_NAME, NUMERIC, SCORE
from lakescore.transforms.sqltext import col

TOLERANCE = 1e-9


def _differs(served: Column, now: Column, kind: str) -> Column:
    if kind == NUMERIC:
        close = F.abs(served - now) <= F.lit(TOLERANCE) * F.greatest(F.lit(1.0), F.abs(served))
        return F.when(served.isNull() & now.isNull(), F.lit(False)).when(served.isNull() | now.isNull(), F.lit(True)) \
            .otherwise(~close)
    return ~served.eqNullSafe(now)


def _unpivot(df: DataFrame, names: list[str], fields: dict[str, str], kinds: dict[str, str]) -> DataFrame:
    """One row per column from wide aggregates named `<field>__<i>` (i: the column's index)."""
    entries = [F.struct(F.lit(n).alias(COLUMN_NAME), F.lit(kinds[n]).alias(COLUMN_KIND),
                        *[F.col(f"{f}__{i}").cast(t).alias(f) for f, t in fields.items()])
               for i, n in enumerate(names)]
    keep = [c for c in df.columns if "__" not in c]
    return df.select(*[F.col(c) for c in keep], F.explode(F.array(*entries)).alias("_e")) \
        .select(*[F.col(c) for c in keep], "_e.*")


def example_skew(served: DataFrame, now: DataFrame, key: list[str], kinds: dict[str, str]) -> DataFrame:
    """Feature rows as served and as they are now (key, as_of, the features) -> per (as_of,
    feature): `baseline_count` (served rows), `count` (rows now), `rows_compared`,
    `rows_different`."""
    names = list(kinds)
    on = [*key, AS_OF]
    s = served.select(*[col(c) for c in on], F.lit(1).alias("_s"), *[col(n).alias(f"_s_{i}") for i, n in enumerate(names)])
    n = now.select(*[col(c) for c in on], F.lit(1).alias("_n"), *[col(n).alias(f"_n_{i}") for i, n in enumerate(names)])
    both = F.col("_s").isNotNull() & F.col("_n").isNotNull()
    joined = s.join(n, on=on, how="full")
    aggs = [F.count("_s").alias("baseline_count"), F.count("_n").alias("count"),
            F.sum(F.when(both, 1).otherwise(0)).cast("long").alias("rows_compared")]
    aggs += [F.sum(F.when(both & _differs(F.col(f"_s_{i}"), F.col(f"_n_{i}"), kinds[name]), 1).otherwise(0))
             .cast("long").alias(f"rows_different__{i}") for i, name in enumerate(names)]
    per_day = joined.groupBy(AS_OF).agg(*aggs)
    return _unpivot(per_day, names, {"rows_different": "long"}, kinds)


def feedback_correlation(scored: DataFrame, later: DataFrame, key: list[str], features: list[str],
                         horizon_days: int) -> DataFrame:
    """Served scores (key, as_of, score) and feature rows (key, as_of, features) -> per (as_of,
    feature): `rows_compared` (entities scored at the as-of with a row `horizon_days` later)
    and `correlation` (Pearson, NULL with fewer than two pairs or no variance)."""
    s = scored.select(*[col(k) for k in key], F.col(AS_OF), F.col(SCORE))
    f = later.select(*[col(k) for k in key], F.date_sub(F.col(AS_OF), horizon_days).alias(AS_OF),
                     *[col(n).alias(f"_f_{i}") for i, n in enumerate(features)])
    pairs = s.join(f, on=[*key, AS_OF], how="inner")
    per_day = pairs.groupBy(AS_OF).agg(
        F.count(F.lit(1)).alias("rows_compared"),
        *[F.corr(F.col(SCORE), F.col(f"_f_{i}").cast("double")).alias(f"correlation__{i}") for i in range(len(features))])
    per_day = per_day.select(*[F.col(c) for c in per_day.columns if "__" not in c],
                             *[F.when(~F.isnan(F.col(f"correlation__{i}")), F.col(f"correlation__{i}"))
                               .alias(f"correlation__{i}") for i in range(len(features))])
    return _unpivot(per_day, features, {"correlation": "double"}, {n: NUMERIC for n in features})
