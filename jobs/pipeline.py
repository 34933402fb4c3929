"""The stages of a use case, in the order they run: what `lakescore run all` and the Databricks
job iterate (resources/*.yml has one task per stage, in this order; a test checks it)."""

from __future__ import annotations

from jobs import features, ingest, monitor, promote, score, train
from lakescore import stage as runner

PIPELINE: tuple[tuple[str, runner.Stage], ...] = (
    ("ingest", ingest.run),      # raw_<source> -> clean_<source>, quarantine, data_quality, alerts
    ("features", features.run),  # clean entity rows + lookups + histories -> features
    ("train", train.run),        # features + labels known before the as-of -> MLflow run, @challenger
    ("promote", promote.run),    # gate the challenger -> model_validations, @champion
    ("score", score.run),        # @champion x the as-of's catalog -> predictions, predictions_latest
    ("monitor", monitor.run),    # predictions, features, labels -> slice_metrics, drift_metrics, model_health, alerts
)
STAGES = [name for name, _ in PIPELINE]


def stages(names: list[str] | None = None) -> list[tuple[str, runner.Stage]]:
    """(name, run) of the named stages, in pipeline order (every stage for None)."""
    wanted = STAGES if names is None else list(names)
    unknown = [n for n in wanted if n not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}: the stages are {', '.join(STAGES)}")
    return [(n, run) for n, run in PIPELINE if n in wanted]


def run_stages(ctx, names: list[str] | None = None) -> dict:
    """Run the named stages (all for None) in pipeline order, in this process's Spark session."""
    return runner.run_stages(ctx, stages(names))
