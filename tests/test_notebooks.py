"""The notebooks run in the suite: each against the tables of the end-to-end flights run."""

from __future__ import annotations

import runpy

import yaml
from pyspark.sql import functions as F

from tests.support import E2E_AS_OF, ROOT, flights_data


def test_explore_predictions_notebook(e2e, spark, flights_files, tmp_path, monkeypatch):
    ctx, results = e2e
    config = tmp_path / "flights.yml"
    config.write_text(yaml.safe_dump(flights_data(flights_files, "e2e_flights")))
    out = tmp_path / "figures"
    monkeypatch.setenv("LAKESCORE_CONFIG", str(config))
    monkeypatch.setenv("LAKESCORE_NOTEBOOK_OUT", str(out))
    ns = runpy.run_path(str(ROOT / "notebooks" / "explore_predictions.py"), run_name="__main__")

    figures = {p.name: p.stat().st_size for p in out.glob("*.png")}
    assert set(figures) == {"score_distribution.png", "calibration.png", "slice_metrics.png"}
    assert all(size > 10_000 for size in figures.values())
    per_day = ns["per_day"].set_index("as_of")
    predictions = spark.table("e2e_flights.predictions").where(F.col("as_of") == E2E_AS_OF).count()
    assert per_day.loc[E2E_AS_OF, "entities"] == predictions
    assert ns["histogram"]["count"].sum() == spark.table("e2e_flights.predictions").count()
    labelled = spark.table("e2e_flights.clean_flights").where("arr_delay IS NOT NULL").join(
        spark.table("e2e_flights.predictions"), "flight_id").count()
    assert ns["calibration"]["n"].sum() == labelled
    assert set(ns["by_slice"]["slice_key"]) <= {"carrier", "origin"} and len(ns["by_slice"]) > 0
    assert set(ns["validations"]["decision"]) == {"promoted"}
