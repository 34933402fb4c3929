"""The `stage_runs` table: how each stage last ran for an as-of (succeeded or failed, when it
started, how many seconds it took, a detail line: the error's first line when it failed), so
that an exporter (`lakescore metrics`) or a query can tell how long stages take and when each
last succeeded.

`lakescore.core.stage_runner.run_stages` records the stages a command ran in one write when the command
ends, a failed stage too: every `lakescore run ...`, `python -m lakescore.jobs.<stage>`, `spark-submit
jobs/<stage>.py` and Databricks task. A write replaces the rows of its as-of x stage pairs (one
replaceWhere commit, not a MERGE), so a re-run replaces the run before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from lakescore.transforms.columns import AS_OF, STAGE
from lakescore.transforms.schemas import STAGE_RUNS
from lakescore.transforms.sqltext import all_of, any_of, eq, in_list

KEYS = [AS_OF, STAGE]


@dataclass(frozen=True)
class StageRun:
    as_of: date
    stage: str
    status: str                  # transforms.columns.SUCCEEDED or FAILED, or a backfill's skipped
    started_at: datetime | None  # naive UTC, as Context.now(); None: skipped
    seconds: float | None
    detail: str | None = None    # the error's first line when it failed


def record(ctx, runs: list[StageRun]) -> int:
    """Write the runs into the use case's stage_runs table, replacing the rows of their as-of x
    stage pairs (one commit); returns the rows written."""
    if not runs:
        return 0
    rows = [(r.as_of, r.stage, r.status, r.started_at, None if r.seconds is None else round(r.seconds, 3), r.detail)
            for r in runs]  # a stage a backfill skipped has no start and no seconds
    df = ctx.spark.createDataFrame(rows, STAGE_RUNS.struct())
    by_stage: dict[str, set[date]] = {}
    for r in runs:
        by_stage.setdefault(r.stage, set()).add(r.as_of)
    scope = any_of(*(all_of(eq(STAGE, stage), in_list(AS_OF, sorted(days))) for stage, days in sorted(by_stage.items())))
    return ctx.tables.replace(df, ctx.cfg.tables.stage_runs, scope)
