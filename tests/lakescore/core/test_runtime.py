"""Where the session runs: LAKESCORE_MASTER / --master, the warehouse location, the executors'
Python (no Spark started: the settings lakescore would start it with)."""

from __future__ import annotations

import sys

from typer.testing import CliRunner

from lakescore.core.runtime import local_spark_conf


def test_local_by_default(tmp_path, monkeypatch):
    for var in ("LAKESCORE_MASTER", "LAKESCORE_SPARK_MASTER", "LAKESCORE_WAREHOUSE", "PYSPARK_PYTHON"):
        monkeypatch.delenv(var, raising=False)
    conf = local_spark_conf(tmp_path)
    assert conf["spark.master"] == "local[*]"
    assert conf["spark.sql.warehouse.dir"] == str(tmp_path / "warehouse")
    assert conf["spark.pyspark.python"] == sys.executable
    assert "spark.executor.memory" not in conf


def test_java_options_are_added_to_the_driver_after_the_logging_configuration(tmp_path, monkeypatch):
    monkeypatch.delenv("LAKESCORE_JAVA_OPTS", raising=False)
    plain = local_spark_conf(tmp_path)["spark.driver.extraJavaOptions"]
    assert plain.startswith("-Dlog4j2.configurationFile=file:") and " " not in plain
    monkeypatch.setenv("LAKESCORE_JAVA_OPTS", " -XX:TieredStopAtLevel=1 -Xss4m ")
    assert local_spark_conf(tmp_path)["spark.driver.extraJavaOptions"] == f"{plain} -XX:TieredStopAtLevel=1 -Xss4m"


def test_a_cluster_master_its_warehouse_and_python(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKESCORE_SPARK_MASTER", "local[2]")
    monkeypatch.setenv("LAKESCORE_MASTER", "spark://10.0.0.5:7077")    # the new name wins over the old one
    monkeypatch.setenv("LAKESCORE_WAREHOUSE", "s3a://bucket/lakescore")
    monkeypatch.setenv("PYSPARK_PYTHON", "./env/bin/python")
    monkeypatch.setenv("LAKESCORE_EXECUTOR_MEMORY", "3g")
    conf = local_spark_conf(tmp_path)
    assert conf["spark.master"] == "spark://10.0.0.5:7077"
    assert conf["spark.sql.warehouse.dir"] == "s3a://bucket/lakescore"
    assert conf["spark.pyspark.python"] == "./env/bin/python"
    assert conf["spark.pyspark.driver.python"] == sys.executable
    assert conf["spark.executor.memory"] == "3g"


def test_the_old_variable_still_names_the_master(tmp_path, monkeypatch):
    monkeypatch.delenv("LAKESCORE_MASTER", raising=False)
    monkeypatch.setenv("LAKESCORE_SPARK_MASTER", "local[2]")
    assert local_spark_conf(tmp_path)["spark.master"] == "local[2]"


def test_run_takes_a_master_option():
    from lakescore.cli import app

    out = CliRunner().invoke(app, ["run", "--help"], terminal_width=200)
    assert out.exit_code == 0 and "--master" in out.output and "LAKESCORE_MASTER" in out.output


def test_a_session_has_delta_and_the_catalog_and_remembers_only_delta(tmp_path, monkeypatch):
    """The session's JARs are Delta's and the warehouse catalog's (built from Delta's); the cache of
    Delta's JARs never takes the catalog's in (it would change the catalog's hash at every build)."""
    from lakescore.core import runtime

    conf = local_spark_conf(tmp_path)
    assert conf["spark.sql.catalog.spark_catalog"] == "lakescore.catalog.WarehouseCatalog"
    assert conf["spark.sql.catalogImplementation"] == "in-memory"
    assert not any("derby" in v.lower() or "metastore" in v.lower() for v in conf.values())
    jars = conf["spark.jars"].split(",")
    assert sum("warehouse-catalog-" in j for j in jars) == 1 and jars[-1].endswith(".jar")
    assert any("delta-spark" in j for j in jars)

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    runtime._jar_cache().parent.mkdir(parents=True)
    runtime._jar_cache().write_text(conf["spark.jars"])       # what a session's spark.jars holds
    assert runtime.cached_delta_jars() == jars[:-1]
    assert runtime._delta_only(conf["spark.jars"]) == jars[:-1]   # what _remember_delta_jars keeps
