"""The runtime every stage shares: where it runs, the SparkSession, and the stage context.

On Databricks the platform's session is used as it is. Locally lakescore starts one
`local[*]` session with Delta (JARs from Maven Central, cached in ~/.ivy2), a Hive catalog on
embedded Derby and a warehouse in the use case's local home folder, so that tables persist and
`spark.table("<schema>.<table>")` works from any later session or notebook.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.sql import SparkSession

from lakescore.config import UseCase
from lakescore.core.errors import StageError

if TYPE_CHECKING:  # the store imports Delta's API, which a stage's start need not wait for
    pass

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
    jars = [j for j in cache.read_text().split(",") if j]
    return jars if jars and all(Path(j.removeprefix("file://")).exists() for j in jars) else None


def _remember_delta_jars(spark: SparkSession) -> None:
    jars = spark.sparkContext.getConf().get("spark.jars", "")
    if "delta-spark" in jars:
        _jar_cache().parent.mkdir(parents=True, exist_ok=True)
        _jar_cache().write_text(jars)


def local_home(cfg: UseCase | None = None) -> Path:
    """The local runtime folder: `LAKESCORE_HOME`, else `storage.local_home` from the config."""
    raw = os.environ.get("LAKESCORE_HOME") or (cfg.storage.local_home if cfg else ".lakescore")
    return Path(raw).expanduser().resolve()


def _log4j_config() -> str:
    return str(resources.files("lakescore.core").joinpath("log4j2.properties"))


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
    java_opts = f"-Dderby.system.home={home} -Dlog4j2.configurationFile=file:{_log4j_config()}"
    return {
        "spark.master": master(),
        "spark.app.name": "lakescore",
        **({"spark.jars": ",".join(jars)} if (jars := cached_delta_jars()) else {"spark.jars.packages": delta_package()}),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": warehouse(home),
        "spark.hadoop.javax.jdo.option.ConnectionURL":
            f"jdbc:derby:;databaseName={home / 'metastore_db'};create=true",
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


class CatalogBusy(StageError):
    """The local catalog (embedded Derby) is open in another process."""


CATALOG_WAIT_ENV = "LAKESCORE_CATALOG_WAIT_SECONDS"
_BUSY = ("the local catalog {db} is open in another process (a running job, a notebook or `lakescore sql` "
         "on the same home): the embedded metastore admits one process at a time; wait for it to finish or "
         "close its Spark session{waited}")


def _catalog_held(db: Path) -> bool:
    """Whether another process holds the embedded Derby database `db` (Derby keeps an exclusive
    file lock on dbex.lck while it has the database open; a lock left by a killed process is gone
    with the process)."""
    import fcntl

    lock = db / "dbex.lck"
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing releases a lock this process took
    return False


def wait_for_catalog(home: Path, wait_seconds: float | None = None) -> None:
    """Wait (bounded: LAKESCORE_CATALOG_WAIT_SECONDS, default 60) while another process holds the
    local catalog, then raise CatalogBusy with one line that says what to do."""
    db = home / "metastore_db"
    wait = float(os.environ.get(CATALOG_WAIT_ENV, "60")) if wait_seconds is None else wait_seconds
    deadline = time.monotonic() + wait
    if not _catalog_held(db):
        return
    log.warning("the local catalog %s is open in another process: waiting up to %.0fs", db, wait)
    while time.monotonic() < deadline:
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        if not _catalog_held(db):
            return
    raise CatalogBusy(_BUSY.format(db=db, waited=f" (waited {wait:.0f}s, {CATALOG_WAIT_ENV})"))


def check_catalog(spark: SparkSession, home: Path) -> None:
    """Open the local catalog now, turning Derby's "already booted" failure (another process
    won the race for it) into CatalogBusy."""
    try:
        spark.catalog.listDatabases()
    except Exception as exc:  # noqa: BLE001 - py4j/Spark wrap Derby's error in several layers
        text = str(exc)
        if "Another instance of Derby" in text or "Failed to start database" in text or "XSDB6" in text:
            raise CatalogBusy(_BUSY.format(db=home / "metastore_db", waited="")) from None
        raise


def get_spark(home: Path | None = None) -> SparkSession:
    """The SparkSession: the active one if any (Databricks, notebooks, tests), else a local one."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if on_databricks():
        return SparkSession.builder.getOrCreate()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    started = time.perf_counter()
    home = home or local_home()
    wait_for_catalog(home)
    builder = SparkSession.builder
    for key, value in local_spark_conf(home).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    _check_delta(spark)
    check_catalog(spark, home)
    _remember_delta_jars(spark)
    log.info("spark %s session on %s ready in %.1fs", spark.version, spark.sparkContext.master,
             time.perf_counter() - started)
    return spark


def write_spark_defaults() -> Path:
    """Resolve Delta's JARs once (from Maven Central into ~/.ivy2) and name them in pyspark's
    spark-defaults.conf, so that a bare `spark-submit jobs/<stage>.py` gets Delta as the
    Python entry points do."""
    import pyspark

    jars = cached_delta_jars()
    if jars is None:
        get_spark(Path(tempfile.mkdtemp(prefix="lakescore-resolve-"))).stop()
        jars = cached_delta_jars()
    if jars is None:
        raise RuntimeError(f"could not resolve {delta_package()} from Maven Central")

    conf_dir = Path(os.environ.get("SPARK_CONF_DIR") or Path(pyspark.__file__).parent / "conf")
    conf_dir.mkdir(parents=True, exist_ok=True)
    target = conf_dir / "spark-defaults.conf"
    lines = [ln for ln in (target.read_text().splitlines() if target.exists() else [])
             if not ln.startswith(("spark.jars.packages", "spark.jars ", "spark.driver.extraJavaOptions"))]
    lines.append(f"spark.jars {','.join(jars)}")
    derby_log = Path(tempfile.gettempdir()) / "lakescore-derby.log"
    lines.append(f"spark.driver.extraJavaOptions -Dlog4j2.configurationFile=file:{_log4j_config()} "
                 f"-Dderby.stream.error.file={derby_log}")
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
