"""promote: gate a new @challenger and, when every check passes, move @champion to it (the
champion it replaces becomes @previous).

Only a challenger not gated before is gated (train makes one only when the retraining policy
says so). Every check runs and is recorded, one `model_validations` row each, even when another
fails or raises; the candidate is promoted only if all pass. The checks' decisions are in
transforms.modeling.gate; here they are measured:

- floor_<metric>: the challenger's metrics on its evaluation rows (gate.evaluate_on: out of
  time or test) against absolute bounds (`gate.floors`);
- vs_champion (sudden degradation), slice:<key>=<value> (per slice with enough rows) and
  vs_best_recent (slow degradation: the best of the last `gate.slow.versions` promoted
  versions): models evaluated on the same rows, the challenger's evaluation rows rebuilt from
  the Delta versions its run recorded; change thresholds absolute or relative per metric;
- compat_signature, compat_versions, infra_compatibility, scoring_speed: the registered model
  against the live features table's schema and this runtime's libraries, loaded from the
  registry and scoring the as-of's serving rows (finite scores; rows per second recorded);
- sanity_out_of_range (regression) / sanity_constant_scores (binary) on those predictions.
A rejected challenger raises a warning in `alerts` listing its failed checks. A promoted one
without a reference profile (a model brought in by `lakescore model register`) gets it first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lakescore.config import LOWER_IS_BETTER
from lakescore.core.errors import StageError
from lakescore.core.runtime import Context
from lakescore.core.stage_result import StageResult
from lakescore.gate import inputs as gate_inputs
from lakescore.gate import model_validations
from lakescore.models import reference_profiles, registry
from lakescore.transforms.columns import AS_OF, BINARY
from lakescore.transforms.modeling import gate
from lakescore.transforms.sqltext import eq

log = logging.getLogger("lakescore.promote")

WHOLE = (None, None)
UNCHANGED = "unchanged"  # the decision when there is nothing new to gate


class PromoteError(StageError):
    pass


def _recorded(name: str, metric: str | None, measure: Callable[[], list[dict]]) -> list[dict]:
    """Run a check; any exception becomes a failed check that says what was raised."""
    try:
        return measure()
    except Exception as exc:  # noqa: BLE001 - a check that cannot be measured fails, the others still run
        log.warning("gate %s: %s", name, gate.error_text(exc))
        return [gate.failed(name, metric, gate.error_text(exc))]


def _evaluate(ctx: Context, ref: registry.ModelRef, rows, slices: bool = True):
    """(metrics by slice, None) or (None, the error) of a model on the evaluation rows."""
    try:
        if rows is None:
            raise RuntimeError("the evaluation rows could not be rebuilt")
        return gate_inputs.metrics_by_slice(ctx, ref, rows, slices), None
    except Exception as exc:  # noqa: BLE001 - recorded in the checks that need it
        return None, gate.error_text(exc)


def comparison_checks(ctx: Context, challenger: registry.ModelRef, champion: registry.ModelRef | None,
                      rows, seconds: dict[str, float]) -> list[dict]:
    """vs_champion, slice:<key>=<value> and vs_best_recent on the same evaluation rows."""
    cfg = ctx.cfg
    metric, lower = cfg.model.primary_metric, cfg.model.primary_metric in LOWER_IS_BETTER
    started = time.perf_counter()
    ours, our_error = _evaluate(ctx, challenger, rows)
    theirs, their_error = _evaluate(ctx, champion, rows) if champion else (None, None)
    seconds["vs_champion"] = round(time.perf_counter() - started, 2)
    if our_error:
        reason = f"the challenger could not be evaluated on its evaluation rows: {our_error}"
        return [gate.failed(name, metric, reason) for name in ("vs_champion", "slices", "vs_best_recent")]
    value = ours[WHOLE][metric]
    checks = []
    if champion is None:
        checks.append(gate.check("vs_champion", metric, value, None, None, True, "no @champion yet: nothing to compare"))
    elif their_error:
        checks.append(gate.check("vs_champion", metric, value, None, None, True,
                                 f"@champion version {champion.version} cannot score these rows ({their_error}): "
                                 f"no comparison"))
    else:
        change = cfg.gate.change(metric)
        base = theirs[WHOLE][metric]
        checks.append(gate.change_check("vs_champion", metric, value, base, change.allowed_drop(base), lower,
                                        f"champion version {champion.version}", change.describe()))
        budget = cfg.gate.slice_drop(metric)
        checks += gate.slice_checks(metric, {k: (m[metric], m["num_labelled"]) for k, m in ours.items() if k != WHOLE},
                                    {k: (m[metric], m["num_labelled"]) for k, m in theirs.items() if k != WHOLE},
                                    cfg.gate.slices.min_rows, budget.allowed_drop, lower, budget.describe())
    started = time.perf_counter()
    checks += _recorded("vs_best_recent", metric, lambda: [_best_recent(ctx, challenger, champion, theirs, value, rows)])
    seconds["vs_best_recent"] = round(time.perf_counter() - started, 2)
    return checks


def _best_recent(ctx: Context, challenger, champion, champion_metrics, value: float, rows) -> dict:
    cfg, metric = ctx.cfg, ctx.cfg.model.primary_metric
    history = model_validations.promoted_history(ctx, challenger.name, cfg.gate.slow.versions,
                                                 excluding=challenger.version)
    values, skipped = {}, []
    for version in history:
        if champion is not None and version == champion.version and champion_metrics:
            values[version] = champion_metrics[WHOLE][metric]
            continue
        found, error = _evaluate(ctx, registry.by_version(ctx, version), rows, slices=False)
        if error:
            skipped.append(f"version {version} ({error})")
        else:
            values[version] = found[WHOLE][metric]
    note = f"; not comparable: {', '.join(skipped)}" if skipped else ""
    if not values:
        return gate.check("vs_best_recent", metric, value, None, None, True,
                          f"no promoted version to compare with{note}")
    best_version, best = gate.best_of(values, metric in LOWER_IS_BETTER)
    budget = cfg.gate.slow_drop(metric)
    row = gate.change_check("vs_best_recent", metric, value, best, budget.allowed_drop(best),
                            metric in LOWER_IS_BETTER, f"best of the last {len(values)} promoted (version "
                            f"{best_version})", budget.describe())
    row["reason"] += note
    return row


def runtime_checks(ctx: Context, challenger: registry.ModelRef, seconds: dict[str, float]) -> list[dict]:
    """The model against this runtime: signature vs the live features, library versions, loading
    from the registry and scoring the as-of's serving rows, and the sanity of those predictions."""
    cfg, store = ctx.cfg, ctx.tables
    started = time.perf_counter()
    checks = _recorded("compat_signature", None, lambda: [gate.signature_check(
        registry.signature_inputs(challenger), gate_inputs.live_feature_types(ctx),
        [f.name for f in cfg.model_features])])
    checks += _recorded("compat_versions", None, lambda: [gate.versions_check(
        gate_inputs.recorded_versions(challenger), registry.runtime_versions())])
    seconds["compatibility"] = round(time.perf_counter() - started, 2)

    def serving() -> list[dict]:
        rows = store.read(cfg.tables.features, where=eq(AS_OF, ctx.as_of))
        rows_in = rows.count()
        began = time.perf_counter()
        scored = registry.scorer(ctx, challenger)(rows)
        lo, hi = gate_inputs.label_range(challenger) if cfg.label.kind != BINARY else (None, None)
        stats = gate.score_stats(scored, lo, hi).first().asDict()
        elapsed = time.perf_counter() - began
        out = [gate.infra_check(stats, rows_in, cfg.label.kind == BINARY, ctx.as_of_str),
               gate.check("scoring_speed", "rows_per_second", rows_in / elapsed if elapsed else None, None, None, True,
                          f"loaded and scored {rows_in} rows in {elapsed:.1f}s")]
        if cfg.label.kind == BINARY:
            modal = gate.modal_score_rows(scored).first()
            out.append(gate.share_check("sanity_constant_scores", "modal_score_share", modal["rows"] if modal else 0,
                                        rows_in, cfg.gate.max_constant_score_share, "share one score value"))
        else:
            out.append(gate.share_check("sanity_out_of_range", "out_of_range_share", stats["out_of_range"], rows_in,
                                        cfg.gate.max_out_of_range_share,
                                        f"are predicted outside the training label range [{lo}, {hi}]"))
        return out

    started = time.perf_counter()
    checks += _recorded("infra_compatibility", "scored_rows", serving)
    seconds["infra"] = round(time.perf_counter() - started, 2)
    return checks


@dataclass(frozen=True, eq=False)
class GateResult(StageResult):
    decision: str                  # promoted, rejected, or unchanged (nothing new to gate)
    version: str                   # the challenger's version
    checks: list = field(default_factory=list)   # model_validations rows of this run
    seconds: dict = field(default_factory=dict)  # per group of checks

    @property
    def detail(self) -> str:
        return f"version {self.version}: {self.decision}"


def run(ctx: Context) -> GateResult:
    cfg = ctx.cfg
    registry.configure(ctx)
    challenger = registry.by_alias(ctx, registry.CHALLENGER)
    if challenger is None:
        raise PromoteError(f"model {registry.model_name(ctx)} has no @{registry.CHALLENGER}: run train first")
    champion = registry.by_alias(ctx, registry.CHAMPION)
    if champion is not None and champion.version == challenger.version:
        log.info("promote: nothing to gate: @%s version %s is @%s", registry.CHALLENGER, challenger.version,
                 registry.CHAMPION)
        return GateResult(decision=UNCHANGED, version=challenger.version)
    before = model_validations.gated_before(ctx, challenger.name, challenger.version)
    if before:
        log.info("promote: nothing to gate: @%s version %s was gated for as-of %s (%s)", registry.CHALLENGER,
                 challenger.version, before[AS_OF], before["decision"])
        return GateResult(decision=UNCHANGED, version=challenger.version)

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    where = gate_inputs.ROWS_NAME[cfg.gate.evaluate_on]
    checks = _recorded("floors", None, lambda: gate.floor_checks(
        gate_inputs.run_metrics(challenger, cfg.gate.evaluate_on), cfg.gate.floors, LOWER_IS_BETTER, where))
    seconds["floors"] = round(time.perf_counter() - started, 2)
    rows = None
    try:
        rows = gate_inputs.evaluation_rows(ctx, challenger).cache()
    except Exception as exc:  # noqa: BLE001 - the comparisons record it
        log.warning("promote: evaluation rows: %s", gate.error_text(exc))
    try:
        checks += comparison_checks(ctx, challenger, champion, rows, seconds)
    finally:
        if rows is not None:
            rows.unpersist()
    checks += runtime_checks(ctx, challenger, seconds)

    passed = all(c["passed"] for c in checks)
    decision = model_validations.PROMOTED if passed else model_validations.REJECTED
    model_validations.write(ctx, challenger.name, challenger.version, checks, decision)
    model_validations.rejection_alert(ctx, challenger.name, challenger.version, checks)
    for c in checks:
        log.info("gate  %-24s %s  %s", c["check"], "pass" if c["passed"] else "FAIL", c["reason"])
    log.info("promote: seconds per check %s", seconds)
    if passed:
        # a model brought in with `lakescore model register` has no reference profile yet: it
        # is computed from its training rows before it serves (a trained version has it already)
        reference_profiles.ensure(ctx, challenger)
        registry.promote(challenger, champion)
    else:
        log.warning("promote: version %s rejected (%s); @%s stays %s", challenger.version,
                    ", ".join(c["check"] for c in checks if not c["passed"]), registry.CHAMPION,
                    champion.version if champion else "unset")
    return GateResult(decision=decision, version=challenger.version, checks=checks, seconds=seconds)


if __name__ == "__main__":
    from lakescore.core.stage_runner import stage_main

    stage_main("promote", run)
