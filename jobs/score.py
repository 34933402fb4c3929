"""score: the features of every catalog entity of the as-of, scored by @champion -> predictions.

One partition per as-of, replaced as a whole, so a re-run leaves exactly one prediction per
entity; `predictions_latest` is a view of the newest prediction of each entity. The model's
flavor picks the execution path (`lakescore.models.flavors`): a Spark ML pipeline natively, any other
model through mlflow.pyfunc.spark_udf. A champion older than `score.max_model_age_days` raises
a warning alert or, with `score.on_stale: fail`, stops the stage before it writes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.core import alerts
from lakescore.core.errors import StageError, reason
from lakescore.core.runtime import Context
from lakescore.core.stage_result import StageResult
from lakescore.models import flavors, registry
from lakescore.transforms.columns import AS_OF, BATCH, FEATURES_VERSION, PREDICTION, SCORE, SCORED_AT
from lakescore.transforms.contracts.kinds import EMPTY_CATALOG
from lakescore.transforms.modeling.predictions import prediction_rows
from lakescore.transforms.sqltext import eq, ident

log = logging.getLogger("lakescore.score")


class ScoreError(StageError):
    pass


@dataclass(frozen=True, eq=False)
class ScoreResult(StageResult):
    predictions: int      # rows written to the as-of's partition
    model_version: str    # the @champion that scored them
    flavor: str           # its flavor (spark, python_function)

    @property
    def detail(self) -> str:
        return f"{self.predictions} predictions by version {self.model_version}"


def latest_view_sql(ctx: Context) -> str:
    store = ctx.tables
    key = ", ".join(ident(k) for k in ctx.cfg.entity.key)
    return (f"SELECT * EXCEPT (_rank) FROM (SELECT *, row_number() OVER (PARTITION BY {key} "
            f"ORDER BY {ident(AS_OF)} DESC, {ident(SCORED_AT)} DESC) AS _rank "
            f"FROM {store.name(ctx.cfg.tables.predictions)}) WHERE _rank = 1")


def _load(ctx: Context, champion: registry.ModelRef):
    """The champion's kind and scorer; an artifact that is missing or cannot be read stops the
    stage with one line naming the version and its location, before anything is written."""
    try:
        return registry.kind(champion), registry.scorer(ctx, champion)
    except StageError as exc:
        message = str(exc)
    except Exception as exc:  # noqa: BLE001 - a broken artifact fails in many ways (YAML, Parquet, pickle, JVM)
        message = reason(exc)
    raise flavors.ModelError(f"model {champion.name} version {champion.version} (@{champion.alias}): its artifact "
                            f"{registry.artifact_location(champion)} cannot be loaded: {message}") from None


def _no_rows(rows: DataFrame) -> DataFrame:
    return rows.withColumns({PREDICTION: F.lit(None).cast("double"), SCORE: F.lit(None).cast("double")})


def run(ctx: Context) -> ScoreResult:
    cfg, store = ctx.cfg, ctx.tables
    registry.configure(ctx)
    champion = registry.by_alias(ctx, registry.CHAMPION)
    if champion is None:
        raise ScoreError(f"model {registry.model_name(ctx)} has no @{registry.CHAMPION}: run promote first")
    flavors.enforce_age(ctx, champion.name, champion.version, champion.trained_at)
    rows = store.read(cfg.tables.features, where=eq(AS_OF, ctx.as_of))
    features_version = store.versions_read[store.display(cfg.tables.features)]  # what monitor compares later
    empty = rows.isEmpty()
    # An empty catalog skips the model (a pipeline cannot size its vectors on no rows) and
    # writes the as-of's partition empty, replacing what an earlier run wrote there.
    kind, predict = _load(ctx, champion)
    predict = _no_rows if empty else predict
    predictions = predict(rows).transform(prediction_rows(
        cfg.entity.key, cfg.entity.event_time, champion.name, champion.version,
        registry.CHAMPION, champion.trained_at, champion.run_id, Context.now(), BATCH)
    ).withColumn(FEATURES_VERSION, F.lit(features_version).cast("long"))
    written = store.write(predictions, cfg.tables.predictions, replace_where=eq(AS_OF, ctx.as_of),
                          partition_by=[AS_OF])
    if cfg.score.zorder and written:
        store.optimize(cfg.tables.predictions, eq(AS_OF, ctx.as_of), cfg.entity.key)
    store.create_view(cfg.tables.predictions_latest, latest_view_sql(ctx))
    detail = (f"no catalog entity for as-of {ctx.as_of} in {store.display(cfg.tables.features)}: its predictions "
              "partition is empty" if empty else None)
    if detail:
        log.warning("score: %s", detail)
    alerts.as_of_alert(ctx, stage="score", kind=EMPTY_CATALOG, source=cfg.entity.source, detail=detail)
    log.info("score: %d predictions for %s by %s version %s (%s, %s)", written, ctx.as_of, champion.name,
             champion.version, kind.flavor, kind.path)
    return ScoreResult(predictions=written, model_version=champion.version, flavor=kind.flavor)


if __name__ == "__main__":
    from lakescore.core.stage_runner import stage_main

    stage_main("score", run)
