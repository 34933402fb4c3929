"""Kill -9 of every writing stage, each a `python -m lakescore run` subprocess on the
tiny use case (tests/reliability/harness.py).

The reference home (conftest.py) times each stage uninterrupted and records when each of its new
Delta log files appeared. The kill home runs each stage killed with SIGKILL (the Python process
and its JVM) at seeded points drawn from that timeline (harness.kill_points) until 5 kills have
landed: when the k-th new Delta log file appears (on a commit), or at a time between the stage's
first write and its end (LAKESCORE_KILLS_PER_STAGE sets the count: `.ci/run` lands 1 per
stage, every stage still killed). A run that ends before its point is a completed run; the next points
are drawn from its own timeline (a re-run has less to write), at most MAX_RUNS_PER_STAGE runs
per stage. After every kill each table is read by
delta-rs and no as-of group is partial, and no model alias points at a missing version or
artifact; after the stage's kills every table is read by Spark; then the stage runs to the end.
Once every stage has run, the kill home's tables equal the reference's (chispa, the
run-varying columns of harness.RUN_VARYING left out)."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pytest

from tests.reliability import harness as h

pytestmark = pytest.mark.reliability
KILLS_PER_STAGE = int(os.environ.get("LAKESCORE_KILLS_PER_STAGE", "5"))
# runs of one stage before it gives up landing its kills (a run that ends before its point counts)
MAX_RUNS_PER_STAGE = 4 * KILLS_PER_STAGE
# LAKESCORE_KILL_STAGES=train,promote kills only those stages (the others run once, uninterrupted):
# for working on one stage; `make reliability` kills all six
KILLED = [s for s in os.environ.get("LAKESCORE_KILL_STAGES", ",".join(h.STAGES)).split(",") if s]


def test_kill_9_at_seeded_points_then_rerun_equals_an_uninterrupted_run(spark, reference, tmp_path):
    config, ref_home = reference["config"], reference["home"]
    ref = h.reference_counts(ref_home)
    home = tmp_path / "killed_home"
    started, report, runs = time.monotonic(), {}, {}
    for index, stage in enumerate(h.STAGES):
        stage_started, kills, completed = time.monotonic(), [], 0
        if stage not in KILLED:        # LAKESCORE_KILL_STAGES leaves it out: it runs once, uninterrupted
            run = h.run_and_kill(h.command(stage, config), home, None)
            assert run.returncode == 0, run.output[-3000:]
            continue
        # the newest run of this stage that ended: the reference's until one ends here
        last = SimpleNamespace(seconds=reference["seconds"][stage], new_log_entries=reference["commits"][stage],
                               timeline=reference.get("timelines", {}).get(stage, []))
        points = h.kill_points(seed=100 + index, seconds=last.seconds, timeline=last.timeline, n=KILLS_PER_STAGE + 3,
                               commits=last.new_log_entries)
        attempts = 0
        while len(kills) < KILLS_PER_STAGE and attempts < MAX_RUNS_PER_STAGE:
            if not points:             # more points, seeded, from the newest run of this stage that ended
                points = h.kill_points(seed=1000 * (index + 1) + attempts, seconds=last.seconds,
                                       timeline=last.timeline, n=KILLS_PER_STAGE - len(kills) + 1,
                                       commits=last.new_log_entries)
            outcome = h.run_and_kill(h.command(stage, config), home, points.pop(0))
            attempts += 1
            if not outcome.killed:     # it ended first: a completed run, the next kills hit re-runs
                assert outcome.returncode == 0, outcome.output[-3000:]
                completed += 1
                # a re-run may have less (or, train without @champion, as much) to do: the next
                # points come from this run, as it was timed here
                last, points = outcome, []
                continue
            kills.append(f"{outcome.point} ({outcome.new_log_entries} log files)")
            assert h.partial_groups(home, ref) == [], f"{stage} killed {outcome.point}"
            assert h.dangling_aliases(home) == [], f"{stage} killed {outcome.point}"
        assert len(kills) == KILLS_PER_STAGE, f"{stage}: only {len(kills)} kill(s) landed: {kills}"
        for path in h.tables(home).values():
            spark.read.format("delta").load(str(path)).count()     # readable by Spark too
        rerun = h.run_and_kill(h.command(stage, config), home, None)
        assert rerun.returncode == 0, f"{stage} re-run after kills:\n{rerun.output[-3000:]}"
        report[stage], runs[stage] = kills, completed
        print(f"\n{stage}: {len(kills)} kills, {completed} run(s) ended before their point, then the re-run; "
              f"{time.monotonic() - stage_started:.0f}s: {'; '.join(kills)}")
    assert h.dangling_aliases(home) == []
    latest = lambda home_: {n: h.read_delta_rs(p)[0] for n, p in h.tables(home_).items()}  # noqa: E731
    compared = h.assert_same_tables(spark, ref_home, latest(ref_home), home, latest(home),
                                   "killed then re-run vs uninterrupted")
    print(f"\nkill -9: {sum(len(k) for k in report.values())} kills over {len(report)} stages "
          f"({sum(runs.values())} runs ended before their point) in {time.monotonic() - started:.0f}s; "
          f"{compared} tables compared with the uninterrupted run")
