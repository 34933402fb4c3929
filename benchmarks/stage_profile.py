"""What one stage pays before its first row, and how many Spark jobs and Delta commits it runs.

    python benchmarks/stage_profile.py --config conf/flights.yml --as-of 2013-12-01 --stage score

runs, in this one fresh process and in this order: the imports (the CLI's, then the stage's:
pyspark, Delta's Python API, MLflow), the Spark session's start (JVM, Delta's JARs, the catalog),
the catalog's first answer (the schema's tables), MLflow's set-up (tracking store, experiment),
the first Delta snapshot of the stage's first table, then the stage itself through the same
path as `lakescore run <stage>` (stage_runs row included). It prints one line per step with its
seconds, the Spark jobs the stage ran (by job group) and the Delta commits it added (new log
files under the home's warehouse), and with `--json` writes them to a file. `--wall N` first
times N runs of the whole `lakescore run <stage>` command (process start to exit) for the
same as-of. The JVM's CPU during the stage is split by thread: the JIT's compilers, the tasks,
GC, the rest (LAKESCORE_JAVA_OPTS=-XX:TieredStopAtLevel=1 runs C1 alone instead of the JVM's
default tiered JIT).

A benchmark, never a timed test: run it on an otherwise idle machine (the load average is
printed) and on a home where the stage has run before (a re-run: what a daily job pays).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

STARTED = time.perf_counter()


def _step(steps: list, name: str, since: float) -> float:
    now = time.perf_counter()
    steps.append((name, now - since))
    print(f"  {name:<44} {now - since:7.2f} s", flush=True)
    return now


def _log_files(home: Path) -> set[str]:
    return {str(p) for p in home.rglob("_delta_log/*.json")}


def jvm_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of the JVM's threads so far, by kind (Linux /proc): the JIT's compiler threads,
    the tasks, garbage collection, the rest (the driver's py4j threads, the scheduler)."""
    kinds = {"jit compiler": ("C1 CompilerThre", "C2 CompilerThre", "Sweeper thread"),
             "tasks": ("Executor task l",), "gc": ("GC Thread", "G1 ")}
    out = dict.fromkeys([*kinds, "other"], 0.0)
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            raw = (task / "stat").read_text()
        except OSError:   # a thread that ended meanwhile
            continue
        name, fields = raw[raw.index("(") + 1:raw.rindex(")")], raw[raw.rindex(")") + 2:].split()
        kind = next((k for k, prefixes in kinds.items() if name.startswith(prefixes)), "other")
        out[kind] += (int(fields[11]) + int(fields[12])) / tick
    return out


def wall_times(config: str, as_of: str, stage: str, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lakescore", "run", stage, "--config", config, "--as-of", as_of],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - began)
        print(f"  lakescore run {stage}: {out[-1]:.1f} s wall (process start to exit)", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="conf/flights.yml")
    ap.add_argument("--as-of", default="2013-12-01")
    ap.add_argument("--stage", default="score")
    ap.add_argument("--wall", type=int, default=0, help="first time N runs of the whole command")
    ap.add_argument("--json", type=Path, help="write the figures to this file")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    walls = wall_times(args.config, args.as_of, args.stage, args.wall) if args.wall else []

    steps: list = []
    t = time.perf_counter()
    from lakescore.config import load_config
    from lakescore.core import stage_runner
    t = _step(steps, "import the CLI's modules (config, runner)", t)
    from lakescore.jobs import pipeline
    run = pipeline.stage(args.stage)
    t = _step(steps, f"import the stage ({args.stage}: pyspark, delta, mlflow)", t)

    from lakescore.core.runtime import Context, local_home
    cfg = load_config(args.config)
    ctx = Context(cfg=cfg, as_of=date.fromisoformat(args.as_of), config_path=args.config, home=local_home(cfg))
    spark = ctx.spark
    t = _step(steps, "Spark session (JVM, Delta JARs, catalog)", t)
    tables = [r.tableName for r in spark.sql(f"SHOW TABLES IN {ctx.tables.schema}").collect()]
    t = _step(steps, f"catalog's first answer ({len(tables)} tables)", t)
    from lakescore.models import registry
    registry.configure(ctx)
    t = _step(steps, "MLflow set-up (tracking store, experiment)", t)
    first = cfg.tables.features if args.stage in ("score", "monitor", "train") else cfg.tables.stage_runs
    if ctx.tables.exists(first):
        ctx.tables.version(first)
        t = _step(steps, f"first Delta snapshot ({first})", t)

    before = _log_files(ctx.home)
    pid = int(spark.sparkContext._jvm.ProcessHandle.current().pid())
    cpu_before = jvm_cpu(pid) if Path("/proc").is_dir() else {}
    tracker = spark.sparkContext.statusTracker()
    spark.sparkContext.setJobGroup("lakescore-profile", f"{args.stage} {args.as_of}")
    stage_runner.run_stages(ctx, [(args.stage, run)])
    t = _step(steps, f"the stage {args.stage} (its stage_runs row included)", t)
    jobs = len(tracker.getJobIdsForGroup("lakescore-profile"))
    commits = len(_log_files(ctx.home) - before)
    total = time.perf_counter() - STARTED
    print(f"  {'total, process start to the stage end':<44} {total:7.2f} s")
    print(f"  Spark jobs of the stage: {jobs}; Delta commits: {commits}")
    cpu = {k: v - cpu_before[k] for k, v in jvm_cpu(pid).items()} if cpu_before else {}
    if cpu:
        jit = os.environ.get("LAKESCORE_JAVA_OPTS") or "the JVM's default JIT"
        print(f"  JVM CPU during the stage ({jit}): "
              + ", ".join(f"{k} {v:.1f} s" for k, v in cpu.items()))
    if args.json:
        args.json.write_text(json.dumps({"stage": args.stage, "as_of": args.as_of, "steps": steps, "jobs": jobs,
                                         "commits": commits, "total": total, "wall": walls, "jvm_cpu": cpu,
                                         "java_opts": os.environ.get("LAKESCORE_JAVA_OPTS"),
                                         "load_average": os.getloadavg()}, indent=1))


if __name__ == "__main__":
    main()
