"""stage_runs: every command that runs stages records them (succeeded or failed, with the first line
of the error), in one write when it ends; a re-run replaces the times of the run before it."""

from __future__ import annotations

from datetime import date

import pytest

from lakescore.errors import StageError
from lakescore.stage import StageFailed, run_stages
from tests.support import context, flights_config

AS_OF = date(2013, 12, 1)


def _ok(ctx) -> dict:
    return {}


def _broken(ctx) -> dict:
    raise StageError("table x.features: column dep_delay is missing\nsecond line")


def test_stages_are_recorded_once_per_stage_as_of_and_status(spark, lakescore_home, flights_files):
    ctx = context(flights_config(flights_files, "test_stage_runs"), AS_OF, lakescore_home)
    stages = [("features", _ok), ("train", _broken), ("promote", _ok), ("score", _ok)]
    with pytest.raises(StageFailed, match="stage train failed: table x.features: column dep_delay is missing"):
        run_stages(ctx, stages, isolated=("train", "promote"))
    table = "test_stage_runs.stage_runs"
    first = {r.stage: r for r in spark.table(table).collect()}
    assert set(first) == {"features", "train", "score"}            # promote was skipped: no run
    assert first["train"].status == "failed" and first["train"].error == "table x.features: column dep_delay is missing"
    assert first["score"].status == "succeeded" and first["score"].error is None
    assert all(r.as_of == AS_OF and r.started_at <= r.finished_at and r.duration_seconds >= 0 for r in first.values())

    run_stages(ctx, [("train", _ok)])                                # the fix: train succeeds now
    rows = spark.table(table).collect()
    assert sorted((r.stage, r.status) for r in rows) == [("features", "succeeded"), ("score", "succeeded"),
                                                         ("train", "failed"), ("train", "succeeded")]
    run_stages(ctx, [("train", _ok), ("score", _ok)])                # re-runs replace, never add
    again = {(r.stage, r.status): r for r in spark.table(table).collect()}
    assert len(again) == 4
    assert again[("score", "succeeded")].finished_at >= first["score"].finished_at
    assert again[("train", "failed")].finished_at == first["train"].finished_at
