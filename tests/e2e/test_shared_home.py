"""One home, many users at once: while a stage writes (ingest of a new day, a process of its own),
an analyst's `lakescore sql` through the warm endpoint (`lakescore serve`, another process) and
one in a session of its own, a data scientist's notebook session (the notebook helper) and a
second use case's stage on the same warehouse all run; all finish, nothing is refused or waits
for a lock, and every read sees a committed version of the table being written.

Six processes on two cores (this test session, the endpoint, two stages, two readers): `make slow`."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from lakescore.config import parse_config
from lakescore.core import endpoint
from lakescore.jobs import ingest
from tests.support import context, events_use_case, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COLUMNS = {"id": {"type": "string", "nullable": False}, "kind": {"type": "string"},
           "amount": {"type": "double"}, "at": {"type": "timestamp", "nullable": False}}
D1, D2 = date(2024, 3, 1), date(2024, 3, 2)
ROWS = 400
QUERY = "SELECT count(*) AS n FROM clean_events"


def _land(folder: Path, day: date, prefix: str) -> None:
    rng = random.Random(f"{prefix}{day}")
    start = datetime.combine(day - timedelta(days=1), datetime.min.time())
    lines = ["id,kind,amount,at"] + [
        f"{prefix}{day:%d}-{i},{'ab'[i % 2]},{rng.uniform(0, 3):.2f},{start + timedelta(minutes=3 * i)}"
        for i in range(ROWS)]
    (folder / f"events-{day}.csv").write_text("\n".join(lines) + "\n")


def _use_case(tmp_path: Path, name: str) -> tuple[Path, dict]:
    folder = tmp_path / name
    folder.mkdir()
    data = events_use_case(name, f"test_shared_{name}", {"events": {"columns": COLUMNS, "volume": None,
                                                                    "landing": {"path": str(folder)}}})
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump(data))
    return path, data


def _start(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([*args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, what: str, timeout: int = 900) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"{what} exited {proc.returncode}: {err[-3000:]}"
    return out


def test_a_stage_writes_while_sql_a_notebook_and_another_use_cases_stage_run(spark, lakescore_home, tmp_path):
    a_path, a_data = _use_case(tmp_path, "a")
    b_path, _ = _use_case(tmp_path, "b")
    folder = Path(a_data["sources"]["events"]["landing"]["path"])
    _land(folder, D1, "a")
    ingest.run(context(parse_config(a_data), D1, lakescore_home))       # the day before, in this session
    _land(folder, D2, "a")
    _land(tmp_path / "b", D2, "b")
    env = {**os.environ, "LAKESCORE_HOME": str(lakescore_home), "PYTHONPATH": str(ROOT),
           "LAKESCORE_DRIVER_MEMORY": "1g"}

    port = free_port()
    server = _start(str(BIN / "lakescore"), "serve", "-c", str(a_path), "--port", str(port), env=env)
    try:
        deadline = time.monotonic() + 600
        while endpoint.running(lakescore_home) is None:
            assert server.poll() is None, f"lakescore serve exited: {server.communicate()[1][-3000:]}"
            assert time.monotonic() < deadline, "the endpoint did not start"
            time.sleep(1)

        stage = _start(str(BIN / "lakescore"), "run", "ingest", "-c", str(a_path), "--as-of", str(D2), env=env)
        other = _start(str(BIN / "lakescore"), "run", "ingest", "-c", str(b_path), "--as-of", str(D2), env=env)
        notebook = _start(sys.executable, "-c", (
            "from lakescore import notebook\n"
            f"ctx = notebook.use_case({str(a_path)!r}, {str(D2)!r})\n"
            f"print('@@', ctx.spark.sql('{QUERY.replace('clean_events', 'test_shared_a.clean_events')}').first()[0])\n"),
            env=env)
        own = _start(str(BIN / "lakescore"), "sql", "-c", str(a_path), "--no-endpoint", "-f", "json", QUERY, env=env)
        served: list[int] = []
        while stage.poll() is None or not served:      # through the endpoint, again and again while ingest writes
            answer = subprocess.run([str(BIN / "lakescore"), "sql", "-c", str(a_path), "-f", "json", QUERY],
                                    cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
            assert answer.returncode == 0, answer.stderr[-3000:]
            assert f"(through the endpoint sc://localhost:{port})" in answer.stderr
            served.append(json.loads(answer.stdout)[0]["n"])
        _finish(stage, "ingest of use case a")
        _finish(other, "ingest of use case b")
        in_notebook = int(next(line for line in _finish(notebook, "the notebook").splitlines()
                               if line.startswith("@@")).split()[1])
        in_own = json.loads(_finish(own, "lakescore sql --no-endpoint"))[0]["n"]
    finally:
        server.terminate()
        server.wait(timeout=120)
    assert not endpoint.endpoint_file(lakescore_home).exists()             # the endpoint removed its file

    # every read saw a committed version: the rows of day 1, or of both days (none in between)
    committed = {r.version: spark.sql(f"SELECT count(*) FROM test_shared_a.clean_events VERSION AS OF {r.version}")
                 .first()[0] for r in spark.sql("DESCRIBE HISTORY test_shared_a.clean_events").collect()}
    assert max(committed.items())[1] == 2 * ROWS and ROWS in committed.values()
    assert set(served) | {in_notebook, in_own} <= set(committed.values()), (served, in_notebook, in_own)
    assert spark.table("test_shared_b.clean_events").count() == ROWS    # the other use case's stage landed
