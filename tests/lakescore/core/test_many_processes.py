"""Many processes on one home at once (the warehouse catalog: no metastore, nothing locked).

This test session (a Spark session open on the home, writing) is the first process. A second
one, started before some of the tables exist, answers `lakescore sql` (the command's code, run
in that process) with a SELECT and SHOW TABLES, sees a table created after it started (and no
longer sees it once the first dropped it), and writes the same table as the first at the same
time; a third, the `lakescore sql` command as typed, lists the tables while both write. Two JVM
starts in all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F

from lakescore.config import parse_config
from lakescore.core.runtime import warehouse
from lakescore.transforms.sqltext import eq
from tests.support import context, events_use_case

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = "test_processes"
EVENTS = {"id": {"type": "int", "nullable": False}, "kind": {"type": "string"}, "at": {"type": "timestamp"}}
D1, D2 = date(2024, 1, 1), date(2024, 1, 2)
ROUNDS = 2

# The second process: one Spark session for its whole life, commands as JSON lines on stdin,
# one answer line each (marked, so that nothing else printed is mistaken for one).
SECOND = r'''
import json, sys
from datetime import date
from typer.testing import CliRunner
from lakescore.cli import app
from lakescore.config import parse_config
from lakescore.transforms.sqltext import eq
from pyspark.sql import SparkSession, functions as F
from tests.support import context, events_use_case
cfg_path, use_case = sys.argv[1], json.loads(sys.argv[2])
runner = CliRunner()
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["do"] == "sql":
        out = runner.invoke(app, ["sql", "--config", cfg_path, "-f", "json", cmd["query"]])
        answer = {"exit": out.exit_code, "rows": json.loads(out.stdout) if out.exit_code == 0 else out.output}
    else:  # write the race table's D2 partition, rounds times
        spark = SparkSession.getActiveSession()
        store = context(parse_config(use_case), date(2024, 1, 1), None).tables
        day = date(2024, 1, 2)
        for r in range(cmd["rounds"]):
            rows = spark.range(20).select(F.col("id").cast("int"), F.lit(f"b{r}").alias("tag"), F.lit(day).alias("as_of"))
            store.write(rows, cmd["table"], replace_where=eq("as_of", day), partition_by=["as_of"])
        answer = {"exit": 0}
    print("@@ " + json.dumps(answer), flush=True)
'''


class Second:
    def __init__(self, home: Path, cfg_path: Path, use_case: dict):
        env = {**os.environ, "LAKESCORE_HOME": str(home), "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-c", SECOND, str(cfg_path), json.dumps(use_case)], cwd=ROOT,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith("@@ "):
                return json.loads(line[3:])
        raise AssertionError(f"the second process ended (exit {self.proc.wait()})")

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=120)


def _frame(spark, day: date, tag: str):
    return spark.range(20).select(F.col("id").cast("int"), F.lit(tag).alias("tag"), F.lit(day).alias("as_of"))


@pytest.fixture()
def config(tmp_path) -> tuple[Path, dict]:
    use_case = events_use_case("processes", SCHEMA, {"events": {"columns": EVENTS}})
    path = tmp_path / "processes.yml"
    path.write_text(yaml.safe_dump(use_case))
    return path, use_case


def test_a_second_process_reads_lists_and_writes_while_the_first_writes(spark, lakescore_home, config):
    cfg_path, use_case = config
    store = context(parse_config(use_case), D1, lakescore_home).tables
    store.write(_frame(spark, D1, "early"), "early")
    second = Second(lakescore_home, cfg_path, use_case)
    try:
        first = second.ask(do="sql", query="SELECT count(*) AS n FROM early")
        assert first == {"exit": 0, "rows": [{"n": 20}]}      # its session is open from here on
        store.write(_frame(spark, D1, "late"), "late")          # created after the second process started
        store.write(_frame(spark, D2, "again"), "early", mode="append")
        store.create_view("early_view", f"SELECT * FROM {store.name('early')} WHERE tag = 'early'")
        late = second.ask(do="sql", query="SELECT tag, count(*) AS n FROM late GROUP BY tag")
        assert late == {"exit": 0, "rows": [{"tag": "late", "n": 20}]}
        tables = second.ask(do="sql", query="SHOW TABLES")
        assert tables["exit"] == 0, tables
        assert {(r["namespace"], r["tableName"]) for r in tables["rows"]} >= {
            (SCHEMA, "early"), (SCHEMA, "late"), (SCHEMA, "early_view")}
        assert second.ask(do="sql", query="SELECT count(*) AS n FROM early")["rows"] == [{"n": 40}]
        assert second.ask(do="sql", query="SELECT count(*) AS n FROM early_view")["rows"] == [{"n": 20}]  # a view
        spark.sql(f"DROP TABLE {SCHEMA}.late")                    # its folder goes: gone for the second too
        assert (Path(warehouse(lakescore_home)) / f"{SCHEMA}.db" / "early").is_dir()
        assert not (Path(warehouse(lakescore_home)) / f"{SCHEMA}.db" / "late").exists()
        gone = second.ask(do="sql", query="SELECT count(*) FROM late")
        assert gone["exit"] == 1 and "late" in gone["rows"]
        assert "late" not in {r["tableName"] for r in second.ask(do="sql", query="SHOW TABLES")["rows"]}

        # both processes write the same new table (its creation races too), while a third lists tables
        typed = subprocess.Popen([str(Path(sys.executable).parent / "lakescore"), "sql", "--config", str(cfg_path),
                                  "-f", "json", "SHOW TABLES"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env={**os.environ, "LAKESCORE_HOME": str(lakescore_home)})
        answers: list[dict] = []
        other = threading.Thread(target=lambda: answers.append(second.ask(do="write", table="race", rounds=ROUNDS)))
        other.start()
        for r in range(ROUNDS):
            store.write(_frame(spark, D1, f"a{r}"), "race", replace_where=eq("as_of", D1), partition_by=["as_of"])
        other.join(timeout=600)
        assert answers == [{"exit": 0}]
        out, err = typed.communicate(timeout=600)
        assert typed.returncode == 0, err[-2000:]
        assert {r["tableName"] for r in json.loads(out)} >= {"early", "early_view"}
    finally:
        second.close()
    rows = {(r.as_of, r.tag): r.n for r in spark.table(f"{SCHEMA}.race").groupBy("as_of", "tag")
            .agg(F.count("*").alias("n")).collect()}
    assert rows == {(D1, f"a{ROUNDS - 1}"): 20, (D2, f"b{ROUNDS - 1}"): 20}   # each process's last write, whole
