"""A second use case (another data set, a regression target) needs only a YAML file and its
raw tables: run every stage of tests/fixtures/deliveries.yml on a raw table written here."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest
from pyspark.sql import functions as F

from lakescore.config import load_config
from lakescore.core.runtime import Context
from lakescore.jobs import monitor
from lakescore.jobs.pipeline import STAGES, run_stages
from tests.support import ROOT

pytestmark = pytest.mark.slow   # `make slow`: CI runs it after `make test`

AS_OF = date(2024, 3, 21)


def _raw_deliveries(spark):
    rng = random.Random(11)
    rows = []
    start = datetime(2024, 2, 20)
    for i in range(1500):
        ordered = start + timedelta(minutes=rng.randrange(0, 32 * 24 * 60))
        region = rng.choice(["north", "south", "east"])
        distance = round(rng.uniform(1, 30), 2)
        items = rng.randint(1, 5)
        minutes = 10 + 3 * distance + (8 if region == "south" else 0) + rng.gauss(0, 3)
        rows.append((f"d{i:05d}", ordered.isoformat(), region, str(distance), str(items), f"{minutes:.2f}",
                     "batch-1"))
    rows.append(("d-bad", "yesterday", "north", "far", "1", "20", "batch-1"))  # quarantined
    return spark.createDataFrame(
        rows, "delivery_id string, ordered_at string, region string, distance_km string, items string, "
              "minutes string, _batch_id string")


def test_regression_use_case_runs_end_to_end(spark, lakescore_home):
    cfg = load_config(ROOT / "tests" / "fixtures" / "deliveries.yml")
    spark.sql("CREATE SCHEMA IF NOT EXISTS test_deliveries")
    _raw_deliveries(spark).write.format("delta").mode("overwrite").saveAsTable("test_deliveries.raw_deliveries")
    results = run_stages(Context(cfg=cfg, as_of=AS_OF, home=lakescore_home), STAGES)

    assert results["ingest"]["deliveries"] == {"rows_in": 1501, "rows_clean": 1500, "rows_quarantined": 1}
    assert results["promote"]["decision"] == "promoted"
    assert results["train"]["test_metrics"]["r2"] > 0.8
    preds = spark.table("test_deliveries.predictions")
    # horizon_days 2: the as-of scores deliveries ordered on 21 and 22 March (UTC)
    expected = spark.table("test_deliveries.clean_deliveries").where(
        F.to_date("ordered_at").isin(date(2024, 3, 21), date(2024, 3, 22))).count()
    assert preds.count() == expected > 0
    assert preds.where(F.col("score") != F.col("prediction")).count() == 0
    metrics = spark.table("test_deliveries.slice_metrics").where("slice_key IS NULL").first()
    assert metrics["count"] == expected and metrics["num_labelled"] == 0   # none delivered by the as-of
    # the run of 23 March sees the deliveries made by then (all but the last hour's)
    monitor.run(Context(cfg=cfg, as_of=date(2024, 3, 23), home=lakescore_home))
    metrics = spark.table("test_deliveries.slice_metrics").where("slice_key IS NULL AND as_of = DATE'2024-03-21'").first()
    assert 0.9 * expected < metrics["num_labelled"] <= expected and metrics["rmse"] < 15.0
    assert "auc" not in metrics.asDict()  # regression metrics only
    # estimated before the labels (direct loss estimation), beside the realized MAE and RMSE after
    est = {(r.as_of, r.metric): r for r in spark.table("test_deliveries.estimated_performance")
           .where("slice_key IS NULL").collect()}
    assert {m for _, m in est} == {"mae", "rmse"}
    for m in ("mae", "rmse"):
        row = est[(AS_OF, m)]
        assert row["count"] == expected and row["realized"] == pytest.approx(metrics[m])
        # 3-minute Gaussian noise: the model's own error on its held-out rows, then on this window
        assert abs(row["error"]) < 0.25 * row["realized"]
        assert row["error"] == pytest.approx(row["estimated"] - row["realized"])
    by_region = spark.table("test_deliveries.estimated_performance").where(
        "slice_key = 'region' AND metric = 'mae' AND as_of = DATE'2024-03-21'")
    assert {r.slice_value for r in by_region.collect()} == {"north", "south", "east"}
    drift = spark.table("test_deliveries.drift_metrics").where("drift_type = 'BASELINE'")
    assert {r.column_name for r in drift.collect()} == {f.name for f in cfg.model_features} | {"score", "prediction"}
    report = {r.feature: r for r in spark.table("test_deliveries.feature_reports").collect()}
    assert report["distance_km"].verdict == "leak_suspect" and report["distance_km"].power_metric == "r2"

    # The next day: static training, so the model of the day before serves it.
    next_day = run_stages(Context(cfg=cfg, as_of=AS_OF + timedelta(days=1), home=lakescore_home), STAGES)
    assert next_day["train"]["trained"] is False and "1 day(s) old" in next_day["train"]["reason"]
    assert next_day["promote"]["decision"] == "unchanged"
    served = spark.table("test_deliveries.predictions").where(F.col("as_of") == AS_OF + timedelta(days=1))
    assert served.count() > 0 and {r.model_version for r in served.collect()} == {results["train"]["model_version"]}
