"""features: clean entity rows (+ lookups, histories) -> the `features` table (entity x as_of),
partitioned by as_of.

For an as-of D the stage writes D's partition (replacing it) and every as-of of the training
window before it that is missing or was computed by other feature definitions (`feature_set`),
so that training finds point-in-time features for each past day, computed by the same code that
serves D. All those days are computed in one pass.

Point in time: the entity row's columns known only after the event are dropped before any
feature expression sees them; lookups and histories take only what was known at the prediction
time; and before anything is written the leakage guard checks the source time of every
time-stamped value against its row's prediction time.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.config import UseCase
from lakescore.errors import StageError
from lakescore.runtime import Context
from lakescore.training_data import window_first_day
from transforms.columns import AS_OF, FEATURE_SET, PREDICTION_TIME
from transforms.features.asof import catalog_spine
from transforms.features.compute import TYPES, FeatureDef, FeatureExpressionError, drop_after_event, feature_columns
from transforms.features.joins import Agg, with_history, with_lookup, with_point_in_time
from transforms.features.leakage import SOURCE_TIME_PREFIX, point_in_time_violations
from transforms.sqltext import col, dates_predicate

log = logging.getLogger("lakescore.features")


class FeatureError(StageError):
    pass


def missing_days(ctx: Context, first: date, last: date) -> list[date]:
    """As-of days in [first, last] that the features table lacks or holds from other feature
    definitions, plus `last` itself (always recomputed)."""
    store, table = ctx.tables, ctx.cfg.tables.features
    wanted = {first + timedelta(days=i) for i in range((last - first).days + 1)}
    have: set[date] = set()
    if store.exists(table):
        current = store.spark.table(store.display(table))
        if FEATURE_SET in current.columns:
            rows = (current.where(F.col(AS_OF).between(F.lit(first), F.lit(last)))
                    .groupBy(AS_OF).agg(F.min(FEATURE_SET).alias("lo"), F.max(FEATURE_SET).alias("hi")).collect())
            have = {r[AS_OF] for r in rows if r["lo"] == r["hi"] == ctx.cfg.feature_set_id}
    return sorted((wanted - have) | {last})


def feature_defs(cfg: UseCase) -> list[FeatureDef]:
    """The config's features as the transforms take them."""
    tz = cfg.entity.timezone
    return [FeatureDef(name=f.name, kind=f.kind, sql=f.sql,
                       steps=tuple((s.op, s.params(tz)) for s in f.steps),
                       timed=cfg.feature_inputs(f).timed)
            for f in cfg.features.columns]


def _check_schema(ctx: Context, features: DataFrame) -> None:
    """The features table keeps its types: a feature whose type changed must not half-land."""
    store, table = ctx.tables, ctx.cfg.tables.features
    if not store.exists(table):
        return
    stored = dict(store.spark.table(store.display(table)).dtypes)
    for name, kind in ((f.name, f.kind) for f in ctx.cfg.features.columns):
        if name in stored and stored[name] != TYPES[kind]:
            raise FeatureError(f"table {store.display(table)}: column {name} is {stored[name]} but feature {name} "
                               f"({kind}) makes {TYPES[kind]}: rename the feature or drop the table")


def build(ctx: Context, days: list[date]) -> DataFrame:
    """The feature rows of `days` (with the leakage guard's source-time columns)."""
    cfg, store = ctx.cfg, ctx.tables
    entity, fs = cfg.entity, cfg.features
    entities = store.read(cfg.clean_table(entity.source))
    rows = entities.transform(catalog_spine(entity.event_time, entity.timezone, entity.horizon_days,
                                            days[0], days[-1]))
    rows = rows.where(F.col(AS_OF).isin(days))
    if entity.filter:
        rows = rows.where(F.expr(entity.filter))
    # only the columns features need travel through the joins (and none known after the event)
    rows = rows.transform(drop_after_event(cfg.after_event_columns)).select(
        *[col(c) for c in cfg.feature_entity_columns], F.col(AS_OF), F.col(PREDICTION_TIME))
    for name, lk in fs.lookups.items():
        table = store.read(cfg.clean_table(lk.source), count=False)
        if lk.point_in_time:
            rows = rows.transform(with_point_in_time(name, table, lk.keys, lk.known_at, lk.max_age_hours))
        else:
            rows = rows.transform(with_lookup(name, table, lk.keys))
    for name, h in fs.histories.items():
        events = store.read(cfg.clean_table(h.source), count=False)
        aggs = [Agg(a_name, a.agg, a.value, a.prior_weight) for a_name, a in h.aggregates.items()]
        rows = rows.transform(with_history(name, events, h.by, h.event_time, h.known_at, h.window_days, aggs,
                                           entity.timezone, days[0], days[-1], h.where))
    try:
        return rows.transform(feature_columns(entity.key, entity.event_time, feature_defs(cfg), cfg.feature_set_id))
    except FeatureExpressionError as exc:
        raise FeatureError(str(exc)) from None


def run(ctx: Context) -> dict:
    cfg, store = ctx.cfg, ctx.tables
    first = window_first_day(cfg, ctx.as_of)
    days = missing_days(ctx, first, ctx.as_of)
    features = build(ctx, days).cache()
    try:
        timed = [f.name for f in feature_defs(cfg) if f.timed]
        violations = point_in_time_violations(features, timed)
        if violations:
            detail = "; ".join(f"feature {f}: {v['rows']} row(s) use a value known up to {v['max_lead_seconds']}s "
                               f"after the prediction time" for f, v in violations.items())
            raise FeatureError(f"table {store.display(cfg.tables.features)} not written: leakage guard: {detail}")
        out = features.drop(*[c for c in features.columns if c.startswith(SOURCE_TIME_PREFIX)])
        _check_schema(ctx, out)
        rows = store.write(out, cfg.tables.features, replace_where=dates_predicate(AS_OF, days),
                           partition_by=[AS_OF])
    finally:
        features.unpersist()
    log.info("features: %d as-of day(s) from %s to %s, %d rows, %d features, feature set %s",
             len(days), days[0], days[-1], rows, len(cfg.features.columns), cfg.feature_set_id)
    return {"days": len(days), "rows": rows}


if __name__ == "__main__":
    from lakescore.stage import stage_main

    stage_main("features", run)
