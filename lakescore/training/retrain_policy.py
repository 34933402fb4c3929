"""The retraining policy (static training): whether the train stage trains for an as-of.

A model is trained once and serves for a while. Train trains when there is no @champion, when
`--force` says so, or when one of `train.retrain` holds: @champion's training as-of is at least
`every_days` old, or `max_model_age_days` old (a hard limit, whatever `every_days` says), or
(`on_trigger`) the monitor stage has opened a retraining trigger (an `alerts` row of stage
monitor, kind retrain_triggered) for an as-of after @champion's training cutoff date and on or
before this as-of. Otherwise the stage skips, and promote finds no new challenger to gate.

After the gate refuses a challenger, the schedule and the age limit cool down
(`cool_down_days`, from the refusal's as-of): the same reasons would train the same challenger
on nearly the same rows again. A retraining trigger opened after the refusal is news and trains
at once. Every decision not to train says why (the train stage's `stage_runs` row, `lakescore
retrain-needed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import functions as F

from lakescore.core.runtime import Context
from lakescore.models import registry
from lakescore.transforms.columns import AS_OF, MODEL_NAME, REJECTED
from lakescore.transforms.contracts.kinds import RETRAIN_TRIGGERED
from lakescore.transforms.sqltext import all_of, eq, ident, literal

MONITOR_STAGE = "monitor"


@dataclass(frozen=True)
class Decision:
    train: bool
    reason: str


def training_as_of(ref: registry.ModelRef) -> date:
    """The as-of a model version was trained for (its training cutoff's day)."""
    raw = registry.run_data(ref).params.get("as_of")
    return date.fromisoformat(raw) if raw else ref.trained_at.date()


def open_trigger(ctx: Context, after: date) -> dict | None:
    """The first retraining trigger the monitor stage opened for an as-of in (after, ctx.as_of]."""
    store, table = ctx.tables, ctx.cfg.tables.alerts
    if not store.exists(table):
        return None
    where = all_of(eq("stage", MONITOR_STAGE), eq("kind", RETRAIN_TRIGGERED),
                   f"{ident(AS_OF)} > {literal(after)}", f"{ident(AS_OF)} <= {literal(ctx.as_of)}")
    row = store.read(table, where=where, count=False).orderBy(AS_OF).limit(1).first()
    return row.asDict() if row else None


def cooling_down(ctx: Context, name: str, trained: date) -> tuple[date, date] | None:
    """(the as-of of the gate's last refusal, the first as-of the cool-down allows) when the gate
    refused a challenger after @champion's training as-of and fewer than
    `train.retrain.cool_down_days` ago; None otherwise."""
    days = ctx.cfg.train.retrain.cool_down_days
    if days is None:
        return None
    store, table = ctx.tables, ctx.cfg.tables.model_validations
    if not store.exists(table):
        return None
    # the gate's record (one row per check of a candidate and as-of, decision on each)
    where = all_of(eq(MODEL_NAME, name), eq("decision", REJECTED), f"{ident(AS_OF)} > {literal(trained)}",
                   f"{ident(AS_OF)} <= {literal(ctx.as_of)}")
    refused = store.read(table, where=where, count=False).agg(F.max(AS_OF)).first()[0]
    if refused is None:
        return None
    until = refused + timedelta(days=days)
    return (refused, until) if ctx.as_of < until else None


def decide(ctx: Context, force: bool = False) -> Decision:
    """Whether to train for ctx.as_of, and why (one line)."""
    policy = ctx.cfg.train.retrain
    if force:
        return Decision(True, "forced (--force)")
    champion = registry.by_alias(ctx, registry.CHAMPION)
    if champion is None:
        return Decision(True, f"model {registry.model_name(ctx)} has no @{registry.CHAMPION} yet")
    trained = training_as_of(champion)
    age = (ctx.as_of - trained).days
    who = f"@{registry.CHAMPION} version {champion.version} (trained for {trained})"
    reasons = []
    if age >= policy.max_model_age_days:
        reasons.append(f"{who} is {age} days old, at the limit train.retrain.max_model_age_days "
                       f"{policy.max_model_age_days}")
    elif policy.every_days is not None and age >= policy.every_days:
        reasons.append(f"{who} is {age} days old (train.retrain.every_days {policy.every_days})")
    trigger = open_trigger(ctx, trained) if policy.on_trigger else None
    if trigger:
        reasons.append(f"the monitor stage opened a retraining trigger on {trigger[AS_OF]}"
                       + (f": {trigger['detail']}" if trigger.get("detail") else ""))
    refused = cooling_down(ctx, champion.name, trained) if reasons else None
    if refused is not None:
        # a challenger trained for these reasons was refused a few days ago: the same reasons
        # would train the same challenger again; only a trigger opened since is news
        since, until = refused
        if trigger and trigger[AS_OF] > since:
            return Decision(True, f"the monitor stage opened a retraining trigger on {trigger[AS_OF]}, after the "
                                  f"gate refused a challenger on {since}"
                                  + (f": {trigger['detail']}" if trigger.get("detail") else ""))
        return Decision(False, f"cooling down: the gate refused a challenger on {since} "
                               f"(train.retrain.cool_down_days {policy.cool_down_days}); "
                               f"{'; '.join(reasons)}; no retraining trigger since; next try on {until}")
    if reasons:
        return Decision(True, "; ".join(reasons))
    if age < 0:
        return Decision(False, f"{who} was trained for a later as-of; use --force to train for {ctx.as_of}")
    schedule = f"every {policy.every_days} days" if policy.every_days else "no schedule"
    triggers = f", no retraining trigger after {trained}" if policy.on_trigger else ""
    return Decision(False, f"{who} is {age} day(s) old ({schedule}, age limit {policy.max_model_age_days} days)"
                           f"{triggers}")


def set_task_value(key: str, value: str) -> bool:
    """Set a Databricks job task value (read by a condition task as `{{tasks.<task>.values.<key>}}`);
    returns False off Databricks, where there is no job to tell."""
    from lakescore.core.runtime import on_databricks

    if not on_databricks():
        return False
    from databricks.sdk.runtime import dbutils  # the Databricks runtime ships the SDK

    dbutils.jobs.taskValues.set(key=key, value=value)
    return True
