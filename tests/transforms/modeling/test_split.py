from datetime import datetime

from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakescore.transforms.modeling.labels import labels
from lakescore.transforms.modeling.split import assign_split, hash_fraction


def test_split_is_deterministic_by_key_and_salt(spark):
    df = spark.range(20000).withColumn("k", F.concat(F.lit("id-"), F.col("id").cast("string")))
    a = df.transform(assign_split(["k"], 0.2, "s1"))
    b = df.repartition(7).transform(assign_split(["k"], 0.2, "s1"))
    assert_df_equality(a.select("k", "split"), b.select("k", "split"), ignore_row_order=True)
    share = a.where("split = 'test'").count() / 20000
    assert 0.18 < share < 0.22
    other = df.transform(assign_split(["k"], 0.2, "s2"))
    moved = a.join(other.withColumnRenamed("split", "s2"), "k").where("split != s2").count()
    assert moved > 1000  # a new salt draws a new split


def test_hash_fraction_range(spark):
    df = spark.range(1000).select(hash_fraction(["id"], "x").alias("f"))
    row = df.agg(F.min("f"), F.max("f")).first()
    assert 0.0 <= row[0] and row[1] < 1.0


def test_labels_only_known_before_cutoff(spark):
    df = spark.createDataFrame([
        ("a", 20, datetime(2013, 1, 1, 10)), ("b", 5, datetime(2013, 1, 1, 23)),
        ("c", None, datetime(2013, 1, 1, 9)), ("d", 30, datetime(2013, 1, 2, 1))],
        "id string, delay int, landed timestamp")
    out = df.transform(labels(["id"], "late", "CASE WHEN delay IS NULL THEN NULL WHEN delay > 15 THEN 1 ELSE 0 END",
                              "landed", known_before=F.lit(datetime(2013, 1, 2))))
    expected = spark.createDataFrame([("a", 1.0, datetime(2013, 1, 1, 10)), ("b", 0.0, datetime(2013, 1, 1, 23))],
                                     "id string, late double, label_known_at timestamp")
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)
