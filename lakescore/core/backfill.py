"""Backfills: the stages of a use case for every as-of of a range, in order, in one Spark session.

Each as-of runs like `lakescore run` would run it (train and promote as the isolated training
group: they train only when the retraining policy says so, and a failure there never stops score
and monitor). What each stage did is recorded in the `stage_runs` table (one row per as-of and
stage: status, start, seconds, a detail line), merged on (as_of, stage) once the as-of is over.

**Finished** means: `stage_runs` holds a `succeeded` row for every stage the backfill runs. A
backfill skips the finished as-ofs of its range, so after a failure the same command resumes
from the first as-of not finished; `rerun=True` runs every as-of again (the stages are
idempotent: the tables end as one run would leave them). A stage that fails outside the training
group stops the backfill at that as-of; a training-group failure is recorded, leaves the as-of
not finished and the backfill goes on (the next as-ofs score with the current champion).

This module knows no stage: the CLI passes them in (`lakescore.jobs.pipeline`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Protocol

from pyspark.sql import functions as F

from lakescore.core.runtime import Context
from lakescore.core.stage_result import StageResult
from lakescore.core.stage_runner import EXPECTED_ERRORS, Stage, StageFailed, run_stages
from lakescore.transforms.columns import AS_OF, FAILED, MODEL_VERSION, STAGE, STATUS, SUCCEEDED
from lakescore.transforms.sqltext import all_of, dates_predicate, eq, in_list

log = logging.getLogger("lakescore.backfill")

SKIPPED = "skipped"
EVERY = {"1d": 1, "7d": 7}


def as_ofs(start: date, end: date, every_days: int = 1) -> list[date]:
    """The as-ofs of [start, end], one every `every_days` days from start."""
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    return [start + timedelta(days=i) for i in range(0, (end - start).days + 1, every_days)]


@dataclass
class AsOfRun:
    """How one as-of of a backfill went."""

    as_of: date
    status: str = SUCCEEDED               # succeeded | failed | skipped (finished by an earlier backfill)
    seconds: float = 0.0
    stages: dict[str, dict] = field(default_factory=dict)   # stage -> its summary
    error: str | None = None

    @property
    def trained(self) -> str | None:
        train = self.stages.get("train") or {}
        return str(train["model_version"]) if train.get("trained") else None


class Progress(Protocol):
    def begin(self, total: int, todo: int) -> None: ...
    def stage(self, as_of: date, name: str) -> None: ...
    def done(self, run: AsOfRun) -> None: ...


def finished(ctx: Context, days: list[date], stages: list[str]) -> set[date]:
    """The as-ofs of `days` whose every stage of `stages` has succeeded (stage_runs)."""
    store, table = ctx.tables, ctx.cfg.tables.stage_runs
    if not days or not store.exists(table):
        return set()
    rows = (store.read(table, where=all_of(dates_predicate(AS_OF, days), in_list(STAGE, stages),
                                           eq(STATUS, SUCCEEDED)), count=False)
            .groupBy(AS_OF).agg(F.countDistinct(STAGE).alias("n"))
            .where(F.col("n") == len(stages)).select(AS_OF).collect())  # at most one row per day of the range
    return {r[AS_OF] for r in rows}


def _record(ctx: Context, rows: list[tuple]) -> None:
    """Merge one as-of's stage rows into stage_runs (a re-run replaces them)."""
    from lakescore.core.stage_runs import StageRun, record

    record(ctx, [StageRun(*row) for row in rows])



def run_as_of(ctx: Context, stages: list[tuple[str, Stage]], isolated: Iterable[str],
              on_stage: Callable[[str], None]) -> AsOfRun:
    """Run the stages for ctx.as_of and record them in stage_runs; a failure outside the
    isolated group is raised after its row is recorded."""
    out = AsOfRun(ctx.as_of)
    rows: list[tuple] = []
    began = time.perf_counter()

    def wrap(name: str, run: Stage) -> Stage:
        def timed(c: Context) -> StageResult:
            on_stage(name)
            started, t0 = Context.now(), time.perf_counter()
            try:
                result = run(c)
            except Exception as exc:
                rows.append((c.as_of, name, FAILED, started, time.perf_counter() - t0, _first_line(exc)))
                raise
            rows.append((c.as_of, name, SUCCEEDED, started, time.perf_counter() - t0, getattr(result, "detail", None)))
            return result
        return timed

    names = [n for n, _ in stages]
    try:
        out.stages = run_stages(ctx, [(n, wrap(n, r)) for n, r in stages], isolated, record=False)
    except StageFailed as exc:      # the training group failed; the other stages ran
        out.status, out.error = FAILED, _first_line(exc)
        out.stages = {}
    except Exception as exc:
        out.status, out.error = FAILED, _first_line(exc)
        _skipped(ctx, rows, names)
        _record(ctx, rows)
        raise
    _skipped(ctx, rows, names)
    _record(ctx, rows)
    out.seconds = time.perf_counter() - began
    return out


def _skipped(ctx: Context, rows: list[tuple], names: list[str]) -> None:
    ran = {r[1] for r in rows}
    rows.extend((ctx.as_of, n, SKIPPED, None, None, "an earlier stage failed") for n in names if n not in ran)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() if isinstance(exc, EXPECTED_ERRORS) else f"{type(exc).__name__}: {exc}"
    return (text.splitlines() or [type(exc).__name__])[0][:1000]


def backfill(make_ctx: Callable[[date], Context], days: list[date], stages: list[tuple[str, Stage]],
             isolated: Iterable[str], progress: Progress, rerun: bool = False) -> list[AsOfRun]:
    """Run `stages` for every day of `days` not finished yet (every day with `rerun`), in order;
    returns one AsOfRun per day. A failure outside the isolated group stops the backfill: its
    as-of is returned failed and the error is raised (`BackfillStopped`)."""
    names = [n for n, _ in stages]
    done = set() if rerun else finished(make_ctx(days[0]), days, names)
    todo = [d for d in days if d not in done]
    runs = {d: AsOfRun(d, status=SKIPPED) for d in days if d in done}
    progress.begin(len(days), len(todo))
    if done:
        log.info("backfill: %d of %d as-of(s) finished by an earlier backfill, skipped (--rerun runs them again)",
                 len(done), len(days))
    for day in todo:
        ctx = make_ctx(day)
        try:
            run = run_as_of(ctx, stages, isolated, lambda name, d=day: progress.stage(d, name))
        except Exception as exc:
            runs[day] = AsOfRun(day, status=FAILED, error=_first_line(exc))
            progress.done(runs[day])
            raise BackfillStopped(day, [runs[d] for d in days if d in runs], exc) from exc
        runs[day] = run
        progress.done(run)
    return [runs[d] for d in days]


class BackfillStopped(Exception):
    def __init__(self, as_of: date, runs: list[AsOfRun], cause: BaseException):
        super().__init__(f"backfill stopped at {as_of}: {_first_line(cause)}")
        self.as_of, self.runs, self.cause = as_of, runs, cause


def summary_rows(ctx: Context, runs: list[AsOfRun]) -> list[dict]:
    """Per as-of: status, seconds, rows scored and the scoring model version (from predictions),
    the version trained, and the alerts of the as-of by severity (from alerts)."""
    store, cfg = ctx.tables, ctx.cfg
    days = [r.as_of for r in runs]
    scored: dict[date, tuple[int, str]] = {}
    alerts: dict[date, dict[str, int]] = {}
    if days and store.exists(cfg.tables.predictions):
        for r in (store.read(cfg.tables.predictions, where=dates_predicate(AS_OF, days), count=False)
                  .groupBy(AS_OF).agg(F.count(F.lit(1)).alias("n"),
                                      F.array_join(F.array_sort(F.collect_set(MODEL_VERSION)), ",").alias("v"))
                  .collect()):  # one row per day of the range
            scored[r[AS_OF]] = (r["n"], r["v"])
    if days and store.exists(cfg.tables.alerts):
        for r in (store.read(cfg.tables.alerts, where=dates_predicate(AS_OF, days), count=False)
                  .groupBy(AS_OF, "severity").count().collect()):  # days x severities
            alerts.setdefault(r[AS_OF], {})[r["severity"]] = r["count"]
    out = []
    for run in runs:
        n, version = scored.get(run.as_of, (None, None))
        out.append({"as_of": run.as_of, "status": run.status, "seconds": run.seconds, "rows_scored": n,
                    "model_version": version, "trained": run.trained, "alerts": alerts.get(run.as_of, {}),
                    "error": run.error})
    return out
