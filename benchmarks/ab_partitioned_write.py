"""A/B of a partitioned Delta write: as Spark plans it (each task writes a file into every
partition it holds rows of) vs. repartitioned by the partition column first (one file per
partition), on a home's `features` table (e.g. one the scale benchmark made). Alternates the two
in one session, so both see the same machine load; then times a read of the training window
(90 as-ofs) of each copy.

    python benchmarks/ab_partitioned_write.py --table-path /tmp/scale-1000000-xxxx/warehouse/<schema>.db/features
        [--rounds 2] [--out /tmp/ab-partitioned-write]

Runs in a session of its own (a home under --out), so the home it reads from may be in use.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table-path", required=True, help="the Delta table's folder")
    p.add_argument("--column", default="as_of")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", default="/tmp/ab-partitioned-write")
    args = p.parse_args()
    home = Path(args.out) / "home"
    os.environ["LAKESCORE_HOME"] = str(home)
    from pyspark.sql import functions as F

    from lakescore.core.runtime import get_spark

    spark = get_spark(home)
    source = spark.read.format("delta").load(args.table_path).cache()
    rows = source.count()
    results = []
    for r in range(args.rounds):
        for mode in ("as_planned", "repartitioned"):
            path = f"{args.out}/{mode}-{r}"
            df = source.repartition(args.column) if mode == "repartitioned" else source
            t = time.perf_counter()
            df.write.format("delta").mode("overwrite").partitionBy(args.column).save(path)
            write_s = time.perf_counter() - t
            files = sum(1 for f in Path(path).rglob("*.parquet"))
            t = time.perf_counter()
            back = spark.read.format("delta").load(path)
            days = sorted(x[0] for x in back.select(args.column).distinct().collect())
            back.where(F.col(args.column).between(days[0], days[-2])).agg(
                *[F.count(c) for c in back.columns]).collect()
            read_s = time.perf_counter() - t
            results.append({"round": r, "mode": mode, "rows": rows, "files": files, "write_s": round(write_s, 2),
                            "read_window_s": round(read_s, 2), "load": os.getloadavg()[0]})
            print(json.dumps(results[-1]), flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
