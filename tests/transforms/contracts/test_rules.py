from chispa import assert_column_equality, assert_df_equality
from pyspark.sql import functions as F

from lakescore.transforms.contracts import keys
from lakescore.transforms.contracts import rules as cleaning

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


# ----------------------------------------------------------------- one test per row rule
REASON = "struct<code:string,column:string,detail:string>"


def _rule_case(spark, rows, schema, make_rule):
    """Evaluate a rule on `rows` (input..., expected reason as (code, column, detail) or None)."""
    df = spark.createDataFrame(rows, f"{schema}, expected {REASON}")
    rule = make_rule()
    assert_column_equality(df.withColumn("got", rule.check), "got", "expected")
    return rule


def test_type_rule(spark):
    rows = [("12", 12, None), (None, None, None), ("x1", None, ("type_mismatch", "n", "not a int: x1"))]
    rule = _rule_case(spark, rows, "raw string, value int",
                      lambda: cleaning.type_rule("n", F.col("raw"), F.col("value"), "int"))
    assert (rule.code, rule.column) == ("type_mismatch", "n")


def test_required_rule(spark):
    rows = [("a", None), (None, ("missing_value", "c", "required value is null"))]
    _rule_case(spark, rows, "raw string", lambda: cleaning.required_rule("c", F.col("raw")))


def test_domain_rule(spark):
    rows = [("AA", None), (None, None), ("ZZ", ("out_of_domain", "carrier", "ZZ is not in the domain"))]
    _rule_case(spark, rows, "value string",
               lambda: cleaning.domain_rule("carrier", F.col("value"), ["AA", "UA"], "string"))
    ints = [(1, None), (3, ("out_of_domain", "n", "3 is not in the domain"))]
    _rule_case(spark, ints, "value int", lambda: cleaning.domain_rule("n", F.col("value"), [1, 2], "int"))


def test_range_rule(spark):
    rows = [(0, None), (100, None), (None, None), (-1, ("out_of_range", "d", "-1 is outside [0, 100]")),
            (101, ("out_of_range", "d", "101 is outside [0, 100]"))]
    _rule_case(spark, rows, "value int", lambda: cleaning.range_rule("d", F.col("value"), 0, 100, "int"))
    open_ended = [(5.5, None), (-0.5, ("out_of_range", "x", "-0.5 is outside [0, inf]"))]
    _rule_case(spark, open_ended, "value double", lambda: cleaning.range_rule("x", F.col("value"), 0, None, "double"))


def test_range_rule_on_dates(spark):
    from datetime import date

    rows = [(date(2013, 6, 1), None),
            (date(2012, 12, 31), ("out_of_range", "d", "2012-12-31 is outside [2013-01-01, 2013-12-31]"))]
    _rule_case(spark, rows, "value date",
               lambda: cleaning.range_rule("d", F.col("value"), "2013-01-01", "2013-12-31", "date"))


def test_pattern_rule(spark):
    rows = [("N14228", None), (None, None),
            ("bad tail", ("pattern_mismatch", "tailnum", "bad tail does not match ^N[0-9A-Z]{3,5}$"))]
    _rule_case(spark, rows, "value string",
               lambda: cleaning.pattern_rule("tailnum", F.col("value"), "^N[0-9A-Z]{3,5}$"))


def test_validate_applies_every_rule_of_a_column(spark):
    spec = {"c": cleaning.ColumnRules("string", False, domain=("AA", "UA"), pattern="^[A-Z]{2}$"),
            "d": cleaning.ColumnRules("int", True, min=0, max=10)}
    raw = spark.createDataFrame([("AA", "3"), ("u1", "11"), (None, "-")], "c string, d string")
    got = {r["_original"]["c"]: sorted((x["code"], x["column"]) for x in r["_reasons"])
           for r in raw.transform(cleaning.validate(spec, [])).collect()}
    assert got == {"AA": [],
                   "u1": [("out_of_domain", "c"), ("out_of_range", "d"), ("pattern_mismatch", "c")],
                   None: [("missing_value", "c"), ("type_mismatch", "d")]}


def test_tolerated_reasons_are_kept_but_do_not_quarantine(spark):
    spec = {"c": cleaning.ColumnRules("string", domain=("AA",)), "d": cleaning.ColumnRules("int")}
    raw = spark.createDataFrame([("AA", "1"), ("ZZ", "2"), ("ZZ", "x")], "c string, d string")
    out = raw.transform(cleaning.validate(spec, [], tolerated=[("out_of_domain", "c")]))
    expected = spark.createDataFrame([("AA", False, 0), ("ZZ", False, 1), ("ZZ", True, 2)],
                                     "c string, _quarantined boolean, n int")
    assert_df_equality(out.select("c", "_quarantined", F.size("_reasons").alias("n")), expected,
                       ignore_row_order=True, ignore_nullable=True)
    assert cleaning.clean_rows(out).count() == 2
    assert cleaning.quarantine_rows(out, "s").first()["reason_codes"] == "out_of_domain,type_mismatch"


def test_declared_column_missing_from_the_input_is_null(spark):
    spec = {"a": ("int", True), "b": ("string", False)}
    out = spark.createDataFrame([("1",)], "a string").transform(cleaning.validate(spec, []))
    row = out.first()
    assert row["b"] is None and [(r["code"], r["column"]) for r in row["_reasons"]] == [("missing_value", "b")]
    assert row["_original"] == {"a": "1"}  # what arrived, nothing invented


def test_add_reasons_appends_and_refreshes_the_flag(spark):
    df = spark.createDataFrame([(1,), (2,)], "x int").transform(cleaning.with_reasons([]))
    extra = cleaning.Rule("stale_source", None, cleaning.failed(F.col("x") == 2, "stale_source", None, "old"))
    out = df.transform(cleaning.add_reasons([extra]))
    expected = spark.createDataFrame([(1, False, []), (2, True, [("stale_source", None, "old")])],
                                     f"x int, _quarantined boolean, _reasons array<{REASON}>")
    assert_df_equality(out.select("x", "_quarantined", "_reasons"), expected, ignore_nullable=True)
    tolerated = df.transform(cleaning.add_reasons([extra], tolerated=[("stale_source", None)]))
    assert tolerated.where("_quarantined").count() == 0 and tolerated.where(F.size("_reasons") > 0).count() == 1


# ----------------------------------------------------------------------- key uniqueness
KEYED = {"id": ("int", False), "v": ("string", True)}


def _keyed(spark, rows):
    raw = spark.createDataFrame(rows, "id string, v string, _batch_id string, _landed_at string")
    return raw.transform(cleaning.validate(KEYED, [], keep=["_batch_id", "_landed_at"]))


def _dupes(df):
    return sorted((r["_batch_id"], r["_original"]["id"], r["_original"]["v"], r["detail"])
                  for r in df.select("*", F.explode("_reasons").alias("r")).where("r.code = 'duplicate_key'")
                  .select("_batch_id", "_original", "r.detail").collect())


def test_exact_copies_keep_one_row(spark):
    rows = [("1", "a", "b1", "t1"), ("1", "a", "b1", "t1"), ("1", "a", "b1", "t1"), ("2", "a", "b1", "t1")]
    out = _keyed(spark, rows).transform(keys.flag_duplicate_keys(["id"], order=["_landed_at"]))
    assert _dupes(out) == [("b1", "1", "a", "exact copy of another row of the batch")] * 2
    assert cleaning.clean_rows(out).count() == 2


def test_conflicting_rows_with_one_key_are_all_quarantined(spark):
    out = _keyed(spark, [("1", "a", "b1", "t1"), (" 1", "b", "b1", "t1"), ("2", "a", "b1", "t1")]) \
        .transform(keys.flag_duplicate_keys(["id"]))
    assert _dupes(out) == [("b1", " 1", "b", "key on 2 rows of the batch with different values"),
                           ("b1", "1", "a", "key on 2 rows of the batch with different values")]


def test_first_batch_owns_a_key_in_table_scope(spark):
    rows = [("1", "a", "b2", "2024-01-02"), ("1", "a", "b1", "2024-01-01"), ("2", "a", "b2", "2024-01-02")]
    table = _keyed(spark, rows).transform(keys.flag_duplicate_keys(["id"], order=["_landed_at"]))
    assert _dupes(table) == [("b2", "1", "a", "key already in batch b1")]
    batch = _keyed(spark, rows).transform(keys.flag_duplicate_keys(["id"], scope="batch"))
    assert _dupes(batch) == []


def test_keys_already_in_the_clean_table_are_duplicates(spark):
    existing = spark.createDataFrame([(1,), (1,)], "id int")  # even if the table holds it twice
    out = _keyed(spark, [("1", "a", "b2", "t"), ("3", "a", "b2", "t")]).transform(
        keys.flag_duplicate_keys(["id"], existing=existing, existing_name="db.clean_x"))
    assert _dupes(out) == [("b2", "1", "a", "key already in db.clean_x")]
    assert out.count() == 2  # the join with existing keys adds no row


def test_rejected_rows_and_null_keys_do_not_claim_a_key(spark):
    rows = [("1", "a", "b1", "t"), ("1", None, "b1", "t"), (None, "x", "b1", "t"), (None, "y", "b1", "t")]
    spec = {"id": ("int", True), "v": ("string", False)}
    raw = spark.createDataFrame(rows, "id string, v string, _batch_id string, _landed_at string")
    out = raw.transform(cleaning.validate(spec, [], keep=["_batch_id", "_landed_at"])) \
        .transform(keys.flag_duplicate_keys(["id"]))
    assert _dupes(out) == []  # ("1", None) is rejected for its missing v; NULL keys are no keys
    assert cleaning.clean_rows(out).count() == 3


def test_tolerated_duplicates_stay_clean(spark):
    out = _keyed(spark, [("1", "a", "b1", "t"), ("1", "b", "b1", "t")]).transform(
        keys.flag_duplicate_keys(["id"], tolerated=[("duplicate_key", "id")]))
    assert len(_dupes(out)) == 2 and cleaning.clean_rows(out).count() == 2


def test_row_hash_tells_where_the_nulls_are(spark):
    df = spark.createDataFrame([("x", None), (None, "x"), ("x", None)], "a string, b string")
    hashes = [r["h"] for r in df.select(cleaning.row_hash(["a", "b"]).alias("h")).collect()]
    assert hashes[0] == hashes[2] != hashes[1]


def test_a_malformed_line_is_a_reason_and_keeps_its_text(spark):
    raw = spark.createDataFrame(
        [("1", "2.5", None, "A", None, "b1"), ("2", "3.5", None, "B", "2,3.5,,B,EXTRA", "b1"),
         ("3", None, None, None, "3", "b1")],
        "id string, amount string, ts string, code string, _corrupt_record string, _batch_id string")
    checked = raw.transform(cleaning.validate(SPEC, [], keep=["_batch_id"]))
    expected = spark.createDataFrame(
        [("1", []), ("2", [("malformed_row", None, "line does not fit the header's fields: 2,3.5,,B,EXTRA")]),
         ("3", [("malformed_row", None, "line does not fit the header's fields: 3"),
                ("missing_value", "code", "required value is null")])],
        "id string, _reasons " + cleaning.REASON_TYPE)
    assert_df_equality(checked.select(F.col("id").cast("string").alias("id"), "_reasons"), expected,
                       ignore_nullable=True, ignore_row_order=True)
    assert checked.where("id = 2").first()["_original"]["_corrupt_record"] == "2,3.5,,B,EXTRA"
    assert "_corrupt_record" not in cleaning.clean_rows(checked).columns


def test_malformed_rules_of_rescued_data_and_long_lines(spark):
    df = spark.createDataFrame([("x" * 300, '{"extra": "1"}')], "_corrupt_record string, _rescued_data string")
    rules = cleaning.malformed_rules(df.columns)
    assert [r.code for r in rules] == ["malformed_row", "malformed_row"]
    out = df.select(*[r.check["detail"].alias(f"d{i}") for i, r in enumerate(rules)])
    expected = spark.createDataFrame(
        [("line does not fit the header's fields: " + "x" * 200 + "...", '_rescued_data: {"extra": "1"}')],
        "d0 string, d1 string")
    assert_df_equality(out, expected, ignore_nullable=True)
    assert cleaning.malformed_rules(["id", "name"]) == []
