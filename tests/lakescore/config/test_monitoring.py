"""The monitor section and the feedback-loop guard, validated at config load."""

from __future__ import annotations

import pytest
import yaml

from lakescore.config import ConfigError, parse_config
from tests.support import FLIGHTS_YML


@pytest.fixture()
def data():
    return yaml.safe_load(FLIGHTS_YML.read_text())


def test_flights_monitor_defaults_and_overrides(data):
    cfg = parse_config(data)
    mon = cfg.monitor
    assert mon.drift.numeric.metric == "wasserstein_distance" and mon.drift.categorical.metric == "l_infinity_distance"
    assert mon.retrain_when.kinds == ["quality_drop", "slow_degradation", "model_stale"] and mon.fail_on == []
    assert set(cfg.monitored_columns) == {f.name for f in cfg.model_features} | {"score", "prediction"}
    assert cfg.monitored_columns["prediction"] == "categorical" and "month" not in cfg.monitored_columns
    assert not mon.drift.columns["day_of_week"].baseline
    assert cfg.loop_sources == {}


def test_an_undeclared_loop_through_predictions_is_refused(data):
    data["sources"]["weather"]["derived_from"] = ["lakescore_flights.predictions"]
    with pytest.raises(ConfigError, match=r"^flights.yml: invalid config: sources.weather: reads predictions, an output "
                                          r"of this use case: a feedback loop"):
        parse_config(data, source="flights.yml")


@pytest.mark.parametrize("edit", [
    lambda d: d["sources"]["planes"].update(derived_from=["predictions_latest"]),
    lambda d: d["sources"]["planes"].update(derived_from=["main.lakescore_flights.alerts"]),
    # the source's raw table is the predictions table itself
    lambda d: d["tables"].update(predictions="raw_planes"),
    # through another source: planes is built from raw_weather, which is built from predictions
    lambda d: d["sources"]["weather"].update(derived_from=["predictions"])
    or d["sources"]["planes"].update(derived_from=["raw_weather"]),
])
def test_loops_through_any_output_or_another_source_are_found(data, edit):
    edit(data)
    with pytest.raises(ConfigError, match="a feedback loop"):
        parse_config(data)


def test_another_schemas_predictions_are_no_loop_and_a_declared_loop_is_accepted(data):
    data["sources"]["planes"]["derived_from"] = ["other_schema.predictions"]
    assert parse_config(data).loop_sources == {}
    data["sources"]["weather"]["derived_from"] = ["predictions"]
    data["feedback_loops"] = [{"source": "weather", "reason": "weather is re-forecast from our delay predictions"}]
    cfg = parse_config(data)
    assert cfg.loop_sources == {"weather": "predictions"}
    assert cfg.loop_features("weather") == ["origin_temp", "origin_humid", "origin_wind_speed", "origin_precip",
                                           "origin_visib", "origin_pressure"]


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(feedback_loops=[{"source": "planes", "reason": "x"}]),
     "feedback_loops.0.source: sources.planes reads none of this use case's outputs"),
    (lambda d: d.update(feedback_loops=[{"source": "nope", "reason": "x"}]), "feedback_loops.0.source: 'nope'"),
    (lambda d: d["monitor"].update(drift={"columns": {"tailnum": {"baseline": False}}}),
     "monitor.drift.columns.tailnum: not a model feature"),
    (lambda d: d["monitor"].update(drift={"columns": {"carrier": {"test": {"metric": "ks_test", "threshold": 0.01}}}}),
     r"monitor.drift.columns.carrier.test: \['ks_test'\] do not apply to a categorical column"),
    (lambda d: d["monitor"].update(drift={"numeric": {"metric": "ks_test", "threshold": 5}}),
     "judged on its p-value"),
    (lambda d: d["monitor"].update(drift={"bins": 25}), r"bins \(25\) must be a multiple of coarse_bins \(10\)"),
    (lambda d: d["monitor"].update(retrain_when={"windows": 2, "violations": 3}), "cannot exceed windows"),
    (lambda d: d["monitor"].update(fail_on=["quality_dropp"]), "monitor.fail_on.0"),
    (lambda d: d["monitor"].update(quality={"metric": "rmse"}), "metric 'rmse' is not one of"),
])
def test_monitor_settings_are_checked(data, edit, message):
    edit(data)
    with pytest.raises(ConfigError, match=message):
        parse_config(data)
