"""score: the features of every catalog entity of the as-of, scored by @champion -> predictions.

One partition per as-of, replaced as a whole, so a re-run leaves exactly one prediction per
entity; `predictions_latest` is a view of the newest prediction of each entity.
"""

from __future__ import annotations

import logging

from jobs import registry
from jobs.runtime import Context
from jobs.tables import quote
from transforms.asof import AS_OF
from transforms.predictions import prediction_rows

log = logging.getLogger("lakescore.score")


class ScoreError(RuntimeError):
    pass


def latest_view_sql(ctx: Context) -> str:
    store = ctx.tables
    key = ", ".join(quote(k) for k in ctx.cfg.entity.key)
    return (f"SELECT * EXCEPT (_rank) FROM (SELECT *, row_number() OVER (PARTITION BY {key} "
            f"ORDER BY {AS_OF} DESC, scored_at DESC) AS _rank FROM {store.name(ctx.cfg.tables.predictions)}) "
            f"WHERE _rank = 1")


def run(ctx: Context) -> dict:
    cfg, store = ctx.cfg, ctx.tables
    registry.configure(ctx)
    champion = registry.by_alias(ctx, registry.CHAMPION)
    if champion is None:
        raise ScoreError(f"model {registry.model_name(ctx)} has no @{registry.CHAMPION}: run promote first")
    rows = store.read(cfg.tables.features, where=f"{AS_OF} = DATE'{ctx.as_of}'")
    model = registry.load(ctx, champion)
    predictions = model.transform(rows).transform(prediction_rows(
        cfg.entity.key, cfg.entity.event_time, cfg.label.kind, champion.name, champion.version,
        registry.CHAMPION, champion.trained_at, champion.run_id, Context.now()))
    written = store.write(predictions, cfg.tables.predictions, replace_where=f"{AS_OF} = DATE'{ctx.as_of}'",
                          partition_by=[AS_OF])
    store.create_view(cfg.tables.predictions_latest, latest_view_sql(ctx))
    if written == 0:
        log.warning("score: no catalog entity for as-of %s", ctx.as_of)
    log.info("score: %d predictions for %s by %s version %s", written, ctx.as_of, champion.name, champion.version)
    return {"predictions": written, "model_version": champion.version}


if __name__ == "__main__":
    from jobs.cli import stage_main

    stage_main("score")
