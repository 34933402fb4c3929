"""conf/planes.yml, the shipped snapshot-catalog use case, end to end on the flights slice
(2013-11-10 .. 2013-12-02) and an eighth of the fleet: every stage for 2013-12-01 scores every
active aircraft of the catalog once, trains on outcome windows that closed before the as-of, and
writes slice metrics by manufacturer and engine."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F

from lakescore.config import deep_merge, parse_config
from lakescore.jobs.pipeline import STAGES, run_stages
from lakescore.models.training_rows import training_frame
from tests.support import E2E_AS_OF as AS_OF
from tests.support import context

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = "test_planes"
EIGHTH = "pmod(xxhash64(tailnum), 8) = 0"   # an eighth of the fleet keeps the test small

pytestmark = [pytest.mark.e2e, pytest.mark.slow]   # `make slow`


def planes_config(files):
    data = yaml.safe_load((ROOT / "conf" / "planes.yml").read_text())
    data = deep_merge(data, {
        "storage": {"schema": SCHEMA}, "mlflow": {"experiment": f"test-{SCHEMA}"},
        "model": {"name": f"{SCHEMA}_model"},
        "entity": {"filter": EIGHTH},
        "split": {"out_of_time_days": 2},
        "train": {"window_days": 14, "every_nth_day": 2, "min_rows": 300},
        "gate": {"floors": {"auc": 0.55}},
    })
    for name in ("flights", "planes"):
        data["sources"][name]["landing"] = {"path": str(files[name])}
    data["sources"]["flights"]["volume"] = None
    data["sources"]["flights"]["freshness"] = None
    return parse_config(data, source="tests")


@pytest.fixture(scope="module")
def planes(spark, lakescore_home, flights_files):
    spark.sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    ctx = context(planes_config(flights_files), AS_OF, lakescore_home)
    return ctx, run_stages(ctx, STAGES)


def test_every_active_aircraft_is_scored_once(planes, spark):
    ctx, results = planes
    assert results["promote"]["decision"] == "promoted"
    catalog = spark.table(f"{SCHEMA}.clean_planes").where("_valid_to IS NULL").where(EIGHTH)
    preds = spark.table(f"{SCHEMA}.predictions").where(F.col("as_of") == AS_OF)
    assert preds.count() == catalog.count() == preds.select("tailnum").distinct().count() > 350
    assert preds.join(catalog, "tailnum", "left_anti").count() == 0


def test_training_uses_closed_outcome_windows(planes, spark):
    ctx, results = planes
    frame = training_frame(ctx, AS_OF)
    assert frame.agg(F.max("as_of")).first()[0] < AS_OF - timedelta(days=7)   # 7-day windows closed
    sides = frame.where("split != 'out_of_time'").groupBy("tailnum").agg(F.countDistinct("split").alias("n"))
    assert sides.where("n > 1").count() == 0                                  # split by aircraft
    assert 0.05 < frame.agg(F.avg("delayed_60_7d")).first()[0] < 0.95         # both classes present
    assert results["train"]["oot_metrics"]["auc"] > 0.55


def test_slice_metrics_by_manufacturer_and_engine(planes, spark):
    slices = {r.slice_key for r in spark.table(f"{SCHEMA}.slice_metrics").collect()}
    assert {"manufacturer", "engine"} <= slices
