"""Benchmark: every stage of a use case on its full data, in a fresh local home.

    .venv/bin/python benchmarks/run.py [--config conf/flights.yml] [--as-of 2013-12-01] [--repeat 2]
    .venv/bin/python benchmarks/run.py --stages ingest     # one stage (here: landing + contracts)

Prints a table of stage wall times and writes benchmarks/results/<config>-<timestamp>.json.

    .venv/bin/python benchmarks/run.py --sizes 1000000,10000000     # the scale benchmark (make bench-scale)

With --sizes: generated flights of each size, every stage against its I/O floor and the pandas +
scikit-learn baseline, each in a process of its own with its peak memory (benchmarks/scale.py);
writes benchmarks/results/scale-<timestamp>.json and .md.
Not part of the test suite: tests never time anything.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from datetime import date, datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "conf" / "flights.yml"))
    parser.add_argument("--as-of", default="2013-12-01")
    parser.add_argument("--repeat", type=int, default=2, help="re-runs of the whole flow after the first")
    parser.add_argument("--stages", default="all", help="comma-separated stages to time, in order (default: all)")
    scale = parser.add_argument_group("scale benchmark (--sizes)")
    scale.add_argument("--sizes", help="comma-separated numbers of generated flights, e.g. 1000000,10000000")
    scale.add_argument("--seed", type=int, default=7, help="the generator's seed")
    scale.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "lakescore-bench-data"),
                       help="where generated data is kept, by size and seed (reused when there)")
    scale.add_argument("--homes", default=tempfile.gettempdir(), help="where each size's fresh home is made")
    scale.add_argument("--steps", default="all", help="comma-separated steps (stages, floor_<stage>, baseline)")
    scale.add_argument("--baseline-max", type=int, default=30_000_000, help="largest size the baseline runs at")
    scale.add_argument("--master", help="Spark master URL (default: LAKESCORE_MASTER, else local[*])")
    args = parser.parse_args()
    if args.sizes:
        sys.path.insert(0, str(ROOT))
        from benchmarks.scale import main as scale_main

        scale_main(args)
        return

    home = Path(tempfile.mkdtemp(prefix="lakescore-bench-"))
    os.environ["LAKESCORE_HOME"] = str(home)
    from lakescore.config import load_config
    from lakescore.core.runtime import Context, get_spark
    from lakescore.core.stage_runner import setup_logging
    from lakescore.jobs.pipeline import STAGES, run_stages

    setup_logging(logging.WARNING)
    started = time.perf_counter()
    spark = get_spark(home)
    session_s = time.perf_counter() - started
    cfg = load_config(args.config)
    ctx = Context(cfg=cfg, as_of=date.fromisoformat(args.as_of), home=home)
    stages = STAGES if args.stages == "all" else [s.strip() for s in args.stages.split(",")]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        parser.error(f"--stages: unknown {unknown} (stages: {', '.join(STAGES)})")

    runs = []
    for attempt in range(1 + args.repeat):
        timings = {}
        for stage in stages:
            t = time.perf_counter()
            result = run_stages(ctx, [stage])[stage]
            timings[stage] = round(time.perf_counter() - t, 2)
            if stage == "train":
                timings["train_rows"] = result["train_rows"]
                timings["test_" + cfg.model.primary_metric] = round(result["test_metrics"][cfg.model.primary_metric], 6)
        runs.append(timings)
        print(f"run {attempt + 1}: " + ", ".join(f"{k} {v}" for k, v in timings.items()), flush=True)

    rows = {t: spark.table(f"{cfg.storage.schema_name}.{t}").count()
            for t in ("clean_" + cfg.entity.source, "features", "predictions")
            if spark.catalog.tableExists(f"{cfg.storage.schema_name}.{t}")}
    report = {
        "when": datetime.now().isoformat(timespec="seconds"), "config": args.config, "as_of": args.as_of,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "versions": {p: metadata.version(p) for p in ("pyspark", "delta-spark", "mlflow")},
        "session_start_s": round(session_s, 2), "rows": rows,
        "first_run_s": runs[0], "reruns_s": runs[1:],
    }
    out = ROOT / "benchmarks" / "results" / f"{cfg.name}-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nsession start {session_s:.1f}s; rows {rows}")
    print("| stage | first run (s) | re-runs (s) |\n|---|---|---|")
    for stage in stages:
        print(f"| {stage} | {runs[0][stage]} | {', '.join(str(r[stage]) for r in runs[1:])} |")
    print(f"\nwrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
