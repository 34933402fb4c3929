"""The reliability suite's reference home: the tiny use case run stage by stage, uninterrupted,
each stage twice (tests/reliability/harness.py). Session-scoped: the kill, re-run and broken
model tests all start from it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.reliability import harness as h

# Each stage once, in order, then again (*) for the same as-of. Train runs again after promote:
# with @champion in place its retraining policy says a second train is not due.
SEQUENCE = ["ingest", "ingest*", "features", "features*", "train", "promote", "train*", "promote*",
            "score", "score*", "monitor", "monitor*"]


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """LAKESCORE_RELIABILITY_DIR=<folder> keeps the reference there and reuses it on the next run
    (for working on the suite; CI builds it afresh in a temporary folder)."""
    kept = os.environ.get("LAKESCORE_RELIABILITY_DIR")
    folder = Path(kept) if kept else tmp_path_factory.mktemp("tiny")
    saved = folder / "reference.json"
    if kept and saved.exists():
        ref = json.loads(saved.read_text())
        return {**ref, "folder": folder, "config": folder / "tiny.yml", "home": folder / "reference_home"}
    config = h.write_use_case(folder)
    home = folder / "reference_home"
    seconds, commits, timelines, versions = {}, {}, {}, {}
    for step in SEQUENCE:
        stage, again = step.rstrip("*"), step.endswith("*")
        before = {name: h.read_delta_rs(path)[0] for name, path in h.tables(home).items()}
        run = h.run_and_kill(h.command(stage, config), home, None)
        assert run.returncode == 0, run.output[-3000:]
        if again:
            versions[stage] = (before, {name: h.read_delta_rs(path)[0] for name, path in h.tables(home).items()})
        else:
            seconds[stage], commits[stage], timelines[stage] = run.seconds, run.new_log_entries, run.timeline
        print(f"\nreference {step}: {run.seconds:.1f}s, {run.new_log_entries} new log files")
    saved.write_text(json.dumps({"seconds": seconds, "commits": commits, "timelines": timelines,
                                 "versions": versions}))
    return {"folder": folder, "config": config, "home": home, "seconds": seconds, "commits": commits,
            "timelines": timelines, "versions": versions}
