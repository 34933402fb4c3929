"""`lakescore model ...`: registered models of the use case (bring your own model)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Optional

import typer

from lakescore.stage import EXPECTED_ERRORS, ConfigOpt, TargetOpt, fail, make_context, setup_logging

model_app = typer.Typer(help="Registered models of the use case: bring your own model.",
                        no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@model_app.command("register")
def register(
    config: ConfigOpt,
    model_uri: Annotated[str, typer.Option("--model-uri", help="runs:/<run id>/<path>, models:/<name>/<version> "
                                           "(or @alias), or a local path of an MLflow model")],
    trained_until: Annotated[Optional[datetime], typer.Option(
        "--trained-until", formats=["%Y-%m-%d"],
        help="the as-of the model was trained for: its labels were known before that day's prediction time "
             "(default: the as_of param of the run that logged it)")] = None,
    target: TargetOpt = None,
) -> None:
    """Register any MLflow model as a new version @challenger of the use case's model.

    Its signature must take the model inputs of the use case's features (names and types; missing
    or extra columns are named). The version is evaluated on lakescore's test split of the training
    window before --trained-until and tagged with the feature set it expects; `lakescore run
    promote` then gates it like a trained model, and `score` runs it (a Spark ML pipeline natively,
    any other flavor through mlflow.pyfunc.spark_udf)."""
    from lakescore.registration import register as register_model

    setup_logging()
    until = trained_until.date() if trained_until else None
    try:
        ctx = make_context(config, until or datetime.now().date(), target)
        out = register_model(ctx, model_uri, until)
    except EXPECTED_ERRORS as exc:
        fail(str(exc))
        return
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in sorted(out["test_metrics"].items()))
    typer.echo(f"registered {ctx.cfg.model.name} version {out['model_version']} @challenger "
               f"({out['flavor']}, predicts with {out['predict_fn']}), trained for as-of {out['as_of']}; "
               f"test rows {out['test_rows']}: {metrics}")
