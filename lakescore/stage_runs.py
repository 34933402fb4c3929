"""The `stage_runs` table: when each stage last ran for an as-of, how long it took and how it
ended, so that an exporter (`lakescore metrics`) or a query can tell how long stages take and
when each last succeeded.

`lakescore.stage.run_stages` records the stages a command ran in one write when the command
ends (a failed stage too, with the first line of its error): every `lakescore run ...`,
`python -m jobs.<stage>`, `spark-submit jobs/<stage>.py` and Databricks task. Rows are merged on
stage x as-of x status, so a re-run replaces the times of the run before it (the table holds the
newest succeeded and the newest failed run of each stage and as-of, whatever the re-runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from transforms.columns import AS_OF, STAGE, STATUS
from transforms.schemas import STAGE_RUNS

KEYS = [STAGE, AS_OF, STATUS]


@dataclass(frozen=True)
class StageRun:
    stage: str
    as_of: date
    status: str                  # transforms.columns.SUCCEEDED or FAILED
    started_at: datetime         # naive UTC, as Context.now()
    finished_at: datetime
    seconds: float
    error: str | None = None


def record(ctx, runs: list[StageRun]) -> int:
    """Merge the runs into the use case's stage_runs table (one commit); returns the rows written."""
    if not runs:
        return 0
    rows = [(r.stage, r.as_of, r.status, r.started_at, r.finished_at, round(r.seconds, 3), r.error) for r in runs]
    df = ctx.spark.createDataFrame(rows, STAGE_RUNS.struct())
    return ctx.tables.merge(df, ctx.cfg.tables.stage_runs, KEYS)

