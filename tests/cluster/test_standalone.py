"""`lakescore run all` against a Spark standalone cluster started on this machine: a master and
two workers from pyspark's own launcher classes (`spark-class ...deploy.master.Master` /
`...deploy.worker.Worker`, one core and 1 GB each), the tiny use case of the reliability suite.
Marker `cluster` (`make cluster`, CI): left out of `make test`.

What it proves: nothing in the flow needs `local[*]`: the stages' Python UDFs and model run in the
executors' Python workers (PYSPARK_PYTHON), Delta's JARs reach the executors, the model artifacts
written and read by MLflow and the warehouse location work when the tasks run in other JVMs."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pyspark
import pytest

from tests.reliability.harness import AS_OF, SCHEMA, command, write_use_case
from tests.support import free_port

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[2]
SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"


def _state(ui_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A standalone master and two workers; yields (master URL, master UI port)."""
    logs = tmp_path_factory.mktemp("cluster")
    port, ui = free_port(), free_port()
    env = {**os.environ, "SPARK_HOME": str(SPARK_CLASS.parents[1]), "PYTHONPATH": str(ROOT),
           "SPARK_LOG_DIR": str(logs), "SPARK_WORKER_DIR": str(logs / "work")}
    url = f"spark://127.0.0.1:{port}"
    procs = [subprocess.Popen([str(SPARK_CLASS), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                               "--port", str(port), "--webui-port", str(ui)],
                              env=env, stdout=open(logs / "master.log", "w"), stderr=subprocess.STDOUT)]
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                _state(ui)
                break
            except OSError as exc:
                if time.monotonic() > deadline or procs[0].poll() is not None:
                    raise RuntimeError(f"the master did not start: {(logs / 'master.log').read_text()[-2000:]}") from exc
                time.sleep(0.5)
        for i in range(2):
            procs.append(subprocess.Popen(
                [str(SPARK_CLASS), "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "1",
                 "--memory", "1g", "--webui-port", str(free_port()), "--work-dir", str(logs / f"work{i}"), url],
                env=env, stdout=open(logs / f"worker{i}.log", "w"), stderr=subprocess.STDOUT))
        while len([w for w in _state(ui)["workers"] if w["state"] == "ALIVE"]) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workers did not register: {(logs / 'worker0.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield url, ui
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def test_run_all_on_a_standalone_cluster(cluster, tmp_path):
    from deltalake import DeltaTable

    url, ui = cluster
    config = write_use_case(tmp_path / "case")
    home = tmp_path / "home"
    # as the suite's session does: tiny queries cost more to compile than to run, and every
    # executor is a new JVM that would compile each of them again (spark-defaults.conf is read
    # for the keys lakescore does not set)
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    (conf_dir / "spark-defaults.conf").write_text("spark.sql.codegen.wholeStage false\n"
                                                  "spark.sql.codegen.factoryMode NO_CODEGEN\n")
    env = {**os.environ, "LAKESCORE_HOME": str(home), "LAKESCORE_DRIVER_MEMORY": "1g", "SPARK_CONF_DIR": str(conf_dir),
           "LAKESCORE_EXECUTOR_MEMORY": "600m", "LAKESCORE_SHUFFLE_PARTITIONS": "2", "PYTHONPATH": str(ROOT)}
    env.pop("LAKESCORE_SPARK_MASTER", None)
    log = tmp_path / "run-all.log"             # followed while it runs; its end is shown on failure
    with open(log, "w") as out:
        rc = subprocess.run([*command("all", config), "--master", url], env=env, cwd=ROOT, stdout=out,
                            stderr=subprocess.STDOUT, timeout=1500).returncode
    assert rc == 0, log.read_text()[-3000:]
    state = _state(ui)
    apps = state["completedapps"] + state["activeapps"]
    assert [a for a in apps if a["name"] == "lakescore"], f"no lakescore application on the cluster: {apps}"
    assert all(a["cores"] >= 1 for a in apps if a["name"] == "lakescore")
    predictions = DeltaTable(str(home / "warehouse" / f"{SCHEMA}.db" / "predictions")).to_pandas()
    assert len(predictions) == 60 and set(predictions["as_of"].astype(str)) == {AS_OF.isoformat()}
    assert predictions["score"].between(0, 1).all()
    assert (home / "warehouse" / f"{SCHEMA}.db" / "slice_metrics").is_dir()
