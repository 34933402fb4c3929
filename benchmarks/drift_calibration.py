"""How often each drift test fires on the flights data: the evidence behind the defaults.

    LAKESCORE_HOME=<home of a `make demo` run> .venv/bin/python benchmarks/drift_calibration.py \
        [--config conf/flights.yml] [--first 2013-11-02] [--last 2013-12-31]

Takes the champion of the home (trained for 2013-12-01 on 2 Sep - 30 Nov), computes the
features of every day from --first to --last with the features stage's code (the days the table
lacks are computed in memory, nothing is written), scores them with the champion and compares
each day with the champion's training rows (BASELINE) and with the day before (CONSECUTIVE),
exactly as the monitor stage does. Days inside the training window are the null case (no
drift but a day's own variation: every alert there is a false alarm); December is the season
the model did not see. Prints, per column and comparison, the median of each metric and the
share of days the configured test flags, in each period; writes the medians, maxima and flagged
days to benchmarks/results/drift-calibration-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "conf" / "flights.yml"))
    parser.add_argument("--first", default="2013-11-02")
    parser.add_argument("--last", default="2013-12-31")
    parser.add_argument("--split", default="2013-12-01", help="first day outside the training window")
    args = parser.parse_args()

    from pyspark.sql import functions as F

    from lakescore.config import load_config
    from lakescore.core.runtime import Context, get_spark, local_home
    from lakescore.core.stage_runner import setup_logging
    from lakescore.jobs import features as features_job
    from lakescore.jobs.monitor import _tests
    from lakescore.models import reference_profiles, registry
    from lakescore.transforms.columns import AS_OF, MODEL_ID
    from lakescore.transforms.monitoring import comparisons, profiles
    from lakescore.transforms.sqltext import date_range

    setup_logging(logging.WARNING)
    cfg = load_config(args.config)
    first, last, split = (date.fromisoformat(d) for d in (args.first, args.last, args.split))
    ctx = Context(cfg=cfg, as_of=last, home=local_home(cfg))
    get_spark(ctx.home)
    registry.configure(ctx)
    champion = registry.by_alias(ctx, registry.CHAMPION)
    mid = f"{champion.name}/{champion.version}"
    started = time.perf_counter()

    days = [first - timedelta(days=1) + timedelta(days=i) for i in range((last - first).days + 2)]
    store = ctx.tables
    stored = store.read(cfg.tables.features, where=date_range(AS_OF, days[0], last + timedelta(days=1)), count=False)
    have = {r[AS_OF] for r in stored.select(AS_OF).distinct().collect()}
    missing = [d for d in days if d not in have]
    feats = stored.drop("feature_set")
    if missing:
        built = features_job.build(ctx, missing)
        built = built.select(*[c for c in feats.columns])
        feats = feats.unionByName(built)
    scorer = registry.scorer(ctx, champion)
    scored = scorer(feats).withColumn(MODEL_ID, F.lit(mid)).cache()
    columns = cfg.monitored_columns
    # the champion's reference profile, as monitor reads it (computed once from its training rows if missing)
    reference_profiles.ensure(ctx, champion)
    stored = reference_profiles.drift_part(reference_profiles.read(ctx, champion.name, [champion.version]))
    profile = ctx.spark.createDataFrame(stored.collect(), stored.schema).where(F.col("slice_key").isNull())
    serving = scored.where(F.col(AS_OF) >= F.lit(first))
    previous = (scored.withColumn(comparisons.SCORED, F.lit(True)).withColumn(AS_OF, F.date_add(F.col(AS_OF), 1))
                .where(F.col(AS_OF) <= F.lit(last)))
    d = cfg.monitor.drift
    defaults, overrides = _tests(ctx)
    rows = comparisons.drift_rows(
        serving, previous, None, columns, [], bins=d.bins, coarse_bins=d.coarse_bins, baselines={mid: "training"},
        defaults=defaults, overrides=overrides, min_count=d.min_count, small_sample=d.small_sample,
        max_null_rate_increase=d.max_null_rate_increase, edges=profiles.reference_edges(profile),
        reference=profiles.reference_histogram(profile)).collect()
    seconds = time.perf_counter() - started

    metrics = ["wasserstein_distance", "ks", "population_stability_index", "js_distance", "l_infinity_distance",
               "mean_shift"]

    def figures(r) -> dict:
        out = r.asDict()
        out["ks"] = r.ks_test.statistic if r.ks_test else None
        out["mean_shift"] = (abs(r.mean - r.baseline_mean) / r.baseline_stddev
                             if r.mean is not None and r.baseline_stddev else None)
        out.pop("ks_test"), out.pop("chi_squared_test")
        return out

    table = [figures(r) for r in rows]
    print(f"{len(days) - 1} days compared in {seconds:.0f}s; test per column as configured (conf: {args.config})")
    print(f"{'column':26} {'type':11} {'period':6} " + " ".join(f"{m[:10]:>10}" for m in metrics)
          + f" {'metric':22} {'flagged':>8}  (medians; flagged: days the configured test flags / days decided)")
    summary = []
    for (column, drift_type) in sorted({(r["column_name"], r["drift_type"]) for r in table}):
        for period, inside in (("train", True), ("dec", False)):
            part = [r for r in table if r["column_name"] == column and r["drift_type"] == drift_type
                    and (r[AS_OF] < split) == inside]
            if not part:
                continue
            entry = {"column": column, "drift_type": drift_type, "period": period, "metric": part[0]["metric"],
                     "threshold": part[0]["threshold"], "days": len(part),
                     "flagged": sorted(str(r[AS_OF]) for r in part if r["drifted"]),
                     "decided": sum(1 for r in part if r["drifted"] is not None)}
            for m in metrics:
                vals = sorted(r[m] for r in part if r[m] is not None)
                entry[m] = {"median": statistics.median(vals), "max": vals[-1]} if vals else None
            summary.append(entry)
            meds = " ".join(f"{entry[m]['median']:10.3f}" if entry[m] else f"{'-':>10}" for m in metrics)
            print(f"{column:26} {drift_type:11} {period:6} {meds} {entry['metric'] or '(no decision)':22} "
                  f"{len(entry['flagged']):>3}/{entry['decided']:<3}")
    out = ROOT / "benchmarks" / "results" / f"drift-calibration-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps({"config": args.config, "first": args.first, "last": args.last, "split": args.split,
                               "seconds": seconds, "summary": summary}, default=str, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
