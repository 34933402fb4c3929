"""features: clean entity rows -> the `features` table (entity x as_of), partitioned by as_of.

For an as-of D the stage writes D's partition (replacing it) and every missing as-of of the
training window before it, so that training finds point-in-time features for each past day,
computed by the same code that serves D.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from pyspark.sql import functions as F

from jobs.runtime import Context
from jobs.tables import dates_predicate
from transforms.asof import AS_OF, catalog_spine
from transforms.features import feature_columns

log = logging.getLogger("lakescore.features")


class FeatureError(RuntimeError):
    pass


def window_first_day(ctx: Context, as_of: date) -> date:
    """First as-of of the training window that ends before `as_of`."""
    return as_of - timedelta(days=ctx.cfg.train.window_days)


def missing_days(ctx: Context, first: date, last: date) -> list[date]:
    """As-of days in [first, last] that the features table lacks, plus `last` itself."""
    store, table = ctx.tables, ctx.cfg.tables.features
    wanted = {first + timedelta(days=i) for i in range((last - first).days + 1)}
    have: set[date] = set()
    if store.exists(table):
        have = {r[AS_OF] for r in store.spark.table(store.display(table))
                .where(F.col(AS_OF).between(F.lit(first), F.lit(last))).select(AS_OF).distinct().collect()}
    return sorted((wanted - have) | {last})


def run(ctx: Context) -> dict:
    cfg, store = ctx.cfg, ctx.tables
    first = window_first_day(ctx, ctx.as_of)
    days = missing_days(ctx, first, ctx.as_of)
    entity = cfg.entity
    entities = store.read(cfg.clean_table(entity.source))
    spine = entities.transform(catalog_spine(entity.event_time, entity.timezone, entity.horizon_days,
                                             days[0], days[-1]))
    spine = spine.where(F.col(AS_OF).isin(days))
    if entity.filter:
        spine = spine.where(F.expr(entity.filter))
    features = spine.transform(feature_columns(entity.key, entity.event_time,
                                               [(f.name, f.sql) for f in cfg.features]))
    rows = store.write(features, cfg.tables.features, replace_where=dates_predicate(AS_OF, days),
                       partition_by=[AS_OF])
    log.info("features: %d as-of day(s) from %s to %s, %d rows", len(days), days[0], days[-1], rows)
    return {"days": len(days), "rows": rows}


if __name__ == "__main__":
    from jobs.cli import stage_main

    stage_main("features")
