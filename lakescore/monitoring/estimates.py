"""Estimated performance before labels land, per window x model x slice x metric (the
estimated_performance table) and its `estimated_degradation` checks (model_health rows):

- binary models: CBPE from the served scores and the calibration stored with the version's
  reference profile (transforms/monitoring/estimated.py);
- regression models: direct loss estimation, the expected MAE and RMSE from the served inputs (the
  features as scored) and predictions and the loss model stored there (transforms/monitoring/loss.py).

Each estimate sits beside the realized metric of slice_metrics once the labels are known, and
the estimate's error.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.config import LOWER_IS_BETTER
from lakescore.core.runtime import Context
from lakescore.models import reference_profiles
from lakescore.monitoring.window_inputs import Window, features_as_served, window_slices, with_window
from lakescore.transforms import schemas
from lakescore.transforms.columns import AS_OF, MODEL_ID, NUM_LABELLED, PREDICTION, SCORE, SLICE_KEY, SLICE_VALUE
from lakescore.transforms.modeling.metrics import explode_slices
from lakescore.transforms.monitoring import estimated, health, loss
from lakescore.transforms.sqltext import dates_predicate

ESTIMATE_GROUPS = [AS_OF, MODEL_ID, SLICE_KEY, SLICE_VALUE]


def estimated_performance(ctx: Context, preds: DataFrame, days: list[date],
                          calibrations: dict[str, tuple[list[float], list[float]]]) -> DataFrame:
    """A binary model's estimated_performance rows of the windows of `days` (CBPE): per window,
    model, slice and metric, the estimate from every served row's score and its model's calibration."""
    cfg = ctx.cfg
    rows = (preds.where(F.col(AS_OF).isin(days)).join(window_slices(ctx, days), on=[*cfg.entity.key, AS_OF], how="left")
            .transform(explode_slices(cfg.slices)))
    est = estimated.estimated_metrics(estimated.calibrated(rows, calibrations, SCORE), ESTIMATE_GROUPS, SCORE,
                                      PREDICTION)
    return _beside_realized(ctx, est, estimated.ESTIMATED_METRICS, days)


def estimated_loss(ctx: Context, preds: DataFrame, served: list[Window], days: list[date],
                   models: dict[str, loss.LossModel]) -> DataFrame:
    """A regression model's estimated_performance rows of the windows of `days` (direct loss
    estimation): the expected MAE and RMSE from every served row's features as scored and
    prediction, under its model's loss model."""
    cfg = ctx.cfg
    key = cfg.entity.key
    inputs = [c for c in reference_profiles.loss_inputs(cfg) if c != PREDICTION]
    features = features_as_served(ctx, {w.as_of: w.features_version for w in served if w.as_of in days})
    if features is None:
        return None
    rows = (features.select(*dict.fromkeys([*key, AS_OF, *inputs, *cfg.slices]))
            .join(preds.where(F.col(AS_OF).isin(days)).select(*key, AS_OF, MODEL_ID, PREDICTION), on=[*key, AS_OF]))
    expected = loss.expected_loss(rows, models).transform(explode_slices(cfg.slices))
    return _beside_realized(ctx, loss.estimated_loss_metrics(expected, ESTIMATE_GROUPS),
                            loss.ESTIMATED_LOSS_METRICS, days)


def _beside_realized(ctx: Context, est: DataFrame, names: list[str], days: list[date]) -> DataFrame:
    """Estimates per group (ESTIMATE_GROUPS, `count`, a column per metric of `names`) ->
    estimated_performance rows: a row per metric, the realized value from slice_metrics (its
    out-of-sample labelled rows) and the estimate's error once both exist."""
    cfg, groups = ctx.cfg, ESTIMATE_GROUPS
    long = est.select(*groups, "count", F.explode(F.array(*[
        F.struct(F.lit(m).alias("metric"), F.col(m).cast("double").alias("estimated")) for m in names])).alias("_m")) \
        .select(*groups, "count", "_m.metric", "_m.estimated")
    realized = ctx.tables.read(cfg.tables.slice_metrics, where=dates_predicate(AS_OF, days), count=False)
    realized = realized.select(*[F.col(g).alias(f"_r_{g}") for g in groups], NUM_LABELLED, F.explode(F.array(*[
        F.struct(F.lit(m).alias("_metric"), F.col(m).cast("double").alias("realized")) for m in names])).alias("_m")) \
        .select(*[f"_r_{g}" for g in groups], NUM_LABELLED, "_m._metric", "_m.realized")
    joined = long.join(realized, on=[*[long[g].eqNullSafe(realized[f"_r_{g}"]) for g in groups],
                                     long["metric"] == realized["_metric"]], how="left")
    out = joined.select(*groups, "metric", "estimated", "realized",
                        (F.col("estimated") - F.col("realized")).alias("error"), F.col("count").cast("long"),
                        F.coalesce(F.col(NUM_LABELLED), F.lit(0)).cast("long").alias(NUM_LABELLED))
    return with_window(out, cfg.entity.timezone).select(*schemas.ESTIMATED_PERFORMANCE.names)


def estimated_health(ctx: Context, estimates: DataFrame, reference: DataFrame) -> DataFrame:
    """The estimated_degradation checks of the written estimates (model_health rows)."""
    cfg, q, e = ctx.cfg, ctx.cfg.monitor.quality, ctx.cfg.monitor.estimate
    metric = q.metric or cfg.model.primary_metric
    checks = health.estimated_checks(estimates, reference, metric, lower_is_better=metric in LOWER_IS_BETTER,
                                     min_count=e.min_count, min_labelled=q.min_labelled, max_decline=e.max_decline,
                                     floor=cfg.gate.floors.get(metric))
    return with_window(checks, cfg.entity.timezone).select(*schemas.MODEL_HEALTH.names)


def estimated_rows(ctx: Context, preds: DataFrame, served: list[Window], days: list[date],
                   profile: DataFrame) -> DataFrame | None:
    """Every served model's estimated_performance rows: CBPE for the binary ones (a calibration in
    their profile), direct loss estimation for the regression ones (a loss model); None: neither."""
    parts = []
    calibrations = reference_profiles.calibrations(profile)
    if calibrations:
        parts.append(estimated_performance(ctx, preds, days, calibrations))
    losses = reference_profiles.loss_models(profile)
    if losses:
        parts.append(estimated_loss(ctx, preds, served, days, losses))
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out
