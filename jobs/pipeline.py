"""The stages of a use case, in the order they run: what `lakescore run all` and the Databricks
jobs iterate. Each stage is the module `lakescore.jobs.<name>` and its `run(ctx)`, found by name
when it is needed (so `lakescore --help` and `lakescore sql` load no stage, no MLflow and no Spark
ML); the command line and the bundle read the names from here.

Train and promote form the training group: they train and gate only when the retraining policy
says so, and a failure there never stops score and monitor (`lakescore run all` runs them with
the current champion, then fails naming the stage). On Databricks the group is a job of its own,
the training job, on its own schedule beside the batch-inference job that runs the other stages
(resources/*.yml; a test checks both against this order)."""

from __future__ import annotations

from importlib import import_module

from lakescore.core import stage_runner as runner

STAGES: tuple[str, ...] = (
    "ingest",    # raw_<source> -> clean_<source>, quarantine, data_quality, alerts
    "features",  # clean entity rows + lookups + histories -> features
    "train",     # features + labels known before the as-of -> MLflow run, @challenger
    "promote",   # gate the challenger -> model_validations, @champion
    "score",     # @champion x the as-of's catalog -> predictions, predictions_latest
    "monitor",   # predictions, features, labels -> slice_metrics, drift_metrics, model_health, alerts
)
TRAINING = ("train", "promote")


def stage(name: str) -> runner.Stage:
    """The `run` of the stage called `name` (its module `lakescore.jobs.<name>`)."""
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}: the stages are {', '.join(STAGES)}")
    return import_module(f"{__package__}.{name}").run


def stages(names: list[str] | None = None) -> list[tuple[str, runner.Stage]]:
    """(name, run) of the named stages, in pipeline order (every stage for None)."""
    wanted = STAGES if names is None else list(names)
    unknown = [n for n in wanted if n not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}: the stages are {', '.join(STAGES)}")
    return [(n, stage(n)) for n in STAGES if n in wanted]


def run_stages(ctx, names: list[str] | None = None) -> dict:
    """Run the named stages (all for None) in pipeline order, in this process's Spark session; a
    failure in the training group lets the other stages run first (see the module's doc)."""
    return runner.run_stages(ctx, stages(names), isolated=TRAINING)
