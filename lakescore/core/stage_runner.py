"""Running stages: the error a stage raises for an expected problem, the stage context, logging,
running stages in order in one session, and the `python -m lakescore.jobs.<stage>` entry point.

This module knows no stage: `lakescore.jobs.pipeline` lists them, the CLI passes them in. A stage raises a
`StageError` (or a `ConfigError`, a `LookupError` for a missing table) with one line that names
the table, column or key; the entry points print that line and exit 1.

Stages can be run as an *isolated* group (train and promote in `lakescore run all`): when one of
them fails, the rest of the group is skipped, the other stages still run (scoring never waits on
a training failure), and the run then fails naming the stage that failed.

When the stages of a command end, their runs (as-of, stage, succeeded or failed, start, seconds,
the error's first line) go to the use case's `stage_runs` table in one write (`lakescore.core.stage_runs`);
`record=False` leaves that to the caller.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from lakescore.config import ConfigError, load_config
from lakescore.core.errors import StageError
from lakescore.core.stage_result import StageResult

log = logging.getLogger("lakescore")

Stage = Callable[..., StageResult]  # lakescore.jobs.<stage>.run


EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ConfigError, LookupError, StageError)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="use-case YAML, e.g. conf/flights.yml",
                                         exists=False)]
AsOfOpt = Annotated[datetime, typer.Option("--as-of", formats=["%Y-%m-%d"],
                                           help="logical date YYYY-MM-DD the stage works for")]
TargetOpt = Annotated[str | None, typer.Option("--target", "-t",
                                                  help="apply targets.<name> overrides from the config")]
ForceOpt = Annotated[bool, typer.Option("--force", help="train even when the retraining policy (train.retrain) "
                                                         "says it is not due")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", metavar="KEY.PATH=VALUE", help="override a config key (repeatable), validated like the file: "
    "--set model.params.regParam=0.1 --set train.window_days=60")]


class StageFailed(StageError):
    """A stage of an isolated group failed; the stages outside the group ran."""


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


def make_context(config: Path, as_of: date, target: str | None, force: bool = False,
                 overrides: list[str] | None = None, *, cfg=None, quiet: bool = False):
    """The validated config (the file, its target, then the `--set` overrides) and runtime of a
    run (the Spark session starts when first used); `cfg` reuses a config loaded before."""
    from lakescore.config.overrides import overrides_mapping
    from lakescore.core.runtime import Context, local_home

    if cfg is None:
        cfg = load_config(config, target=target, overrides=overrides_mapping(overrides))
    if overrides and not quiet:
        log.info("config %s: overrides %s", config, " ".join(f"--set {o}" for o in overrides))
    return Context(cfg=cfg, as_of=as_of, config_path=str(config), target=target, home=local_home(cfg), force=force,
                   overrides=tuple(overrides or ()))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def run_stages(ctx, stages: Iterable[tuple[str, Stage]], isolated: Iterable[str] = (), record: bool = True) -> dict:
    """Run stages in order in one process (one Spark session); returns each stage's summary.
    A failure in an `isolated` stage skips the rest of that group, lets the others run, and is
    raised at the end as `StageFailed` naming the stage."""
    isolated = set(isolated)
    results: dict = {}
    failed: tuple[str, BaseException] | None = None
    runs: list = []
    try:
        for name, run in stages:
            if failed and name in isolated:
                log.warning("stage %s: skipped: stage %s failed", name, failed[0])
                continue
            started, began = time.perf_counter(), ctx.now()
            log.info("stage %s: start (use case %s, as-of %s)", name, ctx.cfg.name, ctx.as_of)
            try:
                results[name] = run(ctx)
            except Exception as exc:
                runs.append(_stage_run(ctx, name, began, started, exc))
                if name not in isolated:
                    raise
                failed = (name, exc)
                if isinstance(exc, EXPECTED_ERRORS):
                    log.error("stage %s failed: %s", name, _first_line(exc))
                else:
                    log.exception("stage %s failed", name)
                continue
            runs.append(_stage_run(ctx, name, began, started))
            log.info("stage %s: done in %.1fs", name, time.perf_counter() - started)
    finally:
        if record:
            _record(ctx, runs)
    if failed:
        name, exc = failed
        after = [n for n, _ in stages if n not in isolated and n in results]
        ran = f" ({', '.join(after)} ran with the current champion)" if after else ""
        raise StageFailed(f"stage {name} failed: {_first_line(exc)}{ran}") from exc
    return results


def _stage_run(ctx, name: str, began: datetime, started: float, exc: BaseException | None = None):
    from lakescore.core.stage_runs import StageRun
    from lakescore.transforms.columns import FAILED, SUCCEEDED

    return StageRun(ctx.as_of, name, FAILED if exc else SUCCEEDED, began, time.perf_counter() - started,
                    _first_line(exc) if exc else None)


def _record(ctx, runs: list) -> None:
    """Write the command's stage runs to stage_runs; a failure to record never hides the stage's
    own outcome (it is logged)."""
    if not runs:
        return
    try:
        from lakescore.core.stage_runs import record

        record(ctx, runs)
    except Exception as exc:  # noqa: BLE001 - the stage's result (or error) matters more
        log.warning("stage_runs: could not record %d run(s): %s", len(runs), _first_line(exc))


def run_command(stages: Iterable[tuple[str, Stage]], config: Path, as_of: datetime, target: str | None,
                force: bool = False, isolated: Iterable[str] = (), overrides: list[str] | None = None) -> dict:
    """What `lakescore run` and the stage entry points do: build the context, run, and turn an
    expected error into one line and exit code 1."""
    setup_logging()
    stages = list(stages)
    try:
        ctx = make_context(config, as_of.date(), target, force, overrides)
        for _, run in stages:
            # what a stage can check before the session starts (ingest: its landings exist)
            preflight = getattr(run, "preflight", None)
            if preflight is not None:
                preflight(ctx.cfg)
        return run_stages(ctx, stages, isolated)
    except EXPECTED_ERRORS as exc:
        fail(str(exc))
    return {}


def stage_main(name: str, run: Stage, force_option: bool = False) -> None:
    """Entry point of `python -m lakescore.jobs.<stage>` and `spark-submit jobs/<stage>.py`; `force_option`
    adds `--force` (train)."""

    if force_option:
        def command(config: ConfigOpt, as_of: AsOfOpt, target: TargetOpt = None, force: ForceOpt = False,
                    overrides: SetOpt = None) -> None:
            run_command([(name, run)], config, as_of, target, force, overrides=overrides)
    else:
        def command(config: ConfigOpt, as_of: AsOfOpt, target: TargetOpt = None,  # type: ignore[misc]
                    overrides: SetOpt = None) -> None:
            run_command([(name, run)], config, as_of, target, overrides=overrides)

    command.__doc__ = f"Run the {name} stage for a use case and an as-of date."
    typer.run(command)
