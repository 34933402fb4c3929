"""`lakescore contract infer` on CSV files it has never seen, as a new user runs it: from a bare
file, from a config that has only `sources:`, and as a starter use case that ingest then runs."""

from __future__ import annotations

from datetime import date

import yaml
from typer.testing import CliRunner

from lakescore.cli import app
from lakescore.config import load_config, parse_config
from lakescore.core.runtime import Context
from lakescore.ingest.contract_draft import suggested_source
from lakescore.jobs import ingest

# Integer ids above 9,999, amounts over 10,000 (and an NA), zip codes with a leading zero, text
# that Spark would read as the year 16060, ISO dates and times, a low- and a high-cardinality
# string, a boolean.
HEADER = "order_id,customer,amount,zip,code,placed_at,day,note,paid\n"
ROWS = [f"{10001 + i},{['alice', 'bob', 'carol'][i % 3]},{'NA' if i == 4 else 12500.5 + 1000 * i},"
        f"{['02134', '16060', '94103'][i % 3]},{['16060', 'A12', '77'][i % 3]},2024-01-0{1 + i % 9} 1{i % 10}:00:00,"
        f"2024-01-0{1 + i % 9},note number {i},{'tf'[i % 2]}\n" for i in range(12)]


def _csv(path, rows=ROWS):
    path.write_text(HEADER + "".join(rows))
    return path


def test_infer_from_a_bare_file_never_overflows(tmp_path, spark, lakescore_home):
    csv = _csv(tmp_path / "orders.csv")
    result = CliRunner().invoke(app, ["contract", "infer", "--file", str(csv)])
    assert result.exit_code == 0, result.output
    assert f"# Draft contract for source orders, inferred from {csv} (12 rows)." in result.stdout
    assert "# candidate key ['order_id']: 12 distinct of 12 rows" in result.stdout
    src = suggested_source(result.stdout)
    assert src.landing.path == str(csv) and src.null_values == ["NA"]
    columns = src.columns
    assert (columns["order_id"].type, columns["order_id"].nullable) == ("int", False)
    assert columns["order_id"].max >= 10012 and columns["order_id"].min <= 10001
    assert columns["amount"].type == "double" and columns["amount"].nullable and columns["amount"].max >= 23500.5
    assert columns["zip"].type == "string" and columns["code"].type == "string"
    assert (columns["placed_at"].type, columns["day"].type, columns["paid"].type) == ("timestamp", "date", "boolean")
    assert columns["customer"].domain == ["alice", "bob", "carol"] and columns["note"].domain is None
    sampled = CliRunner().invoke(app, ["contract", "infer", "--file", str(csv), "--sample-rows", "5"])
    assert sampled.exit_code == 0, sampled.output
    assert "a sample of 5 of 12 rows" in sampled.stdout


def test_infer_from_a_config_that_has_only_sources(tmp_path, spark, lakescore_home):
    (tmp_path / "data").mkdir()
    csv = _csv(tmp_path / "data" / "orders.csv", ROWS + ["bad,line,with,too,many,fields,here,and,more,x\n"])
    config = tmp_path / "orders.yml"
    config.write_text(yaml.safe_dump({"sources": {"orders": {"landing": {"path": "data/orders.csv"}}}}))
    result = CliRunner().invoke(app, ["contract", "infer", "-c", str(config), "-s", "orders"])
    assert result.exit_code == 0, result.output
    assert f"inferred from the landing files {csv} (12 rows)" in result.stdout
    assert "# 1 malformed line(s) left out" in result.stdout
    assert suggested_source(result.stdout).columns["order_id"].type == "int"  # the bad line does not count
    missing = CliRunner().invoke(app, ["contract", "infer", "-c", str(config), "-s", "refunds"])
    assert missing.exit_code == 1 and "sources.refunds is not in the config" in missing.output


def test_a_starter_use_case_runs_ingest(tmp_path, spark, lakescore_home):
    folder = tmp_path / "exports"
    folder.mkdir()
    _csv(folder / "2024-01-01.csv", ROWS[:6])
    _csv(folder / "2024-01-02.csv", ROWS[6:])
    result = CliRunner().invoke(app, ["contract", "infer", "--file", str(folder), "--starter"])
    assert result.exit_code == 0, result.output
    assert "does not validate" not in result.output
    data = yaml.safe_load(result.stdout)
    cfg = parse_config(data)
    assert (cfg.entity.key, cfg.entity.event_time, cfg.label.expr) == (["order_id"], "placed_at", "amount")
    assert cfg.sources["exports"].landing.path == str(folder)
    spark.sql("DROP SCHEMA IF EXISTS lakescore_exports CASCADE")
    config = tmp_path / "exports.yml"
    config.write_text(result.stdout)
    summary = ingest.run(Context(cfg=load_config(config), as_of=date(2024, 1, 3), home=lakescore_home))
    assert summary["exports"] == {"rows_in": 12, "rows_clean": 12, "rows_quarantined": 0}
    assert spark.table("lakescore_exports.data_quality").count() == 2  # one batch per file
