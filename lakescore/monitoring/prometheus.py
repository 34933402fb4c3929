"""A use case's latest figures as Prometheus metrics, in the text format the node exporter's
textfile collector reads (`lakescore metrics -c F --out FILE.prom`).

Every figure is a small Spark aggregate of a table lakescore writes (a row per model, slice,
source, alert kind or stage reaches the driver, never a row per entity); a table that does not
exist yet leaves its metrics without samples. The gauges, all with the label `use_case`:

| metric | labels | from |
|---|---|---|
| `lakescore_latest_as_of_timestamp_seconds` | | newest as-of in `predictions` |
| `lakescore_predictions_rows` | model_name, model_version | rows scored for that as-of |
| `lakescore_model_age_days` | model_name, model_version | the serving model's age at that as-of |
| `lakescore_quality` | model_name, model_version, slice, metric | `slice_metrics`, newest window with labels |
| `lakescore_quality_labelled_rows` | model_name, model_version, slice | its `num_labelled` |
| `lakescore_quality_window_timestamp_seconds` | model_name, model_version | that window's as-of |
| `lakescore_estimated_quality` | model_name, model_version, slice, metric | `estimated_performance`, newest window |
| `lakescore_estimated_quality_window_timestamp_seconds` | model_name, model_version | that window's as-of |
| `lakescore_drifted_features` | model_name, model_version, drift_type | `drift_metrics`, newest window |
| `lakescore_drift_features_compared` | model_name, model_version, drift_type | columns compared there |
| `lakescore_quarantine_rate` | source | `data_quality`, each source's newest as-of |
| `lakescore_rows_in`, `lakescore_rows_quarantined` | source | the same rows |
| `lakescore_open_alerts` | stage, kind, severity | `alerts` of the last `monitor.lookback_days` as-ofs |
| `lakescore_stage_duration_seconds` | stage | `stage_runs`, the newest succeeded run's seconds |
| `lakescore_stage_last_success_timestamp_seconds` | stage | when it ended (`started_at` + `seconds`) |
| `lakescore_stage_last_run_failed` | stage | 1 when the newest run of the stage failed |

`slice` is `all` for the whole window and `<key>=<value>` for a slice (`carrier=UA`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakescore.core.runtime import Context
from lakescore.transforms.columns import (
    AS_OF,
    BINARY,
    COLUMN_NAME,
    DRIFT_TYPE,
    FAILED,
    MODEL_AGE_DAYS,
    MODEL_ID,
    MODEL_NAME,
    MODEL_VERSION,
    NUM_LABELLED,
    SECONDS,
    SLICE_KEY,
    SLICE_VALUE,
    STAGE,
    STARTED_AT,
    STATUS,
    SUCCEEDED,
)
from lakescore.transforms.modeling.metrics import BINARY_METRICS, REGRESSION_METRICS
from lakescore.transforms.sqltext import eq

PREFIX = "lakescore_"
USE_CASE = "use_case"
SLICE = "slice"
WHOLE = "all"                      # the slice label of a whole window (slice_key NULL)
MODEL = (MODEL_NAME, MODEL_VERSION)


@dataclass
class Families:
    """The gauges of one export, registered in their own registry."""

    registry: CollectorRegistry

    def gauge(self, name: str, doc: str, *labels: str) -> Gauge:
        return Gauge(PREFIX + name, doc, [USE_CASE, *labels], registry=self.registry)


def _epoch(column: str) -> Column:
    """Seconds since the epoch of a date (its midnight, session time zone: UTC) or timestamp."""
    return F.unix_timestamp(F.col(column).cast("timestamp")).cast("double")


def _model_labels(df: DataFrame) -> DataFrame:
    """model_name and model_version from model_id (`<name>/<version>`)."""
    return df.withColumn(MODEL_NAME, F.regexp_extract(MODEL_ID, "^(.*)/[^/]*$", 1)) \
        .withColumn(MODEL_VERSION, F.substring_index(MODEL_ID, "/", -1))


def _slice_label() -> Column:
    return F.when(F.col(SLICE_KEY).isNull(), F.lit(WHOLE)) \
        .otherwise(F.concat_ws("=", SLICE_KEY, F.coalesce(F.col(SLICE_VALUE), F.lit("null"))))


def _read(ctx: Context, name: str) -> DataFrame | None:
    """The table's current version (None when it does not exist yet)."""
    store = ctx.tables
    return store.spark.table(store.display(name)) if store.exists(name) else None


def _newest(df: DataFrame, column: str = AS_OF):
    return df.agg(F.max(column)).first()[0]


def _predictions(ctx: Context, fam: Families, use_case: str):
    """The newest scored as-of: its rows and model age per model version. Returns that as-of."""
    latest = fam.gauge("latest_as_of_timestamp_seconds", "the newest as-of with predictions (its midnight UTC)")
    rows = fam.gauge("predictions_rows", "rows scored for the newest as-of", *MODEL)
    age = fam.gauge("model_age_days", "age in days of the model that scored the newest as-of (from its training "
                    "cutoff)", *MODEL)
    preds = _read(ctx, ctx.cfg.tables.predictions)
    as_of = _newest(preds) if preds is not None else None
    if as_of is None:
        return None
    day = preds.where(eq(AS_OF, as_of))
    for r in day.groupBy(*MODEL).agg(F.count(F.lit(1)).alias("n"), F.max(MODEL_AGE_DAYS).alias("age"),
                                     F.first(_epoch(AS_OF)).alias("t")).orderBy(*MODEL).collect():
        rows.labels(use_case, r[MODEL_NAME], r[MODEL_VERSION]).set(r["n"])
        if r["age"] is not None:
            age.labels(use_case, r[MODEL_NAME], r[MODEL_VERSION]).set(r["age"])
        latest.labels(use_case).set(r["t"])
    return as_of


def _quality(ctx: Context, fam: Families, use_case: str) -> None:
    """Every metric of every slice of the newest window whose whole-window row has labels."""
    quality = fam.gauge("quality", "quality metric of the newest window with labelled rows, per slice",
                        *MODEL, SLICE, "metric")
    labelled = fam.gauge("quality_labelled_rows", "labelled rows (out of sample) the window's metrics use",
                         *MODEL, SLICE)
    window = fam.gauge("quality_window_timestamp_seconds", "as-of of the window the quality metrics are from",
                       *MODEL)
    sm = _read(ctx, ctx.cfg.tables.slice_metrics)
    if sm is None:
        return
    as_of = _newest(sm.where(F.col(SLICE_KEY).isNull() & (F.col(NUM_LABELLED) > 0)))
    if as_of is None:
        return
    metrics = [m for m in (BINARY_METRICS if ctx.cfg.label.kind == BINARY else REGRESSION_METRICS) if m in sm.columns]
    day = _model_labels(sm.where(eq(AS_OF, as_of))).withColumn(SLICE, _slice_label())
    long = day.select(*MODEL, SLICE, NUM_LABELLED, _epoch(AS_OF).alias("t"), F.explode(F.array(*[
        F.struct(F.lit(m).alias("metric"), F.col(m).cast("double").alias("value")) for m in metrics])).alias("m"))
    rows = long.where(F.col("m.value").isNotNull()).select("*", "m.metric", "m.value").drop("m")
    for r in rows.orderBy(*MODEL, SLICE).collect():
        model = (use_case, r[MODEL_NAME], r[MODEL_VERSION])
        quality.labels(*model, r[SLICE], r["metric"]).set(r["value"])
        labelled.labels(*model, r[SLICE]).set(r[NUM_LABELLED] or 0)
        window.labels(*model).set(r["t"])


def _estimated(ctx: Context, fam: Families, use_case: str) -> None:
    """Every estimated metric of every slice of the newest window (labels known or not)."""
    quality = fam.gauge("estimated_quality", "quality estimated from the served scores (before labels), newest "
                        "window, per slice", *MODEL, SLICE, "metric")
    window = fam.gauge("estimated_quality_window_timestamp_seconds", "as-of of the window the estimates are from",
                       *MODEL)
    ep = _read(ctx, ctx.cfg.tables.estimated_performance)
    as_of = _newest(ep) if ep is not None else None
    if as_of is None:
        return
    day = _model_labels(ep.where(eq(AS_OF, as_of)).where(F.col("estimated").isNotNull())).withColumn(
        SLICE, _slice_label())
    for r in day.select(*MODEL, SLICE, "metric", "estimated", _epoch(AS_OF).alias("t")).orderBy(
            *MODEL, SLICE, "metric").collect():
        quality.labels(use_case, r[MODEL_NAME], r[MODEL_VERSION], r[SLICE], r["metric"]).set(r["estimated"])
        window.labels(use_case, r[MODEL_NAME], r[MODEL_VERSION]).set(r["t"])


def _drift(ctx: Context, fam: Families, use_case: str) -> None:
    """Columns drifted and compared per comparison in the newest window (whole-window rows)."""
    drifted = fam.gauge("drifted_features", "columns found drifted in the newest window, per comparison",
                        *MODEL, DRIFT_TYPE)
    compared = fam.gauge("drift_features_compared", "columns compared in the newest window, per comparison",
                         *MODEL, DRIFT_TYPE)
    dm = _read(ctx, ctx.cfg.tables.drift_metrics)
    as_of = _newest(dm) if dm is not None else None
    if as_of is None:
        return
    day = _model_labels(dm.where(eq(AS_OF, as_of)).where(F.col(SLICE_KEY).isNull()))
    counts = day.groupBy(*MODEL, DRIFT_TYPE).agg(
        F.count_distinct(F.when(F.col("drifted"), F.col(COLUMN_NAME))).alias("drifted"),
        F.count_distinct(COLUMN_NAME).alias("compared"))
    for r in counts.orderBy(*MODEL, DRIFT_TYPE).collect():
        labels = (use_case, r[MODEL_NAME], r[MODEL_VERSION], r[DRIFT_TYPE])
        drifted.labels(*labels).set(r["drifted"])
        compared.labels(*labels).set(r["compared"])


def _data_quality(ctx: Context, fam: Families, use_case: str) -> None:
    """Rows in and quarantined, and the quarantine rate, of each source's newest as-of."""
    rate = fam.gauge("quarantine_rate", "share of the rows in that were quarantined, each source's newest as-of",
                     "source")
    rows_in = fam.gauge("rows_in", "rows in (clean + quarantined), each source's newest as-of", "source")
    quarantined = fam.gauge("rows_quarantined", "rows quarantined, each source's newest as-of", "source")
    dq = _read(ctx, ctx.cfg.tables.data_quality)
    if dq is None:
        return
    newest = dq.withColumn("newest", F.max(AS_OF).over(Window.partitionBy("source"))).where(F.col(AS_OF) == F.col("newest"))
    sums = newest.groupBy("source").agg(F.sum("rows_in").alias("rows_in"), F.sum("rows_quarantined").alias("q"))
    for r in sums.orderBy("source").collect():
        rows_in.labels(use_case, r["source"]).set(r["rows_in"] or 0)
        quarantined.labels(use_case, r["source"]).set(r["q"] or 0)
        rate.labels(use_case, r["source"]).set((r["q"] or 0) / r["rows_in"] if r["rows_in"] else 0.0)


def _alerts(ctx: Context, fam: Families, use_case: str, latest) -> None:
    """Alerts of the as-ofs the monitor still refreshes: the last monitor.lookback_days up to the
    newest as-of (of predictions, else of the alerts), by stage, kind and severity."""
    gauge = fam.gauge("open_alerts", "alerts of the last monitor.lookback_days as-ofs", STAGE, "kind", "severity")
    alerts = _read(ctx, ctx.cfg.tables.alerts)
    if alerts is None:
        return
    latest = latest or _newest(alerts)
    if latest is None:
        return
    first = latest - timedelta(days=ctx.cfg.monitor.lookback_days - 1)
    recent = alerts.where(F.col(AS_OF).between(first, latest))
    for r in recent.groupBy(STAGE, "kind", "severity").count().orderBy(STAGE, "kind", "severity").collect():
        gauge.labels(use_case, r[STAGE], r["kind"], r["severity"]).set(r["count"])


def _stages(ctx: Context, fam: Families, use_case: str) -> None:
    """Per stage: the newest succeeded run's seconds and end, and whether the newest run failed."""
    duration = fam.gauge("stage_duration_seconds", "seconds the newest succeeded run of the stage took", STAGE)
    success = fam.gauge("stage_last_success_timestamp_seconds", "when the newest succeeded run of the stage ended",
                        STAGE)
    failed = fam.gauge("stage_last_run_failed", "1 when the newest run of the stage failed, else 0", STAGE)
    runs = _read(ctx, ctx.cfg.tables.stage_runs)
    if runs is None:
        return
    ok, ended = F.col(STATUS) == SUCCEEDED, _epoch(STARTED_AT) + F.col(SECONDS)
    per_stage = runs.where(F.col(STATUS).isin(SUCCEEDED, FAILED)).groupBy(STAGE).agg(
        F.max_by(SECONDS, F.when(ok, ended)).alias("seconds"),
        F.max(F.when(ok, ended)).alias("success"),
        F.max_by(STATUS, ended).alias("last"))
    for r in per_stage.orderBy(STAGE).collect():
        if r["success"] is not None:
            duration.labels(use_case, r[STAGE]).set(r["seconds"])
            success.labels(use_case, r[STAGE]).set(r["success"])
        failed.labels(use_case, r[STAGE]).set(1 if r["last"] == FAILED else 0)


def collect(ctx: Context) -> CollectorRegistry:
    """The use case's metrics in a registry of their own."""
    fam, use_case = Families(CollectorRegistry()), ctx.cfg.name
    latest = _predictions(ctx, fam, use_case)
    _quality(ctx, fam, use_case)
    _estimated(ctx, fam, use_case)
    _drift(ctx, fam, use_case)
    _data_quality(ctx, fam, use_case)
    _alerts(ctx, fam, use_case, latest)
    _stages(ctx, fam, use_case)
    return fam.registry


def write(ctx: Context, path: Path) -> int:
    """Write the metrics file (atomically: a temporary file renamed, so the collector never reads
    half a file); returns the samples written."""
    registry = collect(ctx)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
    return sum(len(m.samples) for m in registry.collect())
