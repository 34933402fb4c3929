"""What the monitoring report shows, as small frames: every figure is aggregated in Spark (per
window, slice, feature, source, kind) and only those aggregates come to the driver, so the
report's size follows the number of windows in its range, never the rows of a table.

`collect(ctx, start, end)` reads the use case's tables for the as-ofs in [start, end]:
- quality: slice_metrics per window x slice (the whole table and the biggest slices of each key)
  with the labelled rows the metric was computed on;
- estimated: estimated_performance per window (the whole table, the quality metric): the estimate
  from the served scores, the realized value once labels are known, and the error;
- scores: the distribution of `score` per window (quantiles, mean, rows) from predictions;
- drift: drift_metrics per window x feature for the BASELINE and CONSECUTIVE comparisons (the
  chosen distance and the decision);
- explained: the windows whose score drifted (against the training rows or the day before), with
  the features that explain the shift (drift attribution);
- model_age: the serving model and its age per window (predictions); promotions and the gate's
  checks (model_validations);
- data_quality: rows in / clean / quarantined per source and as-of;
- alerts: counts per window x kind x severity, and the newest alerts.
A table that does not exist yet gives an empty frame (the report says so).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lakescore.core.runtime import Context
from lakescore.transforms.columns import (
    AS_OF,
    BASELINE,
    COLUMN_KIND,
    COLUMN_NAME,
    CONSECUTIVE,
    DRIFT_TYPE,
    MODEL_AGE_DAYS,
    MODEL_NAME,
    MODEL_VERSION,
    NUM_LABELLED,
    PROMOTED,
    SCORE,
    SLICE_KEY,
    SLICE_VALUE,
)
from lakescore.transforms.monitoring.attribution import text as attribution_text
from lakescore.transforms.sqltext import all_of, date_range

log = logging.getLogger("lakescore.report")

DEFAULT_DAYS = 30              # the range when --start is left out: the 30 days up to --end
TOP_SLICES = 6                 # slice values per key in the quality chart (the biggest by rows)
NEWEST_ALERTS = 50             # alerts listed one by one
MAX_GATE_ROWS = 200            # checks listed (a few per candidate)
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
# Distances a drift heatmap may be coloured by (columns of drift_metrics); `value` is the figure
# of each row's own test (its metric differs between columns).
DISTANCES = ("js_distance", "population_stability_index", "wasserstein_distance", "l_infinity_distance",
             "tv_distance", "value")
DEFAULT_DISTANCE = "js_distance"   # defined for numeric and categorical columns alike, in [0, 1]


@dataclass
class ReportData:
    use_case: str
    schema: str
    start: date
    end: date
    metric: str
    distance: str
    max_model_age_days: float
    quality: pd.DataFrame = field(default_factory=pd.DataFrame)
    estimated: pd.DataFrame = field(default_factory=pd.DataFrame)
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)
    drift: pd.DataFrame = field(default_factory=pd.DataFrame)
    explained: pd.DataFrame = field(default_factory=pd.DataFrame)
    model_age: pd.DataFrame = field(default_factory=pd.DataFrame)
    promotions: pd.DataFrame = field(default_factory=pd.DataFrame)
    gate: pd.DataFrame = field(default_factory=pd.DataFrame)
    data_quality: pd.DataFrame = field(default_factory=pd.DataFrame)
    alert_counts: pd.DataFrame = field(default_factory=pd.DataFrame)
    alerts: pd.DataFrame = field(default_factory=pd.DataFrame)
    seconds: dict[str, float] = field(default_factory=dict)


def _read(ctx: Context, table: str, where: str) -> DataFrame | None:
    store = ctx.tables
    if not store.exists(table):
        return None
    return store.read(table, where=where, count=False)


def _pandas(df: DataFrame, limit: int) -> pd.DataFrame:
    """An aggregate to the driver, bounded: `limit` rows at most (a warning when it was cut)."""
    out = df.limit(limit + 1).toPandas()
    if len(out) > limit:
        log.warning("report: an aggregate had more than %d rows: the first %d are shown", limit, limit)
        out = out.head(limit)
    return out


def default_range(ctx: Context, start: date | None, end: date | None) -> tuple[date, date]:
    """[start, end]: end defaults to the newest as-of in predictions (else the context's as-of),
    start to DEFAULT_DAYS - 1 days before end."""
    if end is None:
        preds = _read(ctx, ctx.cfg.tables.predictions, "TRUE")
        newest = preds.agg(F.max(AS_OF)).first()[0] if preds is not None else None
        end = newest or ctx.as_of
    return start or end - timedelta(days=DEFAULT_DAYS - 1), end


def quality(ctx: Context, where: str, metric: str) -> pd.DataFrame:
    """Per window x slice: rows, labelled rows and the metric; the whole table (slice_key NULL)
    and, per slice key, the TOP_SLICES values with the most rows over the range."""
    df = _read(ctx, ctx.cfg.tables.slice_metrics, where)
    if df is None:
        return pd.DataFrame()
    per = (df.groupBy(AS_OF, SLICE_KEY, SLICE_VALUE)
           .agg(F.sum("count").alias("count"), F.sum(NUM_LABELLED).alias(NUM_LABELLED),
                # one model serves a window; several (a re-score) are weighted by their labelled rows
                (F.sum(F.col(metric) * F.col(NUM_LABELLED)) / F.sum(F.when(F.col(metric).isNotNull(),
                                                                           F.col(NUM_LABELLED)))).alias(metric)))
    total = F.sum("count").over(Window.partitionBy(SLICE_KEY, SLICE_VALUE))
    size = Window.partitionBy(SLICE_KEY).orderBy(F.desc("total"), SLICE_VALUE)
    kept = (per.withColumn("total", total).withColumn("rank", F.dense_rank().over(size))
            .where(F.col("rank") <= TOP_SLICES).drop("total", "rank"))
    return _pandas(kept.orderBy(F.col(SLICE_KEY).asc_nulls_first(), SLICE_VALUE, AS_OF), 20_000)


def estimated(ctx: Context, where: str, metric: str) -> pd.DataFrame:
    """Per window (whole table, `metric`): served rows, labelled rows, the estimate, the realized
    value and the error (several models of a window weighted by their rows)."""
    df = _read(ctx, ctx.cfg.tables.estimated_performance, where)
    if df is None:
        return pd.DataFrame()
    part = df.where(F.col(SLICE_KEY).isNull() & (F.col("metric") == metric))

    def weighted(c: str, w: str):
        return F.sum(F.col(c) * F.col(w)) / F.sum(F.when(F.col(c).isNotNull(), F.col(w)))

    per = part.groupBy(AS_OF).agg(F.sum("count").alias("count"), F.sum(NUM_LABELLED).alias(NUM_LABELLED),
                                  weighted("estimated", "count").alias("estimated"),
                                  weighted("realized", NUM_LABELLED).alias("realized"))
    return _pandas(per.withColumn("error", F.col("estimated") - F.col("realized")).orderBy(AS_OF), 10_000)


def scores(ctx: Context, where: str) -> pd.DataFrame:
    """Per window: rows, mean score and the QUANTILES of the score (approximate, in Spark)."""
    df = _read(ctx, ctx.cfg.tables.predictions, where)
    if df is None:
        return pd.DataFrame()
    q = F.percentile_approx(SCORE, list(QUANTILES), 10_000)
    agg = (df.groupBy(AS_OF).agg(F.count(F.lit(1)).alias("rows"), F.avg(SCORE).alias("mean"),
                                 F.min(SCORE).alias("min"), F.max(SCORE).alias("max"), q.alias("q"))
           .select(AS_OF, "rows", "mean", "min", "max",
                   *[F.col("q")[i].alias(f"p{round(p * 100):02d}") for i, p in enumerate(QUANTILES)]))
    return _pandas(agg.orderBy(AS_OF), 5_000)


def drift(ctx: Context, where: str, distance: str) -> pd.DataFrame:
    """Per comparison (BASELINE, CONSECUTIVE) x window x column (the whole table, not slices):
    the chosen distance, the row's own test (metric, value, threshold) and whether it drifted."""
    df = _read(ctx, ctx.cfg.tables.drift_metrics, where)
    if df is None:
        return pd.DataFrame()
    rows = df.where(F.col(DRIFT_TYPE).isin(BASELINE, CONSECUTIVE) & F.col(SLICE_KEY).isNull())
    agg = rows.groupBy(DRIFT_TYPE, AS_OF, COLUMN_NAME).agg(
        F.max(COLUMN_KIND).alias(COLUMN_KIND), F.max(distance).alias("distance"), F.max("metric").alias("metric"),
        F.max("value").alias("value"), F.max("threshold").alias("threshold"),
        F.max(F.col("drifted").cast("int")).alias("drifted"))
    return _pandas(agg.orderBy(DRIFT_TYPE, COLUMN_NAME, AS_OF), 50_000)


def explained(ctx: Context, where: str) -> pd.DataFrame:
    """Per window and comparison with a drifted score: the model, the comparison (BASELINE or
    CONSECUTIVE), the score's test and the features that explain the shift
    (drift_metrics.attribution, as the alert says it)."""
    df = _read(ctx, ctx.cfg.tables.drift_metrics, where)
    if df is None or "attribution" not in df.columns:
        return pd.DataFrame()
    rows = df.where((F.col(COLUMN_NAME) == SCORE) & F.col(SLICE_KEY).isNull() & F.col("attribution").isNotNull())
    return _pandas(rows.select(AS_OF, "model_id", DRIFT_TYPE, "metric", "value",
                               attribution_text(F.col("attribution"), most=5).alias("explained_by"))
                   .orderBy(AS_OF, DRIFT_TYPE), 1_000)


def model_age(ctx: Context, where: str) -> pd.DataFrame:
    """Per window x serving model: rows scored and the model's age (days since its training cutoff)."""
    df = _read(ctx, ctx.cfg.tables.predictions, where)
    if df is None:
        return pd.DataFrame()
    agg = df.groupBy(AS_OF, MODEL_NAME, MODEL_VERSION).agg(F.count(F.lit(1)).alias("rows"),
                                                          F.max(MODEL_AGE_DAYS).alias(MODEL_AGE_DAYS))
    return _pandas(agg.orderBy(AS_OF, MODEL_VERSION), 5_000)


def gate(ctx: Context, where: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The gate's checks of the candidates of the range (newest first) and the promotions."""
    df = _read(ctx, ctx.cfg.tables.model_validations, where)
    if df is None:
        return pd.DataFrame(), pd.DataFrame()
    checks = df.select(AS_OF, MODEL_NAME, MODEL_VERSION, "check", "metric", "value", "baseline", "threshold",
                       "passed", "reason", "decision", "validated_at")
    promotions = (df.where(F.col("decision") == PROMOTED).groupBy(MODEL_NAME, MODEL_VERSION)
                  .agg(F.min(AS_OF).alias(AS_OF), F.min("validated_at").alias("validated_at")))
    return (_pandas(checks.orderBy(F.desc("validated_at"), "check"), MAX_GATE_ROWS),
            _pandas(promotions.orderBy(AS_OF), 1_000))


def data_quality(ctx: Context, where: str) -> pd.DataFrame:
    """Per as-of x source: batches, rows in, clean and quarantined."""
    df = _read(ctx, ctx.cfg.tables.data_quality, where)
    if df is None:
        return pd.DataFrame()
    agg = df.groupBy(AS_OF, "source").agg(F.count(F.lit(1)).alias("batches"), F.sum("rows_in").alias("rows_in"),
                                           F.sum("rows_clean").alias("rows_clean"),
                                           F.sum("rows_quarantined").alias("rows_quarantined"))
    return _pandas(agg.orderBy(AS_OF, "source"), 10_000)


def alerts(ctx: Context, where: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Alerts per window x kind x severity, and the NEWEST_ALERTS newest ones."""
    df = _read(ctx, ctx.cfg.tables.alerts, where)
    if df is None:
        return pd.DataFrame(), pd.DataFrame()
    counts = df.groupBy(AS_OF, "stage", "kind", "severity").agg(F.count(F.lit(1)).alias("alerts"))
    newest = df.select(AS_OF, "stage", "severity", "kind", "subject", "value", "threshold", "detail") \
        .orderBy(F.desc(AS_OF), "stage", "kind", "subject")
    return _pandas(counts.orderBy(AS_OF, "kind"), 10_000), _pandas(newest, NEWEST_ALERTS)


def collect(ctx: Context, start: date | None = None, end: date | None = None,
            distance: str = DEFAULT_DISTANCE) -> ReportData:
    """Every section's aggregates for the as-ofs in [start, end] (defaults: default_range)."""
    if distance not in DISTANCES:
        raise ValueError(f"distance {distance!r}: choose one of {', '.join(DISTANCES)}")
    cfg = ctx.cfg
    start, end = default_range(ctx, start, end)
    if start > end:
        raise ValueError(f"--start {start} is after --end {end}")
    where = all_of(date_range(AS_OF, start, end + timedelta(days=1)))
    metric = cfg.monitor.quality.metric or cfg.model.primary_metric
    data = ReportData(use_case=cfg.name, schema=ctx.tables.display_schema, start=start, end=end, metric=metric,
                      distance=distance, max_model_age_days=cfg.monitor.max_model_age_days)
    steps = {
        "quality": lambda: quality(ctx, where, metric),
        "estimated": lambda: estimated(ctx, where, metric),
        "scores": lambda: scores(ctx, where),
        "drift": lambda: drift(ctx, where, distance),
        "explained": lambda: explained(ctx, where),
        "model_age": lambda: model_age(ctx, where),
        "gate": lambda: gate(ctx, where),
        "data_quality": lambda: data_quality(ctx, where),
        "alerts": lambda: alerts(ctx, where),
    }
    for name, step in steps.items():
        started = time.perf_counter()
        result = step()
        if name == "gate":
            data.gate, data.promotions = result
        elif name == "alerts":
            data.alert_counts, data.alerts = result
        else:
            setattr(data, name, result)
        data.seconds[name] = round(time.perf_counter() - started, 2)
    log.info("report: %s..%s aggregated in %.1fs (%s)", start, end, sum(data.seconds.values()),
             ", ".join(f"{k} {v:.1f}s" for k, v in data.seconds.items()))
    return data
