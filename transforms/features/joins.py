"""Joins that bring other tables to the entity x as-of rows, each as one struct column named
after the lookup (so a feature reads `plane.seats`, `origin_weather.temp`, `route.delay_rate`):

- `with_lookup`: a dimension table, one row per key (static: as loaded);
- `with_point_in_time`: a time-stamped table, the latest record known at or before the row's
  prediction time (an as-of join, like Feast's point-in-time join);
- `with_history`: aggregates over past events of the row's group in the `window_days` days
  before the as-of, counting only events whose values were known before its prediction time.

Time-stamped structs carry `_known_at`, the source time of their values (for a history, the
latest `known_at` among the events it aggregates), which the leakage guard checks against
`prediction_time` before the features stage writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakescore.transforms.columns import AS_OF, BATCH_ID, LANDED_AT, PREDICTION_TIME
from lakescore.transforms.features.asof import local_date
from lakescore.transforms.sqltext import col

KNOWN_AT = "_known_at"
LATEST_FIRST = (LANDED_AT, BATCH_ID)  # bookkeeping columns that order a table's versions


def _value_columns(df: DataFrame) -> list[str]:
    """A table's own columns (bookkeeping columns start with an underscore)."""
    return [c for c in df.columns if not c.startswith("_")]


def _all_not_null(cols: list[str]) -> Column:
    return reduce(lambda a, b: a & b, [col(c).isNotNull() for c in cols], F.lit(True))


def latest_per_key(keys: list[str], order: tuple[str, ...] = LATEST_FIRST):
    """One row per key, chosen deterministically: the latest by the `order` columns present
    (last landed, then batch id), then by the row's values. Duplicate keys never multiply rows."""

    def apply(df: DataFrame) -> DataFrame:
        order_cols = [c for c in order if c in df.columns]
        rest = [c for c in df.columns if c not in keys]
        ranked = F.struct(*[col(c) for c in order_cols], F.struct(*[col(c) for c in rest]).alias("_row"))
        return df.groupBy(*[col(k) for k in keys]).agg(F.max(ranked).alias("_best")).select(
            *[col(k) for k in keys], *[F.col("_best._row").getField(c).alias(c) for c in rest])

    return apply


def with_lookup(name: str, table: DataFrame, on: dict[str, str]):
    """Entity rows + struct column `name`: the dimension row whose `on` source columns equal the
    entity columns (NULL when there is none). One row per key: the row count never changes.
    Dimension tables are small: broadcast, the entity rows are not shuffled."""

    def apply(df: DataFrame) -> DataFrame:
        dim = table.transform(latest_per_key(list(on.values())))
        right = dim.select(*[col(src).alias(ent) for ent, src in on.items()],
                           F.struct(*[col(c) for c in _value_columns(table)]).alias(name))
        return df.join(F.broadcast(right), on=list(on), how="left").select(*[col(c) for c in df.columns], col(name))

    return apply


def with_point_in_time(name: str, table: DataFrame, on: dict[str, str], known_at: str,
                       max_age_hours: float | None = None):
    """Entity rows + struct column `name`: the latest record of `table` for the row's `on` keys
    whose `known_at` (SQL over the table's row) is at or before the row's prediction time, with
    that time as `_known_at`; NULL if there is none (or it is older than `max_age_hours`).

    One pass, no range join: records and the rows' (keys, prediction_time) are sorted together
    per key and each prediction time takes the last record before it (a record known at the same
    instant counts as known)."""

    def apply(df: DataFrame) -> DataFrame:
        keys = list(on)
        stamped = table.withColumn("_t", F.expr(known_at).cast("timestamp"))
        records = (stamped
                   .select(*[col(src).alias(ent) for ent, src in on.items()], F.col("_t"),
                           F.struct(*[col(c) for c in _value_columns(table)], F.col("_t").alias(KNOWN_AT)).alias("_v"))
                   .where(_all_not_null([*keys, "_t"]))
                   .groupBy(*keys, "_t").agg(F.max("_v").alias("_v")))  # one record per key and instant
        probes = (df.select(*[col(k) for k in keys], F.col(PREDICTION_TIME).alias("_t"))
                  .where(_all_not_null([*keys, "_t"])).distinct())
        both = (records.withColumn("_probe", F.lit(1)).unionByName(
            probes.withColumn("_probe", F.lit(2)).withColumn("_v", F.lit(None).cast(records.schema["_v"].dataType))))
        upto = Window.partitionBy(*[col(k) for k in keys]).orderBy("_t", "_probe").rowsBetween(
            Window.unboundedPreceding, Window.currentRow)
        latest = F.last("_v", ignorenulls=True).over(upto)
        found = both.withColumn("_latest", latest).where(F.col("_probe") == 2)
        value = F.col("_latest")
        if max_age_hours is not None:
            oldest = F.unix_micros(F.col("_t")) - F.lit(int(max_age_hours * 3600 * 1_000_000))
            value = F.when(F.unix_micros(F.col("_latest").getField(KNOWN_AT)) >= oldest, value)
        right = found.select(*[col(k) for k in keys], F.col("_t").alias(PREDICTION_TIME), value.alias(name))
        # one row per key and prediction time of the input: small, broadcast to the rows
        return (df.join(F.broadcast(right), on=[*keys, PREDICTION_TIME], how="left")
                .select(*[col(c) for c in df.columns], col(name)))

    return apply


@dataclass(frozen=True)
class Agg:
    """One aggregate of a history: `agg` of the SQL `value` (None: count events)."""

    name: str
    agg: str                      # count | sum | mean | min | max
    value: str | None = None
    prior_weight: float | None = None


def with_history(name: str, events: DataFrame, by: dict[str, str], event_time: str, known_at: str,
                 window_days: int, aggregates: list[Agg], timezone: str, first: date, last: date,
                 where: str | None = None):
    """Entity rows (with `as_of`, as-ofs in [first, last]) + struct column `name`: per aggregate,
    its value over the group's events (`by`: entity column -> event column) whose event day (in
    `timezone`) lies in [as_of - window_days, as_of - 1] and whose `known_at` is before the
    as-of's prediction time (00:00 of the as-of in `timezone`), plus `_known_at`, the latest
    such `known_at`.

    count and sum are 0 for a group with no such event; a mean with `prior_weight` w is
    (sum + w * m) / (n + w), where m is the mean over every group's events of the same window,
    so a sparse group leans towards the overall rate and an empty one gets it; min and max are
    NULL without events. Exact at day granularity: an event known at t counts from the as-of
    after t's local day, which is the first whose prediction time is after t.
    """
    kinds = {a.agg for a in aggregates}
    if not kinds <= {"count", "sum", "mean", "min", "max"}:
        raise ValueError(f"unknown aggregate(s) {sorted(kinds - {'count', 'sum', 'mean', 'min', 'max'})}")

    def apply(df: DataFrame) -> DataFrame:
        groups = [f"_g{i}" for i in range(len(by))]
        valued = [(i, a) for i, a in enumerate(aggregates) if a.value is not None]
        ev = events.where(F.expr(where)) if where else events
        ev = ev.select(*[col(src).alias(g) for g, src in zip(groups, by.values())],
                       local_date(F.expr(event_time).cast("timestamp"), timezone).alias("_e"),
                       F.expr(known_at).cast("timestamp").alias("_k"),
                       *[F.expr(a.value).cast("double").alias(f"_x{i}") for i, a in valued])
        ev = ev.where(_all_not_null([*groups, "_e", "_k"])
                      & F.col("_e").between(F.lit(first - timedelta(days=window_days)), F.lit(last - timedelta(days=1))))
        # the first as-of whose prediction time (its local 00:00) is after the event became known
        ev = ev.withColumn("_a", F.date_add(local_date(F.col("_k"), timezone), 1))
        sums = [F.count(F.lit(1)).alias("_n"), F.max("_k").alias("_kmax")]
        for i, _ in valued:
            x = F.col(f"_x{i}")
            sums += [F.sum(x).alias(f"_s{i}"), F.count(x).alias(f"_c{i}"), F.min(x).alias(f"_lo{i}"),
                     F.max(x).alias(f"_hi{i}")]
        daily = ev.groupBy(*groups, "_e", "_a").agg(*sums)
        start, stop = F.greatest(F.date_add("_e", 1), F.col("_a")), F.date_add("_e", window_days)
        daily = (daily.withColumn(AS_OF, F.explode(F.when(start <= stop, F.sequence(start, stop))))
                 .where(F.col(AS_OF).between(F.lit(first), F.lit(last))))
        rolled = [F.sum("_n").alias("_n"), F.max("_kmax").alias("_kmax")]
        for i, _ in valued:
            rolled += [F.sum(f"_s{i}").alias(f"_s{i}"), F.sum(f"_c{i}").alias(f"_c{i}"),
                       F.min(f"_lo{i}").alias(f"_lo{i}"), F.max(f"_hi{i}").alias(f"_hi{i}")]
        per_group = daily.groupBy(*groups, AS_OF).agg(*rolled)
        priors = [(i, a) for i, a in valued if a.agg == "mean" and a.prior_weight]
        joined = df.join(per_group.select(*[F.col(g).alias(e) for g, e in zip(groups, by)],
                                          *[c for c in per_group.columns if c not in groups]),
                         on=[*by, AS_OF], how="left")
        if priors:
            overall = per_group.groupBy(AS_OF).agg(
                F.max("_kmax").alias("_gkmax"),
                *[(F.sum(f"_s{i}") / F.sum(f"_c{i}")).alias(f"_m{i}") for i, _ in priors])
            joined = joined.join(overall, on=AS_OF, how="left")
        fields, times = [], [F.col("_kmax")]
        for i, a in enumerate(aggregates):
            if a.agg == "count":
                v = F.coalesce(F.col("_n") if a.value is None else F.col(f"_c{i}"), F.lit(0)).cast("long")
            elif a.agg == "sum":
                v = F.coalesce(F.col(f"_s{i}"), F.lit(0.0))
            elif a.agg == "min":
                v = F.col(f"_lo{i}")
            elif a.agg == "max":
                v = F.col(f"_hi{i}")
            elif a.prior_weight:
                w = F.lit(float(a.prior_weight))
                shrunk = ((F.coalesce(F.col(f"_s{i}"), F.lit(0.0)) + w * F.col(f"_m{i}"))
                          / (F.coalesce(F.col(f"_c{i}"), F.lit(0)) + w))
                v = F.when(F.col(f"_m{i}").isNotNull(), shrunk).otherwise(F.col(f"_s{i}") / F.col(f"_c{i}"))
                times.append(F.when(F.col(f"_m{i}").isNotNull(), F.col("_gkmax")))
            else:
                v = F.col(f"_s{i}") / F.col(f"_c{i}")
            fields.append(v.alias(a.name))
        source_time = F.greatest(*times) if len(times) > 1 else times[0]
        return joined.select(*[col(c) for c in df.columns], F.struct(*fields, source_time.alias(KNOWN_AT)).alias(name))

    return apply
