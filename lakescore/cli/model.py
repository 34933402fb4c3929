"""`lakescore model ...`: the registered model: its gate record, rollback, and bringing your own model."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Annotated

import typer

from lakescore.core.stage_runner import EXPECTED_ERRORS, ConfigOpt, SetOpt, TargetOpt, fail, make_context, setup_logging

model_app = typer.Typer(help="The registered model: its gate checks, rolling @champion back, registering your own model.",
                        no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

AS_OF_TODAY = typer.Option("--as-of", formats=["%Y-%m-%d"], help="logical date recorded with it (default: today)")


def _number(value) -> str:
    return "" if value is None else f"{value:.4g}"


def print_checks(checks: list[dict], title: str) -> None:
    """The gate's checks as a table: check, metric, value, baseline, threshold, pass/FAIL, reason."""
    from rich.console import Console
    from rich.table import Table

    table = Table("check", "metric", "value", "baseline", "threshold", "result", "reason", title=title)
    for c in checks:
        table.add_row(c["check"], c["metric"] or "", _number(c["value"]), _number(c["baseline"]),
                      _number(c["threshold"]), "pass" if c["passed"] else "[bold red]FAIL[/]", c["reason"])
    Console(width=160).print(table)


@model_app.command("checks")
def checks(
    config: ConfigOpt,
    version: Annotated[str | None, typer.Option(help="model version (default: the last one gated)")] = None,
    target: TargetOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Print the gate's checks of a model version (from model_validations) as a table."""
    setup_logging(logging.WARNING)
    try:
        from pyspark.sql import functions as F

        from lakescore.models import registry
        from lakescore.transforms.sqltext import all_of, eq

        ctx = make_context(config, date.today(), target, overrides=overrides)
        store, table = ctx.tables, ctx.cfg.tables.model_validations
        if not store.exists(table):
            fail(f"table {store.display(table)} does not exist yet: run promote first")
        rows = store.spark.table(store.display(table)).where(eq("model_name", registry.model_name(ctx)))
        if version is None:
            last = rows.orderBy(F.desc("validated_at")).limit(1).first()
            if last is None:
                fail(f"no gate record of model {registry.model_name(ctx)}")
            version = last["model_version"]
        latest = rows.where(eq("model_version", version)).agg(F.max("as_of")).first()[0]
        found = [r.asDict() for r in rows.where(all_of(eq("model_version", version), eq("as_of", latest)))
                 .orderBy("validated_at", "check").collect()]
    except EXPECTED_ERRORS as exc:
        fail(str(exc))
    if not found:
        fail(f"no gate record of version {version}")
    print_checks(found, f"version {version}, as-of {latest}: {found[0]['decision']}")


@model_app.command("rollback")
def rollback(
    config: ConfigOpt,
    as_of: Annotated[datetime | None, AS_OF_TODAY] = None,
    target: TargetOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Move @champion back to @previous (the champion before it), recorded in model_validations
    with decision `rollback`; running it again rolls forward."""
    setup_logging(logging.WARNING)
    try:
        from lakescore.gate import model_validations
        from lakescore.models import registry
        from lakescore.transforms.modeling.gate import check

        ctx = make_context(config, (as_of or datetime.now()).date(), target, overrides=overrides)
        registry.configure(ctx)
        demoted, restored = registry.rollback(ctx)
        reason = (f"@{registry.CHAMPION} moved back from version {demoted.version} to version {restored.version} "
                  f"(@{registry.PREVIOUS} is now version {demoted.version})")
        model_validations.write(ctx, demoted.name, demoted.version,
                          [check("rollback", None, None, None, None, True, reason)], model_validations.ROLLBACK)
    except EXPECTED_ERRORS as exc:
        fail(str(exc))
    typer.echo(f"{demoted.name}: {reason}")


@model_app.command("register")
def register(
    config: ConfigOpt,
    model_uri: Annotated[str, typer.Option("--model-uri", help="runs:/<run id>/<path>, models:/<name>/<version> "
                                           "(or @alias), or a local path of an MLflow model")],
    trained_until: Annotated[datetime | None, typer.Option(
        "--trained-until", formats=["%Y-%m-%d"],
        help="the as-of the model was trained for: its labels were known before that day's prediction time "
             "(default: the as_of param of the run that logged it)")] = None,
    target: TargetOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Register any MLflow model as a new version @challenger of the use case's model.

    Its signature must take the model inputs of the use case's features (names and types; missing
    or extra columns are named). The version is evaluated on lakescore's test split of the training
    window before --trained-until and tagged with the feature set it expects; `lakescore run
    promote` then gates it like a trained model, and `score` runs it (a Spark ML pipeline natively,
    any other flavor through mlflow.pyfunc.spark_udf)."""
    from lakescore.training.register_model import register as register_model

    setup_logging()
    until = trained_until.date() if trained_until else None
    try:
        ctx = make_context(config, until or datetime.now().date(), target, overrides=overrides)
        out = register_model(ctx, model_uri, until)
    except EXPECTED_ERRORS as exc:
        fail(str(exc))
        return
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in sorted(out["test_metrics"].items()))
    typer.echo(f"registered {ctx.cfg.model.name} version {out['model_version']} @challenger "
               f"({out['flavor']}, predicts with {out['predict_fn']}), trained for as-of {out['as_of']}; "
               f"test rows {out['test_rows']}: {metrics}")
