"""What the monitor stage watches (windows, drift and skew tests, model health, alerts, the
retraining trigger), the feedback loops a use case declares, and where MLflow records runs.
Defaults are in README, Monitoring; the metric names are the columns of `drift_metrics`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lakescore.config.base import Identifier, Strict
from lakescore.transforms.contracts.kinds import (
    MODEL_STALE,
    MONITOR_KINDS,
    QUALITY_DROP,
    RETRAIN_TRIGGERED,
    SLOW_DEGRADATION,
)
from lakescore.transforms.monitoring.drift import CATEGORICAL_METRICS, NUMERIC_METRICS, PVALUE_METRICS

MonitorKind = Literal[MONITOR_KINDS]  # type: ignore[valid-type]
DriftMetric = Literal[tuple(dict.fromkeys(NUMERIC_METRICS + CATEGORICAL_METRICS))]  # type: ignore[valid-type]


class DriftTest(Strict):
    """How a column is judged: `metric` against `threshold` (a distance above it, or a p-value
    below it, is drift); with `small_metric`/`small_threshold` when either side has fewer than
    `monitor.drift.small_sample` values (Evidently's rule: p-value tests for small samples,
    distances for large ones, where tests flag every trivial difference)."""

    metric: DriftMetric
    threshold: float = Field(ge=0)
    small_metric: DriftMetric | None = None
    small_threshold: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _pairs(self) -> DriftTest:
        if (self.small_metric is None) != (self.small_threshold is None):
            raise ValueError("small_metric and small_threshold go together")
        for metric, threshold in ((self.metric, self.threshold), (self.small_metric, self.small_threshold)):
            if metric in PVALUE_METRICS and threshold is not None and threshold > 1:
                raise ValueError(f"{metric} is judged on its p-value: the threshold must be in [0, 1]")
        return self


class ColumnDrift(Strict):
    """A column's override: its own test, per comparison; `baseline: false` / `consecutive:
    false` keep the figures but take no decision (no alert) for that comparison."""

    test: DriftTest | None = None
    baseline: bool = True
    consecutive: bool = True


class Drift(Strict):
    bins: int = Field(100, ge=2, description="quantile bins of the baseline (KS, Wasserstein)")
    coarse_bins: int = Field(10, ge=2, description="coarser bins (PSI, Jensen-Shannon of numeric columns); "
                             "bins must be a multiple of it")
    by_slice: bool = Field(False, description="also compare each configured slice (slices: ...)")
    min_count: int = Field(100, ge=1, description="fewer non-NULL values on either side: figures, no decision")
    small_sample: int = Field(500, ge=1, description="below this many values on either side the small_* test applies")
    max_null_rate_increase: float = Field(0.1, ge=0, le=1, description="a rise of the NULL share above it is drift")
    numeric: DriftTest = Field(default_factory=lambda: DriftTest(
        metric="wasserstein_distance", threshold=0.2, small_metric="ks_test", small_threshold=0.01))
    categorical: DriftTest = Field(default_factory=lambda: DriftTest(
        metric="l_infinity_distance", threshold=0.1, small_metric="chi_squared_test", small_threshold=0.01))
    columns: dict[Identifier, ColumnDrift] = Field(
        default_factory=dict, description="per model feature (or score, prediction) overrides")
    example_skew_threshold: float = Field(
        0.01, ge=0, le=1, description="share of served feature rows that differ now above which a feature has example skew")

    @model_validator(mode="after")
    def _bins(self) -> Drift:
        if self.bins % self.coarse_bins:
            raise ValueError(f"bins ({self.bins}) must be a multiple of coarse_bins ({self.coarse_bins})")
        return self


class Quality(Strict):
    metric: str | None = Field(None, description="default: model.primary_metric")
    min_labelled: int = Field(200, ge=1, description="fewer out-of-sample labelled rows in a window (or slice): no decision")
    max_drop: float = Field(0.05, ge=0, description="sudden drop: largest loss of the metric from the previous window")
    windows: int = Field(7, ge=1, description="slow degradation: mean of the metric over this many windows...")
    max_decline: float = Field(0.05, ge=0, description="...may be at most this far below the model's own evaluation")
    min_windows: int = Field(3, ge=1, description="slow degradation: windows with min_labelled rows it needs among "
                             "the last `windows` (capped at `windows`): a trend, not one window")
    confidence: float | None = Field(0.95, gt=0.5, lt=1, description="a loss over max_drop or max_decline is a "
                                     "finding only when it is also larger than the windows' sampling error explains "
                                     "at this one-sided confidence (AUC, accuracy and rates); null: the thresholds "
                                     "alone decide")


class Estimate(Strict):
    """Estimated performance (estimated_performance, the `estimated_degradation` check): a model's
    quality per window before labels land, a binary model's from its served scores and calibration,
    a regression model's (MAE, RMSE) from its served inputs and predictions and its loss model."""

    enabled: bool = Field(True, description="estimate a model's quality per window and slice")
    max_decline: float = Field(0.05, ge=0, description="estimated_degradation: the estimated metric may be at most "
                               "this much worse than the model's own evaluation, in the metric's units (and "
                               "within gate.floors)")
    min_count: int = Field(200, ge=1, description="fewer served rows in a window (or slice): estimate, no decision")


class RetrainWhen(Strict):
    windows: int = Field(7, ge=1, description="the last n windows")
    violations: int = Field(3, ge=1, description="k of them raised one of the kinds")
    kinds: list[MonitorKind] = Field(default_factory=lambda: [QUALITY_DROP, SLOW_DEGRADATION, MODEL_STALE])

    @model_validator(mode="after")
    def _k_of_n(self) -> RetrainWhen:
        if self.violations > self.windows:
            raise ValueError(f"violations ({self.violations}) cannot exceed windows ({self.windows})")
        if RETRAIN_TRIGGERED in self.kinds:
            raise ValueError(f"kinds: {RETRAIN_TRIGGERED} cannot trigger itself")
        return self


class Monitor(Strict):
    lookback_days: int = Field(7, ge=1, description="prediction windows (days) refreshed per run")
    max_model_age_days: float = Field(30.0, gt=0, description="a serving model older than this (days since its "
                                      "training cutoff) is stale")
    drift: Drift = Field(default_factory=Drift)
    quality: Quality = Field(default_factory=Quality)
    estimate: Estimate = Field(default_factory=Estimate)
    retrain_when: RetrainWhen | None = Field(default_factory=RetrainWhen, description="null: no trigger")
    fail_on: list[MonitorKind] = Field(default_factory=list, description="kinds that make the stage exit non-zero")
    report: bool = Field(False, description="log the HTML monitoring report of the 30 windows up to the as-of to "
                         "MLflow (artifact monitoring_report.html)")


class FeedbackLoop(Strict):
    """A source that is (or is derived from) one of the use case's own outputs, declared on purpose."""

    source: Identifier = Field(description="a source under `sources`")
    reason: str = Field(min_length=1, description="why the loop is acceptable")


class MlflowSettings(Strict):
    experiment: str = Field(description="experiment name (a workspace path on Databricks)")

