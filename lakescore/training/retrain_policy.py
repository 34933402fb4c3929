"""The retraining policy (static training): whether the train stage trains for an as-of.

A model is trained once and serves for a while. Train trains when there is no @champion, when
`--force` says so, or when one of `train.retrain` holds: @champion's training as-of is at least
`every_days` old, or `max_model_age_days` old (a hard limit, whatever `every_days` says), or
(`on_trigger`) the monitor stage has opened a retraining trigger (an `alerts` row of stage
monitor, kind retrain_triggered) for an as-of after @champion's training cutoff date and on or
before this as-of. Otherwise the stage skips, and promote finds no new challenger to gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lakescore.core.runtime import Context
from lakescore.models import registry
from lakescore.transforms.columns import AS_OF
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
