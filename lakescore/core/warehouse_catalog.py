"""The local catalog's JAR: `lakescore.catalog.WarehouseCatalog` (WarehouseCatalog.java, shipped in
the package), compiled with the JDK's `javac` against the installed pyspark's and Delta's JARs the
first time a session needs it, and cached as `~/.cache/lakescore/warehouse-catalog-<hash>.jar`
(the hash covers the source and the JARs' names, so a new pyspark or Delta recompiles it).

The catalog makes the warehouse folder the truth: `<warehouse>/<schema>.db/<table>/_delta_log` is
a table, `<warehouse>/<schema>.db/_views/<view>.sql` a view; any number of processes read and
write the same home, each finding the others' tables when it asks for them (docs/operating.md,
"The local catalog").
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

CATALOG_CLASS = "lakescore.catalog.WarehouseCatalog"
CATALOG_JAR_PREFIX = "warehouse-catalog-"
SOURCE = "WarehouseCatalog.java"
VIEWS_FOLDER = "_views"


class CatalogBuildError(RuntimeError):
    """The catalog's JAR could not be built (no JDK, or javac refused the source)."""


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lakescore"


def _source() -> bytes:
    return resources.files("lakescore.core").joinpath(SOURCE).read_bytes()


def _pyspark_jars() -> Path:
    """Spark's JARs: SPARK_HOME's (a spark-submit driver imports pyspark from a zip there), else
    the installed pyspark's."""
    home = os.environ.get("SPARK_HOME")
    if home and (Path(home) / "jars").is_dir():
        return Path(home) / "jars"
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def _tool(name: str) -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / name).exists():
        return str(Path(java_home) / "bin" / name)
    found = shutil.which(name)
    if not found:
        raise CatalogBuildError(f"{name} not found: the local catalog is compiled at the first start and needs a "
                                "JDK 17 (javac and jar on PATH, or JAVA_HOME)")
    return found


def catalog_jar(delta_jars: list[str]) -> Path:
    """The catalog's JAR, built now if the cache has none for this source and these JARs."""
    deltas = sorted(j.removeprefix("file://") for j in delta_jars)
    digest = hashlib.sha256(_source())
    for name in [*sorted(p.name for p in _pyspark_jars().glob("spark-*.jar")), *(Path(j).name for j in deltas)]:
        digest.update(name.encode())
    jar = _cache_dir() / f"{CATALOG_JAR_PREFIX}{digest.hexdigest()[:16]}.jar"
    if jar.exists():
        return jar
    jar.parent.mkdir(parents=True, exist_ok=True)
    # built beside the cache, then renamed into place: processes that start at once (test
    # workers, a job and `lakescore sql`) never load a half-written JAR
    with tempfile.TemporaryDirectory(prefix="lakescore-catalog-", dir=jar.parent) as work:
        src = Path(work) / SOURCE
        src.write_bytes(_source())
        classes = Path(work) / "classes"
        classpath = os.pathsep.join([str(_pyspark_jars() / "*"), *deltas])
        compiled = subprocess.run([_tool("javac"), "--release", "17", "-nowarn", "-cp", classpath, "-d", str(classes),
                                   str(src)], capture_output=True, text=True)
        if compiled.returncode != 0:
            raise CatalogBuildError(f"javac refused {SOURCE}: {compiled.stderr.strip()[:2000]}")
        tmp = Path(work) / jar.name
        packed = subprocess.run([_tool("jar"), "cf", str(tmp), "-C", str(classes), "."], capture_output=True, text=True)
        if packed.returncode != 0:
            raise CatalogBuildError(f"jar failed: {packed.stderr.strip()[:2000]}")
        os.replace(tmp, jar)
    return jar


def save_view(spark, schema: str, view: str, select_sql: str) -> None:
    """Keep a view's SQL in the warehouse (`<schema>.db/_views/<view>.sql`), where every process's
    catalog finds it."""
    jvm = spark._jvm
    loader = jvm.Thread.currentThread().getContextClassLoader()
    cls = jvm.java.lang.Class.forName(CATALOG_CLASS, True, loader)
    method = cls.getMethod("saveView", _classes(jvm, ["org.apache.spark.sql.SparkSession", "java.lang.String",
                                                      "java.lang.String", "java.lang.String"], loader))
    method.invoke(None, _objects(jvm, [spark._jsparkSession, schema, view, select_sql]))


def _classes(jvm, names: list[str], loader):
    array = jvm.java.lang.reflect.Array.newInstance(jvm.java.lang.Class.forName("java.lang.Class"), len(names))
    for i, name in enumerate(names):
        array[i] = jvm.java.lang.Class.forName(name, True, loader)
    return array


def _objects(jvm, values: list):
    array = jvm.java.lang.reflect.Array.newInstance(jvm.java.lang.Class.forName("java.lang.Object"), len(values))
    for i, value in enumerate(values):
        array[i] = value
    return array
