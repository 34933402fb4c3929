"""`lakescore backfill`: the stages for every as-of of a range, in one Spark session, with
progress, resume and a summary table (lakescore.core.backfill)."""

from __future__ import annotations

import logging
import sys
import time
from datetime import date, datetime
from typing import Annotated

import typer

from lakescore.core.stage_runner import (
    EXPECTED_ERRORS,
    ConfigOpt,
    SetOpt,
    TargetOpt,
    fail,
    make_context,
    setup_logging,
)

log = logging.getLogger("lakescore.backfill")

DateOpt = Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="YYYY-MM-DD")]


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class LogProgress:
    """Plain log lines (stdout is not a terminal): one per stage and one per as-of."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.total = self.todo = self.finished = 0

    def begin(self, total: int, todo: int) -> None:
        self.total, self.todo = total, todo
        log.info("backfill: %d as-of(s), %d to run", total, todo)

    def stage(self, as_of: date, name: str) -> None:
        log.info("backfill: %s %s (%d/%d as-ofs done)", as_of, name, self.finished, self.todo)

    def eta(self) -> str:
        elapsed = time.perf_counter() - self.started
        left = self.todo - self.finished
        about = f", about {_clock(elapsed / self.finished * left)} left" if self.finished and left else ""
        return f"{self.finished}/{self.todo} done, {left} left, elapsed {_clock(elapsed)}{about}"

    def done(self, run) -> None:
        self.finished += 1
        log.info("backfill: %s %s in %.1fs (%s)", run.as_of, run.status, run.seconds, self.eta())

    def close(self) -> None:
        pass


class RichProgress(LogProgress):
    """A progress bar on the terminal (as-ofs done and left, the current as-of and stage, elapsed
    and estimated time); log lines print above it."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        super().__init__()
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("as-ofs"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                            redirect_stderr=True, redirect_stdout=True, refresh_per_second=2,
                            speed_estimate_period=10**7)  # as-ofs take minutes: estimate over the whole run
        self.task = None
        self.handlers: list[tuple[logging.StreamHandler, object]] = []

    def begin(self, total: int, todo: int) -> None:
        self.bar.start()
        # the log handlers hold the real stderr: send their lines through the bar's console
        for h in logging.getLogger().handlers:
            if isinstance(h, logging.StreamHandler):
                self.handlers.append((h, h.setStream(sys.stderr)))
        super().begin(total, todo)
        self.task = self.bar.add_task("backfill", total=todo)

    def stage(self, as_of: date, name: str) -> None:
        self.bar.update(self.task, description=f"{as_of} {name}")

    def done(self, run) -> None:
        super().done(run)
        self.bar.advance(self.task)

    def close(self) -> None:
        self.bar.stop()
        for h, stream in self.handlers:
            h.setStream(stream)


def _table(rows: list[dict]) -> str:
    head = ("as_of", "status", "seconds", "rows scored", "model version", "trained", "alerts")
    body = []
    for r in rows:
        alerts = ", ".join(f"{n} {s}" for s, n in sorted(r["alerts"].items())) or "0"
        body.append((str(r["as_of"]), r["status"], f"{r['seconds']:.1f}" if r["seconds"] else "-",
                     "-" if r["rows_scored"] is None else str(r["rows_scored"]), r["model_version"] or "-",
                     r["trained"] or "-", alerts))
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    errors = [f"{r['as_of']}: {r['error']}" for r in rows if r["error"]]
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body), *errors])


def backfill(
    config: ConfigOpt,
    start: Annotated[datetime, typer.Option("--start", formats=["%Y-%m-%d"], help="first as-of, YYYY-MM-DD")],
    end: Annotated[datetime, typer.Option("--end", formats=["%Y-%m-%d"], help="last as-of, YYYY-MM-DD")],
    stages: Annotated[str | None, typer.Option(
        "--stages", help="comma-separated stages to run (default: all six, in pipeline order)")] = None,
    every: Annotated[str, typer.Option("--every", help="one as-of every 1d or 7d from --start")] = "1d",
    rerun: Annotated[bool, typer.Option("--rerun", help="run the as-ofs a backfill finished before too")] = False,
    target: TargetOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Run the stages for every as-of from --start to --end, in order, in one Spark session.

    Train and promote run when the retraining policy (train.retrain) says so; a failure there
    does not stop scoring. Every stage is recorded in the stage_runs table: an as-of whose stages
    all succeeded is finished, and the same command after a failure resumes from the first as-of
    not finished (--rerun runs every as-of again; the stages are idempotent). Progress shows on a
    terminal (plain log lines otherwise); a summary table per as-of is printed at the end.

    \b
    lakescore backfill -c conf/flights.yml --start 2013-12-01 --end 2013-12-31
    lakescore backfill -c conf/flights.yml --start 2013-12-01 --end 2013-12-31 --stages score,monitor --every 7d
    """
    from lakescore.core import backfill as bf
    from lakescore.jobs.pipeline import STAGES, TRAINING
    from lakescore.jobs.pipeline import stages as pipeline_stages

    setup_logging()
    if every not in bf.EVERY:
        fail(f"--every {every}: use one of {', '.join(bf.EVERY)}")
    names = [s.strip() for s in stages.split(",") if s.strip()] if stages else None
    try:
        chosen = pipeline_stages(names)
        days = bf.as_ofs(start.date(), end.date(), bf.EVERY[every])
    except ValueError as exc:
        fail(str(exc))
    progress = RichProgress() if sys.stdout.isatty() else LogProgress()
    runs = stopped = None
    try:
        first = make_context(config, days[0], target, overrides=overrides)
        make = lambda day: first if day == first.as_of else make_context(config, day, target, overrides=overrides,
                                                                         cfg=first.cfg, quiet=True)
        try:
            runs = bf.backfill(make, days, chosen, TRAINING, progress, rerun=rerun)
        except bf.BackfillStopped as exc:
            runs, stopped = exc.runs, exc
        finally:
            progress.close()
        typer.echo(_table(bf.summary_rows(first, runs)))
    except EXPECTED_ERRORS as exc:
        fail(str(exc))
    total = sum(r.seconds for r in runs if r.status != bf.SKIPPED)
    ran = [r for r in runs if r.status != bf.SKIPPED]
    typer.echo(f"{len(ran)} as-of(s) run in {_clock(total)}" + (f", {total / len(ran):.1f}s per as-of" if ran else "")
               + f" (stages: {', '.join(n for n, _ in chosen) if names else ', '.join(STAGES)})")
    if stopped:
        fail(f"{stopped}; run the same command again to resume from {stopped.as_of}")
    failed = [str(r.as_of) for r in runs if r.status == bf.FAILED]
    if failed:
        fail(f"the training group failed for {', '.join(failed)} (scored with the current champion); "
             "run the same command again to retry them")
