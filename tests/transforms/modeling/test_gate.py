"""The gate's decisions (transforms.modeling.gate) and its change thresholds (lakescore.config.gate)."""

from __future__ import annotations

import math

import pytest
from chispa import assert_df_equality

from lakescore.config import ConfigError, Gate, Threshold, parse_config
from lakescore.transforms.modeling import gate
from tests.support import FLIGHTS_YML

LOWER = frozenset({"rmse", "log_loss", "mae"})


def test_thresholds_are_absolute_or_relative_with_defaults_per_metric():
    assert Threshold.model_validate(0.02) == Threshold(absolute=0.02)  # a bare number is absolute
    assert Threshold.model_validate({"relative": 0.01}).allowed_drop(1200.0) == pytest.approx(12.0)
    with pytest.raises(ValueError, match="exactly one of"):
        Threshold.model_validate({"absolute": 0.1, "relative": 0.1})
    g = Gate()
    assert g.change("auc") == Threshold(absolute=0.01) and g.change("rmse") == Threshold(relative=0.01)
    assert g.slow_drop("auc") == Threshold(absolute=0.02) and g.slice_drop("log_loss") == Threshold(relative=0.1)
    assert Gate(max_drop_vs_champion={"relative": 0.03}).change("auc") == Threshold(relative=0.03)


def test_a_regression_challenger_a_hair_worse_passes_the_default_change_check_five_percent_does_not():
    threshold = Gate().change("rmse")  # relative 1%
    champion = 1234.5  # RMSE of a price model, in currency units
    for worse, ok in ((1.0001, True), (1.05, False)):
        check = gate.change_check("vs_champion", "rmse", champion * worse, champion, threshold.allowed_drop(champion),
                                  True, "champion", threshold.describe())
        assert check["passed"] is ok, check["reason"]
    # the old single absolute 0.01 refused a challenger worse by nine cents on prices in the thousands
    assert not gate.change_check("vs_champion", "rmse", champion + 0.09, champion, 0.01, True, "c", "")["passed"]


def test_floor_and_change_checks():
    floors = gate.floor_checks({"auc": 0.58, "log_loss": 0.5}, {"auc": 0.6, "log_loss": 0.65, "pr_auc": 0.2},
                               LOWER, "out-of-time")
    assert [(c["check"], c["passed"]) for c in floors] == [("floor_auc", False), ("floor_log_loss", True),
                                                          ("floor_pr_auc", False)]
    assert floors[0]["reason"] == "auc 0.5800 on the out-of-time rows below the floor 0.6"
    better = gate.change_check("vs_champion", "auc", 0.70, 0.68, 0.01, False, "champion version 3", "absolute 0.01")
    assert better["passed"] and "gain 0.0200" in better["reason"]
    assert gate.best_of({"1": 0.7, "2": 0.72, "3": 0.69}, False) == ("2", 0.72)
    assert gate.best_of({"1": 10.0, "2": 9.0}, True) == ("2", 9.0)


def test_slice_checks_name_the_failing_slice_and_skip_small_ones():
    ours = {("origin", "EWR"): (0.60, 900), ("origin", "JFK"): (0.70, 800), ("origin", "LGA"): (0.40, 20),
            ("carrier", "UA"): (None, 500)}
    theirs = {("origin", "EWR"): (0.70, 900), ("origin", "JFK"): (0.69, 800), ("origin", "LGA"): (0.70, 20),
              ("carrier", "UA"): (0.6, 500)}
    checks = gate.slice_checks("auc", ours, theirs, 200, lambda base: 0.05, False, "absolute 0.05")
    assert [(c["check"], c["passed"]) for c in checks] == [("slice:origin=EWR", False), ("slice:origin=JFK", True)]
    assert checks[0]["reason"].startswith("slice origin=EWR (900 rows): auc 0.6000 vs champion 0.7000: drop 0.1000")


def test_signature_and_versions_checks():
    live = {"x1": "double", "n": "bigint", "c": "string", "as_of": "date"}
    ok = gate.signature_check({"x1": "double", "n": "long", "c": "string"}, live, ["x1", "n", "c"])
    assert ok["passed"], ok["reason"]
    bad = gate.signature_check({"x1": "double", "old": "double", "c": "double"}, live, ["x1", "n", "c"])
    assert not bad["passed"]
    assert bad["reason"] == ("the model reads ['old'], not in the live features table; c is double in the signature "
                             "but string in the live features table; the model's signature lacks the live feature "
                             "column(s) ['n']")
    assert not gate.signature_check(None, live, ["x1"])["passed"]
    runtime = {"pyspark": "4.0.1", "mlflow": "3.17.2", "delta-spark": None}
    assert gate.versions_check({"pyspark": "4.0.0", "mlflow": "3.17.0", "delta-spark": "4.0.1"}, runtime)["passed"]
    moved = gate.versions_check({"pyspark": "3.5.1", "mlflow": "3.17.2"}, runtime)
    assert not moved["passed"] and moved["reason"] == "pyspark 3.5.1 at training, 4.0.1 here"
    assert gate.versions_check(None, runtime)["passed"]


def test_score_stats_and_prediction_sanity(spark):
    scored = spark.createDataFrame([(1.0, 1.0), (5.0, 5.0), (-3.0, -3.0), (None, float("nan")), (2.0, 2.0),
                                    (2.0, 2.0)], "prediction double, score double")
    stats = gate.score_stats(scored, 0.0, 4.0)
    expected = spark.createDataFrame([(6, 5, 1, -3.0, 5.0, 2)], "n long, n_pred long, non_finite long, lo double, "
                                                               "hi double, out_of_range long")
    assert_df_equality(stats, expected, ignore_nullable=True)
    row = stats.first().asDict()
    infra = gate.infra_check(row, 6, binary=True, as_of="2024-01-01")
    assert not infra["passed"] and infra["reason"] == ("1 null predictions; 1 scores not finite; "
                                                       "scores outside [0, 1]: -3.0..5.0")
    assert gate.modal_score_rows(scored).first()["rows"] == 2
    share = gate.share_check("sanity_out_of_range", "out_of_range_share", 2, 6, 0.05, "are outside")
    assert not share["passed"] and math.isclose(share["value"], 1 / 3)


def test_gate_config_cross_checks():
    import yaml

    data = yaml.safe_load(FLIGHTS_YML.read_text())
    data["split"]["out_of_time_days"] = 0
    with pytest.raises(ConfigError, match="gate.evaluate_on is out_of_time but split.out_of_time_days is 0"):
        parse_config(data)
    data["gate"]["evaluate_on"] = "test"
    assert parse_config(data).gate.evaluate_on == "test"
    data["split"]["out_of_time_days"] = 90
    with pytest.raises(ConfigError, match="must be below train.window_days"):
        parse_config(data)
    data["split"]["out_of_time_days"] = 14
    data["train"]["leakage"] = {"allow": ["month"]}  # a feature, but not a model input
    with pytest.raises(ConfigError, match=r"train.leakage.allow: \['month'\] are not model features"):
        parse_config(data)
    data["train"]["leakage"] = {}
    data["train"]["retrain"] = {"every_days": 40, "max_model_age_days": 30}
    with pytest.raises(ConfigError, match="every_days 40 is above max_model_age_days 30"):
        parse_config(data)
    data["train"]["retrain"] = {"every_days": None}
    data["gate"]["max_drop_vs_champion"] = {"absolut": 0.1}
    with pytest.raises(ConfigError, match="gate.max_drop_vs_champion.absolut: unknown key"):
        parse_config(data)
