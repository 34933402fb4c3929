"""The monitoring report on the end-to-end tables: every section is on the page with data, its
figures agree with the tables, the page fetches nothing, the CLI writes it and refuses a bad
range in one line, and the monitor stage's report lands in MLflow."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient
from pyspark.sql import functions as F
from typer.testing import CliRunner

from lakescore.cli import app
from lakescore.config import parse_config
from lakescore.jobs import monitor
from lakescore.monitoring import html_report
from tests.support import E2E_AS_OF, context, flights_data

runner = CliRunner()
START, END = E2E_AS_OF - timedelta(days=1), E2E_AS_OF + timedelta(days=1)


@pytest.fixture(scope="module")
def page(e2e, tmp_path_factory):
    ctx, _ = e2e
    out = tmp_path_factory.mktemp("report") / "html_report.html"
    data, seconds = html_report.build(ctx, out, START, END)
    return data, out.read_text(), seconds


def _section(text: str, key: str) -> str:
    found = re.search(rf'<section id="{key}" data-rows="(\d+)">(.*?)</section>', text, re.DOTALL)
    assert found, f"section {key} missing"
    assert int(found.group(1)) > 0, f"section {key} has no rows"
    return found.group(2)


def test_every_section_is_on_the_page_with_data(page):
    data, text, _ = page
    for key in html_report.SECTIONS:
        body = _section(text, key)
        if key != "gate":
            assert body.count("<svg") >= (2 if key in ("drift", "quality") else 1), key
        assert "no rows" not in body.split("<details>")[0] or key == "drift", key
    # self-contained: no script, stylesheet, image or font is fetched
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\((?!#)", text)  # url(#id): a clip path in the SVG
    assert not re.search(r'(src|href)="(https?:)?//', text)
    assert "promoted" in _section(text, "gate")
    assert "What moved the score" in _section(text, "drift")
    assert {"flights", "weather"} <= set(data.data_quality["source"])


def test_the_figures_agree_with_the_tables(page, spark):
    data, _, _ = page
    window = (F.col("as_of") >= F.lit(START)) & (F.col("as_of") <= F.lit(END))
    preds = spark.table("e2e_flights.predictions").where(window)
    assert data.scores["rows"].sum() == preds.count()
    assert data.model_age["rows"].sum() == preds.count()
    assert set(data.model_age["model_version"]) == {r[0] for r in preds.select("model_version").distinct().collect()}
    whole = spark.table("e2e_flights.slice_metrics").where(window & F.col("slice_key").isNull())
    labelled = whole.agg(F.sum("num_labelled")).first()[0]
    assert labelled > 0 and data.quality[data.quality["slice_key"].isna()]["num_labelled"].sum() == labelled
    assert set(data.quality["slice_key"].dropna()) == {"carrier", "origin"}
    est = {r.as_of: r for r in spark.table("e2e_flights.estimated_performance").where(
        window & F.col("slice_key").isNull() & (F.col("metric") == data.metric)).collect()}
    assert est and dict(zip(data.estimated["as_of"], data.estimated["estimated"])) == pytest.approx(
        {d: r.estimated for d, r in est.items()})
    assert "Estimated before the labels" in page[1]
    drift = spark.table("e2e_flights.drift_metrics").where(
        window & F.col("drift_type").isin("BASELINE", "CONSECUTIVE") & F.col("slice_key").isNull())
    assert len(data.drift) == drift.select("drift_type", "as_of", "column_name").distinct().count()
    assert data.drift["drifted"].fillna(0).sum() == drift.where("drifted").select(
        "drift_type", "as_of", "column_name").distinct().count()
    dq = spark.table("e2e_flights.data_quality").where(window).agg(F.sum("rows_in"), F.sum("rows_quarantined")).first()
    assert (data.data_quality["rows_in"].sum(), data.data_quality["rows_quarantined"].sum()) == tuple(dq)
    alerts = spark.table("e2e_flights.alerts").where(window)
    assert data.alert_counts["alerts"].sum() == alerts.count() > 0
    assert len(data.alerts) == min(alerts.count(), 50)
    assert set(data.promotions["model_version"]) <= set(data.gate["model_version"])


def _config(tmp_path, flights_files, overrides=None):
    path = tmp_path / "flights.yml"
    path.write_text(yaml.safe_dump(flights_data(flights_files, "e2e_flights", overrides)))
    return path


def test_the_cli_writes_the_page_and_refuses_a_bad_range(e2e, flights_files, tmp_path):
    config, out = _config(tmp_path, flights_files), tmp_path / "r" / "html_report.html"
    result = runner.invoke(app, ["report", "-c", str(config), "--start", str(START), "--end", str(END),
                                 "--out", str(out), "--distance", "population_stability_index"])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and out.exists()
    assert "population_stability_index" in out.read_text()
    bad = runner.invoke(app, ["report", "-c", str(config), "--start", str(END), "--end", str(START), "--out",
                              str(tmp_path / "bad.html")])
    assert bad.exit_code == 1 and "is after --end" in bad.output
    assert not (tmp_path / "bad.html").exists()


def test_monitor_report_is_logged_to_mlflow(e2e, flights_files, lakescore_home, tmp_path):
    assert parse_config(flights_data(flights_files, "e2e_flights"), source="t").monitor.report is False
    cfg = parse_config(flights_data(flights_files, "e2e_flights", {"monitor": {"report": True}}), source="t")
    assert cfg.monitor.report is True
    ctx = context(cfg, E2E_AS_OF + timedelta(days=1), lakescore_home)
    run_id = monitor.log_report(ctx)
    assert run_id is not None
    client = MlflowClient()
    assert html_report.ARTIFACT in {a.path for a in client.list_artifacts(run_id)}
    page = Path(client.download_artifacts(run_id, html_report.ARTIFACT, str(tmp_path))).read_text()
    assert all(f'id="{key}"' in page for key in html_report.SECTIONS)
    assert client.get_run(run_id).data.metrics["report_seconds"] > 0
