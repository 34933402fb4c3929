"""Running stages: the error a stage raises for an expected problem, the stage context, logging,
running stages in order in one session, and the `python -m jobs.<stage>` entry point.

This module knows no stage: `jobs.pipeline` lists them, the CLI passes them in. A stage raises a
`StageError` (or a `ConfigError`, a `LookupError` for a missing table) with one line that names
the table, column or key; the entry points print that line and exit 1.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Callable, Iterable, Optional

import typer

from lakescore.config import ConfigError, load_config
from lakescore.errors import StageError

log = logging.getLogger("lakescore")

Stage = Callable[..., dict]


EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ConfigError, LookupError, StageError)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="use-case YAML, e.g. conf/flights.yml",
                                         exists=False)]
AsOfOpt = Annotated[datetime, typer.Option("--as-of", formats=["%Y-%m-%d"],
                                           help="logical date YYYY-MM-DD the stage works for")]
TargetOpt = Annotated[Optional[str], typer.Option("--target", "-t",
                                                  help="apply targets.<name> overrides from the config")]


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("lakescore").setLevel(level)
    for noisy in ("py4j", "mlflow", "alembic", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def fail(message: str) -> None:
    """Print one error line and exit 1."""
    typer.echo(f"lakescore: error: {message}", err=True)
    raise typer.Exit(code=1)


def make_context(config: Path, as_of: date, target: str | None):
    """The validated config and runtime of a run (the Spark session starts when first used)."""
    from lakescore.runtime import Context, local_home

    cfg = load_config(config, target=target)
    return Context(cfg=cfg, as_of=as_of, config_path=str(config), target=target, home=local_home(cfg))


def run_stages(ctx, stages: Iterable[tuple[str, Stage]]) -> dict:
    """Run stages in order in one process (one Spark session); returns each stage's summary."""
    results = {}
    for name, run in stages:
        started = time.perf_counter()
        log.info("stage %s: start (use case %s, as-of %s)", name, ctx.cfg.name, ctx.as_of)
        results[name] = run(ctx)
        log.info("stage %s: done in %.1fs", name, time.perf_counter() - started)
    return results


def run_command(stages: Iterable[tuple[str, Stage]], config: Path, as_of: datetime, target: str | None) -> dict:
    """What `lakescore run` and the stage entry points do: build the context, run, and turn an
    expected error into one line and exit code 1."""
    setup_logging()
    try:
        ctx = make_context(config, as_of.date(), target)
        return run_stages(ctx, stages)
    except EXPECTED_ERRORS as exc:
        fail(str(exc))
    return {}


def stage_main(name: str, run: Stage) -> None:
    """Entry point of `python -m jobs.<stage>` and `spark-submit jobs/<stage>.py`."""

    def command(config: ConfigOpt, as_of: AsOfOpt, target: TargetOpt = None) -> None:
        run_command([(name, run)], config, as_of, target)

    command.__doc__ = f"Run the {name} stage for a use case and an as-of date."
    typer.run(command)
