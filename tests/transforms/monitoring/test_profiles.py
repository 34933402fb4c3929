"""Reference profiles on tiny frames: the stored histogram and edges read back are what the
comparison computes from the rows, so drift_rows against a profile equals drift_rows against the
rows; profiles on the same edges merge by adding; the health reference per slice."""

from __future__ import annotations

from datetime import date

import pytest
from chispa.schema_comparer import assert_schema_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakescore.transforms.monitoring import comparisons, profiles
from lakescore.transforms.monitoring.decisions import DriftTest
from tests.support import assert_frames_close

D1 = date(2024, 1, 1)
COLUMNS = {"x": "numeric", "c": "categorical", "score": "numeric", "prediction": "categorical"}
TESTS = {"numeric": DriftTest("wasserstein_distance", 0.2), "categorical": DriftTest("l_infinity_distance", 0.1)}
# sums of values (s1, s2) and the distances built on them are added up in whatever order the
# partitions come: two plans over the same rows agree to the last few bits, not all of them
# (one such bit failed CI), so frames are compared per key up to a relative 1e-9
KEY_TYPES = (T.StringType, T.DateType, T.IntegerType, T.LongType, T.BooleanType)
SCHEMA = "model_id string, x double, c string, g string, score double, prediction double"


def _equal(got, expected):
    """Same columns and types; rows matched on every column that is not a number or nested."""
    assert_schema_equality(got.schema, expected.schema, ignore_nullable=True)
    keys = [f.name for f in got.schema.fields if isinstance(f.dataType, KEY_TYPES)]
    assert_frames_close(got, expected, keys, ignore=())


def _baseline(spark):
    rows = [("m/1", float(i % 13) if i % 17 else None, "ab"[i % 2] if i % 11 else None, "uv"[i % 3 == 0],
             (i % 7) / 7, float(i % 3 == 0)) for i in range(300)]
    return spark.createDataFrame(rows, SCHEMA)


def test_a_profile_read_back_is_the_histogram_and_edges_of_its_rows(spark):
    base = _baseline(spark)
    profile = profiles.drift_profile(base, COLUMNS, ["g"], bins=10, coarse_bins=5)
    edges = comparisons.reference_edges(base, COLUMNS, 10, 5)
    _equal(profiles.reference_edges(profile), edges)
    _equal(profiles.reference_histogram(profile), comparisons.reference_histogram(base, edges, COLUMNS, ["g"]))
    whole = {r.column_name: r for r in profile.where(F.col("slice_key").isNull()).collect()}
    assert whole["x"]["count"] == 300 and whole["x"].null_count == 18 and whole["c"].null_count == 28
    assert whole["c"].edges is None and {b.category for b in whole["c"].histogram} == {"a", "b", ""}
    assert profile.where("slice_key = 'g'").select("slice_value").distinct().count() == 2


def test_drift_rows_against_a_profile_equal_drift_rows_against_the_rows(spark):
    base = _baseline(spark)
    serving = spark.createDataFrame([(D1, "m/1", float(i % 5) + 3, "abc"[i % 3], "uv"[i % 2], 0.5, 1.0)
                                     for i in range(200)], "as_of date, " + SCHEMA)
    previous = serving.withColumn(comparisons.SCORED, F.lit(False)).where("FALSE")
    common = dict(bins=10, coarse_bins=5, baselines={"m/1": "train"}, defaults=TESTS, overrides={}, min_count=10,
                  small_sample=5, max_null_rate_increase=0.1)
    old = comparisons.drift_rows(serving, previous, base, COLUMNS, ["g"], **common)
    profile = profiles.drift_profile(base, COLUMNS, ["g"], bins=10, coarse_bins=5)
    new = comparisons.drift_rows(serving, previous, None, COLUMNS, ["g"], edges=profiles.reference_edges(profile),
                                 reference=profiles.reference_histogram(profile), **common)
    assert old.count() == 3 * len(COLUMNS)
    _equal(new, old)
    with pytest.raises(ValueError, match="edges"):
        comparisons.drift_rows(serving, previous, None, COLUMNS, ["g"], reference=profiles.reference_histogram(profile),
                               **common)


def test_profiles_on_the_same_edges_merge_by_adding_their_buckets(spark):
    base = _baseline(spark)
    edges = comparisons.reference_edges(base, COLUMNS, 10, 5)
    halves = [base.where(F.col("score") < 0.4), base.where(~(F.col("score") < 0.4))]
    parts = [profiles._collected(comparisons.reference_histogram(h, edges, COLUMNS, []), edges) for h in halves]
    merged = profiles.merge_drift(parts[0].unionByName(parts[1]), "m/1")
    whole = profiles._collected(comparisons.reference_histogram(base, edges, COLUMNS, []), edges)
    _equal(merged, whole)
    other = profiles.drift_profile(base.where(F.col("x") > 5), COLUMNS, [], bins=10, coarse_bins=5)
    with pytest.raises(ValueError, match="edges differ"):
        profiles.merge_drift(whole.unionByName(other), "m/1")


def test_the_health_reference_is_the_evaluation_overall_and_the_test_metric_of_slices_with_labels(spark):
    rows = [("m/1", None, None, 0.9, 1000, 0.8), ("m/1", "g", "u", 0.7, 300, None), ("m/1", "g", "v", 0.6, 50, None)]
    health = spark.createDataFrame(rows, "model_id string, slice_key string, slice_value string, value double, "
                                         "num_labelled long, evaluation double")
    got = {(r.slice_key, r.slice_value): r.reference for r in profiles.health_reference(health, 200).collect()}
    assert got == {(None, None): 0.8, ("g", "u"): 0.7, ("g", "v"): None}
