import copy

import pytest
import yaml

from lakescore.config import ConfigError, load_config, parse_config
from tests.support import FLIGHTS_YML, ROOT


@pytest.fixture()
def data():
    return yaml.safe_load(FLIGHTS_YML.read_text())


def test_flights_config_loads():
    cfg = load_config(FLIGHTS_YML)
    assert cfg.entity.key == ["flight_id"] and cfg.label.kind == "binary"
    assert {"carrier", "origin"} <= set(cfg.slices) <= set(cfg.feature_names)
    assert set(cfg.sources) == {"flights", "weather", "planes", "airports", "airlines"}
    assert cfg.raw_table("flights") == "raw_flights" and cfg.clean_table("weather") == "clean_weather"


def test_second_use_case_loads():
    cfg = load_config(ROOT / "tests" / "fixtures" / "deliveries.yml")
    assert cfg.label.kind == "regression" and cfg.tables.predictions == "predictions"


def test_unknown_key_is_named(data):
    data["model"]["algoritm"] = "gbt_classifier"
    with pytest.raises(ConfigError, match=r"^flights.yml: invalid config: model.algoritm: unknown key "
                                          r"\(did you mean 'algorithm'\?\)$"):
        parse_config(data, source="flights.yml")


def test_a_misspelt_key_gets_the_closest_key_of_its_section(data):
    """Through mappings of named sections (sources, columns) and lists (features.columns); a key
    like no other gets no guess."""
    data["sources"]["flights"]["columns"]["year"]["tpye"] = "int"
    data["features"]["columns"][0]["knwn_at"] = "catalog"
    data["monitr"] = {}
    data["train"]["zzz"] = 1
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    text = str(err.value)
    assert "sources.flights.columns.year.tpye: unknown key (did you mean 'type'?)" in text
    assert "features.columns.0.knwn_at: unknown key (did you mean 'known_at'?)" in text
    assert "monitr: unknown key (did you mean 'monitor'?)" in text
    assert "train.zzz: unknown key\n" in text + "\n"


def test_wrong_type_is_named(data):
    data["train"]["seed"] = "forty-two"
    with pytest.raises(ConfigError, match=r"train.seed: Input should be a valid integer"):
        parse_config(data)


def test_missing_key_is_named(data):
    del data["model"]["algorithm"]
    with pytest.raises(ConfigError, match=r"model.algorithm: required key is missing"):
        parse_config(data)


def test_a_per_entity_label_needs_its_known_at(data):
    del data["label"]["known_at"]   # optional key: an outcome label has none
    with pytest.raises(ConfigError, match=r"label: a per-entity label needs both expr and known_at"):
        parse_config(data)


def test_identifiers_are_checked_before_they_reach_sql(data):
    data["storage"]["schema"] = "x; DROP TABLE y"
    with pytest.raises(ConfigError, match=r"storage.schema: 'x; DROP TABLE y' is not a plain identifier"):
        parse_config(data)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(slices=["tailnum"]), "slices: \\['tailnum'\\] are not features"),
    (lambda d: d["entity"].update(source="nope"), "entity.source 'nope' is not one of sources"),
    (lambda d: d["entity"].update(event_time="departure"), "entity.event_time"),
    (lambda d: d["model"].update(algorithm="linear_regression"), "does not fit label.kind 'binary'"),
    (lambda d: d["gate"].update(floors={"rmse": 3}), "metric 'rmse' is not one of"),
    (lambda d: d["features"]["columns"].append({"name": "carrier", "kind": "numeric"}), "duplicate names \\['carrier'\\]"),
])
def test_cross_checks(data, edit, message):
    edit(data)
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def test_targets_override_and_unknown_target(data):
    prod = parse_config(copy.deepcopy(data), target="prod")
    assert prod.storage.catalog == "prod" and prod.storage.schema_name == "lakescore_flights"
    assert prod.mlflow.experiment == "/Shared/lakescore/flights"
    with pytest.raises(ConfigError, match="targets.qa: no such target"):
        parse_config(data, target="qa")


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "none.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_score_section_defaults_and_checks(data):
    cfg = parse_config(copy.deepcopy(data))
    assert (cfg.score.env_manager, cfg.score.max_model_age_days, cfg.score.on_stale, cfg.score.zorder) == (
        "local", None, "warn", True)
    data["score"] = {"max_model_age_days": 30, "on_stale": "fail", "env_manager": "virtualenv"}
    assert parse_config(copy.deepcopy(data)).score.max_model_age_days == 30
    data["score"] = {"on_stale": "ignore"}
    with pytest.raises(ConfigError, match=r"score.on_stale: Input should be 'warn' or 'fail'"):
        parse_config(copy.deepcopy(data))
    data["score"] = {"max_model_age_days": 0}
    with pytest.raises(ConfigError, match=r"score.max_model_age_days: Input should be greater than 0"):
        parse_config(data)
