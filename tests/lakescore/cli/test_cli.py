"""The command line: help, one-line errors, and the read-only SQL command."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from lakescore.cli import app
from lakescore.cli.sql import check_read_only
from tests.support import FLIGHTS_YML

runner = CliRunner()


def test_help_explains_every_command_and_stage():
    out = runner.invoke(app, ["--help"]).output
    for command in ("run", "sql", "spark-defaults", "model", "predict"):
        assert command in out
    assert "--model-uri" in runner.invoke(app, ["model", "register", "--help"]).output
    assert "--key" in runner.invoke(app, ["predict", "--help"]).output
    run_help = runner.invoke(app, ["run", "--help"]).output
    for stage in ("ingest", "features", "train", "promote", "score", "monitor", "--as-of", "--config"):
        assert stage in run_help


def test_bad_config_is_one_line_error(tmp_path):
    data = yaml.safe_load(FLIGHTS_YML.read_text())
    data["train"]["windw_days"] = 3
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["run", "ingest", "--config", str(path), "--as-of", "2013-12-01"])
    assert result.exit_code == 1
    assert "lakescore: error: " in result.output and "train.windw_days: unknown key" in result.output


def test_a_missing_landing_is_refused_before_a_session_starts(tmp_path, monkeypatch):
    """`run ingest` (and `run all`) checks every landing path first: one line naming the key and
    the resolved path, and no Spark session asked for."""
    import lakescore.core.runtime as runtime

    def no_session(*args, **kwargs):
        raise AssertionError("a Spark session was started before the landing was checked")

    monkeypatch.setattr(runtime, "get_spark", no_session)
    monkeypatch.setattr(runtime.Context, "spark", property(no_session))
    data = yaml.safe_load(FLIGHTS_YML.read_text())
    data["sources"]["weather"]["landing"] = {"path": "exports/weather"}
    path = tmp_path / "moved.yml"
    path.write_text(yaml.safe_dump(data))
    for stage in ("ingest", "all"):
        result = runner.invoke(app, ["run", stage, "--config", str(path), "--as-of", "2013-12-01"])
        assert result.exit_code == 1, result.output
        assert result.output.strip() == (f"lakescore: error: sources.weather.landing.path: "
                                          f"{tmp_path / 'exports' / 'weather'} does not exist"), result.output


def test_bad_as_of_is_refused():
    result = runner.invoke(app, ["run", "score", "--config", str(FLIGHTS_YML), "--as-of", "12/01/2013"])
    assert result.exit_code == 2 and "as-of" in result.output


@pytest.mark.parametrize("query", [
    "select 1", "  -- comment\nSELECT * FROM predictions", "with a as (select 1 x) select * from a",
    "show tables", "describe predictions", "DESCRIBE HISTORY predictions", "values (1)",
])
def test_read_only_queries_pass(spark, query):
    assert check_read_only(spark, query)


@pytest.mark.parametrize("query", [
    "drop table predictions", "insert into predictions select 1", "delete from predictions",
    "with a as (select 1 x) insert into predictions select * from a", "create table x as select 1",
    "select 1; drop table predictions", "optimize predictions", "", "cache table predictions",
    "update predictions set score = 1", "merge into a using b on a.x = b.x when matched then delete",
])
def test_writes_are_refused(spark, query):
    with pytest.raises(ValueError, match="only read-only queries are allowed|PARSE_SYNTAX_ERROR|Syntax error"):
        check_read_only(spark, query)


@pytest.fixture()
def sql_config(spark, tmp_path):
    spark.sql("CREATE SCHEMA IF NOT EXISTS cli_sql")
    spark.createDataFrame([("a", 0.25), ("b", 0.75)], "k string, score double") \
        .write.format("delta").mode("overwrite").saveAsTable("cli_sql.predictions")
    data = yaml.safe_load(FLIGHTS_YML.read_text())
    data["storage"]["schema"] = "cli_sql"
    path = tmp_path / "cli.yml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_sql_formats(sql_config):
    as_json = runner.invoke(app, ["sql", "--config", sql_config, "select * from predictions order by k", "-f", "json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == [{"k": "a", "score": 0.25}, {"k": "b", "score": 0.75}]
    as_csv = runner.invoke(app, ["sql", "--config", sql_config, "select * from predictions order by k", "--format", "csv"])
    assert as_csv.stdout.splitlines() == ["k,score", "a,0.25", "b,0.75"]
    table = runner.invoke(app, ["sql", "--config", sql_config, "select count(*) AS n from predictions"])
    assert "n" in table.stdout and "2" in table.stdout


def test_sql_limit_and_refusal(sql_config):
    limited = runner.invoke(app, ["sql", "--config", sql_config, "select * from predictions order by k",
                                  "-f", "csv", "--limit", "1"])
    assert limited.stdout.splitlines() == ["k,score", "a,0.25"]
    assert "first 1 rows" in limited.stderr
    refused = runner.invoke(app, ["sql", "--config", sql_config, "drop table predictions"])
    assert refused.exit_code == 1 and "refused 'drop'" in refused.output
    missing = runner.invoke(app, ["sql", "--config", sql_config, "select * from nope"])
    assert missing.exit_code == 1 and "nope" in missing.output


@pytest.mark.parametrize("query", [
    "select '--not a comment' as a, 'x;y' as b", "/* a comment */ select 1;", "select `update` from (select 1 as `update`)",
    "select 1 -- trailing comment", "with t as (select 1 x) select * from t where x in (select 1)",
])
def test_read_only_queries_with_comments_strings_and_names_pass(spark, query):
    text = check_read_only(spark, query)
    assert spark.sql(text).collect()  # what is returned runs as it was written


@pytest.mark.parametrize("query,why", [
    ("select 1; select 2", "one statement at a time, found 2"),
    ("select 1 /* ; */ ; drop table predictions", "one statement at a time"),
    ("-- select\ndrop table predictions", "refused 'drop'"),
    ("/* select */ insert into predictions select 1", "refused 'insert'"),
    ("select reflect('java.lang.System', 'exit', 0)", "reflect\\(\\) calls into the JVM"),
    ("select * from (select java_method('java.lang.System', 'exit', 0))", "java_method\\(\\) calls into the JVM"),
    ("with a as (select 1) select * from a union all select try_reflect('java.lang.System', 'exit', 0)",
     "try_reflect\\(\\) calls into the JVM"),
    ("from predictions insert into x select *", "InsertInto"),
    ("show tables; drop table predictions", "one statement at a time"),
])
def test_hidden_writes_and_jvm_calls_are_refused(spark, query, why):
    with pytest.raises(ValueError, match=why):
        check_read_only(spark, query)


def test_every_command_that_takes_a_config_takes_set_overrides():
    """`--set key.path=value` is on every command with `--config` (README: overriding keys)."""
    import typer.main

    def commands(group, path=()):
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):
                yield from commands(cmd, (*path, name))
            else:
                yield " ".join((*path, name)), cmd

    with_config = {name: {o for p in cmd.params for o in p.opts}
                   for name, cmd in commands(typer.main.get_command(app))
                   if any("--config" in p.opts for p in cmd.params)}
    assert {"run", "backfill", "sql", "predict", "metrics", "retrain-needed"} <= set(with_config)
    assert [name for name, opts in with_config.items() if "--set" not in opts] == []
