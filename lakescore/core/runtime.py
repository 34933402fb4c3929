"""The runtime every stage shares: where it runs, the SparkSession, and the stage context.

On Databricks the platform's session is used as it is. Locally lakescore starts one
`local[*]` session with Delta (JARs from Maven Central, cached in ~/.ivy2) and the warehouse
catalog (`lakescore.core.warehouse_catalog`): the use case's local home folder holds the
warehouse, and its folders are the catalog, so that tables persist, `spark.table("<schema>.<table>")`
works from any later session or notebook, and any number of processes use the same home at once.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from importlib import metadata, resources
from pathlib import Path

from pyspark.sql import SparkSession

from lakescore.config import UseCase
from lakescore.core.warehouse_catalog import CATALOG_CLASS, CATALOG_JAR_PREFIX

log = logging.getLogger("lakescore")

SCALA_VERSION = "2.13"


def on_databricks() -> bool:
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def delta_package() -> str:
    """The Maven coordinate of the Delta JAR that matches the installed delta-spark wheel."""
    return f"io.delta:delta-spark_{SCALA_VERSION}:{metadata.version('delta-spark')}"


def _jar_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lakescore" / (
        delta_package().replace(":", "_") + ".jars")


def cached_delta_jars() -> list[str] | None:
    """The Delta JAR files resolved by an earlier session, if they are all still there: using
    them directly skips Ivy's resolution (and its console output) at every start."""
    cache = _jar_cache()
    if not cache.exists():
        return None
    jars = _delta_only(cache.read_text())
    return jars if jars and all(Path(j.removeprefix("file://")).exists() for j in jars) else None


def _delta_only(jars: str) -> list[str]:
    """Delta's JARs of a `spark.jars` list: not the warehouse catalog's (a session's list has it,
    and the catalog's JAR is built from this list: remembering it would grow the list every build)."""
    return [j for j in jars.split(",") if j and not Path(j).name.startswith(CATALOG_JAR_PREFIX)]


def _remember_delta_jars(spark: SparkSession) -> None:
    jars = _delta_only(spark.sparkContext.getConf().get("spark.jars", ""))
    if any("delta-spark" in j for j in jars):
        _jar_cache().parent.mkdir(parents=True, exist_ok=True)
        _jar_cache().write_text(",".join(jars))


def _resolve_delta_jars() -> None:
    """Resolve Delta's JARs from Maven Central (into ~/.ivy2) in a child process whose session has
    only Delta's package: the session that uses them must have them, and the catalog's JAR
    compiled against them, on its classpath from its start."""
    code = ("import tempfile; from pyspark.sql import SparkSession; from lakescore.core import runtime as r\n"
            "s = (SparkSession.builder.master('local[1]').config('spark.jars.packages', r.delta_package())\n"
            "     .config('spark.ui.enabled', 'false').config('spark.sql.warehouse.dir', tempfile.mkdtemp())\n"
            "     .config('spark.driver.extraJavaOptions', f'-Dlog4j2.configurationFile=file:{r._log4j_config()}')\n"
            "     .getOrCreate())\n"
            "r._remember_delta_jars(s); s.stop()\n")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if done.returncode != 0 or cached_delta_jars() is None:
        raise RuntimeError(f"could not resolve {delta_package()} from Maven Central: "
                           f"{(done.stderr.strip().splitlines() or [''])[-1][:300]}")


def session_jars() -> list[str]:
    """The JARs of a local session: Delta's (resolved once, then used directly) and the warehouse
    catalog's (compiled once against them and the installed pyspark)."""
    from lakescore.core.warehouse_catalog import catalog_jar

    jars = cached_delta_jars()
    if jars is None:
        _resolve_delta_jars()
        jars = cached_delta_jars() or []
    return [*jars, catalog_jar(jars).as_uri()]


def local_home(cfg: UseCase | None = None) -> Path:
    """The local runtime folder: `LAKESCORE_HOME`, else `storage.local_home` from the config."""
    raw = os.environ.get("LAKESCORE_HOME") or (cfg.storage.local_home if cfg else ".lakescore")
    return Path(raw).expanduser().resolve()


def _log4j_config() -> str:
    return str(resources.files("lakescore.core").joinpath("log4j2.properties"))


JAVA_OPTS_ENV = "LAKESCORE_JAVA_OPTS"


def driver_java_opts() -> str:
    """The driver's JVM options: lakescore's log4j2 configuration, then LAKESCORE_JAVA_OPTS (GC,
    JIT or stack options of the driver; the JVM's defaults without it). The JVM's tiered JIT
    stays the default: C1 alone (`-XX:TieredStopAtLevel=1`) cut a small ingest's JVM CPU from
    26.7 s to 15.6 s (the C2 compiler threads' share) and score's run on the demo home from
    45-52 s to 39-42 s, but train took 136 s against 59 s (benchmarks/README.md, 3 December)."""
    extra = os.environ.get(JAVA_OPTS_ENV, "").strip()
    return f"-Dlog4j2.configurationFile=file:{_log4j_config()}" + (f" {extra}" if extra else "")


MASTER_ENV = "LAKESCORE_MASTER"
WAREHOUSE_ENV = "LAKESCORE_WAREHOUSE"


def master() -> str:
    """Where the session runs: LAKESCORE_MASTER (`spark://host:7077`, `yarn`, `k8s://...`; the older
    LAKESCORE_SPARK_MASTER too), else `local[*]`."""
    return os.environ.get(MASTER_ENV) or os.environ.get("LAKESCORE_SPARK_MASTER") or "local[*]"


def warehouse(home: Path) -> str:
    """The Delta warehouse: LAKESCORE_WAREHOUSE (storage every executor reaches: a shared mount,
    hdfs://, s3a://, abfss://), else <home>/warehouse."""
    return os.environ.get(WAREHOUSE_ENV) or str(home / "warehouse")


def local_spark_conf(home: Path) -> dict[str, str]:
    """Settings of the session lakescore starts (also used by the tests' session fixture): local
    mode by default, or a cluster's master (see `master`); the driver runs on this machine."""
    home.mkdir(parents=True, exist_ok=True)
    cluster = not master().startswith("local")
    python = os.environ.get("PYSPARK_PYTHON") or sys.executable
    java_opts = driver_java_opts()
    return {
        "spark.master": master(),
        "spark.app.name": "lakescore",
        "spark.jars": ",".join(session_jars()),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        # the warehouse folder is the catalog (no metastore: any number of processes at once)
        "spark.sql.catalog.spark_catalog": CATALOG_CLASS,
        "spark.sql.catalogImplementation": "in-memory",
        "spark.sql.warehouse.dir": warehouse(home),
        "spark.driver.extraJavaOptions": java_opts,
        "spark.driver.memory": os.environ.get("LAKESCORE_DRIVER_MEMORY", "4g"),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": os.environ.get("LAKESCORE_SHUFFLE_PARTITIONS", "4"),
        "spark.default.parallelism": "4",
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Python workers must run this interpreter (pandas UDFs, mlflow) - see DESIGN.md; on a
        # cluster PYSPARK_PYTHON names the executors' interpreter (the same packages installed)
        "spark.pyspark.python": python,
        "spark.pyspark.driver.python": sys.executable,
        **({"spark.executor.memory": os.environ.get("LAKESCORE_EXECUTOR_MEMORY", "1g")} if cluster else {}),
    }


def _check_delta(spark: SparkSession) -> None:
    try:
        spark._jvm.java.lang.Class.forName(  # type: ignore[union-attr]
            "io.delta.tables.DeltaTable", True, spark._jvm.Thread.currentThread().getContextClassLoader()  # type: ignore[union-attr]
        )
    except Exception:  # noqa: BLE001 - py4j raises a generic error for a missing class
        raise RuntimeError(
            "Delta Lake's JARs are not on this Spark session's classpath. Under spark-submit run "
            "`lakescore spark-defaults` once (make does it; again if ~/.ivy2.5.2 was cleared), "
            f"or pass --packages {delta_package()}"
        ) from None


def get_spark(home: Path | None = None, extra: dict[str, str] | None = None) -> SparkSession:
    """The SparkSession: the active one if any (Databricks, notebooks, tests), else a local one
    (with the `extra` settings on top of lakescore's)."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if on_databricks():
        return SparkSession.builder.getOrCreate()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    started = time.perf_counter()
    home = home or local_home()
    builder = SparkSession.builder
    for key, value in {**local_spark_conf(home), **(extra or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    _check_delta(spark)
    _remember_delta_jars(spark)
    log.info("spark %s session on %s ready in %.1fs", spark.version, spark.sparkContext.master,
             time.perf_counter() - started)
    return spark


def write_spark_defaults() -> Path:
    """Resolve Delta's JARs once (from Maven Central into ~/.ivy2) and name them in pyspark's
    spark-defaults.conf, so that a bare `spark-submit jobs/<stage>.py` gets Delta as the
    Python entry points do."""
    import pyspark

    jars = session_jars()

    conf_dir = Path(os.environ.get("SPARK_CONF_DIR") or Path(pyspark.__file__).parent / "conf")
    conf_dir.mkdir(parents=True, exist_ok=True)
    target = conf_dir / "spark-defaults.conf"
    lines = [ln for ln in (target.read_text().splitlines() if target.exists() else [])
             if not ln.startswith(("spark.jars.packages", "spark.jars ", "spark.driver.extraJavaOptions"))]
    lines.append(f"spark.jars {','.join(jars)}")
    lines.append(f"spark.driver.extraJavaOptions {driver_java_opts()}")
    target.write_text("\n".join(lines) + "\n")
    return target


# ------------------------------------------------------------------------------ context
@dataclass
class Context:
    """What a stage run knows: the validated config, the logical date and the runtime."""

    cfg: UseCase
    as_of: date
    config_path: str = ""
    target: str | None = None
    home: Path = field(default_factory=local_home)
    databricks: bool = field(default_factory=on_databricks)
    force: bool = False           # train even when the retraining policy says it is not due
    overrides: tuple[str, ...] = ()  # the command line's `--set key.path=value`, as typed

    def run_tags(self) -> dict[str, str]:
        """Tags every MLflow run of this context gets: the command line's overrides, if any."""
        return {"lakescore.overrides": json.dumps(list(self.overrides))} if self.overrides else {}

    @cached_property
    def spark(self) -> SparkSession:
        return get_spark(self.home)

    @cached_property
    def tables(self):  # -> lakescore.core.table_store.TableStore
        from lakescore.core.table_store import TableStore

        return TableStore(self.spark, self.cfg, databricks=self.databricks)

    @property
    def as_of_str(self) -> str:
        return self.as_of.isoformat()

    @staticmethod
    def now() -> datetime:
        """Wall-clock time as a naive UTC datetime (the session time zone is UTC)."""
        return datetime.now(UTC).replace(microsecond=0, tzinfo=None)
