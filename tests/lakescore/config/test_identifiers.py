"""Config values that would reach SQL: identifiers with quotes, backticks, semicolons, spaces or
unicode look-alikes, and SQL expressions that try to write or read other tables, are refused when
the config is loaded, with the key named."""

from __future__ import annotations

import copy

import pytest
import yaml

from lakescore.config import ConfigError, parse_config
from tests.support import FLIGHTS_YML

BASE = yaml.safe_load(FLIGHTS_YML.read_text())

BAD_IDENTIFIERS = [
    "pred`ictions", "pred'ictions", 'pred"ictions', "predictions; DROP TABLE x", "my table", "prеdictions",  # Cyrillic е
    "ｐredictions", "predictions--", "a.b", "", "1abc", "pred\nictions", "predictions\x00",
]


def _set(data: dict, path: str, value):
    *parents, last = path.split(".")
    node = data
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


@pytest.mark.parametrize("path", ["storage.schema", "storage.catalog", "tables.predictions", "tables.raw_prefix",
                                  "model.name", "entity.key.0", "slices.0", "label.name"])
@pytest.mark.parametrize("bad", BAD_IDENTIFIERS)
def test_identifiers_that_could_break_sql_are_refused(path, bad):
    data = copy.deepcopy(BASE)
    _set(data, path, bad)
    with pytest.raises(ConfigError, match=rf"invalid config: {path.replace('.', '[.]')}: .*not a plain identifier"):
        parse_config(data, source="flights.yml")


@pytest.mark.parametrize("bad", ["N; DROP", "na me", "`x`", "ｘ"])
def test_a_source_or_column_name_is_an_identifier_too(bad):
    data = copy.deepcopy(BASE)
    data["sources"]["weather"]["columns"][bad] = {"type": "int"}
    with pytest.raises(ConfigError, match="sources.weather.columns.*not a plain identifier"):
        parse_config(data)
    data = copy.deepcopy(BASE)
    data["sources"][bad] = data["sources"].pop("airlines")
    with pytest.raises(ConfigError, match="not a plain identifier"):
        parse_config(data)


@pytest.mark.parametrize("path,expr,why", [
    ("entity.filter", "origin = 'JFK'; DROP TABLE lakescore_flights.predictions", "';'"),
    ("entity.filter", "origin IN (SELECT origin FROM other_schema.secrets)", "'SELECT'"),
    ("label.expr", "CASE WHEN arr_delay > 15 THEN 1 ELSE 0 END; DELETE FROM predictions", "';'"),
    ("label.known_at", "reflect('java.lang.System', 'exit', 0)", "reflect\\(\\): calls into the JVM"),
    ("sources.flights.derived.sched_dep_ts", "java_method('java.lang.Runtime', 'getRuntime')", "java_method"),
    ("features.columns.0.expr", "(select max(distance) from lakescore_flights.clean_flights)", "'select'"),
    ("features.histories.route_28d.where", "arr_delay IS NOT NULL /* unclosed", "an unclosed comment"),
    ("features.lookups.origin_weather.known_at", "timestampadd(HOUR, 1, time_hour)) OR (1=1", "unbalanced"),
    ("entity.filter", "origin = 'JFK", "an unclosed string literal"),
    ("entity.filter", "1 = 1 INSERT OVERWRITE TABLE x SELECT 1", "'INSERT'"),
])
def test_sql_expressions_that_are_not_expressions_are_refused(path, expr, why):
    data = copy.deepcopy(BASE)
    _set(data, path, expr)
    with pytest.raises(ConfigError, match=rf"{path.replace('.', '[.]')}: .*not a plain SQL expression: {why}"):
        parse_config(data, source="flights.yml")


def test_words_inside_strings_and_quoted_names_are_fine():
    data = copy.deepcopy(BASE)
    data["entity"]["filter"] = "origin <> 'DROP TABLE; SELECT' AND `origin` IS NOT NULL -- a note; select"
    assert parse_config(data).entity.filter.startswith("origin <>")
