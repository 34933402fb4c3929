"""The data-contract part of the use-case config: column and source rules, policies, and the
errors that name the key."""

import pytest
import yaml

from lakescore.config import ConfigError, load_config, parse_config
from tests.support import FLIGHTS_YML


@pytest.fixture()
def data():
    return yaml.safe_load(FLIGHTS_YML.read_text())


def test_flights_contract_loads_with_policies():
    cfg = load_config(FLIGHTS_YML)
    flights = cfg.sources["flights"]
    assert flights.columns["carrier"].domain[:2] == ["9E", "AA"] and flights.columns["tailnum"].pattern
    assert flights.freshness.column == "time_hour" and flights.key_scope == "table"
    assert flights.policy("out_of_domain", "carrier") == "quarantine"
    assert flights.policy("missing_column") == "fail" and flights.policy("stale_source") == "warn"


def test_policy_overrides_column_then_source(data):
    src = data["sources"]["flights"]
    src["policies"] = {"out_of_domain": "fail", "stale_source": "quarantine"}
    src["columns"]["carrier"]["policies"] = {"out_of_domain": "warn"}
    flights = parse_config(data).sources["flights"]
    assert flights.policy("out_of_domain", "carrier") == "warn"
    assert flights.policy("out_of_domain", "origin") == "fail"
    assert flights.policy("stale_source") == "quarantine"


@pytest.mark.parametrize("column, message", [
    ({"type": "int", "pattern": "^[0-9]+$"}, "pattern applies to string columns, not int"),
    ({"type": "string", "pattern": "(unclosed"}, "is not a regular expression"),
    ({"type": "int", "min": 10, "max": 1}, "min 10 is larger than max 1"),
    ({"type": "int", "min": "ten"}, "min: 'ten' is not a number for a int column"),
    ({"type": "date", "min": "2013-13-45"}, "is not an ISO date or timestamp"),
    ({"type": "date", "min": 3}, "write a date bound as ISO text"),
    ({"type": "string", "max": 3}, "max applies to numeric, date and timestamp columns"),
    ({"type": "string", "min_domain_mass": 0.9}, "min_domain_mass needs a domain"),
    ({"type": "string", "domain": []}, "domain: List should have at least 1 item"),
    ({"type": "string", "min_presence": 1.5}, "min_presence: Input should be less than or equal to 1"),
    ({"type": "string", "policies": {"stale_source": "warn"}}, r"policies: \['stale_source'\] cannot be set here"),
    ({"type": "string", "policies": {"out_of_domain": "ignore"}}, "Input should be 'warn', 'quarantine' or 'fail'"),
    ({"type": "string", "domian": ["a"]}, "columns.dest.domian: unknown key"),
])
def test_column_contract_errors_name_the_key(data, column, message):
    data["sources"]["flights"]["columns"]["dest"] = column
    with pytest.raises(ConfigError, match=message) as err:
        parse_config(data)
    assert "sources.flights.columns.dest" in str(err.value)


@pytest.mark.parametrize("edit, message", [
    (lambda s: s["columns"]["carrier"].update(nullable=True), r"key columns \['carrier'\] must be declared nullable: false"),
    (lambda s: s.update(freshness={"column": "dest", "max_age_hours": 1}), "freshness.column 'dest' must be a date or timestamp"),  # noqa: E501 (one case per line)
    (lambda s: s.update(freshness={"column": "time_hour", "max_age_hours": 0}), "max_age_hours: Input should be greater than 0"),  # noqa: E501 (one case per line)
    (lambda s: s.update(volume={"min_ratio": 1.5}), "volume needs min_ratio <= 1 <= max_ratio"),
    (lambda s: s.update(policies={"novelty": "warn"}), "sources.flights.policies.novelty"),
    (lambda s: s.update(key_scope="global"), "key_scope: Input should be 'table' or 'batch'"),
])
def test_source_contract_errors(data, edit, message):
    edit(data["sources"]["flights"])
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def test_landed_at_is_a_valid_freshness_column_and_volume_can_be_off(data):
    data["sources"]["flights"]["freshness"] = {"column": "_landed_at", "max_age_hours": 24}
    data["sources"]["flights"]["volume"] = None
    flights = parse_config(data).sources["flights"]
    assert flights.freshness.column == "_landed_at" and flights.volume is None


def test_max_quarantine_rate_and_its_policy(data):
    flights = load_config(FLIGHTS_YML).sources["flights"]
    assert flights.max_quarantine_rate == 0.5 and flights.policy("high_quarantine_rate") == "fail"
    assert flights.policy("malformed_row") == "quarantine"
    data["sources"]["flights"]["max_quarantine_rate"] = 1.5
    with pytest.raises(ConfigError, match="sources.flights.max_quarantine_rate: Input should be less than or equal to 1"):
        parse_config(data)


def test_contract_hash_ignores_the_landing_and_a_default_quarantine_rate(data):
    from lakescore.ingest.check import contract_hash

    base = contract_hash(parse_config(data).sources["flights"])
    data["sources"]["flights"]["landing"] = {"path": "elsewhere/*.csv", "pattern": "*.csv"}
    data["sources"]["flights"]["max_quarantine_rate"] = 0.5
    assert contract_hash(parse_config(data).sources["flights"]) == base
    data["sources"]["flights"]["max_quarantine_rate"] = 0.2
    assert contract_hash(parse_config(data).sources["flights"]) != base


def test_sources_alone_load_for_drafting(tmp_path):
    from lakescore.config import load_sources

    path = tmp_path / "draft.yml"
    path.write_text(yaml.safe_dump({"sources": {"orders": {"landing": {"path": "data/orders.csv"}}},
                                    "entity": {"half": "written"}}))
    sources = load_sources(path)
    assert sources.storage is None and sources.sources["orders"].columns == {}
    assert sources.sources["orders"].landing.location() == tmp_path / "data" / "orders.csv"
    with pytest.raises(ConfigError, match="invalid config: name: required key is missing"):
        load_config(path)  # the stages still need the whole file
    path.write_text(yaml.safe_dump({"sources": {"orders": {"landing": {"path": "x.csv", "patern": "*"}}}}))
    with pytest.raises(ConfigError, match="sources.orders.landing.patern: unknown key"):
        load_sources(path)
