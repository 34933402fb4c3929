"""Benchmark: scoring throughput of the two execution paths and on-demand latency, on full data.

    .venv/bin/python benchmarks/scoring.py [--config conf/flights.yml] [--as-of 2013-12-01] [--home DIR]

In a fresh local home (or `--home`, reusing its tables): ingest, features, train and promote for
the as-of (the champion is the Spark ML model `train` makes), then a scikit-learn pipeline fitted
on the same train split is registered (`lakescore model register`'s code). Measured:
- rows/s of each path's scorer (native Spark ML transform vs mlflow.pyfunc.spark_udf), on the
  as-of's catalog and on every row of `features`, through Spark's no-op writer (best of 3);
- the score stage end to end with each model as @champion, with and without Z-order;
- on-demand: a cached lookup (a scored entity) and a computed prediction (an entity of the next,
  unscored as-of), in a warm session (best and median of 5).
Writes benchmarks/results/scoring-<timestamp>.json. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def best_of(n: int, fn) -> tuple[float, list[float]]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "conf" / "flights.yml"))
    parser.add_argument("--as-of", default="2013-12-01")
    parser.add_argument("--home", help="reuse this local home (its tables and models) instead of a fresh one")
    parser.add_argument("--on-demand-only", action="store_true", help="only the on-demand latencies (needs --home "
                        "with a champion and scored predictions)")
    args = parser.parse_args()
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="lakescore-bench-scoring-"))
    os.environ["LAKESCORE_HOME"] = str(home)

    from lakescore import notebook
    from lakescore.core.runtime import get_spark
    from lakescore.core.stage_runner import setup_logging
    from lakescore.jobs.pipeline import run_stages
    from lakescore.models import registry

    setup_logging(logging.WARNING)
    spark = get_spark(home)
    as_of = date.fromisoformat(args.as_of)
    ctx = notebook.use_case(args.config, as_of)
    report: dict = {"when": datetime.now().isoformat(timespec="seconds"), "config": args.config, "as_of": args.as_of,
                    "home": str(home), "machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()},
                    "versions": {p: metadata.version(p) for p in ("pyspark", "delta-spark", "mlflow", "scikit-learn")}}
    if registry.by_alias(ctx, registry.CHAMPION) is None:
        t = time.perf_counter()
        run_stages(ctx, ["ingest", "features", "train", "promote"])
        report["setup_s"] = round(time.perf_counter() - t, 1)
    native_ref = registry.by_alias(ctx, registry.CHAMPION)
    if not args.on_demand_only:
        measure_scoring(ctx, spark, native_ref, report)
    measure_on_demand(ctx, spark, report)
    report["machine"]["load_average_at_end"] = os.getloadavg()
    out = ROOT / "benchmarks" / "results" / f"scoring-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {out}", file=sys.stderr)


def measure_scoring(ctx, spark, native_ref, report: dict) -> None:
    """rows/s of both paths' scorers, and the score stage with each model as champion."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from pyspark.sql import functions as F
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from lakescore import notebook
    from lakescore.core.runtime import Context
    from lakescore.jobs import score
    from lakescore.models import registry
    from lakescore.training.register_model import register
    from lakescore.transforms.columns import AS_OF

    cfg, as_of, home = ctx.cfg, ctx.as_of, ctx.home
    # a scikit-learn pipeline fitted on the train split, as a notebook would
    t = time.perf_counter()
    X, y = notebook.training_rows(ctx)
    numeric = [f.name for f in cfg.model_features if f.kind == "numeric"]
    categorical = [f.name for f in cfg.model_features if f.kind == "categorical"]
    model = make_pipeline(make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        (make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                       OneHotEncoder(handle_unknown="ignore")), categorical)),
        LogisticRegression(max_iter=1000)).fit(X, y)
    fit_s = time.perf_counter() - t
    with mlflow.start_run(run_name="notebook"):
        uri = mlflow.sklearn.log_model(model, name="model", signature=infer_signature(X),
                                       serialization_format="cloudpickle").model_uri
    t = time.perf_counter()
    byo = register(ctx, uri, as_of)
    report["sklearn"] = {"train_rows": len(X), "fit_s": round(fit_s, 1), "register_s": round(time.perf_counter() - t, 1),
                         "test_auc": round(byo["test_metrics"]["auc"], 6)}
    sk_ref = registry.by_version(ctx, byo["model_version"])

    features = spark.table(f"{cfg.storage.schema_name}.{cfg.tables.features}")
    catalog = features.where(F.col(AS_OF) == as_of).cache()
    everything = features.cache()
    sizes = {"catalog": catalog.count(), "features": everything.count()}
    report["rows"] = sizes
    throughput = {}
    for label, ref in (("native", native_ref), ("pyfunc", sk_ref)):
        scorer = registry.scorer(ctx, ref)
        for name, rows in (("catalog", catalog), ("features", everything)):
            def run(rows=rows, scorer=scorer):
                scorer(rows).select("prediction", "score").write.format("noop").mode("overwrite").save()
            run()  # warm-up
            best, times = best_of(3, run)
            throughput[f"{label}_{name}"] = {"rows": sizes[name], "best_s": round(best, 3),
                                             "rows_per_s": round(sizes[name] / best),
                                             "times_s": [round(x, 3) for x in times]}
            print(f"{label:7s} {name:9s} {sizes[name]:>7,} rows  best {best:6.2f}s  {sizes[name] / best:>10,.0f} rows/s",
                  flush=True)
    report["scorer_throughput"] = throughput
    catalog.unpersist()
    everything.unpersist()

    # the score stage end to end, each model as champion, Z-order on and off
    stage = {}
    for label, ref in (("native", native_ref), ("pyfunc", sk_ref)):
        registry.set_alias(ref, registry.CHAMPION)
        for zorder in (True, False):
            run_cfg = cfg.model_copy(update={"score": cfg.score.model_copy(update={"zorder": zorder})})
            run_ctx = Context(cfg=run_cfg, as_of=as_of, home=home)
            best, times = best_of(3, lambda c=run_ctx: score.run(c))
            stage[f"{label}_zorder_{'on' if zorder else 'off'}"] = [round(x, 2) for x in times]
            print(f"score stage {label:7s} zorder {zorder!s:5s}: {', '.join(f'{x:.2f}' for x in times)} s", flush=True)
    registry.set_alias(native_ref, registry.CHAMPION)
    score.run(ctx)
    report["score_stage_s"] = stage


def measure_on_demand(ctx, spark, report: dict) -> None:
    """A scored flight (cache) and a flight of the next as-of (computed), in this warm session."""
    from pyspark.sql import functions as F

    from lakescore import notebook
    from lakescore.transforms.columns import AS_OF

    cfg, as_of = ctx.cfg, ctx.as_of
    preds = spark.table(f"{cfg.storage.schema_name}.{cfg.tables.predictions}").where(F.col(AS_OF) == as_of)
    scored_key = preds.orderBy(*cfg.entity.key).first()
    later = as_of + timedelta(days=1)
    later_key = (spark.table(f"{cfg.storage.schema_name}.{cfg.clean_table(cfg.entity.source)}")
                 .where(on_day(cfg, later)).orderBy(*cfg.entity.key).first())
    keys_cached = {k: str(scored_key[k]) for k in cfg.entity.key}
    keys_later = {k: str(later_key[k]) for k in cfg.entity.key}
    latency = {}
    for label, fn in (("cached", lambda: notebook.predict(ctx, keys_cached, as_of)),
                      ("computed", lambda: notebook.predict(ctx, keys_later, later))):
        out = fn()
        assert out["served"] == ("cache" if label == "cached" else "computed"), out["served"]
        _, times = best_of(5, fn)
        latency[label] = {"key": keys_cached if label == "cached" else keys_later, "best_s": round(min(times), 3),
                          "median_s": round(statistics.median(times), 3), "times_s": [round(x, 3) for x in times]}
        print(f"on demand {label:8s}: best {min(times):.2f}s median {statistics.median(times):.2f}s", flush=True)
    report["on_demand_latency"] = latency
    print(f"CLI (after this process ends; each starts a session):\n"
          f"  LAKESCORE_HOME={ctx.home} lakescore predict -c {ctx.config_path} "
          f"--key flight_id={keys_cached.get('flight_id')} --as-of {as_of}\n"
          f"  LAKESCORE_HOME={ctx.home} lakescore predict -c {ctx.config_path} "
          f"--key flight_id={keys_later.get('flight_id')} --as-of {later}", file=sys.stderr)


def on_day(cfg, day: date):
    """Entities whose event falls on `day` in the use case's time zone."""
    from pyspark.sql import functions as F

    from lakescore.transforms.features.asof import local_date
    from lakescore.transforms.sqltext import col

    return local_date(col(cfg.entity.event_time), cfg.entity.timezone) == F.lit(day)


if __name__ == "__main__":
    main()
