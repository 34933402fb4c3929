"""The retraining policy's cool-down, on the end-to-end home's @champion (trained for 2013-12-01):
once the gate refuses a challenger, the schedule and the age limit wait `cool_down_days`; a
retraining trigger opened after the refusal trains at once; every "no" says why. The refusal and
the trigger are written to tables of this test's own (the end-to-end home's stay as they are)."""

from __future__ import annotations

from datetime import date, datetime

from lakescore.config import parse_config
from lakescore.gate import model_validations
from lakescore.models import registry
from lakescore.training import retrain_policy
from lakescore.transforms import schemas
from lakescore.transforms.columns import REJECTED
from tests.support import context, flights_data

CHECK = {"check": "floor", "metric": "auc", "value": 0.5, "baseline": None, "threshold": 0.6, "passed": False,
         "reason": "auc 0.5 below the floor 0.6"}


def _decide(cfg, day: date, home, force: bool = False):
    return retrain_policy.decide(context(cfg, day, home), force)


def test_a_refused_challenger_cools_the_schedule_down_until_a_trigger_or_the_days_pass(e2e, flights_files, spark):
    ctx, _ = e2e
    data = flights_data(flights_files, ctx.cfg.storage.schema_name, {
        "tables": {"model_validations": "cooldown_validations", "alerts": "cooldown_alerts"},
        "train": {"retrain": {"every_days": 7, "cool_down_days": 5}}})
    cfg, home = parse_config(data), ctx.home
    registry.configure(ctx)
    champion = registry.by_alias(ctx, registry.CHAMPION)
    assert _decide(cfg, date(2013, 12, 9), home).train                      # 8 days old: due

    refused_on = context(cfg, date(2013, 12, 9), home)
    model_validations.write(refused_on, champion.name, "999", [CHECK], REJECTED)
    later = _decide(cfg, date(2013, 12, 11), home)
    assert not later.train
    assert later.reason.startswith("cooling down: the gate refused a challenger on 2013-12-09 "
                                   "(train.retrain.cool_down_days 5); ")
    assert "is 10 days old (train.retrain.every_days 7)" in later.reason and later.reason.endswith(
        "no retraining trigger since; next try on 2013-12-14")
    assert _decide(cfg, date(2013, 12, 14), home).train                     # the cool-down is over
    assert _decide(cfg, date(2013, 12, 11), home, force=True).train

    # a trigger opened after the refusal is news: it trains at once
    trigger = (None, date(2013, 12, 10), "monitor", "warning", "retrain_triggered", "flights", 3.0, 3.0,
               "3 of the last 7 windows raised quality_drop", None, None, datetime(2013, 12, 10, 6))
    ctx_alerts = context(cfg, date(2013, 12, 11), home)
    ctx_alerts.tables.write(spark.createDataFrame([("t1", *trigger[1:])], schemas.ALERTS.struct()), "cooldown_alerts")
    triggered = _decide(cfg, date(2013, 12, 11), home)
    assert triggered.train and triggered.reason.startswith(
        "the monitor stage opened a retraining trigger on 2013-12-10, after the gate refused a challenger on 2013-12-09")

    # the age limit cools down too; without a cool-down it trains whatever the gate said
    old = context(cfg, date(2014, 1, 14), home)
    model_validations.write(old, champion.name, "1000", [CHECK], REJECTED)
    assert not _decide(cfg, date(2014, 1, 15), home).train
    no_cool_down = parse_config({**data, "train": {**data["train"], "retrain": {"every_days": 7,
                                                                                  "cool_down_days": None}}})
    assert _decide(no_cool_down, date(2014, 1, 15), home).train
