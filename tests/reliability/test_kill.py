"""Kill -9 of every writing stage, each a `python -m lakescore run` subprocess on the
tiny use case (tests/reliability/harness.py).

The reference home (conftest.py) times each stage uninterrupted and counts its new Delta log
files. The kill home runs each stage killed with SIGKILL (the Python process and its JVM) at seeded
points until 5 kills have landed: when the k-th new Delta log file appears (on a commit) or
after a fraction of the stage's uninterrupted time. After every kill each table is read by
delta-rs and no as-of group is partial, and no model alias points at a missing version or
artifact; after the stage's kills every table is read by Spark; then the stage runs to the end.
Once every stage has run, the kill home's tables equal the reference's (chispa, the
run-varying columns of harness.RUN_VARYING left out)."""

from __future__ import annotations

import time

import pytest

from tests.reliability import harness as h

pytestmark = pytest.mark.reliability
KILLS_PER_STAGE = 5


@pytest.mark.xfail(strict=False, reason=(
    "known bug: train killed after registering version N @challenger and writing its model_metrics, "
    "before feature_reports, leaves N's model_metrics rows for the as-of; the re-run trains N+1 and the "
    "as-of holds both (60 rows, an uninterrupted run has 30). Ingest and features pass 5 kills each."))
def test_kill_9_at_seeded_points_then_rerun_equals_an_uninterrupted_run(spark, reference, tmp_path):
    config, ref_home = reference["config"], reference["home"]
    ref = h.reference_counts(ref_home)
    home = tmp_path / "killed_home"
    started, report = time.monotonic(), {}
    for index, stage in enumerate(h.STAGES):
        kills, points = [], h.kill_points(seed=100 + index, seconds=reference["seconds"][stage],
                                          commits=reference["commits"][stage], n=10)
        for point in points:
            outcome = h.run_and_kill(h.command(stage, config), home, point)
            if not outcome.killed:
                assert outcome.returncode == 0, outcome.output[-3000:]
                continue
            kills.append(f"{outcome.point} ({outcome.seconds:.1f}s, {outcome.new_log_entries} log files)")
            assert h.partial_groups(home, ref) == [], f"{stage} killed {outcome.point}"
            assert h.dangling_aliases(home) == [], f"{stage} killed {outcome.point}"
            if len(kills) == KILLS_PER_STAGE:
                break
        assert len(kills) == KILLS_PER_STAGE, f"{stage}: only {len(kills)} kill(s) landed: {kills}"
        for name, path in h.tables(home).items():
            spark.read.format("delta").load(str(path)).count()     # readable by Spark too
        rerun = h.run_and_kill(h.command(stage, config), home, None)
        assert rerun.returncode == 0, f"{stage} re-run after kills:\n{rerun.output[-3000:]}"
        report[stage] = kills
        print(f"\n{stage}: {len(kills)} kills: {'; '.join(kills)}")
    assert h.dangling_aliases(home) == []
    latest = lambda home_: {n: h.read_delta_rs(p)[0] for n, p in h.tables(home_).items()}  # noqa: E731
    compared = h.assert_same_tables(spark, ref_home, latest(ref_home), home, latest(home),
                                   "killed then re-run vs uninterrupted")
    print(f"\nkill -9: {sum(len(k) for k in report.values())} kills over {len(report)} stages in "
          f"{time.monotonic() - started:.0f}s; {compared} tables compared with the uninterrupted run")
