"""The prediction tables open without Spark: delta-rs (the `deltalake` package, what Polars and
DuckDB read Delta with) reads `predictions` as Spark wrote it, rows and change data feed alike,
and every other table of the home from its folder."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable
from pyspark.sql import functions as F

TABLE = "e2e_flights.predictions"


def _path(spark, table: str) -> str:
    return urlparse(spark.sql(f"DESCRIBE DETAIL {table}").first()["location"]).path


def _naive_utc(df: pd.DataFrame) -> pd.DataFrame:
    for name in df.columns:
        if isinstance(df[name].dtype, pd.DatetimeTZDtype):
            df[name] = df[name].dt.tz_convert("UTC").dt.tz_localize(None)
        if pd.api.types.is_datetime64_any_dtype(df[name]):
            df[name] = df[name].astype("datetime64[us]")
    return df


def test_deltalake_reads_the_predictions_spark_wrote(e2e, spark):
    dt = DeltaTable(_path(spark, TABLE))
    protocol = dt.protocol()
    assert protocol.min_reader_version == 1 and not protocol.reader_features  # no reader feature to support
    assert dt.metadata().configuration.get("delta.enableChangeDataFeed") == "true"
    assert dt.metadata().partition_columns == ["as_of"]
    theirs = _naive_utc(dt.to_pandas()).sort_values(["as_of", "flight_id"]).reset_index(drop=True)
    ours = _naive_utc(spark.table(TABLE).toPandas()).sort_values(["as_of", "flight_id"]).reset_index(drop=True)
    assert len(ours) > 500 and list(theirs.columns) == list(ours.columns)
    theirs["as_of"] = pd.to_datetime(theirs["as_of"]).dt.date
    pd.testing.assert_frame_equal(theirs, ours, check_dtype=False)
    # a lookup by key, as a service would do it, without a JVM
    one = ours.iloc[0]
    hit = dt.to_pandas(filters=[("flight_id", "=", one["flight_id"])])
    assert list(hit["score"]) == [one["score"]]


def test_change_data_feed_is_the_same_from_both_readers(e2e, spark):
    dt = DeltaTable(_path(spark, TABLE))
    theirs = pa.table(dt.load_cdf(starting_version=0)).to_pandas()
    ours = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 0).table(TABLE)
            .groupBy("_change_type", "_commit_version").count().toPandas())
    counted = theirs.groupby(["_change_type", "_commit_version"]).size().reset_index(name="count")
    key = ["_change_type", "_commit_version"]
    pd.testing.assert_frame_equal(counted.sort_values(key).reset_index(drop=True),
                                  ours.sort_values(key).reset_index(drop=True), check_dtype=False)
    first = spark.table(TABLE).where(F.col("as_of") == F.lit("2013-12-01")).count()
    assert len(theirs[(theirs["_change_type"] == "insert") & (theirs["_commit_version"] == 0)]) == first


def test_only_predictions_has_change_data_feed(e2e, spark):
    features = DeltaTable(_path(spark, "e2e_flights.features"))
    assert "delta.enableChangeDataFeed" not in features.metadata().configuration
    assert features.protocol().min_reader_version == 1


def test_every_table_of_the_home_opens_with_deltalake(e2e, spark, lakescore_home):
    """The warehouse folder is the catalog: each `<schema>.db/<table>` with a Delta log is a table
    Spark lists, and delta-rs reads each with Spark's columns and row count; a view is its SQL in
    `_views/`, listed by Spark too."""
    from lakescore.core.runtime import warehouse

    schema = "e2e_flights"
    folder = Path(warehouse(lakescore_home)) / f"{schema}.db"
    tables = sorted(p.name for p in folder.iterdir() if (p / "_delta_log").is_dir())
    views = sorted(p.stem for p in (folder / "_views").glob("*.sql"))
    listed = {r.tableName for r in spark.sql(f"SHOW TABLES IN {schema}").collect()}
    assert len(tables) >= 10 and "predictions" in tables and views == ["predictions_latest"]
    assert listed == set(tables) | set(views)
    for name in tables:
        dt = DeltaTable(str(folder / name))
        assert dt.protocol().min_reader_version == 1, name
        ours = spark.table(f"{schema}.{name}")
        assert [f.name for f in dt.schema().fields] == ours.columns, name
        assert dt.to_pyarrow_dataset().count_rows() == ours.count(), name
    assert spark.table(f"{schema}.predictions_latest").count() == spark.table(f"{schema}.predictions") \
        .select("flight_id").distinct().count()
