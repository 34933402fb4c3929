from chispa import assert_df_equality
from pyspark.sql import functions as F

from transforms import cleaning

SPEC = {"id": ("int", False), "amount": ("double", True), "ts": ("timestamp", True), "code": ("string", False)}


def _raw(spark, rows):
    return spark.createDataFrame(rows, "id string, amount string, ts string, code string, extra string, _batch_id string")


def test_validate_types_values_and_keeps_originals(spark):
    raw = _raw(spark, [("1", "2.5", "2013-01-01T10:00:00Z", "A", "x", "b1")])
    out = raw.transform(cleaning.validate(SPEC, ["NA"], keep=["_batch_id"]))
    expected = spark.createDataFrame(
        [("b1", 1, 2.5, "A")], "_batch_id string, id int, amount double, code string")
    assert_df_equality(out.select("_batch_id", "id", "amount", "code"), expected, ignore_nullable=True)
    row = out.first()
    assert row["ts"].isoformat() == "2013-01-01T10:00:00"
    assert row["_original"] == {"id": "1", "amount": "2.5", "ts": "2013-01-01T10:00:00Z", "code": "A", "extra": "x"}
    assert row["_reasons"] == []


def test_type_mismatch_and_missing_required_are_reasons(spark):
    raw = _raw(spark, [("x1", "abc", "not a time", None, None, "b1")])
    row = raw.transform(cleaning.validate(SPEC, [], keep=["_batch_id"])).first()
    reasons = sorted((r["code"], r["column"]) for r in row["_reasons"])
    assert reasons == [("missing_value", "code"), ("type_mismatch", "amount"),
                       ("type_mismatch", "id"), ("type_mismatch", "ts")]
    details = {r["column"]: r["detail"] for r in row["_reasons"]}
    assert details["amount"] == "not a double: abc"


def test_null_tokens_become_null_but_required_nulls_fail(spark):
    raw = _raw(spark, [("NA", "NA", " NA ", "B", None, "b1")])
    row = raw.transform(cleaning.validate(SPEC, ["NA"], keep=["_batch_id"])).first()
    assert row["amount"] is None and row["ts"] is None
    assert [(r["code"], r["column"]) for r in row["_reasons"]] == [("missing_value", "id")]
    assert row["_original"]["id"] == "NA"  # the original text is kept


def test_clean_and_quarantine_rows_partition_the_input(spark):
    raw = _raw(spark, [("1", "1.0", None, "A", None, "b1"), ("2", "oops", None, "B", None, "b1"),
                       ("3", None, None, "C", None, "b1")])
    checked = raw.transform(cleaning.validate(SPEC, [], keep=["_batch_id"]))
    clean = cleaning.clean_rows(checked, {"double_id": "id * 2"})
    expected = spark.createDataFrame([("b1", 1, 1.0, None, "A", 2), ("b1", 3, None, None, "C", 6)],
                                     "_batch_id string, id int, amount double, ts timestamp, code string, double_id int")
    assert_df_equality(clean, expected, ignore_row_order=True, ignore_nullable=True)
    quarantined = cleaning.quarantine_rows(checked, "src", carry=["_batch_id"])
    assert quarantined.columns == ["source", "_batch_id", "original", "reasons", "reason_codes"]
    row = quarantined.first()
    assert (row["source"], row["original"]["amount"], row["reason_codes"]) == ("src", "oops", "type_mismatch")
    assert clean.count() + quarantined.count() == raw.count()


def test_original_values_of_typed_input(spark):
    df = spark.createDataFrame([(1, 2.5, None)], "a int, b double, c string")
    assert df.select(cleaning.original_values(["a", "b", "c"]).alias("m")).first()["m"] == {"a": "1", "b": "2.5", "c": None}


def test_with_reasons_without_rules_is_empty(spark):
    df = spark.range(2).transform(cleaning.with_reasons([]))
    assert df.where(F.size(cleaning.REASONS) == 0).count() == 2
