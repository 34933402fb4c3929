"""Labels, usable only once known.

- `labels`: one label per entity, computed from the clean entity row by the config's SQL and
  known at its `known_at` (an event catalog: did this flight arrive late?).
- `outcome_labels`: one label per (entity, as-of), aggregated over an outcome source's events in
  the window [prediction time, prediction time + within_days) (a long-lived entity scored every
  day: does this plane have a departure delayed by over an hour in the next 7 days?). Known when
  the window has closed and every event in it was known.
- `sample_as_ofs`: keep every n-th as-of of each entity, so a long-lived entity does not dominate
  the training rows.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.columns import AS_OF, LABEL_KNOWN_AT
from lakescore.transforms.features.asof import day_start, local_date
from lakescore.transforms.sqltext import col

OUTCOME_AGGS = ("any", "count", "sum", "mean", "min", "max")


def labels(key: list[str], name: str, expr: str, known_at: str, known_before: Column | None = None):
    """Entity rows -> (key, label, label_known_at) for rows with a label, optionally only those
    whose label was known strictly before `known_before`."""

    def apply(df: DataFrame) -> DataFrame:
        out = df.select(
            *[col(k) for k in key],
            F.expr(expr).cast("double").alias(name),
            F.expr(known_at).cast("timestamp").alias(LABEL_KNOWN_AT),
        ).where(F.col(name).isNotNull())
        if known_before is not None:
            out = out.where(F.col(LABEL_KNOWN_AT) < known_before)
        return out

    return apply


def _aggregate(agg: str, x: Column) -> Column:
    if agg == "any":
        return F.max(F.when(x.cast("boolean"), 1.0).otherwise(0.0))
    if agg == "count":
        return F.count(x).cast("double")
    return {"sum": F.sum, "mean": F.avg, "min": F.min, "max": F.max}[agg](x.cast("double"))


def outcome_labels(name: str, events: DataFrame, *, by: dict[str, str], event_time: str, known_at: str | None,
                   within_days: int, agg: str, expr: str | None, empty: float | None, timezone: str,
                   first: date, last: date, known_before: Column | None = None):
    """(entity, as_of) rows -> the same rows with the label `name` and `label_known_at`.

    The label of (entity, D) is `agg` of `expr` over the events of the entity's group (`by`:
    entity column -> event column) whose event time lies in [D's prediction time, + within_days)
    (`any`: 1 when `expr` holds for some event, else 0; `count`: events, or non-NULL values of
    `expr`); with no such event it is `empty` (NULL: no label). It is known at the later of the
    window's end and the latest `known_at` (SQL over the event row, default the event time) of
    its events. Exact at day granularity, no range join: each event is counted in the as-ofs
    whose window holds its local day. With `known_before`, only labels known strictly before it
    are kept (rows without a known label are dropped)."""
    if agg not in OUTCOME_AGGS:
        raise ValueError(f"outcome agg {agg!r} is not one of {list(OUTCOME_AGGS)}")

    def apply(df: DataFrame) -> DataFrame:
        groups = [f"_g{i}" for i in range(len(by))]
        at = F.expr(event_time).cast("timestamp")
        ev = events.select(*[col(src).alias(g) for g, src in zip(groups, by.values())],
                           local_date(at, timezone).alias("_e"),
                           (F.expr(known_at).cast("timestamp") if known_at else at).alias("_k"),
                           (F.expr(expr) if expr else F.lit(1)).alias("_x"))
        ev = ev.where(F.col("_e").between(F.lit(first), F.date_add(F.lit(last), within_days - 1)))
        for g in groups:
            ev = ev.where(F.col(g).isNotNull())
        windows = F.sequence(F.greatest(F.date_sub("_e", within_days - 1), F.lit(first)),
                             F.least(F.col("_e"), F.lit(last)))
        per_as_of = (ev.withColumn(AS_OF, F.explode(windows))
                     .groupBy(*groups, AS_OF)
                     .agg(_aggregate(agg, F.col("_x")).alias("_y"), F.max("_k").alias("_kmax")))
        right = per_as_of.select(*[F.col(g).alias(e) for g, e in zip(groups, by)], AS_OF, "_y", "_kmax")
        window_end = day_start(F.date_add(F.col(AS_OF), within_days), timezone)
        value = F.coalesce(F.col("_y"), F.lit(empty).cast("double")) if empty is not None else F.col("_y")
        out = (df.join(right, on=[*by, AS_OF], how="left")
               .withColumn(name, value)
               .withColumn(LABEL_KNOWN_AT, F.greatest(window_end, F.coalesce(F.col("_kmax"), window_end)))
               .drop("_y", "_kmax")
               .where(F.col(name).isNotNull()))
        if known_before is not None:
            out = out.where(F.col(LABEL_KNOWN_AT) < known_before)
        return out

    return apply


def sample_as_ofs(key: list[str], every_nth_day: int):
    """Keep one as-of in `every_nth_day` of each entity, with a phase fixed by a hash of its key
    (deterministic, and not the same days for every entity)."""

    def apply(df: DataFrame) -> DataFrame:
        if every_nth_day <= 1:
            return df
        n = F.lit(every_nth_day)
        day = F.datediff(F.col(AS_OF), F.lit(date(1970, 1, 1)))
        phase = F.pmod(F.xxhash64(F.lit("as_of_sample"), *[col(k).cast("string") for k in key]), n)
        return df.where(F.pmod(day + phase, n) == 0)

    return apply
