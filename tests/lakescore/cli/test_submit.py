"""A stage run through the real `spark-submit` entry point, as cron would type it: no virtualenv
on PATH, no PYSPARK_* variables, only `<venv>/bin/lakescore submit jobs/<stage>.py ...` (the
ingest stage of the tiny use case, tests/reliability/harness.py, in a home of its own)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lakescore.cli.submit import submit_command
from tests.reliability import harness
from tests.support import ROOT


def test_the_command_runs_this_python_and_finds_spark_home(tmp_path):
    command, env = submit_command(ROOT / "jobs" / "score.py", ["--config", "x.yml", "--as-of", "2013-12-01"])
    assert command[0].endswith("spark-submit") and command[-5:] == [str(ROOT / "jobs" / "score.py"), "--config",
                                                                    "x.yml", "--as-of", "2013-12-01"]
    assert env["PYSPARK_PYTHON"] == env["PYSPARK_DRIVER_PYTHON"] == sys.executable
    assert os.path.isfile(os.path.join(env["SPARK_HOME"], "bin", "spark-submit"))
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT)


@pytest.mark.slow
def test_a_stage_runs_through_spark_submit_typed_without_the_virtualenv(tmp_path):
    config = harness.write_use_case(tmp_path / "use_case")
    home = tmp_path / "home"
    env = {"HOME": os.environ["HOME"], "PATH": "/usr/bin:/bin", "LAKESCORE_HOME": str(home),
           "LAKESCORE_SPARK_MASTER": "local[2]", "LAKESCORE_SHUFFLE_PARTITIONS": "2", "LAKESCORE_DRIVER_MEMORY": "1g",
           **{k: v for k, v in os.environ.items() if k in ("JAVA_HOME", "XDG_CACHE_HOME")}}
    out = subprocess.run([str(sys.executable), "-m", "lakescore", "submit", "jobs/ingest.py", "--config", str(config),
                          "--as-of", "2024-01-11"], cwd=ROOT, env=env, check=False, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "stage ingest: done" in out.stdout + out.stderr   # spark-submit sends the driver's stderr to stdout
    _, clean = harness.read_delta_rs(harness.warehouse(home) / "clean_events")
    assert clean.num_rows == 720
