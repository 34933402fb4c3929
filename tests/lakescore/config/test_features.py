"""The features section of the config: its format, and the static leakage guard that refuses,
at config load, a feature (or lookup key, or entity filter) reading a column known only after
the event, naming the feature and the column."""

from __future__ import annotations

import pytest
import yaml

from lakescore.config import ConfigError, parse_config
from lakescore.transforms.features.sql_refs import column_references
from tests.support import FLIGHTS_YML, ROOT


@pytest.fixture()
def data():
    return yaml.safe_load(FLIGHTS_YML.read_text())


def _feature(**kw):
    return {"kind": "numeric", **kw}


def _add(data, **kw):
    data["features"]["columns"].append(_feature(**kw))
    return data


def test_column_references_skip_functions_strings_and_comments():
    refs = column_references("coalesce(`dep_delay`, 0) + plane.year - hour(ts) + length('arr_delay') -- arr_time\n"
                             " + transform(xs, x -> x + 1)[0] + 1.5e3")
    assert refs == {(None, "dep_delay"), ("plane", "year"), (None, "ts"), (None, "xs"), (None, "x")}


def test_flights_features_and_their_known_at(data):
    cfg = parse_config(data)
    known = {f.name: cfg.feature_known_at(f) for f in cfg.features.columns}
    assert known["carrier"] == "catalog" and known["plane_seats"] == "static"
    assert known["origin_temp"] == known["route_delay_rate_28d"] == known["plane_age"] == "prediction_time"
    assert cfg.after_event_columns == {"dep_time", "dep_delay", "arr_time", "arr_delay", "air_time"}
    assert cfg.feature_inputs(cfg.features.columns[-1]).timed == ("origin_1d",)
    assert "month" in cfg.feature_names and "month" not in [f.name for f in cfg.model_features]


def test_a_plain_list_is_short_for_columns(data):
    data["features"] = [{"name": "carrier", "kind": "categorical"}, {"name": "origin", "kind": "categorical"}]
    data["train"].pop("allow_empty_features", None)               # they name flights' other features
    data.get("monitor", {}).get("drift", {}).pop("columns", None)
    cfg = parse_config(data)
    assert cfg.feature_names == ["carrier", "origin"] and cfg.features.lookups == {}


@pytest.mark.parametrize("feature, column", [
    ({"name": "late", "expr": "CASE WHEN arr_delay > 15 THEN 1 ELSE 0 END"}, "arr_delay"),
    ({"name": "dep_delay_sq", "expr": "`dep_delay` * `dep_delay`"}, "dep_delay"),
    ({"name": "air_time"}, "air_time"),                                     # default expr: the name
    ({"name": "took_off", "expr": "hour(make_timestamp(year, month, day, DIV(dep_time, 100), 0, 0))"}, "dep_time"),
])
def test_a_feature_reading_a_column_known_after_the_event_is_refused(data, feature, column):
    with pytest.raises(ConfigError, match=rf"feature '{feature['name']}' reads column '{column}' of flights, known "
                                          r"only after the event"):
        parse_config(_add(data, **feature))


def test_derived_columns_of_outcome_columns_are_after_the_event(data):
    data["sources"]["flights"]["derived"]["was_late"] = "arr_delay > 15"
    with pytest.raises(ConfigError, match=r"feature 'late' reads column 'was_late'"):
        parse_config(_add(data, name="late", expr="CAST(was_late AS INT)"))


def test_the_label_inputs_are_after_the_event_even_undeclared(data):
    data["entity"]["known_after_event"] = []
    with pytest.raises(ConfigError, match=r"feature 'arr_delay' reads column 'arr_delay'"):
        parse_config(_add(data, name="arr_delay"))


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["entity"].update(filter="arr_delay IS NOT NULL"), r"entity.filter reads \['arr_delay'\]"),
    (lambda d: d["features"]["lookups"]["plane"].update(keys={"dep_time": "year"}),
     r"features.lookups.plane.keys: 'dep_time' is known only after the event"),
    (lambda d: d["entity"].update(known_after_event=["takeoff"]), r"'takeoff' is not a column of source 'flights'"),
    (lambda d: d["features"]["lookups"]["plane"].update(source="hangars"), r"'hangars' is not one of sources"),
    (lambda d: d["features"]["lookups"]["plane"].update(keys={"tailnum": "tail"}), r"'tail' is not a column of source 'planes'"),  # noqa: E501 (one case per line)
    (lambda d: d["features"]["histories"]["route_28d"].update(by={"route": "origin"}),
     r"features.histories.route_28d.by: 'route' is not a column of source 'flights'"),
    (lambda d: d["features"]["lookups"].update(carrier={"source": "airlines", "keys": {"carrier": "carrier"}}),
     r"features.lookups.carrier: the name 'carrier' is already a column of the entity row"),
    (lambda d: _add(d, name="seats", expr="plane.seatz"), r"feature 'seats' reads plane.seatz: source 'planes' has no column 'seatz' \(did you mean 'seats'\?\)"),  # noqa: E501 (one case per line)
    (lambda d: _add(d, name="gap", expr="distnce - 1"), r"feature 'gap' reads 'distnce': not a column of source 'flights', a lookup, a history or the as-of \(did you mean 'distance'\?\)"),  # noqa: E501 (one case per line)
    (lambda d: _add(d, name="gap", expr="CASE WHEN distanse > 1000 THEN 1 ELSE 0 END"), r"reads 'distanse'.*did you mean 'distance'"),  # noqa: E501 (one case per line)
    (lambda d: _add(d, name="seats", expr="plain.seats"), r"'plain' is not a lookup or history .*did you mean 'plane'"),  # noqa: E501 (one case per line)
    (lambda d: d["label"].update(expr="CASE WHEN arr_dealy > 15 THEN 1 ELSE 0 END"), r"label.expr: reads 'arr_dealy', not a column of source 'flights' \(did you mean 'arr_delay'\?\)"),  # noqa: E501 (one case per line)
    (lambda d: d["entity"].update(filter="orgin = 'JFK'"), r"entity.filter: reads 'orgin'.*did you mean 'origin'"),
    (lambda d: _add(d, name="rate", expr="route_28d.rate"), r"history 'route_28d' has no aggregate 'rate'"),
    (lambda d: _add(d, name="x", expr="hangar.size"), r"'hangar' is not a lookup or history"),
    (lambda d: _add(d, name="temp", expr="origin_weather.temp", known_at="static"),
     r"\(temp\): declared known_at static but it reads \['origin_weather'\], known at prediction_time"),
    (lambda d: _add(d, name="age", expr="year(as_of) - plane.year", known_at="catalog"), r"known at prediction_time"),
    (lambda d: _add(d, name="flight_id"), r"\(flight_id\): the name is a column the features table has anyway"),
    (lambda d: _add(d, name="h", steps=[{"date_part": "hour", "cyclic": "sin", "period": 24}]),
     r"a step is exactly one of .* got \['date_part', 'cyclic'\]"),
    (lambda d: _add(d, name="h", steps=[{"cyclic": "sin"}]), r"cyclic needs period"),
    (lambda d: _add(d, name="h", steps=[{"date_part": "hour", "timezone": "Mars/Olympus"}]), r"not an IANA time zone"),
    (lambda d: _add(d, name="h", steps=[{"buckets": [3, 1]}]), r"strictly increasing"),
    (lambda d: _add(d, name="h", steps=[{"clip": [5, 1]}]), r"low 5.0 is above high 1.0"),
    (lambda d: _add(d, name="h", clip_quantiles=[0.9, 0.1]), r"clip_quantiles: need 0 <= low < high <= 1"),
    (lambda d: _add(d, name="h", kind="categorical", impute="median"), r"\['impute'\] do not apply to a categorical feature"),  # noqa: E501 (one case per line)
    (lambda d: d["features"]["lookups"]["plane"].update(max_age_hours=3), r"max_age_hours goes with known_at"),
    (lambda d: d["features"]["histories"]["route_28d"]["aggregates"].update(avg={"agg": "mean"}), r"agg mean needs value"),
    (lambda d: d["features"]["lookups"]["plane"].update(on={"tailnum": "tailnum"}), r"features.lookups.plane.on: unknown key"),  # noqa: E501 (one case per line)
])
def test_feature_section_errors_name_the_key(data, edit, message):
    edit(data)
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def test_keywords_lambdas_and_functions_are_not_taken_for_missing_columns(data):
    """The load-time check of what an expression reads stops at names nobody declared: Spark's
    keywords (type names, interval units, CASE ... END), lambda variables, functions."""
    for i, expr in enumerate([
        "CAST(distance AS DOUBLE) / 1000.0",
        "CASE WHEN distance IS NULL THEN NULL WHEN distance BETWEEN 1 AND 500 THEN 1 ELSE 0 END",
        "timestampadd(MINUTE, 30, sched_dep_ts)",
        "aggregate(array(distance, flight), 0D, (acc, x) -> acc + coalesce(x, 0))",
        "size(filter(array(distance), v -> v > 100))",
        "datediff(as_of, DATE '2013-01-01') + INTERVAL 1 DAY IS NOT NULL",
    ]):
        _add(data, name=f"ok_{i}", expr=expr)
    parse_config(data)


def test_the_feature_set_id_follows_what_the_values_depend_on(data):
    before = parse_config(data).feature_set_id
    assert parse_config(yaml.safe_load(FLIGHTS_YML.read_text())).feature_set_id == before
    data["features"]["columns"][0]["description"] = "reworded"
    data["features"]["lookups"]["plane"]["description"] = "reworded"
    assert parse_config(data).feature_set_id == before            # words do not change values
    changed = yaml.safe_load(FLIGHTS_YML.read_text())
    changed["features"]["columns"][0]["min_count"] = 5
    assert parse_config(changed).feature_set_id != before
    derived = yaml.safe_load(FLIGHTS_YML.read_text())
    derived["sources"]["flights"]["derived"]["sched_dep_ts"] = "time_hour"
    assert parse_config(derived).feature_set_id != before
    contract = yaml.safe_load(FLIGHTS_YML.read_text())  # contract rules decide rows, not values
    contract["sources"]["flights"]["columns"]["carrier"]["domain"].append("ZZ")
    contract["sources"]["flights"]["columns"]["flight"]["max"] = 99999
    assert parse_config(contract).feature_set_id == before
    typed = yaml.safe_load(FLIGHTS_YML.read_text())
    typed["sources"]["flights"]["columns"]["flight"]["type"] = "bigint"
    assert parse_config(typed).feature_set_id != before


def test_second_use_case_declares_a_history():
    cfg = parse_config(yaml.safe_load((ROOT / "tests" / "fixtures" / "deliveries.yml").read_text()))
    assert cfg.after_event_columns == {"minutes"}
    assert cfg.feature_inputs(cfg.features.columns[4]).timed == ("region_7d",)
