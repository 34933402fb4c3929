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

from jobs.runtime import Context
from jobs.tables import dates_predicate
from transforms.asof import AS_OF, day_start
from transforms.labels import LABEL_KNOWN_AT, labels
from transforms.metrics import SLICE_KEY, SLICE_VALUE, explode_slices, quality_metrics

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
              .withColumn("model_id", F.concat_ws("/", "model_name", "model_version"))
              .transform(explode_slices(cfg.slices)))
    groups = [AS_OF, "model_id", SLICE_KEY, SLICE_VALUE]
    metrics = quality_metrics(joined, groups, cfg.label.kind, cfg.label.name, "score", "prediction")
    out = metrics.select(
        F.col(AS_OF),
        F.struct(day_start(F.col(AS_OF), tz).alias("start"),
                 day_start(F.date_add(F.col(AS_OF), 1), tz).alias("end")).alias("window"),
        F.lit("1 day").alias("granularity"),
        *[c for c in metrics.columns if c != AS_OF],
        F.lit(Context.now()).cast("timestamp").alias("computed_at"),
    )
    rows = store.write(out, cfg.tables.slice_metrics, replace_where=window, partition_by=[AS_OF])
    log.info("monitor: %d slice metric rows for %s..%s", rows, first, ctx.as_of)
    return {"slice_metrics": rows}


if __name__ == "__main__":
    from jobs.cli import stage_main

    stage_main("monitor")
