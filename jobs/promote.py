"""promote: gate @challenger and, when every check passes, move @champion to it.

Checks, each one row in `model_validations`:
- floor_<metric>: the challenger's test metric against an absolute bound from `gate.floors`;
- vs_champion: the primary metric of challenger and champion on the same rows (the
  challenger's own test rows, rebuilt from the Delta versions its run recorded) may not
  drop by more than `gate.max_drop_vs_champion` (sudden degradation);
- infra_compatibility: the registered model loads from the registry on this runtime and
  scores the as-of's feature rows: one prediction per row, none missing, scores in range.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import date

from mlflow import MlflowClient
from pyspark.sql import functions as F

from lakescore import registry
from lakescore.config import LOWER_IS_BETTER
from lakescore.errors import StageError
from lakescore.runtime import Context
from lakescore.training_data import evaluate, training_frame
from transforms import schemas
from transforms.columns import AS_OF, BINARY, PREDICTION, SCORE, SPLIT, TEST
from transforms.sqltext import all_of, eq

log = logging.getLogger("lakescore.promote")



class PromoteError(StageError):
    pass


def _check(name, metric, value, baseline, threshold, passed, reason):
    return {"check": name, "metric": metric, "value": value, "baseline": baseline,
            "threshold": threshold, "passed": bool(passed), "reason": reason}


def floor_checks(metrics: dict[str, float], floors: dict[str, float]) -> list[dict]:
    out = []
    for metric, bound in floors.items():
        value = metrics.get(metric)
        lower = metric in LOWER_IS_BETTER
        if value is None or math.isnan(value):
            out.append(_check(f"floor_{metric}", metric, None, None, bound, False, "metric missing"))
            continue
        ok = value <= bound if lower else value >= bound
        out.append(_check(f"floor_{metric}", metric, value, None, bound, ok,
                          f"{value:.4f} {'<=' if lower else '>='} {bound}" if ok else
                          f"{value:.4f} {'above' if lower else 'below'} the {'ceiling' if lower else 'floor'} {bound}"))
    return out


def champion_check(metric: str, challenger: float, champion: float, max_drop: float) -> dict:
    lower = metric in LOWER_IS_BETTER
    loss = (challenger - champion) if lower else (champion - challenger)
    ok = loss <= max_drop
    reason = (f"{metric} {challenger:.4f} vs champion {champion:.4f}: change {-loss:+.4f}, "
              f"largest allowed drop {max_drop}")
    return _check("vs_champion", metric, challenger, champion, max_drop, ok, reason)


def infra_check(ctx: Context, ref: registry.ModelRef) -> dict:
    """Load the registered artifact and score the as-of's serving rows with it."""
    cfg, store = ctx.cfg, ctx.tables
    try:
        score = registry.scorer(ctx, ref)
        rows = store.read(cfg.tables.features, where=eq(AS_OF, ctx.as_of))
        scored = score(rows)
        stats = scored.agg(
            F.count(F.lit(1)).alias("n"),
            F.count(PREDICTION).alias("n_pred"),
            F.min(SCORE).alias("lo"), F.max(SCORE).alias("hi"),
        ).first()
        n_in = rows.count()
    except Exception as exc:  # noqa: BLE001 - any failure to load or score is the finding
        return _check("infra_compatibility", "scored_rows", None, None, None, False,
                      f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
    problems = []
    if stats["n"] != n_in:
        problems.append(f"{stats['n']} outputs for {n_in} rows")
    if stats["n_pred"] != stats["n"]:
        problems.append(f"{stats['n'] - stats['n_pred']} null predictions")
    if cfg.label.kind == BINARY and stats["n"] and not (0.0 <= stats["lo"] <= stats["hi"] <= 1.0):
        problems.append(f"scores outside [0, 1]: {stats['lo']}..{stats['hi']}")
    reason = "; ".join(problems) or f"loaded and scored {n_in} rows of as-of {ctx.as_of}"
    return _check("infra_compatibility", "scored_rows", float(stats["n"]), float(n_in), None, not problems, reason)


def _run_params(run_id: str) -> tuple[date, dict[str, int]]:
    run = MlflowClient().get_run(run_id)
    trained_as_of = date.fromisoformat(run.data.params["as_of"])
    versions = json.loads(run.data.tags.get("lakescore.input_versions", "{}"))
    return trained_as_of, versions


def run(ctx: Context) -> dict:
    cfg, store = ctx.cfg, ctx.tables
    registry.configure(ctx)
    challenger = registry.by_alias(ctx, registry.CHALLENGER)
    if challenger is None:
        raise PromoteError(f"model {registry.model_name(ctx)} has no @{registry.CHALLENGER}: run train first")
    champion = registry.by_alias(ctx, registry.CHAMPION)
    if champion is not None and champion.version == challenger.version:
        log.info("promote: version %s is already @%s", challenger.version, registry.CHAMPION)
        return {"decision": "unchanged", "version": challenger.version}

    metrics = {k.removeprefix("test_"): v for k, v in MlflowClient().get_run(challenger.run_id).data.metrics.items()
               if k.startswith("test_")}
    checks = floor_checks(metrics, cfg.gate.floors)
    primary = cfg.model.primary_metric
    if champion is not None:
        trained_as_of, versions = _run_params(challenger.run_id)
        test_rows = training_frame(ctx, trained_as_of, versions).where(F.col(SPLIT) == TEST).cache()
        try:
            ours = evaluate(cfg, registry.scorer(ctx, challenger), test_rows)
            theirs = evaluate(cfg, registry.scorer(ctx, champion), test_rows)
        finally:
            test_rows.unpersist()
        checks.append(champion_check(primary, ours[primary], theirs[primary], cfg.gate.max_drop_vs_champion))
    checks.append(infra_check(ctx, challenger))

    passed = all(c["passed"] for c in checks)
    decision = "promoted" if passed else "rejected"
    now = Context.now()
    rows = [(challenger.name, challenger.version, ctx.as_of, c["check"], c["metric"], c["value"], c["baseline"],
             c["threshold"], c["passed"], c["reason"], decision, now) for c in checks]
    df = store.spark.createDataFrame(rows, schemas.MODEL_VALIDATIONS.struct())
    store.write(df, cfg.tables.model_validations,
                replace_where=all_of(eq("model_name", challenger.name), eq("model_version", challenger.version),
                                     eq(AS_OF, ctx.as_of)))
    for c in checks:
        log.info("gate  %-22s %s  %s", c["check"], "pass" if c["passed"] else "FAIL", c["reason"])
    if passed:
        registry.set_alias(challenger, registry.CHAMPION)
    else:
        log.warning("promote: version %s rejected; @%s stays %s", challenger.version, registry.CHAMPION,
                    champion.version if champion else "unset")
    return {"decision": decision, "version": challenger.version, "checks": checks}


if __name__ == "__main__":
    from lakescore.stage import stage_main

    stage_main("promote", run)
