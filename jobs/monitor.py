"""monitor: predictions of the recent as-ofs + the labels known now -> slice_metrics.

Every run refreshes the last `monitor.lookback_days` daily windows, since labels arrive after
the predictions: a window's row counts all its predictions, its quality metrics the labelled
ones (`num_labelled` says how many). The table is shaped like Databricks Lakehouse
Monitoring's profile table: window, granularity, model_id, slice_key/slice_value (both NULL
for the whole table).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from pyspark.sql import functions as F

from lakescore.runtime import Context
from transforms.columns import (
    AS_OF,
    GRANULARITY,
    LABEL_KNOWN_AT,
    MODEL_ID,
    MODEL_NAME,
    MODEL_VERSION,
    PREDICTION,
    SCORE,
    SLICE_KEY,
    SLICE_VALUE,
    WINDOW,
)
from transforms.features.asof import day_start
from transforms.modeling.labels import labels
from transforms.modeling.metrics import explode_slices, quality_metrics
from transforms.sqltext import dates_predicate

log = logging.getLogger("lakescore.monitor")


def run(ctx: Context) -> dict:
    cfg, store = ctx.cfg, ctx.tables
    first = ctx.as_of - timedelta(days=cfg.monitor.lookback_days - 1)
    window = dates_predicate(AS_OF, [first + timedelta(days=i) for i in range(cfg.monitor.lookback_days)])
    key, tz = cfg.entity.key, cfg.entity.timezone
    preds = store.read(cfg.tables.predictions, where=window)
    slices = store.read(cfg.tables.features, where=window, count=False).select(*key, AS_OF, *cfg.slices)
    lab = store.read(cfg.clean_table(cfg.entity.source), count=False).transform(
        labels(key, cfg.label.name, cfg.label.expr, cfg.label.known_at)).drop(LABEL_KNOWN_AT)
    joined = (preds.join(slices, on=[*key, AS_OF], how="left")
              .join(lab, on=key, how="left")
              .withColumn(MODEL_ID, F.concat_ws("/", MODEL_NAME, MODEL_VERSION))
              .transform(explode_slices(cfg.slices)))
    groups = [AS_OF, MODEL_ID, SLICE_KEY, SLICE_VALUE]
    metrics = quality_metrics(joined, groups, cfg.label.kind, cfg.label.name, SCORE, PREDICTION)
    out = metrics.select(
        F.col(AS_OF),
        F.struct(day_start(F.col(AS_OF), tz).alias("start"),
                 day_start(F.date_add(F.col(AS_OF), 1), tz).alias("end")).alias(WINDOW),
        F.lit("1 day").alias(GRANULARITY),
        *[c for c in metrics.columns if c != AS_OF],
        F.lit(Context.now()).cast("timestamp").alias("computed_at"),
    )
    rows = store.write(out, cfg.tables.slice_metrics, replace_where=window, partition_by=[AS_OF])
    log.info("monitor: %d slice metric rows for %s..%s", rows, first, ctx.as_of)
    return {"slice_metrics": rows}


if __name__ == "__main__":
    from lakescore.stage import stage_main

    stage_main("monitor", run)
