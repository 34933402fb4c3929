"""stage_runs: every command that runs stages records them (succeeded or failed, with the first line
of the error), in one write when it ends; a re-run of a stage replaces its row for the as-of."""

from __future__ import annotations

from datetime import date

import pytest

from lakescore.core.errors import StageError
from lakescore.core.stage_runner import StageFailed, run_stages
from tests.support import context, flights_config

AS_OF = date(2013, 12, 1)


def _ok(ctx) -> dict:
    return {}


def _broken(ctx) -> dict:
    raise StageError("table x.features: column dep_delay is missing\nsecond line")


def test_stages_are_recorded_once_per_as_of_and_stage(spark, lakescore_home, flights_files):
    ctx = context(flights_config(flights_files, "test_stage_runs"), AS_OF, lakescore_home)
    stages = [("features", _ok), ("train", _broken), ("promote", _ok), ("score", _ok)]
    with pytest.raises(StageFailed, match="stage train failed: table x.features: column dep_delay is missing"):
        run_stages(ctx, stages, isolated=("train", "promote"))
    table = "test_stage_runs.stage_runs"
    first = {r.stage: r for r in spark.table(table).collect()}
    assert set(first) == {"features", "train", "score"}            # promote was skipped: no run
    assert first["train"].status == "failed" and first["train"].detail == "table x.features: column dep_delay is missing"
    assert first["score"].status == "succeeded" and first["score"].detail is None
    assert all(r.as_of == AS_OF and r.seconds >= 0 and r.started_at is not None for r in first.values())

    run_stages(ctx, [("train", _ok), ("score", _ok)])                # the fix: train succeeds now
    again = {r.stage: r for r in spark.table(table).collect()}
    assert {s: r.status for s, r in again.items()} == {"features": "succeeded", "train": "succeeded",
                                                       "score": "succeeded"}
    assert again["train"].detail is None and again["score"].started_at >= first["score"].started_at
    assert again["features"] == first["features"]                    # not run again: untouched

    run_stages(ctx, [("monitor", _ok)], record=False)                # the caller records (a backfill)
    assert spark.table(table).count() == 3
