"""SQL text from values (transforms.sqltext) and the documented table schemas (transforms.schemas)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, LongType, StringType, StructField, StructType

from lakescore.transforms import schemas
from lakescore.transforms.sqltext import all_of, any_of, dates_predicate, eq, ident, in_list, literal, mlflow_string
from tests.support import context, events_use_case


@settings(max_examples=40, deadline=None)
@given(text=st.text(min_size=0, max_size=20))
def test_a_string_literal_reads_back_as_itself(spark, text):
    # quotes, backslashes, unicode, newlines: Spark's parser gives back exactly the text
    assert spark.sql(f"SELECT {literal(text)} AS v").first()["v"] == text


def test_literals_of_every_type_read_back(spark):
    values = [None, True, 3, -2.5, date(2013, 12, 1), datetime(2013, 12, 1, 5, 30), "it's \\ `x`"]
    row = spark.sql("SELECT " + ", ".join(f"{literal(v)} AS c{i}" for i, v in enumerate(values))).first()
    assert list(row) == values
    with pytest.raises(ValueError):
        literal(float("nan"))


def test_identifiers_are_quoted_whatever_they_hold(spark):
    df = spark.createDataFrame([(1, 2)], "`a``b` int, `x y; drop` int")
    df.createOrReplaceTempView("odd_names")
    row = spark.sql(f"SELECT {ident('a`b')} + {ident('x y; drop')} AS s FROM odd_names").first()
    assert row["s"] == 3


def test_predicates(spark):
    df = spark.createDataFrame([("a'b", date(2024, 1, 1)), ("c", date(2024, 1, 2)), ("d", date(2024, 1, 5))],
                               "source string, as_of date")
    assert df.where(eq("source", "a'b")).count() == 1
    assert df.where(in_list("source", ["a'b", "d"])).count() == 2
    assert df.where(in_list("source", [])).count() == 0
    assert df.where(dates_predicate("as_of", [date(2024, 1, 1), date(2024, 1, 2)])).count() == 2  # a range
    assert df.where(dates_predicate("as_of", [date(2024, 1, 1), date(2024, 1, 5)])).count() == 2  # a list
    assert df.where(any_of(eq("source", "c"), all_of(eq("source", "d"), eq("as_of", date(2024, 1, 5))))).count() == 2
    assert df.where(eq("source", None)).count() == 0


def test_an_mlflow_filter_value_is_quoted_and_a_quote_inside_it_refused():
    assert mlflow_string("lakescore_delays") == "'lakescore_delays'"
    assert mlflow_string("2013-01-02") == "'2013-01-02'"
    for bad in ("o'brien", 'say "x"', 3):
        with pytest.raises(ValueError, match="MLflow search filter"):
            mlflow_string(bad)


def test_schema_check_names_the_table_and_column():
    expected = schemas.TableSchema.of([("id", IntegerType()), ("name", None)], optional=["name"])
    schemas.check("s.t", StructType([StructField("id", IntegerType())]), expected)
    schemas.check("s.t", StructType([StructField("ID", IntegerType()), StructField("name", LongType())]), expected)
    with pytest.raises(schemas.SchemaMismatch, match=r"table s.t: column extra \(string\) is not in the table's schema"):
        schemas.check("s.t", StructType([StructField("id", IntegerType()), StructField("extra", StringType())]), expected)
    with pytest.raises(schemas.SchemaMismatch, match="table s.t: column id is bigint but the table's schema says int"):
        schemas.check("s.t", StructType([StructField("id", LongType())]), expected)
    with pytest.raises(schemas.SchemaMismatch, match=r"table s.t: column\(s\) \['id'\] of the table's schema are missing"):
        schemas.check("s.t", StructType([StructField("name", LongType())]), expected)


def test_a_stage_writing_an_undocumented_column_fails_before_writing(spark, lakescore_home):
    from lakescore.config import parse_config
    from lakescore.core.table_store import SchemaError

    events = {"id": {"type": "int", "nullable": False}, "kind": {"type": "string"}, "at": {"type": "timestamp"}}
    cfg = parse_config(events_use_case("schema_check", "test_schema_check", {"events": {"columns": events}}))
    store = context(cfg, date(2024, 1, 1), lakescore_home).tables
    alerts = spark.createDataFrame([], schemas.ALERTS.struct())
    with pytest.raises(SchemaError, match="table test_schema_check.alerts: column oops"):
        store.write(alerts.withColumn("oops", F.lit(1)), cfg.tables.alerts)
    with pytest.raises(SchemaError, match="table test_schema_check.alerts: column value is string"):
        store.write(alerts.withColumn("value", F.lit("x")), cfg.tables.alerts)
    assert not store.exists(cfg.tables.alerts)
    store.write(alerts, cfg.tables.alerts)  # the documented schema writes
    assert store.exists(cfg.tables.alerts)
