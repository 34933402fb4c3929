"""Fatal problems stop a stage before it writes, with one message that names what is wrong."""

from __future__ import annotations

from datetime import date

import pytest

from lakescore.jobs import promote, score
from lakescore.jobs.pipeline import run_stages
from lakescore.models import registry
from tests.support import E2E_AS_OF, context, flights_config


def test_score_without_champion_names_the_model(spark, lakescore_home, flights_files):
    cfg = flights_config(flights_files, "test_no_champion")
    ctx = context(cfg, date(2013, 12, 1), lakescore_home)
    with pytest.raises(score.ScoreError, match="model test_no_champion_model has no @champion: run promote first"):
        score.run(ctx)
    assert not ctx.tables.exists(cfg.tables.predictions)
    with pytest.raises(promote.PromoteError, match="has no @challenger: run train first"):
        promote.run(ctx)


def test_gate_rejects_a_challenger_below_its_floor(spark, lakescore_home, flights_files, e2e):
    # Start from the end-to-end run's features and flights (shallow clones: no data copied).
    cfg = flights_config(flights_files, "test_gate", {"gate": {"floors": {"auc": 0.99}}})
    spark.sql("CREATE SCHEMA IF NOT EXISTS test_gate")
    for table in (cfg.tables.features, "clean_flights"):
        spark.sql(f"CREATE OR REPLACE TABLE test_gate.{table} SHALLOW CLONE e2e_flights.{table}")
    ctx = context(cfg, E2E_AS_OF, lakescore_home)
    results = run_stages(ctx, ["train", "promote"])
    assert results["promote"]["decision"] == "rejected"
    assert registry.by_alias(ctx, registry.CHAMPION) is None
    rows = {r.check: r for r in spark.table("test_gate.model_validations").collect()}
    assert rows["floor_auc"].passed is False and rows["floor_auc"].threshold == 0.99
    assert "below the floor 0.99" in rows["floor_auc"].reason
    assert rows["infra_compatibility"].passed is True
    with pytest.raises(score.ScoreError):
        score.run(ctx)
