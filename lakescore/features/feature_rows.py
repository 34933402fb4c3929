"""Feature rows: the one code path that computes features, for the features stage (every catalog
entity of some as-of days, written to `features`) and for an on-demand prediction (one entity of
one as-of, scored at once). Both call `build` and `guarded`, so an on-demand row is computed
exactly as the batch row: the same spine, lookups, histories, steps and leakage guard.

Point in time: the entity row's columns known only after the event are dropped before any
feature expression sees them; lookups and histories take only what was known at the prediction
time; and `guarded` checks the source time of every time-stamped value against its row's
prediction time before the rows are used.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.config import UseCase
from lakescore.core.errors import StageError
from lakescore.core.runtime import Context
from lakescore.transforms.columns import AS_OF, PREDICTION_TIME
from lakescore.transforms.features.asof import catalog_spine, snapshot_spine
from lakescore.transforms.features.compute import FeatureDef, FeatureExpressionError, drop_after_event, feature_columns
from lakescore.transforms.features.joins import Agg, with_history, with_lookup, with_point_in_time
from lakescore.transforms.features.leakage import SOURCE_TIME_PREFIX, point_in_time_violations
from lakescore.transforms.sqltext import col


class FeatureError(StageError):
    pass


def feature_defs(cfg: UseCase) -> list[FeatureDef]:
    """The config's features as the transforms take them."""
    tz = cfg.entity.timezone
    return [FeatureDef(name=f.name, kind=f.kind, sql=f.sql,
                       steps=tuple((s.op, s.params(tz)) for s in f.steps),
                       timed=cfg.feature_inputs(f).timed)
            for f in cfg.features.columns]


def spine(cfg: UseCase, first: date, last: date):
    """The catalog of the as-ofs in [first, last]: an events catalog scores the entities whose
    event time falls in an as-of's horizon; a snapshot catalog scores every entity whose version
    was known at an as-of's prediction time (clean rows of a snapshot source are versions)."""
    entity = cfg.entity
    if entity.snapshot:
        return snapshot_spine(entity.timezone, first, last)
    return catalog_spine(entity.event_time, entity.timezone, entity.horizon_days, first, last)


def catalog_rule(cfg: UseCase) -> str:
    """Which entities an as-of scores, in words (for messages)."""
    entity = cfg.entity
    if entity.snapshot:
        rule = "every entity whose version was known at the as-of's prediction time"
        rule += f" and active ({entity.active})" if entity.active else ""
    else:
        rule = (f"its {entity.event_time} in [as-of, as-of + {entity.horizon_days} day(s)) in {entity.timezone}")
    return rule + (f", entity.filter {entity.filter}" if entity.filter else "")


def build(ctx: Context, days: list[date], entities: Column | None = None) -> DataFrame:
    """The feature rows of `days` (sorted), with the leakage guard's source-time columns;
    `entities` (a condition on the entity source's clean rows, e.g. its key) restricts the
    catalog spine, and so the rows, to those entities."""
    cfg, store = ctx.cfg, ctx.tables
    entity, fs = cfg.entity, cfg.features
    clean = store.read(cfg.clean_table(entity.source), count=entities is None)
    if entities is not None:
        clean = clean.where(entities)
    rows = clean.transform(spine(cfg, days[0], days[-1]))
    rows = rows.where(F.col(AS_OF).isin(days))
    if entity.active:
        rows = rows.where(F.expr(entity.active))
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


def guarded(ctx: Context, features: DataFrame, subject: str) -> DataFrame:
    """The leakage guard: fail, naming each feature, when a row uses a value known after its
    prediction time (`subject` says what is then not written); else the rows without the
    source-time columns."""
    timed = [f.name for f in feature_defs(ctx.cfg) if f.timed]
    violations = point_in_time_violations(features, timed)
    if violations:
        detail = "; ".join(f"feature {f}: {v['rows']} row(s) use a value known up to {v['max_lead_seconds']}s "
                           f"after the prediction time" for f, v in violations.items())
        raise FeatureError(f"{subject} not written: leakage guard: {detail}")
    return features.drop(*[c for c in features.columns if c.startswith(SOURCE_TIME_PREFIX)])


def entity_rows(ctx: Context, as_of: date, entities: Column, subject: str) -> DataFrame:
    """The feature rows of the catalog entities matching `entities` for one as-of (an on-demand
    prediction), computed by `build` and checked by the leakage guard; cached, for the caller to
    unpersist."""
    return guarded(ctx, build(ctx, [as_of], entities=entities).cache(), subject)
