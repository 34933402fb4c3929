"""features: clean entity rows (+ lookups, histories) -> the `features` table (entity x as_of),
partitioned by as_of. The rows come from `lakescore.features.feature_rows`, the one feature code path
(an on-demand prediction computes its row there too).

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
from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.core import alerts
from lakescore.core.runtime import Context
from lakescore.core.stage_result import StageResult
from lakescore.features.feature_rows import FeatureError, build, catalog_rule, guarded
from lakescore.models.training_rows import window_first_day
from lakescore.transforms.columns import AS_OF, FEATURE_SET
from lakescore.transforms.contracts.kinds import EMPTY_CATALOG
from lakescore.transforms.features.compute import TYPES
from lakescore.transforms.sqltext import dates_predicate

log = logging.getLogger("lakescore.features")

__all__ = ["FeatureError", "missing_days", "run"]


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


@dataclass(frozen=True, eq=False)
class FeaturesResult(StageResult):
    days: int      # as-of days computed (the as-of, and the training window's missing ones)
    rows: int      # feature rows written
    catalog: int   # rows of the as-of: its catalog


def run(ctx: Context) -> FeaturesResult:
    cfg, store = ctx.cfg, ctx.tables
    first = window_first_day(cfg, ctx.as_of)
    days = missing_days(ctx, first, ctx.as_of)
    features = build(ctx, days).cache()
    try:
        out = guarded(ctx, features, f"table {store.display(cfg.tables.features)}")
        _check_schema(ctx, out)
        rows = store.write(out, cfg.tables.features, replace_where=dates_predicate(AS_OF, days),
                           partition_by=[AS_OF])
        today = out.where(F.col(AS_OF) == F.lit(ctx.as_of)).count()
    finally:
        features.unpersist()
    empty = None if today else (f"the catalog of as-of {ctx.as_of} is empty: no entity of "
                                f"{store.display(cfg.clean_table(cfg.entity.source))} is in it ({catalog_rule(cfg)}); "
                                "its partition of features is empty")
    if empty:
        log.warning("features: %s", empty)
    alerts.as_of_alert(ctx, stage="features", kind=EMPTY_CATALOG, source=cfg.entity.source, detail=empty)
    log.info("features: %d as-of day(s) from %s to %s, %d rows, %d features, feature set %s",
             len(days), days[0], days[-1], rows, len(cfg.features.columns), cfg.feature_set_id)
    return FeaturesResult(days=len(days), rows=rows, catalog=today)


if __name__ == "__main__":
    from lakescore.core.stage_runner import stage_main

    stage_main("features", run)
