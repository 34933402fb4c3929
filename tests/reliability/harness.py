"""What the reliability suite shares: a tiny use case on files, stages run as
`python -m lakescore run <stage>` subprocesses (killed with SIGKILL at chosen points), and the
checks made on a home folder afterwards (every table readable, no partial as-of, no alias
pointing at a missing model version, tables compared with a reference home's).

The use case: 720 events over 1-12 January 2024 in one CSV file (id, at, x, c, y), the label
known an hour after the event, two features, logistic regression; the as-of is 2024-01-11."""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import yaml
from chispa import assert_df_equality

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2024, 1, 11)
SCHEMA = "tiny"
MODEL = "tiny_model"
STAGES = ["ingest", "features", "train", "promote", "score", "monitor"]

# Columns that legitimately differ between two runs of the same stage for the same as-of, and
# the only ones the comparisons leave out: when a run happened, which MLflow run / model version
# / Delta version it made or read (a killed run may have used up a number), and what is measured
# from the wall clock.
RUN_VARYING = frozenset({
    "_landed_at", "landed_at", "modified_at", "processed_at", "replayed_at", "quarantined_at", "scored_at",
    "validated_at", "created_at", "computed_at", "reported_at", "freshness_hours",
    "run_id", "model_version", "model_id", "features_version", "started_at", "seconds",
})
# Text columns that name such numbers (drift_metrics.baseline: "features version 3 as served",
# "training rows of tiny_model/1 (as-of ...; clean_events@0, features@1)";
# model_health.detail: "tiny_model/1 is 0.0 days old ..."): the numbers are masked.
_VERSION_NUMBERS = r"(version |@|_model/)[0-9]+"
RUN_VARYING_NUMBERS = {"baseline": _VERSION_NUMBERS, "detail": _VERSION_NUMBERS}
# Rows whose figure is measured on the wall clock: the gate's scoring-speed check (model_validations,
# check = 'scoring_speed': rows per second, and its reason "loaded and scored 60 rows in 1.7s").
RUN_VARYING_CHECKS = frozenset({"scoring_speed"})
RUN_VARYING_CHECK_COLUMNS = ("value", "reason")


def write_use_case(folder: Path) -> Path:
    """events.csv and tiny.yml in `folder`; returns the config's path."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(3)
    with open(folder / "events.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["id", "at", "x", "c", "y"])
        for d in range(12):
            for i in range(60):
                x, c = rng.gauss(0, 1), rng.choice("ab")
                y = int(x + (0.5 if c == "a" else -0.5) + rng.gauss(0, 1) > 0)
                at = datetime(2024, 1, 1) + timedelta(days=d, minutes=rng.randrange(1440))
                out.writerow([f"e{d:02d}{i:03d}", at.isoformat(sep=" "), round(x, 4), c, y])
    config = {
        "name": "tiny", "storage": {"schema": SCHEMA},
        "sources": {"events": {"key": ["id"], "landing": {"path": "events.csv"}, "volume": None, "columns": {
            "id": {"type": "string", "nullable": False}, "at": {"type": "timestamp", "nullable": False},
            "x": {"type": "double"}, "c": {"type": "string"}, "y": {"type": "int"}}}},
        "entity": {"source": "events", "key": ["id"], "event_time": "at", "timezone": "UTC", "horizon_days": 1},
        "label": {"name": "label", "kind": "binary", "expr": "y", "known_at": "timestampadd(HOUR, 1, at)"},
        "features": [{"name": "x", "kind": "numeric"}, {"name": "c", "kind": "categorical"}],
        "split": {"test_fraction": 0.3, "salt": "tiny"},
        "train": {"window_days": 10, "seed": 1, "min_rows": 100},
        "model": {"name": MODEL, "algorithm": "logistic_regression", "params": {"maxIter": 10},
                  "primary_metric": "auc"},
        "gate": {"floors": {"auc": 0.5}},
        "mlflow": {"experiment": "tiny"},
    }
    path = folder / "tiny.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# The stage subprocesses evaluate expressions interpreted, as the test session does
# (tests/conftest.py): on tiny data compiling each plan costs more than running it.
INTERPRETED = "--conf spark.sql.codegen.wholeStage=false --conf spark.sql.codegen.factoryMode=NO_CODEGEN"


def _env(home: Path) -> dict:
    return {**os.environ, "LAKESCORE_HOME": str(home), "LAKESCORE_SPARK_MASTER": "local[2]",
            "LAKESCORE_SHUFFLE_PARTITIONS": "2", "LAKESCORE_DRIVER_MEMORY": "1g", "PYTHONPATH": str(ROOT),
            "PYSPARK_SUBMIT_ARGS": f"{INTERPRETED} pyspark-shell"}


def command(stage: str, config: Path, as_of: date = AS_OF, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lakescore", "run", stage, "--config", str(config), "--as-of", as_of.isoformat(),
            *extra]


def run_cli(args: list[str], home: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=_env(home), cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def warehouse(home: Path) -> Path:
    return home / "warehouse" / f"{SCHEMA}.db"


def tables(home: Path) -> dict[str, Path]:
    """The Delta tables of the home: folders whose log holds a commit (a run killed while
    creating a table can leave a log folder without one: no table, at no version)."""
    root = warehouse(home)
    return {p.name: p for p in sorted(root.iterdir()) if any((p / "_delta_log").glob("*.json"))} \
        if root.is_dir() else {}


def log_entries(home: Path) -> set[str]:
    """Every file in the tables' Delta logs (commits, temporary commit files, checkpoints)."""
    root = warehouse(home)
    return {str(p) for p in root.glob("*/_delta_log/**/*") if p.is_file()} if root.is_dir() else set()


@dataclass
class Outcome:
    seconds: float
    returncode: int | None
    killed: bool
    point: str
    new_log_entries: int = 0
    output: str = ""
    timeline: list[float] = field(default_factory=list)   # when each new Delta log file appeared (s)


@dataclass
class KillPoint:
    """Kill when the `after_commits`-th new Delta log file appears (a commit, or its temporary
    file: during the commit), or after `delay` seconds, whichever comes first."""
    after_commits: int | None = None
    delay: float | None = None

    def __str__(self) -> str:
        parts = ([f"on new log file {self.after_commits}"] if self.after_commits else []) + \
            ([f"at {self.delay:.1f}s"] if self.delay is not None else [])
        return " or ".join(parts)


def run_and_kill(args: list[str], home: Path, point: KillPoint | None, timeout: float = 900) -> Outcome:
    """Run a stage; with a point, SIGKILL its whole process group (Python and its JVM) there.
    Records when each new Delta log file appeared (polled every 20 ms)."""
    before = log_entries(home)
    started = time.monotonic()
    proc = subprocess.Popen(args, env=_env(home), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    killed, seen, timeline, fired = False, set(), [], ""
    while proc.poll() is None:
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            raise TimeoutError(f"{args} ran over {timeout}s")
        new = log_entries(home) - before - seen
        seen |= new
        timeline += [round(elapsed, 2)] * len(new)
        if point is not None and point.after_commits is not None and len(seen) >= point.after_commits:
            fired = f"on new log file {len(seen)}"
        elif point is not None and point.delay is not None and elapsed >= point.delay:
            fired = f"at {elapsed:.1f}s"
        if fired:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.02)
    output = proc.communicate()[0]
    return Outcome(time.monotonic() - started, proc.returncode, killed, fired or "none",
                   len(log_entries(home) - before), output, timeline)


def kill_points(seed: int, seconds: float, timeline: list[float], n: int = 5, commits: int = 0) -> list[KillPoint]:
    """Seeded points from an uninterrupted run of the stage (`seconds` long, its new Delta log
    files appearing at `timeline`): about half on the k-th new log file (k drawn from 1..all of
    them; a time after the reference's end as a fallback, since a run after a kill may have less
    to write), the others at a time drawn between the first log file and the end (before
    the first write a kill tests nothing). So nearly every run lands a kill. A reference saved
    without timeline (an older one) gives its count of log files (`commits`) instead."""
    rng = random.Random(seed)
    first = timeline[0] if timeline else seconds * 0.3
    points = []
    for i in range(n):
        if (timeline or commits) and i % 2 == 0:
            k = rng.randint(1, len(timeline) or commits)
            # the fallback well after the reference's time: a run slower than the reference (a busy
            # machine) must still die on its commit, not before its first write
            points.append(KillPoint(after_commits=k, delay=max(timeline[k - 1] * 1.5 if timeline else 0, seconds) * 1.2))
        else:
            points.append(KillPoint(delay=rng.uniform(first, seconds * 0.95)))
    rng.shuffle(points)
    return points


# -- checks on a home ---------------------------------------------------------------------------------

def read_delta_rs(path: Path):
    """The table at its latest version through delta-rs (no JVM): (version, Arrow table)."""
    from deltalake import DeltaTable

    table = DeltaTable(str(path))
    return table.version(), table.to_pyarrow_table()


def group_counts(arrow) -> dict[tuple, int]:
    """Rows per (as_of[, stage]): the grain a stage replaces in one commit."""
    keys = [c for c in ("as_of", "stage") if c in arrow.column_names]
    if not keys:
        return {(): arrow.num_rows}
    grouped = arrow.group_by(keys).aggregate([([], "count_all")]).to_pylist()
    return {tuple(str(r[k]) for k in keys): r["count_all"] for r in grouped}


@dataclass
class Reference:
    """An uninterrupted run's tables: per table, rows per as-of (and stage) group."""
    counts: dict[str, dict[tuple, int]] = field(default_factory=dict)


def reference_counts(home: Path) -> Reference:
    return Reference({name: group_counts(read_delta_rs(path)[1]) for name, path in tables(home).items()})


def partial_groups(home: Path, ref: Reference) -> list[str]:
    """Every table readable by delta-rs; each as-of (and stage) group present holds all the rows
    the uninterrupted run wrote for it: a group is absent or whole, never partial."""
    problems = []
    for name, path in tables(home).items():
        _, arrow = read_delta_rs(path)
        for group, n in group_counts(arrow).items():
            want = ref.counts.get(name, {}).get(group)
            if group != () and n != want:
                problems.append(f"{name}{list(group)}: {n} rows, an uninterrupted run has {want}")
    return problems


def dangling_aliases(home: Path) -> list[str]:
    """Aliases of the home's registered models that point at a missing version or artifact."""
    from mlflow import MlflowClient

    db = home / "mlflow.db"
    if not db.exists():
        return []
    client = MlflowClient(tracking_uri=f"sqlite:///{db}", registry_uri=f"sqlite:///{db}")
    problems = []
    for model in client.search_registered_models():
        for alias, version in (model.aliases or {}).items():
            try:
                mv = client.get_model_version(model.name, version)
            except Exception as exc:  # noqa: BLE001 - what is wrong is the finding
                problems.append(f"{model.name}@{alias} -> version {version}: {type(exc).__name__}")
                continue
            source = mv.source or ""
            local = _local_artifact(home, client, mv)
            if local is not None and not local.exists():
                problems.append(f"{model.name}@{alias} -> version {version}: artifact {source} missing")
    return problems


def _local_artifact(home: Path, client, mv) -> Path | None:
    try:
        uri = client.get_model_version_download_uri(mv.name, mv.version)
    except Exception:  # noqa: BLE001
        return home / "missing-artifact"
    if uri.startswith("file://"):
        return Path(uri[len("file://"):])
    return Path(uri) if uri.startswith("/") else None


def spark_frame(spark, path: Path, version: int | None = None):
    """The table (at its latest version, or `version`) read by Spark by path, without the
    run-varying columns. Doubles (in structs, arrays and maps too) are compared as floats (about
    7 significant digits): a sum of doubles depends on the order Spark adds the rows in, which
    depends on the files a table is made of, and after a kill and a re-run those can differ
    (seen: a training mean -0.093653125 against -0.09365312500000003)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, DoubleType, MapType, StructField, StructType

    def approx(c, dtype):
        if isinstance(dtype, DoubleType):
            return c.cast("float")
        if isinstance(dtype, StructType):
            return F.when(c.isNull(), F.lit(None)).otherwise(
                F.struct(*[approx(c[f.name], f.dataType).alias(f.name) for f in dtype.fields]))
        if isinstance(dtype, ArrayType):
            return F.transform(c, lambda x: approx(x, dtype.elementType))
        return c

    reader = spark.read.format("delta")
    df = (reader.option("versionAsOf", version) if version is not None else reader).load(str(path))
    kept = [f for f in df.schema.fields if f.name not in RUN_VARYING]
    # a map is not orderable: its sorted entries are, and say the same
    def shown(f):
        if isinstance(f.dataType, MapType):
            entries = ArrayType(StructType([StructField("key", f.dataType.keyType),
                                            StructField("value", f.dataType.valueType)]))
            return approx(F.array_sort(F.map_entries(f.name)), entries).alias(f.name)
        if f.name in RUN_VARYING_NUMBERS:
            return F.regexp_replace(f.name, RUN_VARYING_NUMBERS[f.name], "$1#").alias(f.name)
        c = F.col(f.name)
        if f.name in RUN_VARYING_CHECK_COLUMNS and "check" in df.columns:
            c = F.when(~F.col("check").isin(*RUN_VARYING_CHECKS), c)
        return approx(c, f.dataType).alias(f.name)

    return df.select(*[shown(f) for f in sorted(kept, key=lambda f: f.name)])


def assert_same_tables(spark, home_a, versions_a, home_b, versions_b, what: str) -> int:
    """Every table of two homes (at the given versions) holds the same data, run-varying columns
    left out; returns how many tables were compared."""
    compared = 0
    for name in sorted(set(versions_a) | set(versions_b)):
        assert name in versions_a and name in versions_b, f"{what}: table {name} only in one of them"
        a = spark_frame(spark, tables(home_a)[name], versions_a[name])
        b = spark_frame(spark, tables(home_b)[name], versions_b[name])
        try:
            assert_df_equality(a, b, ignore_row_order=True, ignore_nullable=True)
        except AssertionError as exc:
            raise AssertionError(f"{what}: table {name} differs\n{str(exc)[:4000]}") from None
        compared += 1
    return compared
