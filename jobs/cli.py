"""The `lakescore` command line: run stages, query tables, set up spark-submit."""

from __future__ import annotations

import csv
import importlib
import json
import logging
import re
import sys
import time
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from jobs.config import ConfigError, load_config
from jobs.feature_docs import features_app

STAGES = ["ingest", "features", "train", "promote", "score", "monitor"]

app = typer.Typer(
    help="lakescore: batch offline inference on Spark, Delta Lake and MLflow.\n\n"
    "Every stage reads the use case's YAML (--config) and works for one logical date (--as-of), "
    "so a scheduler can run, re-run and backfill any day.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(features_app, name="features")

StageName = Enum("StageName", {s: s for s in [*STAGES, "all"]}, type=str)  # type: ignore[misc]

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="use-case YAML, e.g. conf/flights.yml",
                                         exists=False)]
AsOfOpt = Annotated[datetime, typer.Option("--as-of", formats=["%Y-%m-%d"],
                                           help="logical date YYYY-MM-DD the stage works for")]
TargetOpt = Annotated[Optional[str], typer.Option("--target", "-t",
                                                  help="apply targets.<name> overrides from the config")]


def _setup_logging() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("lakescore").setLevel(logging.INFO)
    for noisy in ("py4j", "mlflow", "alembic", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _fail(message: str) -> None:
    typer.echo(f"lakescore: error: {message}", err=True)
    raise typer.Exit(code=1)


def _context(config: Path, as_of: date, target: str | None):
    from jobs.runtime import Context, local_home

    cfg = load_config(config, target=target)
    return Context(cfg=cfg, as_of=as_of, config_path=str(config), target=target, home=local_home(cfg))


def run_stages(ctx, stages: list[str]) -> dict:
    """Run stages in order in one process (one Spark session); returns each stage's summary."""
    log = logging.getLogger("lakescore")
    results = {}
    for stage in stages:
        started = time.perf_counter()
        log.info("stage %s: start (use case %s, as-of %s)", stage, ctx.cfg.name, ctx.as_of)
        module = importlib.import_module(f"jobs.{stage}")
        results[stage] = module.run(ctx)
        log.info("stage %s: done in %.1fs", stage, time.perf_counter() - started)
    return results


def _expected_errors() -> tuple[type[BaseException], ...]:
    from jobs.features import FeatureError
    from jobs.ingest import IngestError
    from jobs.promote import PromoteError
    from jobs.score import ScoreError
    from jobs.train import TrainError

    return (ConfigError, LookupError, IngestError, FeatureError, TrainError, PromoteError, ScoreError)


@app.command()
def run(
    stage: Annotated[StageName, typer.Argument(help="ingest | features | train | promote | score | monitor | all")],
    config: ConfigOpt,
    as_of: AsOfOpt,
    target: TargetOpt = None,
) -> None:
    """Run one stage (or `all`, in order) for a use case and an as-of date.

    \b
    ingest    raw_<source> -> clean_<source>, quarantine, data_quality (lands the demo files)
    features  clean entity rows -> features (entity x as_of, point in time)
    train     features + known labels -> MLflow run, model version @challenger
    promote   gate the challenger -> model_validations, @champion when it passes
    score     @champion scores every catalog entity of the as-of -> predictions
    monitor   predictions + labels -> slice_metrics
    """
    _setup_logging()
    try:
        ctx = _context(config, as_of.date(), target)
        run_stages(ctx, STAGES if stage.value == "all" else [stage.value])
    except _expected_errors() as exc:
        _fail(str(exc))


# ------------------------------------------------------------------------------- sql
class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


_READ_ONLY_START = re.compile(r"^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|VALUES|TABLE|FROM)\b", re.IGNORECASE)
_READ_ONLY_COMMANDS = re.compile(r"^(Show|Describe)")


def _strip_comments(query: str) -> str:
    query = re.sub(r"/\*.*?\*/", " ", query, flags=re.DOTALL)
    return re.sub(r"--[^\n]*", " ", query).strip().rstrip(";").strip()


def check_read_only(spark, query: str) -> str:
    """Return the query if it only reads (SELECT, SHOW, DESCRIBE); raise ValueError otherwise.
    Spark's own parser decides: a query plan that writes nothing, or a SHOW/DESCRIBE command."""
    text = _strip_comments(query)
    if not _READ_ONLY_START.match(text):
        raise ValueError("only read-only queries are allowed (SELECT, SHOW, DESCRIBE): "
                         f"refused {text.split()[0] if text else 'an empty query'!r}")
    from pyspark.errors import ParseException

    try:
        plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(text)
    except ParseException as exc:
        raise ValueError(f"cannot parse the query: {str(exc).strip().splitlines()[0]}") from None
    name = plan.getClass().getSimpleName()
    command = spark._jvm.java.lang.Class.forName("org.apache.spark.sql.catalyst.plans.logical.Command")
    writes = re.search(r"InsertInto|CreateTable|ReplaceTable|Merge|Delete|Update|Drop|Alter|Cache|Overwrite",
                       plan.treeString())
    if command.isInstance(plan):
        if not _READ_ONLY_COMMANDS.match(name):
            raise ValueError(f"only read-only queries are allowed (SELECT, SHOW, DESCRIBE): refused {name}")
    elif writes:
        raise ValueError(f"only read-only queries are allowed (SELECT, SHOW, DESCRIBE): the query contains {writes.group(0)}")
    return text


def _cell(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 6)
    if hasattr(value, "asDict"):
        return {k: _cell(v) for k, v in value.asDict().items()}
    if isinstance(value, list):
        return [_cell(v) for v in value]
    if isinstance(value, dict):
        return {k: _cell(v) for k, v in value.items()}
    return value


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SELECT, SHOW or DESCRIBE; table names resolve in the use case's schema")],
    config: ConfigOpt,
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table for people, csv/json for scripts")] = OutputFormat.table,
    limit: Annotated[int, typer.Option(help="most rows to print (0: all)")] = 1000,
    target: TargetOpt = None,
) -> None:
    """Run a read-only SQL query in the use case's schema and print the result."""
    _setup_logging()
    logging.getLogger("lakescore").setLevel(logging.WARNING)
    try:
        ctx = _context(config, date.today(), target)
        spark, store = ctx.spark, ctx.tables
        text = check_read_only(spark, query)
        if ctx.databricks and ctx.cfg.storage.catalog:
            spark.sql(f"USE CATALOG `{ctx.cfg.storage.catalog}`")
        if not spark.catalog.databaseExists(store.display_schema):
            _fail(f"schema {store.display_schema} does not exist yet: run `lakescore run all` first")
        spark.catalog.setCurrentDatabase(ctx.cfg.storage.schema_name)
        df = spark.sql(text)
    except ConfigError as exc:
        _fail(str(exc))
    except ValueError as exc:
        _fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - Spark's analysis errors name the table or column
        _fail(str(exc).strip().splitlines()[0])
    if limit:
        df = df.limit(limit + 1)  # one more row tells whether the output was cut
    columns = df.columns
    rows = _limited(df.toLocalIterator(), limit)  # streamed: the driver holds one partition at a time
    if format == OutputFormat.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([json.dumps(_cell(v)) if isinstance(v, (list, dict)) or hasattr(v, "asDict")
                             else _cell(v) for v in row])
    elif format == OutputFormat.json:
        sys.stdout.write("[")
        for i, row in enumerate(rows):
            sys.stdout.write(("," if i else "") + "\n" + json.dumps({c: _cell(v) for c, v in zip(columns, row)}))
        sys.stdout.write("\n]\n")
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(*columns)
        for row in rows:
            table.add_row(*["NULL" if v is None else str(_cell(v)) for v in row])
        Console(width=max(120, 14 * len(columns))).print(table)
    if rows.truncated:
        typer.echo(f"(first {limit} rows; use --limit 0 for all)", err=True)


class _limited:
    """Iterate at most `limit` rows (all when 0); `truncated` tells whether more were there."""

    def __init__(self, rows, limit: int):
        self.rows, self.limit, self.truncated = rows, limit, False

    def __iter__(self):
        for i, row in enumerate(self.rows):
            if self.limit and i >= self.limit:
                self.truncated = True
                return
            yield row


contract_app = typer.Typer(
    help="Data contracts: the schema and rules a source's raw data must satisfy (sources.<name> in "
    "the config).", no_args_is_help=True)
app.add_typer(contract_app, name="contract")


@contract_app.command("infer")
def contract_infer(
    config: ConfigOpt,
    source: Annotated[str, typer.Option("--source", "-s", help="source name: reads raw_<source>, or its landing file")],
    sample_rows: Annotated[int, typer.Option(help="infer from a random sample of this many rows (0: all)")] = 0,
    max_domain_size: Annotated[int, typer.Option(help="largest number of distinct strings given a domain")] = 50,
    target: TargetOpt = None,
) -> None:
    """Print a draft contract inferred from a source's raw data, to review and paste under
    sources.<source> (types, required columns, domains, ranges). Writes nothing."""
    _setup_logging()
    logging.getLogger("lakescore").setLevel(logging.WARNING)
    try:
        from jobs.contract import infer
        from jobs.ingest import IngestError

        ctx = _context(config, date.today(), target)
        text = infer(ctx, source, sample_rows=sample_rows, max_domain_size=max_domain_size)
    except (ConfigError, IngestError, LookupError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(text, nl=False)


@app.command("spark-defaults")
def spark_defaults() -> None:
    """Write Delta's package into pyspark's spark-defaults.conf, so `spark-submit jobs/<stage>.py`
    gets Delta like `lakescore run` does (make does this once)."""
    from jobs.runtime import write_spark_defaults

    typer.echo(f"wrote {write_spark_defaults()}")


def stage_main(stage: str) -> None:
    """Entry point of `python -m jobs.<stage>` and `spark-submit jobs/<stage>.py`."""

    def command(config: ConfigOpt, as_of: AsOfOpt, target: TargetOpt = None) -> None:
        run(StageName(stage), config, as_of, target)

    command.__doc__ = f"Run the {stage} stage for a use case and an as-of date."
    typer.run(command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
