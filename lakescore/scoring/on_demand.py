"""On-demand prediction for one entity (`lakescore predict`): the cached prediction when the batch
(or an earlier on-demand prediction) made one, else one computed now by the batch's own code.

- cached: the entity's row of `predictions` for the as-of (with `--as-of`), or its row of
  `predictions_latest` (without);
- computed: the entity's feature row for the as-of through `lakescore.features.feature_rows` (a catalog
  spine of that one entity, the same lookups, histories, steps and leakage guard as the features
  stage), scored by @champion through `registry.scorer` (the score stage's path), shaped by the
  same `prediction_rows`, marked `served_by = on_demand`; with `write`, merged into `predictions`
  on (key, as_of), so asking again answers from the cache. A later batch run of that as-of
  replaces it with the batch's row.

Without `--as-of`, a computed prediction is for the entity's last as-of: the day (in
`entity.timezone`) of its event time.
"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

import mlflow
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.config.scoring import FAIL
from lakescore.core.errors import StageError
from lakescore.core.runtime import Context
from lakescore.models import flavors, registry
from lakescore.transforms.columns import AS_OF, FEATURES_VERSION, ON_DEMAND, SCORED_AT
from lakescore.transforms.features.asof import local_date
from lakescore.transforms.modeling.predictions import prediction_rows
from lakescore.transforms.sqltext import col

log = logging.getLogger("lakescore.predict")

CACHE, COMPUTED = "cache", "computed"


class PredictError(StageError):
    pass


class FeatureRows(Protocol):
    """The batch's feature code, which the caller passes in (`lakescore.features.feature_rows`
    is one): scoring does not import the features folder, the command line composes the two."""

    def entity_rows(self, ctx: Context, as_of: date, entities: Column, subject: str) -> DataFrame:
        """The feature rows of the entities matching `entities` for `as_of`, leakage-guarded."""

    def catalog_rule(self, cfg) -> str:
        """Which entities the catalog of an as-of holds, for an error message."""


def parse_keys(ctx: Context, pairs: list[str]) -> dict[str, str]:
    """`col=value` pairs -> the entity key's values; every key column exactly once."""
    key = ctx.cfg.entity.key
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise PredictError(f"--key {pair}: expected <column>=<value>")
        if name not in key:
            raise PredictError(f"--key {name}: not a column of the entity key {key}")
        out[name] = value
    missing = [k for k in key if k not in out]
    if missing:
        raise PredictError(f"--key: give every column of the entity key {key}; missing {missing}")
    return out


def _matches(keys: dict[str, str]) -> Column:
    cond = F.lit(True)
    for name, value in keys.items():
        cond = cond & (col(name) == F.lit(value))
    return cond


def _describe(keys: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in keys.items())


def cached(ctx: Context, keys: dict[str, str], as_of: date | None) -> dict | None:
    """The cached prediction of the entity for `as_of` (or its newest), or None."""
    cfg, store = ctx.cfg, ctx.tables
    if as_of is not None:
        if not store.exists(cfg.tables.predictions):
            return None
        rows = store.spark.table(store.display(cfg.tables.predictions)).where(F.col(AS_OF) == F.lit(as_of))
    else:
        if not store.exists(cfg.tables.predictions_latest):
            return None
        rows = store.spark.table(store.display(cfg.tables.predictions_latest))
    row = rows.where(_matches(keys)).orderBy(F.col(SCORED_AT).desc()).limit(1).collect()
    return row[0].asDict() if row else None


def entity_as_of(ctx: Context, keys: dict[str, str]) -> date:
    """The entity's last as-of: the day of its event time in the use case's time zone (a
    snapshot catalog: today, in that time zone, when the entity is known)."""
    cfg, store = ctx.cfg, ctx.tables
    table = cfg.clean_table(cfg.entity.source)
    if cfg.entity.snapshot:
        if store.read(table, count=False).where(_matches(keys)).isEmpty():
            raise PredictError(f"{_describe(keys)}: no such entity in {store.display(table)}")
        return datetime.now(ZoneInfo(cfg.entity.timezone)).date()
    days = (store.read(table, count=False).where(_matches(keys))
            .select(local_date(col(cfg.entity.event_time), cfg.entity.timezone).alias(AS_OF)).distinct().collect())
    if not days:
        raise PredictError(f"{_describe(keys)}: no such entity in {store.display(table)}")
    return max(r[AS_OF] for r in days)


_SCORERS: dict[tuple[str, str, str], object] = {}


def _scorer(ctx: Context, champion: registry.ModelRef):
    """The champion's scorer, loaded once per process and version: a session that answers many
    on-demand requests (a notebook, a service) loads the model once."""
    key = (mlflow.get_registry_uri(), champion.name, champion.version)
    if key not in _SCORERS:
        _SCORERS.clear()
        _SCORERS[key] = registry.scorer(ctx, registry.by_version(ctx, champion.version, champion.alias))
    return _SCORERS[key]


def compute(ctx: Context, keys: dict[str, str], as_of: date, features: FeatureRows, write: bool = False) -> dict:
    """Score the entity's feature row of `as_of` (by the features stage's code, `features`) with
    @champion; with `write`, merge it into predictions."""
    cfg, store = ctx.cfg, ctx.tables
    registry.configure(ctx)
    champion = registry.by_alias(ctx, registry.CHAMPION)
    if champion is None:
        raise PredictError(f"model {registry.model_name(ctx)} has no @{registry.CHAMPION}: run promote first")
    stale = flavors.stale_message(ctx, champion.name, champion.version, champion.trained_at, as_of)
    if stale and cfg.score.on_stale == FAIL:
        raise PredictError(f"{stale} (score.on_stale fail)")
    if stale:
        log.warning("predict: %s", stale)
    rows_of = features.entity_rows(ctx, as_of, _matches(keys), f"on-demand features of {_describe(keys)}")
    found = rows_of.collect()
    if not found:
        rows_of.unpersist()
        raise PredictError(f"{_describe(keys)} is not in the catalog of as-of {as_of}: the catalog is "
                           f"{features.catalog_rule(cfg)}")
    values = found[0].asDict()
    scored = _scorer(ctx, champion)(rows_of).transform(prediction_rows(
        cfg.entity.key, cfg.entity.event_time, champion.name, champion.version, registry.CHAMPION,
        champion.trained_at, champion.run_id, Context.now(), ON_DEMAND)
    ).withColumn(FEATURES_VERSION, F.lit(None).cast("long")).cache()  # computed from the sources, not `features`
    rows = scored.collect()
    if write:
        store.merge(scored, cfg.tables.predictions, [*cfg.entity.key, AS_OF], partition_by=[AS_OF])
    scored.unpersist()
    rows_of.unpersist()
    names = [f.name for f in cfg.features.columns]
    return {"served": COMPUTED, "written": write, "prediction": rows[0].asDict(),
            "features": {n: values[n] for n in names}, "feature_set": values.get("feature_set"),
            "stale": stale}


def predict(ctx: Context, keys: dict[str, str], features: FeatureRows, as_of: date | None = None,
            write: bool = False) -> dict:
    """The cached prediction of the entity, else one computed on demand by `features` (see the module)."""
    started = time.perf_counter()
    hit = cached(ctx, keys, as_of)
    if hit is not None:
        out = {"served": CACHE, "written": False, "prediction": hit}
    else:
        out = compute(ctx, keys, as_of or entity_as_of(ctx, keys), features, write)
    out["seconds"] = round(time.perf_counter() - started, 3)
    log.info("predict: %s as-of %s from %s in %.2fs", _describe(keys), out["prediction"][AS_OF], out["served"],
             out["seconds"])
    return out
