"""The features stage on a slice of the flights data: one row per catalog entity x as_of with
the declared features and types, point-in-time values checked against plain SQL, re-runs, and
the leakage guard stopping the stage before it writes."""

from __future__ import annotations

from datetime import date

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakescore.features import feature_rows
from lakescore.jobs import features as features_job
from lakescore.jobs import ingest
from tests.support import context, flights_config

AS_OF = date(2013, 12, 1)
SCHEMA = "test_features"


def _ctx(lakescore_home, flights_files, overrides=None):
    return context(flights_config(flights_files, SCHEMA, overrides), AS_OF, lakescore_home)


@pytest.fixture(scope="module")
def built(spark, lakescore_home, flights_files):
    ctx = _ctx(lakescore_home, flights_files)
    ingest.run(ctx)
    result = features_job.run(ctx)
    return ctx, result


def test_one_row_per_catalog_entity_and_as_of_with_the_declared_features(built, spark):
    ctx, result = built
    cfg = ctx.cfg
    feats = spark.table(f"{SCHEMA}.features")
    # window_days 14 before the as-of, plus the as-of; `catalog`: the as-of's own rows
    assert result == {"days": 15, "rows": feats.count(), "catalog": feats.where(F.col("as_of") == ctx.as_of).count()}
    # the catalog of each as-of: flights scheduled that day in New York (the data's own date columns)
    catalog = (spark.table(f"{SCHEMA}.clean_flights")
               .withColumn("as_of", F.make_date("year", "month", "day"))
               .where(F.col("as_of").between(F.lit(date(2013, 11, 17)), F.lit(AS_OF))))
    assert feats.count() == catalog.count() > 10_000
    assert feats.select("flight_id", "as_of").distinct().count() == feats.count()
    assert feats.join(catalog, ["flight_id", "as_of"], "left_anti").count() == 0
    types = dict(feats.dtypes)
    assert feats.columns == ["flight_id", "as_of", "prediction_time", "sched_dep_ts", *cfg.feature_names, "feature_set"]
    assert all(types[f.name] == ("double" if f.kind == "numeric" else "string") for f in cfg.features.columns)
    assert feats.where(F.col("feature_set") != cfg.feature_set_id).count() == 0
    # the New York departure hour computed from the UTC timestamp matches the data's own `hour`
    hours = feats.join(catalog.select("flight_id", "hour"), "flight_id")
    assert hours.where(F.col("dep_hour") != F.col("hour").cast("double")).count() == 0


def test_weather_is_the_last_observation_before_midnight(built, spark):
    # at 00:00 New York time the latest observation known (one hour after its time_hour) is 23:00's
    feats = spark.table(f"{SCHEMA}.features").where(F.col("as_of") == AS_OF)
    weather = spark.table(f"{SCHEMA}.clean_weather").select(
        "origin", (F.col("time_hour") + F.expr("INTERVAL 1 HOUR")).alias("prediction_time"), F.col("temp").alias("expected"))
    got = feats.join(weather, ["origin", "prediction_time"], "left")
    assert got.count() == feats.count()
    assert got.where(~F.col("origin_temp").eqNullSafe(F.col("expected"))).count() == 0
    assert got.where(F.col("origin_temp").isNotNull()).count() > 0


def test_route_history_matches_plain_sql(built, spark):
    """The route's landed flights of the 28 days before the as-of, recounted with SQL."""
    ctx, _ = built
    cfg = ctx.cfg
    expected = spark.sql(f"""
        SELECT origin, dest, count(*) AS n, avg(CASE WHEN arr_delay > 15 THEN 1.0 ELSE 0.0 END) AS rate
        FROM {SCHEMA}.clean_flights
        WHERE arr_delay IS NOT NULL
          AND make_date(year, month, day) BETWEEN DATE'2013-11-03' AND DATE'2013-11-30'
          AND {cfg.label.known_at} < TIMESTAMP'2013-12-01 05:00:00'
        GROUP BY origin, dest""")
    feats = spark.table(f"{SCHEMA}.features").where(F.col("as_of") == AS_OF)
    got = (feats.select("origin", "dest", F.round(F.exp("route_flights_28d") - 1).cast("long").alias("n")).distinct()
           .join(expected.select("origin", "dest", F.col("n").alias("sql_n")), ["origin", "dest"], "left"))
    assert got.where(F.coalesce(F.col("sql_n"), F.lit(0)) != F.col("n")).count() == 0
    assert got.where(F.col("n") > 0).count() > 50
    # the shrunk rate of a busy route is close to its raw rate
    busy = expected.orderBy(F.col("n").desc(), "origin", "dest").first()
    rate = feats.where((F.col("origin") == busy["origin"]) & (F.col("dest") == busy["dest"])).first()["route_delay_rate_28d"]
    assert abs(rate - float(busy["rate"])) < 0.05


def test_rerun_recomputes_only_the_as_of_and_changes_nothing(built, spark, lakescore_home, flights_files):
    ctx, _ = built
    before = spark.table(f"{SCHEMA}.features").drop("feature_set").cache()
    before.count()
    again = features_job.run(_ctx(lakescore_home, flights_files))
    assert again["days"] == 1
    assert_df_equality(before, spark.table(f"{SCHEMA}.features").drop("feature_set"), ignore_row_order=True)
    before.unpersist()


def test_days_to_compute_are_the_missing_and_the_stale_ones(built, spark, lakescore_home, flights_files):
    ctx, _ = built
    other = _ctx(lakescore_home, flights_files, {"tables": {"features": "features_days"}})
    current = other.cfg.feature_set_id
    d = [date(2013, 11, 27 + i) for i in range(4)] + [AS_OF]      # 27, 28, 29, 30 November, 1 December
    assert features_job.missing_days(other, d[0], AS_OF) == d     # no table yet: every day
    spark.createDataFrame([(d[0], current), (d[1], "older"), (d[2], current), (d[2], "older"), (AS_OF, current)],
                          "as_of date, feature_set string").write.format("delta").saveAsTable(f"{SCHEMA}.features_days")
    # 27 Nov is current; 28 Nov stale, 29 Nov partly stale, 30 Nov missing; the as-of always
    assert features_job.missing_days(other, d[0], AS_OF) == [d[1], d[2], d[3], AS_OF]


def test_leakage_guard_stops_the_stage_before_it_writes(built, spark, lakescore_home, flights_files, monkeypatch):
    """A point-in-time join that looks two hours past the prediction time is caught: the stage
    fails naming the features that read it, and the table is not written."""
    real = feature_rows.with_point_in_time

    def peeking(name, table, keys, known_at, max_age_hours=None):
        def apply(df):
            later = df.withColumn("_pt", F.col("prediction_time")).withColumn(
                "prediction_time", F.col("prediction_time") + F.expr("INTERVAL 2 HOURS"))
            return (later.transform(real(name, table, keys, known_at, max_age_hours))
                    .withColumn("prediction_time", F.col("_pt")).drop("_pt"))
        return apply

    monkeypatch.setattr(feature_rows, "with_point_in_time", peeking)
    ctx = _ctx(lakescore_home, flights_files, {"tables": {"features": "features_leaky"}})
    with pytest.raises(features_job.FeatureError,
                       match=r"not written: leakage guard: feature origin_temp: \d+ row\(s\) use a value known up to "
                             r"\d+s after the prediction time;.*feature origin_pressure"):
        features_job.run(ctx)
    assert not ctx.tables.exists("features_leaky")
