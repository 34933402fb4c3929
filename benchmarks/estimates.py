"""How good the estimate before labels is, and what the retraining policy did, over a backfill.

    make demo && .venv/bin/lakescore backfill -c conf/flights.yml --start 2013-12-02 --end 2013-12-31
    LAKESCORE_HOME=<that home> .venv/bin/python benchmarks/estimates.py [--config conf/flights.yml] \
        [--first 2013-12-01] [--last 2013-12-31]

Reads the home's tables only (nothing is computed again): per window of the range, the estimate
(estimated_performance, the whole table, the quality metric) beside the realized value once its
labels were known, its error and labelled rows; the mean absolute error over the windows with
both, and over those with at least 500 labelled rows (the goals: 0.03 on average, 0.05 on every
window of 500 or more); the largest error per slice of the windows' biggest slices; then the
retraining: per as-of, whether train trained (and why, or why not) and the gate's decision.
Prints Markdown; writes the table to benchmarks/results/estimates-<timestamp>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "conf" / "flights.yml"))
    parser.add_argument("--first", default="2013-12-01")
    parser.add_argument("--last", default="2013-12-31")
    parser.add_argument("--min-labelled", type=int, default=500)
    args = parser.parse_args()

    from pyspark.sql import functions as F

    from lakescore.config import load_config
    from lakescore.core.runtime import Context, get_spark, local_home
    from lakescore.transforms.sqltext import date_range

    cfg = load_config(args.config)
    first, last = date.fromisoformat(args.first), date.fromisoformat(args.last)
    ctx = Context(cfg=cfg, as_of=last, home=local_home(cfg))
    get_spark(ctx.home)
    store, metric = ctx.tables, cfg.monitor.quality.metric or cfg.model.primary_metric
    where = date_range("as_of", first, last + timedelta(days=1))
    est = store.read(cfg.tables.estimated_performance, where=where, count=False).where(F.col("metric") == metric)
    windows = [r.asDict() for r in est.where(F.col("slice_key").isNull()).orderBy("as_of", "model_id").collect()]
    both = [w for w in windows if w["error"] is not None]
    big = [w for w in both if w["num_labelled"] >= args.min_labelled]
    slices = est.where(F.col("slice_key").isNotNull() & F.col("error").isNotNull() & (F.col("num_labelled") >= 200))
    per_slice = [r.asDict() for r in slices.groupBy("slice_key", "slice_value").agg(
        F.count(F.lit(1)).alias("windows"), F.avg(F.abs("error")).alias("mae"), F.max(F.abs("error")).alias("max"))
        .orderBy(F.col("windows").desc(), "slice_key", "slice_value").limit(12).collect()]
    runs = store.read(cfg.tables.stage_runs, count=False).where(F.col("stage").isin("train", "promote")) \
        .where(where)
    stages = {(r["as_of"], r["stage"]): r.asDict() for r in runs.collect()}
    validations = store.read(cfg.tables.model_validations, count=False).where(where)
    decisions = {r["as_of"]: r["decision"] for r in validations.select("as_of", "decision").distinct().collect()}
    retrain = []
    for day in sorted({d for d, _ in stages}):
        t = stages.get((day, "train"), {})
        retrain.append({"as_of": day.isoformat(), "train": t.get("status"), "detail": (t.get("detail") or "")[:160],
                        "decision": decisions.get(day)})

    mae = sum(abs(w["error"]) for w in both) / len(both) if both else None
    lines = [f"# Estimated {metric} before labels vs realized, {first} to {last}", "",
             f"Home {ctx.home}; config {Path(args.config).name}; {len(windows)} windows, {len(both)} with a realized "
             f"value, {len(big)} with {args.min_labelled} or more labelled rows.", "",
             "| window | model | served | labelled | estimated | realized | error |", "|---|---|---:|---:|---:|---:|---:|"]
    for w in windows:
        fmt = (lambda v: "" if v is None else f"{v:.4f}")
        lines.append(f"| {w['as_of']} | {w['model_id']} | {w['count']:,} | {w['num_labelled']:,} | {fmt(w['estimated'])} "
                     f"| {fmt(w['realized'])} | {fmt(w['error'])} |")
    lines += ["", f"Mean absolute error over the {len(both)} windows with both: "
              + ("-" if mae is None else f"**{mae:.4f}** (goal 0.03)"),
              f"Largest over the {len(big)} windows of {args.min_labelled}+ labelled rows: "
              + (f"**{max(abs(w['error']) for w in big):.4f}** (goal 0.05)" if big else "-"),
              f"Mean signed error: {sum(w['error'] for w in both) / len(both):+.4f}" if both else "", "",
              "| slice | windows | mean abs error | largest |", "|---|---:|---:|---:|"]
    lines += [f"| {s['slice_key']}={s['slice_value']} | {s['windows']} | {s['mae']:.4f} | {s['max']:.4f} |"
              for s in per_slice]
    trained = [r for r in retrain if r["detail"].startswith("trained version")]
    lines += ["", "## Retraining", "", "| as-of | train | gate | detail |", "|---|---|---|---|"]
    lines += [f"| {r['as_of']} | {r['train']} | {r['decision'] or ''} | {r['detail']} |" for r in retrain]
    lines += ["", f"Decisions: {sum(1 for r in retrain if r['decision'] == 'promoted')} promoted, "
              f"{sum(1 for r in retrain if r['decision'] == 'rejected')} rejected; "
              f"{len(trained)} as-of(s) trained a version."]
    text = "\n".join(lines)
    print(text)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = ROOT / "benchmarks" / "results" / f"estimates-{stamp}"
    out.with_suffix(".md").write_text(text + "\n")
    out.with_suffix(".json").write_text(json.dumps({
        "metric": metric, "first": first.isoformat(), "last": last.isoformat(), "mae": mae,
        "windows": windows, "per_slice": per_slice, "retrain": retrain}, default=str, indent=1))
    print(f"\nwrote {out}.md and .json")


if __name__ == "__main__":
    main()
