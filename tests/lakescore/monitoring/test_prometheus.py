"""`lakescore metrics`: the end-to-end run's tables as a Prometheus text file, parsed back with
prometheus-client's own parser and held against the tables (queried here independently)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from lakescore.cli import app
from lakescore.jobs.pipeline import STAGES
from lakescore.monitoring import prometheus
from tests.support import E2E_AS_OF, context, flights_config, flights_data

FAMILIES = {
    "latest_as_of_timestamp_seconds": set(),
    "predictions_rows": {"model_name", "model_version"},
    "model_age_days": {"model_name", "model_version"},
    "quality": {"model_name", "model_version", "slice", "metric"},
    "quality_labelled_rows": {"model_name", "model_version", "slice"},
    "quality_window_timestamp_seconds": {"model_name", "model_version"},
    "estimated_quality": {"model_name", "model_version", "slice", "metric"},
    "estimated_quality_window_timestamp_seconds": {"model_name", "model_version"},
    "drifted_features": {"model_name", "model_version", "drift_type"},
    "drift_features_compared": {"model_name", "model_version", "drift_type"},
    "quarantine_rate": {"source"},
    "rows_in": {"source"},
    "rows_quarantined": {"source"},
    "open_alerts": {"stage", "kind", "severity"},
    "stage_duration_seconds": {"stage"},
    "stage_last_success_timestamp_seconds": {"stage"},
    "stage_last_run_failed": {"stage"},
}


def _parse(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _samples(families, name: str) -> dict[tuple, float]:
    """A family's samples by their labels (use_case left out), as {(label value, ...): value}."""
    labels = sorted(FAMILIES[name])
    return {tuple(s.labels[k] for k in labels): s.value for s in families[prometheus.PREFIX + name].samples}


def _epoch(d) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def exported(e2e, tmp_path_factory):
    ctx, _ = e2e
    path = tmp_path_factory.mktemp("metrics") / "lakescore_flights.prom"
    started = time.perf_counter()
    samples = prometheus.write(ctx, path)
    print(f"\nmetrics: {samples} samples in {time.perf_counter() - started:.1f}s")
    return ctx, path, samples


def test_every_family_parses_with_its_labels(exported):
    ctx, path, samples = exported
    families = _parse(path.read_text())
    assert set(families) == {prometheus.PREFIX + n for n in FAMILIES}
    assert sum(len(f.samples) for f in families.values()) == samples > 0
    for name, labels in FAMILIES.items():
        family = families[prometheus.PREFIX + name]
        assert family.type == "gauge" and family.documentation, name
        assert family.samples, f"{name} has no sample on the end-to-end tables"
        for s in family.samples:
            assert set(s.labels) == {"use_case", *labels}, (name, s.labels)
            assert s.labels["use_case"] == ctx.cfg.name


def test_predictions_and_model_age_are_the_newest_as_ofs(exported, spark):
    ctx, path, _ = exported
    families = _parse(path.read_text())
    table = f"{ctx.tables.display_schema}.predictions"
    expected = {(r.model_name, r.model_version): (r.n, r.age) for r in spark.sql(
        f"SELECT model_name, model_version, count(*) n, max(model_age_days) age FROM {table} "
        f"WHERE as_of = (SELECT max(as_of) FROM {table}) GROUP BY ALL").collect()}
    assert _samples(families, "predictions_rows") == {k: float(n) for k, (n, _) in expected.items()}
    assert _samples(families, "model_age_days") == {k: a for k, (_, a) in expected.items()}
    newest = spark.sql(f"SELECT max(as_of) FROM {table}").first()[0]
    assert newest >= E2E_AS_OF  # 1 December's run, or a later as-of a test wrote on demand
    assert _samples(families, "latest_as_of_timestamp_seconds") == {(): _epoch(newest)}


def test_quality_per_slice_is_the_newest_labelled_window(exported, spark):
    ctx, path, _ = exported
    families = _parse(path.read_text())
    rows = spark.sql(f"SELECT * FROM {ctx.tables.display_schema}.slice_metrics WHERE as_of = DATE'2013-12-01'").collect()
    whole = next(r for r in rows if r.slice_key is None)
    assert whole.num_labelled > 0  # the next day's monitor saw the labels of 1 December
    name, version = whole.model_id.rsplit("/", 1)
    quality = _samples(families, "quality")            # keys: metric, model_name, model_version, slice
    assert quality[("auc", name, version, "all")] == pytest.approx(whole.auc)
    assert quality[("log_loss", name, version, "all")] == pytest.approx(whole.log_loss)
    with_auc = [r for r in rows if r.auc is not None and r.slice_key is not None]
    assert with_auc, "the end-to-end run has no slice with an AUC"
    for r in with_auc:
        assert quality[("auc", name, version, f"{r.slice_key}={r.slice_value}")] == pytest.approx(r.auc)
    labelled = _samples(families, "quality_labelled_rows")
    assert labelled[(name, version, "all")] == whole.num_labelled
    assert _samples(families, "quality_window_timestamp_seconds") == {(name, version): _epoch(E2E_AS_OF)}


def test_estimated_quality_is_the_newest_estimated_window(exported, spark):
    ctx, path, _ = exported
    families, table = _parse(path.read_text()), f"{ctx.tables.display_schema}.estimated_performance"
    rows = spark.sql(f"SELECT * FROM {table} WHERE as_of = (SELECT max(as_of) FROM {table}) "
                     "AND estimated IS NOT NULL").collect()
    assert {r.metric for r in rows} >= {"auc", "accuracy", "log_loss"}
    expected = {(r.metric, *r.model_id.rsplit("/", 1), "all" if r.slice_key is None else f"{r.slice_key}={r.slice_value}"):
                r.estimated for r in rows}
    assert _samples(families, "estimated_quality") == pytest.approx(expected)
    newest = {(*r.model_id.rsplit("/", 1),): _epoch(r.as_of) for r in rows}
    assert _samples(families, "estimated_quality_window_timestamp_seconds") == newest


def test_drift_quarantine_and_alerts_agree_with_the_tables(exported, spark):
    ctx, path, _ = exported
    families, schema = _parse(path.read_text()), ctx.tables.display_schema
    drift = {(r.drift_type, *r.model_id.rsplit("/", 1)): (r.drifted, r.compared) for r in spark.sql(
        f"SELECT drift_type, model_id, count(DISTINCT CASE WHEN drifted THEN column_name END) drifted, "
        f"count(DISTINCT column_name) compared FROM {schema}.drift_metrics "
        f"WHERE slice_key IS NULL AND as_of = (SELECT max(as_of) FROM {schema}.drift_metrics) GROUP BY ALL").collect()}
    assert _samples(families, "drifted_features") == {k: float(d) for k, (d, _) in drift.items()}
    assert _samples(families, "drift_features_compared") == {k: float(c) for k, (_, c) in drift.items()}
    assert any(c > 0 for _, c in drift.values())
    dq = {r.source: r for r in spark.sql(
        f"SELECT source, sum(rows_in) rows_in, sum(rows_quarantined) q FROM {schema}.data_quality d "
        f"WHERE as_of = (SELECT max(as_of) FROM {schema}.data_quality WHERE source = d.source) GROUP BY source").collect()}
    assert set(_samples(families, "quarantine_rate")) == {(s,) for s in dq} == {(s,) for s in ctx.cfg.sources}
    for source, r in dq.items():
        assert _samples(families, "rows_in")[(source,)] == r.rows_in
        assert _samples(families, "quarantine_rate")[(source,)] == pytest.approx(r.q / r.rows_in)
    newest = spark.sql(f"SELECT max(as_of) FROM {schema}.predictions").first()[0]
    alerts = {(r.kind, r.severity, r.stage): float(r.n) for r in spark.sql(
        f"SELECT kind, severity, stage, count(*) n FROM {schema}.alerts WHERE as_of BETWEEN "
        f"DATE'{newest}' - INTERVAL {ctx.cfg.monitor.lookback_days - 1} DAYS AND DATE'{newest}' GROUP BY ALL").collect()}
    assert alerts
    assert _samples(families, "open_alerts") == alerts


def test_stage_durations_and_last_successes_come_from_stage_runs(exported, spark):
    ctx, path, _ = exported
    families = _parse(path.read_text())
    runs = spark.sql(f"SELECT * FROM {ctx.tables.display_schema}.stage_runs").collect()
    assert sorted(r.stage for r in runs) == sorted(STAGES) and {r.status for r in runs} == {"succeeded"}
    assert all(r.as_of == E2E_AS_OF and r.seconds > 0 and r.detail is None for r in runs)
    durations = _samples(families, "stage_duration_seconds")
    assert durations == {(r.stage,): pytest.approx(r.seconds) for r in runs}
    success = _samples(families, "stage_last_success_timestamp_seconds")
    now = time.time()
    for r in runs:  # written this session, in UTC (the session's time zone); ended = started + seconds
        assert success[(r.stage,)] == pytest.approx(r.started_at.replace(tzinfo=UTC).timestamp() + r.seconds)
        assert now - 6 * 3600 < success[(r.stage,)] <= now + 1
    assert _samples(families, "stage_last_run_failed") == {(s,): 0.0 for s in STAGES}


def test_the_command_writes_the_file_and_a_use_case_without_tables_has_no_samples(e2e, flights_files, tmp_path):
    ctx, _ = e2e
    config = tmp_path / "flights.yml"
    config.write_text(yaml.safe_dump(flights_data(flights_files, ctx.cfg.storage.schema_name)))
    out = tmp_path / "textfile" / "lakescore.prom"
    result = CliRunner().invoke(app, ["metrics", "-c", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {out}: ")
    assert _parse(out.read_text())[prometheus.PREFIX + "predictions_rows"].samples

    empty = tmp_path / "empty.prom"
    samples = prometheus.write(context(flights_config(flights_files, "test_metrics_nothing_yet"), E2E_AS_OF,
                                       ctx.home), empty)
    families = _parse(empty.read_text())
    assert samples == 0 and set(families) == {prometheus.PREFIX + n for n in FAMILIES}

    missing = CliRunner().invoke(app, ["metrics", "-c", str(tmp_path / "nope.yml"), "--out", str(empty)])
    assert missing.exit_code == 1 and "nope.yml" in missing.output
