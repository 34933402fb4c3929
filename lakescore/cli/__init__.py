"""The `lakescore` command line: run stages, query tables, draft contracts, replay ingested
batches, document features, check, register and roll back models, predict on demand, export
Prometheus metrics, tell whether training is due, serve the home over Spark Connect, set up
spark-submit. Each command group is a module of this package."""

from __future__ import annotations

import os
from enum import Enum
from typing import Annotated

import typer

from lakescore.cli.backfill import backfill
from lakescore.cli.contract import contract_app
from lakescore.cli.features import features_app
from lakescore.cli.ingest import ingest_app
from lakescore.cli.metrics import metrics
from lakescore.cli.model import model_app, print_checks
from lakescore.cli.predict import predict
from lakescore.cli.report import report
from lakescore.cli.retrain import retrain_needed
from lakescore.cli.serve import serve
from lakescore.cli.sql import sql
from lakescore.cli.submit import submit
from lakescore.cli.tables import tables_app
from lakescore.core.stage_runner import AsOfOpt, ConfigOpt, ForceOpt, SetOpt, TargetOpt, run_command
from lakescore.jobs.pipeline import STAGES, TRAINING, stages

__all__ = ["StageName", "app", "main", "run", "spark_defaults"]

app = typer.Typer(
    help="lakescore: batch offline inference on Spark, Delta Lake and MLflow.\n\n"
    "Every stage reads the use case's YAML (--config) and works for one logical date (--as-of), "
    "so a scheduler can run, re-run and backfill any day.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(features_app, name="features")
app.add_typer(tables_app, name="tables")
app.add_typer(contract_app, name="contract")
app.add_typer(ingest_app, name="ingest")
app.add_typer(model_app, name="model")
app.command()(sql)
app.command()(serve)
app.command()(predict)
app.command()(metrics)
app.command("retrain-needed")(retrain_needed)
app.command()(backfill)
app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(submit)
app.command()(report)

# The stage names come from the pipeline (by name: importing a stage is left to `run`, so that
# `lakescore --help` and `lakescore sql` do not load MLflow and Spark ML).
StageName = Enum("StageName", {s: s for s in [*STAGES, "all"]}, type=str)  # type: ignore[misc]


@app.command()
def run(
    stage: Annotated[StageName, typer.Argument(help="ingest | features | train | promote | score | monitor | all")],
    config: ConfigOpt,
    as_of: AsOfOpt,
    target: TargetOpt = None,
    force: ForceOpt = False,
    overrides: SetOpt = None,
    master: Annotated[str | None, typer.Option(
        "--master", envvar="LAKESCORE_MASTER", show_envvar=True,
        help="Spark master: local[*] (default), spark://host:7077, yarn, k8s://... (README: Runtime)")] = None,
) -> None:
    """Run one stage (or `all`, in order) for a use case and an as-of date.

    \b
    ingest    raw_<source> -> clean_<source>, quarantine, data_quality (lands the demo files)
    features  clean entity rows -> features (entity x as_of, point in time)
    train     when train.retrain says so (or --force): features + known labels -> MLflow run,
              model version @challenger, feature_reports, model_metrics
    promote   gate a new challenger -> model_validations, @champion when every check passes
    score     @champion scores every catalog entity of the as-of -> predictions
    monitor   predictions, features, labels -> slice_metrics, drift_metrics, model_health, alerts
    all       the six in order; a train or promote failure does not stop score and monitor
    """
    if master:
        os.environ["LAKESCORE_MASTER"] = master
    results = run_command(stages(None if stage.value == "all" else [stage.value]), config, as_of, target,
                          force=force, isolated=TRAINING, overrides=overrides)
    gate = (results or {}).get("promote")
    if gate is not None and gate.checks:
        print_checks(gate.checks, f"gate of version {gate.version}: {gate.decision}")


@app.command("spark-defaults")
def spark_defaults() -> None:
    """Write Delta's package into pyspark's spark-defaults.conf, so `spark-submit jobs/<stage>.py`
    gets Delta like `lakescore run` does (make does this once)."""
    from lakescore.core.runtime import write_spark_defaults

    typer.echo(f"wrote {write_spark_defaults()}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
