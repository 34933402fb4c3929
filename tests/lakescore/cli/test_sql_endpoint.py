"""`lakescore sql` through the warm endpoint (`lakescore serve`, Spark Connect): the endpoint is
this test session's own Spark session served over Spark Connect, and the clients are other
processes (a Spark Connect client switches its whole process to Connect mode). The read-only
rules hold there as in a session of its own; a stale endpoint file is not an endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import yaml

from lakescore.core import endpoint
from tests.support import FLIGHTS_YML

SCHEMA = "cli_endpoint"
PASS = ["select 1", "show tables", "describe predictions", "DESCRIBE HISTORY predictions", "values (1)",
        "with a as (select 1 x) select * from a", "select '--not a comment' as a, 'x;y' as b"]
REFUSE = {
    "insert into predictions select 1": "refused 'insert'",
    "with a as (select 1 x) insert into predictions select * from a": "InsertIntoStatement",
    "from predictions insert into x select *": "InsertInto",
    "select reflect('java.lang.System', 'exit', 0)": "reflect() calls into the JVM",
    "select * from (select java_method('java.lang.System', 'exit', 0))": "java_method() calls into the JVM",
    "select 1; drop table predictions": "one statement at a time",
    "cache table predictions": "refused 'cache'",
}


@pytest.fixture(scope="module")
def served(spark, tmp_path_factory):
    """The session's tables served over Spark Connect; a home whose endpoint file names it."""
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    spark.createDataFrame([("a", 0.25), ("b", 0.75)], "k string, score double") \
        .write.format("delta").mode("overwrite").saveAsTable(f"{SCHEMA}.predictions")
    service = getattr(spark._jvm, endpoint.SERVICE)
    service.start(spark._jsc.sc())
    port = int(spark.conf.get(endpoint.PORT_CONF))
    home = tmp_path_factory.mktemp("endpoint_home")
    found = endpoint.Endpoint(url=f"sc://localhost:{port}", port=port, pid=os.getpid(),
                              started_at=datetime.now(UTC).isoformat())
    endpoint.endpoint_file(home).write_text(json.dumps(found.__dict__))
    data = yaml.safe_load(FLIGHTS_YML.read_text())
    data["storage"]["schema"] = SCHEMA
    config = home / "cli.yml"
    config.write_text(yaml.safe_dump(data))
    yield home, config, found
    endpoint._stop(service)


def _run(home, *args, code: str | None = None):
    env = {**os.environ, "LAKESCORE_HOME": str(home)}
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "lakescore", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def test_sql_runs_through_the_endpoint_and_refuses_writes_there(served, spark):
    home, config, found = served
    assert endpoint.running(home) == found
    out = _run(home, "sql", "-c", str(config), "select * from predictions order by k", "-f", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"k": "a", "score": 0.25}, {"k": "b", "score": 0.75}]
    assert f"(through the endpoint {found.url})" in out.stderr
    missing = _run(home, "sql", "-c", str(config), "select * from nope")
    assert missing.returncode == 1
    errors = [line for line in missing.stderr.splitlines() if "error" in line.lower()]
    assert errors == [errors[0]] and errors[0].startswith("lakescore: error: [TABLE_OR_VIEW_NOT_FOUND]")

    # every read-only rule, checked by the endpoint's parser (one client process for all)
    code = f"""
import json
from lakescore.cli.sql import check_read_only
from lakescore.core import endpoint
spark = endpoint.remote_session(endpoint.running({str(home)!r}))
spark.catalog.setCurrentDatabase({SCHEMA!r})
out = {{}}
for q in {PASS + list(REFUSE)!r}:
    try:
        out[q] = ["ok", check_read_only(spark, q)]
    except ValueError as exc:
        out[q] = ["refused", str(exc)]
print(json.dumps(out))
"""
    checked = _run(home, code=code)
    assert checked.returncode == 0, checked.stderr
    got = json.loads(checked.stdout.strip().splitlines()[-1])
    assert {q: got[q][0] for q in PASS} == dict.fromkeys(PASS, "ok")
    for q, why in REFUSE.items():
        assert got[q][0] == "refused" and why in got[q][1], (q, got[q])
    assert spark.table(f"{SCHEMA}.predictions").count() == 2       # nothing was written


def test_a_stale_endpoint_file_is_no_endpoint(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record = {"url": "sc://localhost:1", "port": 1, "pid": int(dead.stdout), "started_at": "2026-01-01T00:00:00"}
    endpoint.endpoint_file(tmp_path).write_text(json.dumps(record))
    assert endpoint.running(tmp_path) is None                      # its process is gone
    endpoint.endpoint_file(tmp_path).write_text(json.dumps({**record, "pid": os.getpid()}))
    assert endpoint.running(tmp_path) is None                      # alive, but nothing answers on the port
    endpoint.endpoint_file(tmp_path).write_text("{not json")
    assert endpoint.running(tmp_path) is None
