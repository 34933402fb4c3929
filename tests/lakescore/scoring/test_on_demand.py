"""On-demand predictions on the end-to-end tables: a scored flight comes from the cache; the
same flight computed on demand (the features stage's code, one entity) equals its batch row; a
flight of a later, unscored as-of is computed, written with served_by on_demand, and then
served from the cache."""

from __future__ import annotations

import json
from datetime import date

import pytest
import yaml
from pyspark.sql import functions as F
from typer.testing import CliRunner

from lakescore.cli import app
from lakescore.features import feature_rows
from lakescore.scoring import on_demand
from tests.support import E2E_AS_OF as AS_OF
from tests.support import flights_data

SCHEMA = "e2e_flights"
LATER = date(2013, 12, 2)  # in the slice's clean_flights, never scored by the batch
runner = CliRunner()


@pytest.fixture(scope="module")
def configs(e2e, flights_files, tmp_path_factory):
    folder = tmp_path_factory.mktemp("predict")
    paths = {}
    for name, overrides in {"e2e": {}, "own": {"tables": {"predictions": "od_predictions",
                                                          "predictions_latest": "od_predictions_latest"}}}.items():
        paths[name] = folder / f"{name}.yml"
        paths[name].write_text(yaml.safe_dump(flights_data(flights_files, SCHEMA, overrides)))
    return e2e[0], paths


def _batch_row(spark, as_of=AS_OF):
    return (spark.table(f"{SCHEMA}.predictions").where(F.col("as_of") == as_of)
            .orderBy("flight_id").first().asDict())


def _predict(path, *args):
    out = runner.invoke(app, ["predict", "-c", str(path), *args, "-f", "json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def test_a_scored_flight_comes_from_the_cache(configs, spark):
    _, paths = configs
    batch = _batch_row(spark)
    out = _predict(paths["e2e"], "--key", f"flight_id={batch['flight_id']}", "--as-of", AS_OF.isoformat())
    assert out["served"] == "cache" and out["prediction"]["score"] == batch["score"]
    assert out["prediction"]["served_by"] == "batch" and out["prediction"]["model_version"] == batch["model_version"]
    latest = _predict(paths["e2e"], "--key", f"flight_id={batch['flight_id']}")  # predictions_latest
    assert latest["served"] == "cache" and latest["prediction"]["as_of"] == AS_OF.isoformat()


def test_on_demand_row_equals_the_batch_row(configs, spark):
    ctx, _ = configs
    batch = _batch_row(spark)
    out = on_demand.compute(ctx, {"flight_id": batch["flight_id"]}, AS_OF, feature_rows)
    row = out["prediction"]
    assert out["served"] == "computed" and row["served_by"] == "on_demand" and not out["written"]
    same = ["flight_id", "as_of", "prediction_time", "sched_dep_ts", "prediction", "score", "model_name",
            "model_version", "model_alias", "model_trained_at", "model_age_days", "run_id"]
    assert {c: row[c] for c in same} == {c: batch[c] for c in same}
    stored = (spark.table(f"{SCHEMA}.features").where((F.col("as_of") == AS_OF) & (F.col("flight_id") == batch["flight_id"]))
              .first().asDict())
    assert out["features"] == {n: stored[n] for n in ctx.cfg.feature_names}
    assert out["feature_set"] == stored["feature_set"] == ctx.cfg.feature_set_id


def test_a_flight_of_a_later_unscored_as_of_is_computed_written_then_cached(configs, spark):
    ctx, paths = configs
    flight = (spark.table(f"{SCHEMA}.clean_flights").where("year = 2013 AND month = 12 AND day = 2")
              .orderBy("flight_id").first()["flight_id"])
    assert spark.table(f"{SCHEMA}.predictions").where(F.col("as_of") == LATER).count() == 0
    text = runner.invoke(app, ["predict", "-c", str(paths["own"]), "--key", f"flight_id={flight}"])
    assert text.exit_code == 0, text.output
    assert "computed on demand (not written" in text.stdout and "as-of 2013-12-02" in text.stdout
    assert "origin_temp" in text.stdout and f"model {ctx.cfg.model.name} version" in text.stdout
    first = _predict(paths["own"], "--key", f"flight_id={flight}", "--as-of", LATER.isoformat(), "--write")
    assert first["served"] == "computed" and first["written"] and 0.0 <= first["prediction"]["score"] <= 1.0
    assert set(first["features"]) == set(ctx.cfg.feature_names)
    stored = spark.table(f"{SCHEMA}.od_predictions").where(F.col("flight_id") == flight).collect()
    assert [(r.as_of, r.served_by, r.score) for r in stored] == [(LATER, "on_demand", first["prediction"]["score"])]
    again = _predict(paths["own"], "--key", f"flight_id={flight}", "--as-of", LATER.isoformat(), "--write")
    assert again["served"] == "cache" and again["prediction"]["served_by"] == "on_demand"
    assert spark.table(f"{SCHEMA}.od_predictions").count() == 1


def test_bad_keys_and_entities_outside_the_catalog_are_one_line_errors(configs, spark):
    _, paths = configs
    flight = (spark.table(f"{SCHEMA}.clean_flights").where("year = 2013 AND month = 12 AND day = 2")
              .orderBy("flight_id").first()["flight_id"])
    for args, message in [
        (["--key", "tailnum=N123"], "--key tailnum: not a column of the entity key ['flight_id']"),
        (["--key", "flight_id"], "--key flight_id: expected <column>=<value>"),
        (["--key", "flight_id=nope"], "flight_id=nope: no such entity in e2e_flights.clean_flights"),
        (["--key", f"flight_id={flight}", "--as-of", "2013-11-30"], "is not in the catalog of as-of 2013-11-30"),
    ]:
        out = runner.invoke(app, ["predict", "-c", str(paths["own"]), *args])
        assert out.exit_code == 1 and message in out.output, out.output
        assert len(out.output.strip().splitlines()) == 1
