"""monitor: the recent windows' predictions, features and labels -> slice_metrics,
drift_metrics, model_health, alerts.

Every run refreshes the last `monitor.lookback_days` daily windows (an as-of's predictions):
- slice_metrics: counts and quality per window and slice, on the labels known by the run's
  as-of that the serving model did not train on (in-sample rows counted apart);
- drift_metrics: every model feature, the score and the prediction, against the serving model's
  training rows (BASELINE: training-serving skew) and the previous day (CONSECUTIVE); the
  served feature rows against the same rows now (EXAMPLE); declared feedback loops (FEEDBACK);
- estimated_performance: a model's quality per window and slice estimated before labels land,
  beside the realized metric once they have: a binary model's from its served scores and the
  calibration stored with its reference profile (transforms/monitoring/estimated.py), a regression
  model's expected MAE and RMSE from its served inputs and predictions and the loss model stored
  there (transforms/monitoring/loss.py);
- model_health: the serving model's age, sudden quality drops, slow degradation, and the
  estimated degradation of windows without labels yet;
- alerts: one per finding, about its window (re-running rewrites them), and `retrain_triggered`
  when `monitor.retrain_when` holds; kinds in `monitor.fail_on` then fail the stage.
See README, Monitoring.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.config import LOWER_IS_BETTER
from lakescore.core import alerts
from lakescore.core.errors import StageError
from lakescore.core.runtime import Context
from lakescore.core.stage_result import StageResult
from lakescore.models import reference_profiles, registry
from lakescore.models.training_rows import labels_of
from lakescore.monitoring.estimates import estimated_health, estimated_rows
from lakescore.monitoring.explain import explain_score_drift
from lakescore.monitoring.window_inputs import (
    ServedModel,
    Window,
    features_as_served,
    previous_days,
    served_model,
    window_slices,
    windows,
    with_window,
)
from lakescore.transforms import schemas
from lakescore.transforms.columns import (
    AS_OF,
    BASELINE,
    CATEGORICAL,
    CONSECUTIVE,
    FEATURES_VERSION,
    GRANULARITY,
    MODEL_ID,
    MODEL_NAME,
    MODEL_VERSION,
    NUMERIC,
    PREDICTION,
    SCORE,
    SLICE_KEY,
    SLICE_VALUE,
    WINDOW,
)
from lakescore.transforms.contracts.kinds import RETRAIN_TRIGGERED
from lakescore.transforms.features.asof import day_start
from lakescore.transforms.modeling.metrics import explode_slices
from lakescore.transforms.monitoring import comparisons, health, profiles, skew
from lakescore.transforms.monitoring.alerts import from_monitor_findings
from lakescore.transforms.monitoring.decisions import DriftTest
from lakescore.transforms.monitoring.quality import out_of_sample, window_quality
from lakescore.transforms.sqltext import all_of, any_of, date_range, dates_predicate, eq

log = logging.getLogger("lakescore.monitor")
STAGE = "monitor"


class MonitorFindings(StageError):
    """Findings of a kind listed in monitor.fail_on (raised once every table is written)."""


def write_slice_metrics(ctx: Context, preds: DataFrame, days: list[date]) -> int:
    cfg, store = ctx.cfg, ctx.tables
    key = cfg.entity.key
    slices = window_slices(ctx, days)
    known_by = day_start(F.lit(ctx.as_of), cfg.entity.timezone)   # what a run on the as-of could know
    lab, on = labels_of(ctx, preds, known_by, min(days), max(days))
    joined = (preds.join(slices, on=[*key, AS_OF], how="left").join(lab, on=on, how="left")
              .transform(out_of_sample(cfg.label.name)).transform(explode_slices(cfg.slices)))
    metrics = window_quality(joined, [AS_OF, MODEL_ID, SLICE_KEY, SLICE_VALUE], cfg.label.kind, cfg.label.name,
                             SCORE, PREDICTION)
    out = with_window(metrics, cfg.entity.timezone)
    out = out.select(AS_OF, WINDOW, GRANULARITY, *[c for c in metrics.columns if c != AS_OF], "computed_at")
    return store.write(out, cfg.tables.slice_metrics, replace_where=dates_predicate(AS_OF, days), partition_by=[AS_OF])


def _tests(ctx: Context) -> tuple[dict[str, DriftTest], dict[tuple[str, str], DriftTest | None]]:
    d, kinds = ctx.cfg.monitor.drift, ctx.cfg.monitored_columns

    def test(t) -> DriftTest:
        return DriftTest(t.metric, t.threshold, t.small_metric, t.small_threshold)

    defaults = {NUMERIC: test(d.numeric), CATEGORICAL: test(d.categorical)}
    overrides: dict[tuple[str, str], DriftTest | None] = {}
    for name, c in d.columns.items():
        own = test(c.test) if c.test else defaults[kinds[name]]
        overrides[(BASELINE, name)] = own if c.baseline else None
        overrides[(CONSECUTIVE, name)] = own if c.consecutive else None
    return defaults, overrides


def drift_metrics(ctx: Context, preds: DataFrame, served: list[Window], models: dict[str, ServedModel], *,
                  profile: DataFrame | None = None, baseline: DataFrame | None = None) -> DataFrame:
    """BASELINE, CONSECUTIVE, EXAMPLE and FEEDBACK rows of the served windows. The BASELINE
    reference is the serving models' stored reference `profile` (its drift part: edges and
    histograms), or, given instead, their training-split rows (`baseline`: model_id, the
    monitored columns, the slices), which is how it was computed before profiles."""
    cfg, d = ctx.cfg, ctx.cfg.monitor.drift
    key, columns = cfg.entity.key, cfg.monitored_columns
    slices = cfg.slices if d.by_slice else []
    window_models = ctx.spark.createDataFrame([(w.as_of, w.model_id, w.features_version) for w in served],
                                              f"{AS_OF} date, {MODEL_ID} string, {FEATURES_VERSION} bigint")
    served_feats = features_as_served(ctx, {w.as_of: w.features_version for w in served})
    serving = served_feats.join(preds.select(*key, AS_OF, MODEL_ID, SCORE, PREDICTION), on=[*key, AS_OF])
    previous = (features_as_served(ctx, previous_days(served))
                .join(preds.select(*key, AS_OF, SCORE, PREDICTION), on=[*key, AS_OF], how="left")
                .withColumn(comparisons.SCORED, F.col(SCORE).isNotNull())
                .withColumn(AS_OF, F.date_add(F.col(AS_OF), 1))
                .join(window_models.select(AS_OF, MODEL_ID), on=AS_OF))
    defaults, overrides = _tests(ctx)
    reference = None
    if profile is not None:
        edges, reference = profiles.reference_edges(profile), profiles.reference_histogram(profile)
    else:
        # the reference's quantile edges (one pass over every training row) feed three histograms and
        # the comparison: small (a row per model and numeric column), they are computed once here
        edges = comparisons.reference_edges(baseline, columns, d.bins, d.coarse_bins)
    edges = ctx.spark.createDataFrame(edges.collect(), edges.schema)
    out = comparisons.drift_rows(
        serving, previous, baseline, columns, slices, bins=d.bins, coarse_bins=d.coarse_bins,
        baselines={m.model_id: m.description for m in models.values()}, defaults=defaults, overrides=overrides,
        min_count=d.min_count, small_sample=d.small_sample, max_null_rate_increase=d.max_null_rate_increase,
        edges=edges, reference=reference)
    now = ctx.tables.read(cfg.tables.features, where=dates_predicate(AS_OF, [w.as_of for w in served]), count=False)
    versions = window_models.where(F.col(FEATURES_VERSION).isNotNull())
    described = F.concat(F.lit("features version "), F.col(FEATURES_VERSION).cast("string"), F.lit(" as served, vs now"))
    kinds = {f.name: f.kind for f in cfg.model_features}
    out = out.unionByName(comparisons.example_rows(skew.example_skew(served_feats, now, key, kinds), versions,
                                                   described, d.example_skew_threshold))
    for loop in cfg.feedback_loops:
        fed = [f for f in cfg.loop_features(loop.source) if columns[f] == NUMERIC]
        if fed:
            later = ctx.tables.read(cfg.tables.features, where=date_range(AS_OF, served[0].as_of), count=False)
            corr = skew.feedback_correlation(preds, later, key, fed, cfg.entity.horizon_days)
            out = out.unionByName(comparisons.feedback_rows(corr, window_models, loop.source))
    return with_window(out, cfg.entity.timezone).select(*schemas.DRIFT_METRICS.names)


def model_health(ctx: Context, preds: DataFrame, days: list[date], reference: DataFrame) -> DataFrame:
    """model_age, quality_drop and slow_degradation checks of the windows of `days`; `reference`:
    what each model's quality is held against per slice (`profiles.health_reference`: its own
    evaluation for the whole table, its test rows' metric per slice)."""
    cfg, q = ctx.cfg, ctx.cfg.monitor.quality
    metric = q.metric or cfg.model.primary_metric
    first = days[0] - timedelta(days=q.windows)
    quality = ctx.tables.read(cfg.tables.slice_metrics, where=date_range(AS_OF, first, days[-1] + timedelta(days=1)),
                              count=False)
    checks = health.quality_checks(quality, reference, metric, lower_is_better=metric in LOWER_IS_BETTER,
                                   min_labelled=q.min_labelled, max_drop=q.max_drop, windows=q.windows,
                                   max_decline=q.max_decline, days=days, min_windows=q.min_windows,
                                   confidence=q.confidence)
    ages = health.model_age(preds.where(F.col(AS_OF).isin(days)), ctx.cfg.monitor.max_model_age_days)
    out = ages.unionByName(checks)
    return with_window(out, cfg.entity.timezone).select(*schemas.MODEL_HEALTH.names)


def reference_profiles_of(ctx: Context, models: dict[str, ServedModel]) -> DataFrame:
    """The serving models' reference profiles (small: collected once, reused by every comparison);
    a model without one (trained before profiles existed, or under another profile config) gets
    it computed once from its training rows and written."""
    refs = [registry.by_version(ctx, m.version) for m in models.values()]
    for ref in refs:
        reference_profiles.ensure(ctx, ref)
    stored = reference_profiles.read(ctx, refs[0].name, [r.version for r in refs])
    return ctx.spark.createDataFrame(stored.collect(), stored.schema)


def raise_alerts(ctx: Context, days: list[date], subject: str) -> tuple[int, list[str]]:
    """Findings of the refreshed windows (and the retraining trigger) -> alerts; returns the
    alerts written and the kinds found."""
    cfg, store, mon = ctx.cfg, ctx.tables, ctx.cfg.monitor
    window = dates_predicate(AS_OF, days)
    findings = health.drift_findings(store.read(cfg.tables.drift_metrics, where=window, count=False)).unionByName(
        health.health_findings(store.read(cfg.tables.model_health, where=window, count=False))).cache()
    try:
        rule = mon.retrain_when
        if rule is not None:
            older = findings.select(AS_OF, "kind")
            if store.exists(cfg.tables.alerts) and rule.windows > len(days):
                before = all_of(eq("stage", STAGE), date_range(AS_OF, ctx.as_of - timedelta(days=rule.windows - 1), days[0]))
                older = older.unionByName(store.read(cfg.tables.alerts, where=before, count=False).select(AS_OF, "kind"))
            trigger = health.retrain_trigger(older, ctx.as_of, subject, windows=rule.windows,
                                             violations=rule.violations, kinds=list(rule.kinds))
            findings = findings.unionByName(trigger)
        kinds = sorted(r["kind"] for r in findings.select("kind").distinct().collect())
        rows = from_monitor_findings(findings, stage=STAGE, created_at=Context.now(), critical_kinds=list(mon.fail_on))
        # this run rewrites the findings about its windows, and the trigger of its as-of
        scope = all_of(eq("stage", STAGE), any_of(all_of(f"NOT ({eq('kind', RETRAIN_TRIGGERED)})", window),
                                                  all_of(eq("kind", RETRAIN_TRIGGERED), eq(AS_OF, ctx.as_of))))
        written = alerts.write(ctx, rows, scope, empty=not kinds)
    finally:
        findings.unpersist()
    return written, kinds


def log_report(ctx: Context) -> str | None:
    """monitor.report: the HTML report of the windows up to the as-of, as an MLflow artifact. The
    tables are written by then: a report that cannot be drawn is logged as an error, not raised."""
    from lakescore.monitoring import html_report

    with tempfile.TemporaryDirectory(prefix="lakescore-report-") as work:
        try:
            return html_report.log_to_mlflow(ctx, Path(work), html_report.DEFAULT_DAYS)
        except Exception:  # noqa: BLE001 - the report is a view of tables already written
            log.exception("monitor: the HTML report could not be written")
            return None


@dataclass(eq=False)
class MonitorResult(StageResult):
    slice_metrics: int                 # rows written for the windows
    drift_metrics: int = 0
    model_health: int = 0
    estimated_performance: int = 0
    alerts: int = 0
    findings: list = field(default_factory=list)   # the kinds of the findings raised
    report_run_id: str | None = None               # the MLflow run holding the HTML report


def run(ctx: Context) -> MonitorResult:
    cfg, store, mon = ctx.cfg, ctx.tables, ctx.cfg.monitor
    registry.configure(ctx)
    days = [ctx.as_of - timedelta(days=i) for i in reversed(range(mon.lookback_days))]
    # the day before the first window too: the first window's CONSECUTIVE comparison reads it
    preds = store.read(cfg.tables.predictions, where=date_range(AS_OF, days[0] - timedelta(days=1),
                                                               ctx.as_of + timedelta(days=1)))
    preds = preds.withColumn(MODEL_ID, F.concat_ws("/", MODEL_NAME, MODEL_VERSION))
    in_window = preds.where(F.col(AS_OF) >= F.lit(days[0]))
    result = MonitorResult(slice_metrics=write_slice_metrics(ctx, in_window, days))
    served = windows(in_window)
    if not served:
        log.warning("monitor: no predictions for %s..%s: nothing to compare", days[0], ctx.as_of)
        return result
    metric = mon.quality.metric or cfg.model.primary_metric
    models = {w.model_id: served_model(ctx, w, metric) for w in served}
    profile = reference_profiles_of(ctx, models)
    # small (a row per window, comparison, column and slice) and read twice: by the attribution's
    # choice of windows and by the write
    drift = drift_metrics(ctx, preds, served, models, profile=reference_profiles.drift_part(profile)).cache()
    try:
        explained = explain_score_drift(ctx, drift, preds, served, models, profile)
        result.drift_metrics = store.write(explained, cfg.tables.drift_metrics,
                                           replace_where=dates_predicate(AS_OF, days), partition_by=[AS_OF])
    finally:
        drift.unpersist()
    reference = profiles.health_reference(reference_profiles.health_part(profile), mon.quality.min_labelled)
    health_rows = model_health(ctx, preds, days, reference)
    estimates = estimated_rows(ctx, in_window, served, days, profile) if mon.estimate.enabled else None
    if estimates is not None:
        result.estimated_performance = store.write(estimates, cfg.tables.estimated_performance,
                                                   replace_where=dates_predicate(AS_OF, days), partition_by=[AS_OF])
        written = store.read(cfg.tables.estimated_performance, where=dates_predicate(AS_OF, days), count=False)
        health_rows = health_rows.unionByName(estimated_health(ctx, written, reference))
    result.model_health = store.write(health_rows, cfg.tables.model_health,
                                      replace_where=dates_predicate(AS_OF, days), partition_by=[AS_OF])
    result.alerts, kinds = raise_alerts(ctx, days, served[-1].model_id)
    result.findings = kinds
    log.info("monitor: windows %s..%s (%d scored), findings: %s", days[0], ctx.as_of, len(served),
             ", ".join(kinds) or "none")
    if mon.report:
        result.report_run_id = log_report(ctx)
    failing = [k for k in kinds if k in mon.fail_on]
    if failing:
        raise MonitorFindings(f"monitor: findings of kind(s) {', '.join(failing)} for the windows up to {ctx.as_of} "
                              f"(monitor.fail_on): see table {store.display(cfg.tables.alerts)}")
    return result


if __name__ == "__main__":
    from lakescore.core.stage_runner import stage_main

    stage_main("monitor", run)
