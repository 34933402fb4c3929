"""One measured step of the scale benchmark, in a process of its own (benchmarks/scale.py runs it
and samples the memory of its process tree): a stage of the pipeline, or a stage's I/O floor.

    python benchmarks/scale_steps.py STEP --config HOME/flights.yml --home HOME --as-of 2013-12-01
        --data DATA_DIR --result OUT.json

STEP is a stage (ingest, features, train, promote, score, monitor), floor_<stage> (ingest,
features, score, monitor) or `daily` (the daily flow after the history: see `daily`). A floor reads the stage's
inputs and writes rows shaped like its
output with no logic (constants in place of computed values) as a Delta table under
HOME/floors/, so that stage / floor is what the stage's logic costs beyond its I/O:

- floor_ingest: read every landing CSV (as text, as the landing does) and write each source as Delta;
- floor_features: read the clean tables and write the rows of `features` (the entity rows of
  every as-of the features stage wrote) with its schema;
- floor_score: read the as-of's rows of `features`, write rows shaped like `predictions` (a constant score);
- floor_monitor: read the as-of's predictions and its flights' labels, write one aggregate row.

Writes {"step", "seconds", "session_s", "rows", "jvm_heap_peak_mb", ...} to --result.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STAGES = ("ingest", "features", "train", "promote", "score", "monitor")
FLOORS = ("floor_ingest", "floor_features", "floor_score", "floor_monitor")
DAILY = ("daily",)
DAILY_STAGES = ("ingest", "features", "score", "monitor")


def jvm_heap_peak_mb(spark) -> dict:
    """Peak used / committed heap of the driver JVM since it started (the sum of its heap pools'
    peaks, from java.lang.management), and the configured maximum."""
    mf = spark._jvm.java.lang.management.ManagementFactory
    pools = [p for p in mf.getMemoryPoolMXBeans() if str(p.getType()) == "Heap memory"]
    used = sum(p.getPeakUsage().getUsed() for p in pools)
    committed = sum(p.getPeakUsage().getCommitted() for p in pools)
    return {"jvm_heap_peak_mb": round(used / 2**20, 1), "jvm_heap_committed_peak_mb": round(committed / 2**20, 1),
            "jvm_heap_max_mb": round(mf.getMemoryMXBean().getHeapMemoryUsage().getMax() / 2**20, 1)}


def _floor_path(home: Path, name: str) -> str:
    return str(home / "floors" / name)


def _write(df, path: str, partition_by: list[str] | None = None) -> int:
    writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(path)
    return df.sparkSession.read.format("delta").load(path).count()


def _shaped(df, schema, fill: dict):
    """`df`'s columns in `schema`'s order and types: a column of `df` with the same name as it
    is, else `fill[name]` or a typed NULL."""
    from pyspark.sql import functions as F

    cols = []
    for field in schema.fields:
        if field.name in fill:
            cols.append(fill[field.name].cast(field.dataType).alias(field.name))
        elif field.name in df.columns:
            cols.append(F.col(field.name).cast(field.dataType).alias(field.name))
        else:
            cols.append(F.lit(None).cast(field.dataType).alias(field.name))
    return df.select(*cols)


def floor_ingest(ctx, data: Path) -> int:
    rows = 0
    for source in ("flights", "weather", "planes", "airports", "airlines"):
        path = data / source if (data / source).is_dir() else data / f"{source}.csv"
        df = ctx.spark.read.option("header", "true").csv(str(path))       # every column as text
        rows += _write(df, _floor_path(ctx.home, f"raw_{source}"))
    return rows


def floor_features(ctx, data: Path) -> int:
    from pyspark.sql import functions as F

    store, t = ctx.tables, ctx.cfg.tables
    features = store.read(t.features)
    bounds = features.agg(F.min("as_of"), F.max("as_of")).first()
    for source in ("weather", "planes", "airports", "airlines"):       # the lookups' inputs, read
        store.read(t.clean_prefix + source).count()
    flights = store.read(t.clean_prefix + "flights")
    tz = ctx.cfg.entity.timezone
    local_day = F.to_date(F.from_utc_timestamp(F.col("sched_dep_ts"), tz))
    rows = (flights.withColumn("as_of", local_day)
            .where((F.col("as_of") >= bounds[0]) & (F.col("as_of") <= bounds[1])))
    fill = {"prediction_time": F.to_utc_timestamp(F.col("as_of").cast("timestamp"), tz)}
    return _write(_shaped(rows, features.schema, fill), _floor_path(ctx.home, "features"), ["as_of"])


def floor_score(ctx, data: Path) -> int:
    from pyspark.sql import functions as F

    store, t = ctx.tables, ctx.cfg.tables
    predictions = store.read(t.predictions)
    rows = store.read(t.features).where(F.col("as_of") == F.lit(ctx.as_of))
    fill = {"score": F.lit(0.5), "prediction": F.lit(0)}
    return _write(_shaped(rows, predictions.schema, fill), _floor_path(ctx.home, "predictions"), ["as_of"])


def floor_monitor(ctx, data: Path) -> int:
    from pyspark.sql import functions as F

    store, t = ctx.tables, ctx.cfg.tables
    day = ctx.as_of - timedelta(days=1)                       # monitor(D) judges the predictions of D-1
    preds = store.read(t.predictions).where(F.col("as_of") == F.lit(day))
    tz = ctx.cfg.entity.timezone
    labels = (store.read(t.clean_prefix + "flights")
              .where(F.to_date(F.from_utc_timestamp(F.col("sched_dep_ts"), tz)) == F.lit(day)))
    p = preds.agg(F.count(F.lit(1)).alias("predictions"), F.avg("score").alias("mean_score"))
    lab = labels.agg(F.count("arr_delay").alias("labelled"),
                     F.avg((F.col("arr_delay") > 15).cast("int")).alias("delay_rate"))
    return _write(p.crossJoin(lab), _floor_path(ctx.home, "monitor"))


def daily(ctx_for, home: Path, data: Path, as_of: date, seed: int) -> dict:
    """The daily flow after the history (no training): a new landing file with one day's volume
    of flights and its weather (generated, dated 2014-01-01 so its keys are new; the next day
    each time the step runs again in the same home), then ingest,
    features and score for the next as-of and monitor for the day after (the first that knows the
    as-of's labels), in one session as a scheduled `run` would. Returns each stage's seconds."""
    import shutil
    import subprocess

    manifest = json.loads((data / "manifest.json").read_text())
    per_day = max(1, manifest["flights"] // manifest["days"])
    gen = home / "daily-batch"

    # a new day each time the step runs in the same home (its batch is new again)
    landed = home / "landing" / "flights"
    days = (date(2014, 1, 1) + timedelta(days=i) for i in range(366))
    batch_day = next(d for d in days if not (landed / f"flights-{d}.csv").exists())
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generate.py"), "--flights", str(per_day), "--seed",
                    str(seed + 1), "--start", batch_day.isoformat(), "--days", "1", "--files", "one", "--out", str(gen)],
                   check=True, stdout=subprocess.DEVNULL)
    for source in ("flights", "weather"):
        shutil.copy(gen / source / f"{source}.csv", home / "landing" / source / f"{source}-{batch_day}.csv")
    day = as_of + timedelta(days=1)
    out: dict = {"batch_flights": per_day, "batch_day": batch_day.isoformat(), "as_of": day.isoformat()}
    from lakescore.jobs.pipeline import run_stages

    for stage in DAILY_STAGES:
        ctx = ctx_for(day + timedelta(days=1) if stage == "monitor" else day)
        t = time.perf_counter()
        run_stages(ctx, [stage])
        out[f"{stage}_s"] = round(time.perf_counter() - t, 2)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("step", choices=STAGES + FLOORS + DAILY)
    p.add_argument("--config", required=True)
    p.add_argument("--home", required=True)
    p.add_argument("--as-of", type=date.fromisoformat, required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--result", required=True)
    p.add_argument("--seed", type=int, default=7, help="the data's seed (daily: its batch uses seed + 1)")
    args = p.parse_args()
    os.environ["LAKESCORE_HOME"] = args.home

    from lakescore.config import load_config
    from lakescore.core.runtime import Context
    from lakescore.core.stage_runner import setup_logging
    from lakescore.jobs.pipeline import run_stages

    setup_logging(logging.INFO)         # the step's log (HOME/<step>.log) shows where its time goes
    cfg = load_config(args.config)
    as_of = args.as_of + timedelta(days=1) if args.step.endswith("monitor") else args.as_of
    ctx = Context(cfg=cfg, as_of=as_of, config_path=args.config, home=Path(args.home))
    started = time.perf_counter()
    spark = ctx.spark
    session_s = time.perf_counter() - started
    started = time.perf_counter()
    out: dict = {"step": args.step, "as_of": as_of.isoformat()}
    if args.step in STAGES:
        result = run_stages(ctx, [args.step])[args.step]
        out["summary"] = {k: v for k, v in (result or {}).items() if isinstance(v, (int, float, str))}
    elif args.step == "daily":
        out["summary"] = daily(lambda d: Context(cfg=cfg, as_of=d, config_path=args.config, home=Path(args.home)),
                               Path(args.home), Path(args.data), args.as_of, args.seed)
    else:
        out["rows_written"] = globals()[args.step](ctx, Path(args.data))
    out["seconds"] = round(time.perf_counter() - started, 2)
    if args.step == "daily":                     # the stages' time, not the batch's generation
        out["seconds"] = round(sum(out["summary"][f"{s}_s"] for s in DAILY_STAGES), 2)
    out["session_s"] = round(session_s, 2)
    out.update(jvm_heap_peak_mb(spark))
    Path(args.result).write_text(json.dumps(out, indent=2, default=str) + "\n")
    spark.stop()


if __name__ == "__main__":
    main()
