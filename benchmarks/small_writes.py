"""A small table's write, the way the stages write `alerts`, `stage_runs`, `landed_files` and
`data_quality`: a MERGE on its key (`TableStore.merge` with `delete_where`, what they did) against
one replaceWhere of the same scope (`TableStore.replace`, what they do), on the same rows.

    python benchmarks/small_writes.py [--history 200] [--repeat 5]

It builds a table of `--history` earlier writes (one as-of of 3 rows each: a table with that many
versions, as `alerts` is after months of daily runs), then writes the next as-of `--repeat` times by
each method, alternating, and prints the median seconds and the Spark jobs of each. A benchmark,
never a timed test: run it on an otherwise idle machine (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--history", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="lakescore-small-writes-"))
    os.environ["LAKESCORE_HOME"] = str(home)
    from lakescore.config import parse_config
    from lakescore.core.runtime import Context
    from lakescore.transforms.schemas import STAGE_RUNS
    from lakescore.transforms.sqltext import all_of, eq
    from tests.support import EVENT_CONTRACT, events_use_case

    cfg = parse_config(events_use_case("small_writes", "small_writes", {"events": {"columns": EVENT_CONTRACT}}))
    ctx = Context(cfg=cfg, as_of=date(2024, 1, 1), home=home)
    spark, store, table = ctx.spark, ctx.tables, cfg.tables.stage_runs
    first = date(2024, 1, 1)

    def rows(day: date):
        now = Context.now()
        return spark.createDataFrame([(day, s, "succeeded", now, 1.5, None) for s in ("ingest", "features", "score")],
                                     STAGE_RUNS.struct())

    started = time.perf_counter()
    for i in range(args.history):
        day = first + timedelta(days=i)
        store.write(rows(day), table, mode="append")
    print(f"history: {args.history} versions in {time.perf_counter() - started:.0f}s; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    day = first + timedelta(days=args.history)
    scope = all_of(eq("as_of", day))
    tracker = spark.sparkContext.statusTracker()
    figures: dict[str, list[tuple[float, int]]] = {"merge": [], "replace": []}
    for i in range(args.repeat):
        for method in ("merge", "replace"):
            df = rows(day)
            group = f"{method}-{i}"
            spark.sparkContext.setJobGroup(group, group)
            began = time.perf_counter()
            if method == "merge":
                store.merge(df, table, ["as_of", "stage"], delete_where=scope)
            else:
                store.replace(df, table, scope)
            figures[method].append((time.perf_counter() - began, len(tracker.getJobIdsForGroup(group))))
    for method, runs in figures.items():
        print(f"{method:<8} median {statistics.median(s for s, _ in runs):.2f}s over {len(runs)} writes, "
              f"{statistics.median(j for _, j in runs):.0f} Spark jobs each")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    spark.stop()


if __name__ == "__main__":
    main()
