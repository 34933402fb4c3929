"""Re-runs of every writing stage, each a `python -m lakescore run` subprocess on the tiny use
case (tests/reliability/harness.py, reference in conftest.py): every stage run again for the
same as-of, and `run all` again, leave every table's data as it was (chispa, the run-varying
columns of harness.RUN_VARYING left out)."""

from __future__ import annotations

import pytest

from tests.reliability import harness as h

pytestmark = pytest.mark.reliability


def test_each_stage_run_twice_leaves_identical_tables(spark, reference):
    """A second run of a stage for the same as-of leaves every table's data as the first left it.
    For train, the retraining policy decides: with @champion in place a second train is not due
    and writes nothing; a second promote finds no new challenger and leaves the registry and
    model_validations as they were."""
    home = reference["home"]
    compared = 0
    for stage in h.STAGES:
        first, second = reference["versions"][stage]
        compared += h.assert_same_tables(spark, home, first, home, second, f"{stage} run twice")
    print(f"\nidempotence: 6 stages run twice, {compared} table states compared")
    assert h.dangling_aliases(home) == []


def test_run_all_again_leaves_identical_tables(spark, reference):
    home, config = reference["home"], reference["config"]
    before = {name: h.read_delta_rs(path)[0] for name, path in h.tables(home).items()}
    again = h.run_and_kill(h.command("all", config), home, None)
    assert again.returncode == 0, again.output[-3000:]
    after = {name: h.read_delta_rs(path)[0] for name, path in h.tables(home).items()}
    compared = h.assert_same_tables(spark, home, before, home, after, "run all again")
    print(f"\nrun all again: {again.seconds:.1f}s, {compared} tables compared")
