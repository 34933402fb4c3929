"""Dataset-level anomalies, data_quality rows, alerts and contract inference on tiny frames."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from chispa import assert_df_equality

from lakescore.transforms import schemas
from lakescore.transforms.contracts import anomalies as contracts
from lakescore.transforms.contracts import inference, measures, quality
from lakescore.transforms.contracts import rules as cleaning
from lakescore.transforms.monitoring import alerts

FAILURES = contracts.FAILURES_TYPE
AS_OF = datetime(2024, 1, 2, 5, 0)


def _profile(spark, rows, extra: str = ""):
    return spark.createDataFrame(rows, contracts.PROFILE_SCHEMA + extra)


def _row(batch="b1", rows_in=10, flagged=0, present=None, new_values=None, newest=None, failures=(),
         landed=datetime(2024, 1, 1)):
    return (batch, landed, rows_in, flagged, present or {}, new_values or {}, newest, list(failures))


def _findings(spark, rows):
    return spark.createDataFrame(rows, contracts.FINDING_SCHEMA)


def test_profile_counts_rows_values_failures_and_newest_event(spark):
    spec = {"id": ("int", False), "kind": cleaning.ColumnRules("string", domain=("a",)), "at": ("timestamp", True)}
    raw = spark.createDataFrame(
        [("1", "a", "2024-01-01 10:00:00", None, "b1"), ("2", "z", "2024-01-01 12:00:00", "x", "b1"),
         ("x", "a", "2024-01-01 23:00:00", None, "b1"), ("4", None, None, None, "b2")],
        "id string, kind string, at string, extra string, _batch_id string")
    checked = raw.transform(cleaning.validate(spec, [], keep=["_batch_id"]))
    out = checked.transform(contracts.profile(list(spec), landed=None, freshness="at", new_columns=["extra"]))
    expected = _profile(spark, [
        # the newest event is among the rows not quarantined: the mistyped row's 23:00 does not count
        _row("b1", 3, 2, {"id": 2, "kind": 3, "at": 3}, {"extra": 1}, datetime(2024, 1, 1, 10), [
            ("out_of_domain", "kind", 1, "z is not in the domain"), ("type_mismatch", "id", 1, "not a int: x")],
            landed=None),
        _row("b2", 1, 0, {"id": 1, "kind": 0, "at": 0}, {"extra": 0}, None, [], landed=None),
    ])
    assert_df_equality(out.orderBy("batch_id"), expected.orderBy("batch_id"), ignore_nullable=True)


def test_row_rule_findings(spark):
    profile = _profile(spark, [_row(rows_in=200, failures=[("out_of_range", "d", 3, "-1 is outside [0, 9]")]),
                               _row("b2", failures=[])])
    expected = _findings(spark, [("b1", "out_of_range", "d", 3.0, 0.0, "3 of 200 rows, e.g. -1 is outside [0, 9]")])
    assert_df_equality(profile.transform(contracts.findings(contracts.row_rule_findings())), expected,
                       ignore_nullable=True)


def test_unexpected_string_values_above_tolerance(spark):
    profile = _profile(spark, [
        _row("b1", 100, present={"c": 100}, failures=[("out_of_domain", "c", 2, "ZZ is not in the domain")]),
        _row("b2", 100, present={"c": 100}, failures=[("out_of_domain", "c", 1, "ZZ is not in the domain")]),
        _row("b3", 100, present={"c": 0}),
    ])
    out = profile.transform(contracts.findings(contracts.unexpected_string_values({"c": 0.99})))
    expected = _findings(spark, [("b1", "unexpected_string_values", "c", 0.98, 0.99,
                                  "c: 98.00% of values in the domain (2 outside), below min_domain_mass 0.99")])
    assert_df_equality(out, expected, ignore_nullable=True)


def test_low_presence(spark):
    profile = _profile(spark, [_row("b1", 10, present={"c": 8}), _row("b2", 10, present={"c": 9}),
                               _row("b3", 10, present={})])
    out = profile.transform(contracts.findings(contracts.low_presence({"c": 0.9})))
    expected = _findings(spark, [
        ("b1", "low_presence", "c", 0.8, 0.9, "c: 80.00% of rows have a value, below min_presence 0.9"),
        ("b3", "low_presence", "c", 0.0, 0.9, "c: 0.00% of rows have a value, below min_presence 0.9")])
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_new_and_missing_columns(spark):
    profile = _profile(spark, [_row("b1", 5, new_values={"gate": 4, "empty": 0})])
    out = profile.transform(contracts.findings(contracts.new_columns(), contracts.missing_columns(["d"], "db.raw_x")))
    expected = _findings(spark, [
        ("b1", "new_column", "gate", 4.0, 0.0, "column gate is not in the contract; 4 rows have a value"),
        ("b1", "missing_column", "d", 5.0, None, "declared column d is not in db.raw_x")])
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_previous_volumes_orders_history_then_the_run(spark):
    history = [(datetime(2024, 1, 2), "h2", 200), (datetime(2024, 1, 1), "h1", 100), (None, "h0", 50)]
    current = [(datetime(2024, 1, 4), "c2", 7), (datetime(2024, 1, 3), "c1", 5)]
    assert measures.previous_volumes(history, current, 2) == {"c1": [100, 200], "c2": [200, 5]}
    assert measures.previous_volumes([], current, 3) == {"c1": [], "c2": [5]}


def test_volume_against_the_median_of_previous_batches(spark):
    rows = [(*_row("low", 40), [100, 90, 120]), (*_row("ok", 100), [100, 90, 120, 80]),
            (*_row("high", 300), [100]), (*_row("first", 10), [])]
    frame = spark.createDataFrame(rows, contracts.PROFILE_SCHEMA + ", previous_rows array<bigint>")
    measured = frame.transform(measures.with_volume)
    expected = spark.createDataFrame([("low", 100.0, 0.4), ("ok", 95.0, 100 / 95), ("high", 100.0, 3.0),
                                      ("first", None, None)],
                                     "batch_id string, volume_baseline double, volume_ratio double")
    assert_df_equality(measured.select("batch_id", "volume_baseline", "volume_ratio"), expected,
                       ignore_row_order=True, ignore_nullable=True)
    out = measured.transform(contracts.findings(contracts.volume_anomalies(0.5, 2.0)))
    assert sorted((r["batch_id"], r["kind"], r["value"], r["threshold"]) for r in out.collect()) == [
        ("high", "high_num_examples", 3.0, 2.0), ("low", "low_num_examples", 0.4, 0.5)]


def test_stale_source(spark):
    profile = _profile(spark, [_row("fresh", newest=datetime(2024, 1, 1, 12)),
                               _row("stale", newest=datetime(2023, 12, 30, 5)),
                               _row("none", newest=None)])
    measured = profile.transform(measures.with_freshness(AS_OF))
    assert {r["batch_id"]: r["freshness_hours"] for r in measured.collect()} == {
        "fresh": 17.0, "stale": 72.0, "none": None}
    out = measured.transform(contracts.findings(contracts.stale_source("at", 48)))
    expected = _findings(spark, [
        ("stale", "stale_source", "at", 72.0, 48.0,
         "newest at 2023-12-30 05:00:00 is 72.0 hours old at the as-of, above max_age_hours 48"),
        ("none", "stale_source", "at", None, 48.0, "no row has a value in at")])
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_policies_column_first_then_source(spark):
    found = _findings(spark, [("b", "out_of_domain", "c", 1.0, 0.0, "x"), ("b", "out_of_domain", "d", 1.0, 0.0, "x"),
                              ("b", "stale_source", None, 1.0, 0.0, "x")])
    out = contracts.with_policies(found, {"out_of_domain|": "quarantine", "out_of_domain|c": "warn",
                                          "stale_source|": "fail"})
    assert [(r["column"], r["policy"]) for r in out.collect()] == [("c", "warn"), ("d", "quarantine"), (None, "fail")]


def test_quarantine_rule_of_dataset_level_findings(spark):
    spec = {"c": cleaning.ColumnRules("string", domain=("a",)), "d": ("int", True)}
    raw = spark.createDataFrame([("a", "1", None, "b1"), ("z", None, "g", "b1"), ("z", "1", None, "b2")],
                                "c string, d string, gate string, _batch_id string")
    checked = raw.transform(cleaning.validate(spec, [], keep=["_batch_id"], tolerated=[("out_of_domain", "c")]))

    def hit(kind, column):
        rule = contracts.quarantine_rule(kind, column, "b1", "why")
        return sorted((r["c"], r["d"]) for r in checked.where(rule.isNotNull()).collect())

    assert hit("unexpected_string_values", "c") == [("z", None)]
    assert hit("low_presence", "d") == [("z", None)]
    assert hit("new_column", "gate") == [("z", None)]
    assert hit("stale_source", None) == [("a", 1), ("z", None)]
    with pytest.raises(ValueError, match="not a dataset-level anomaly kind"):
        contracts.quarantine_rule("out_of_range", "d", "b1", "why")


def test_high_quarantine_rate(spark):
    frame = spark.createDataFrame([("b1", 4, 3), ("b2", 4, 2), ("b3", 0, 0)],
                                  "batch_id string, rows_in bigint, rows_quarantined bigint")
    expected = _findings(spark, [("b1", "high_quarantine_rate", None, 0.75, 0.5,
                                  "3 of 4 rows quarantined (75.00%), above max_quarantine_rate 0.5")])
    assert_df_equality(frame.transform(contracts.findings(contracts.high_quarantine_rate(0.5))), expected,
                       ignore_nullable=True)
    assert contracts.row_checks({"a": ("int", True)}, malformed=True) == [("malformed_row", None), ("type_mismatch", "a")]


def test_previous_volumes_interleaved_for_a_replay():
    history = [(datetime(2024, 1, 1), "h1", 10), (datetime(2024, 1, 3), "h3", 30)]
    current = [(datetime(2024, 1, 2), "c2", 20), (datetime(2024, 1, 4), "c4", 40)]
    # a replayed batch is compared with the batches landed just before it, not with later ones
    assert measures.previous_volumes(history, current, 2, interleave=True) == {"c2": [10], "c4": [20, 30]}
    assert measures.previous_volumes(history, current, 2) == {"c2": [10, 30], "c4": [30, 20]}


def test_data_quality_rows_of_a_replay(spark):
    rows = [(*_row("b1", 4, 1, {"c": 4}, newest=datetime(2024, 1, 1, 5)), [], 3, 1, [], 2, date(2024, 1, 2),
             datetime(2024, 1, 2)),
            (*_row("b2", 2, 0, {"c": 2}, newest=datetime(2024, 1, 3, 0)), [], 2, 0, [], None, date(2024, 1, 4),
             datetime(2024, 1, 4))]
    frame = spark.createDataFrame(rows, contracts.PROFILE_SCHEMA + ", previous_rows array<bigint>, rows_clean bigint, "
                                  "rows_quarantined bigint, anomalies " + contracts.ANOMALY_TYPE
                                  + ", rows_blank bigint, as_of date, as_of_start timestamp")
    out = frame.transform(quality.data_quality_rows(source="s", processed_at=AS_OF, contract_hash="new",
                                                      replayed_at=datetime(2024, 2, 1)))
    expected = spark.createDataFrame(
        [("b1", date(2024, 1, 2), 2, 19.0, "new", datetime(2024, 2, 1)),
         ("b2", date(2024, 1, 4), None, 24.0, "new", datetime(2024, 2, 1))],
        "batch_id string, as_of date, rows_blank bigint, freshness_hours double, contract_hash string, "
        "replayed_at timestamp")
    assert_df_equality(out.select(*expected.columns), expected, ignore_nullable=True, ignore_row_order=True)


def test_data_quality_rows(spark):
    rows = [(*_row("b1", 4, 1, {"c": 3, "d": 4}, newest=datetime(2024, 1, 1, 5)), [8], 3, 1,
             [("out_of_range", "d", 1.0, 0.0, "1 of 4 rows", "quarantine"),
              ("low_num_examples", None, 0.5, 0.5, "4 rows", "warn")])]
    frame = spark.createDataFrame(rows, contracts.PROFILE_SCHEMA + ", previous_rows array<bigint>, rows_clean bigint, "
                                  "rows_quarantined bigint, anomalies " + contracts.ANOMALY_TYPE)
    out = frame.transform(quality.data_quality_rows(source="s", as_of=date(2024, 1, 2), processed_at=AS_OF,
                                                      reference=AS_OF, contract_hash="abc"))
    assert out.columns == schemas.DATA_QUALITY.names
    row = out.first()
    assert (row["rows_in"], row["rows_clean"], row["rows_quarantined"], row["quarantine_rate"]) == (4, 3, 1, 0.25)
    assert row["null_rates"] == {"c": 0.25, "d": 0.0}
    assert (row["volume_baseline"], row["volume_ratio"], row["freshness_hours"]) == (8.0, 0.5, 24.0)
    assert row["anomaly_kinds"] == "low_num_examples,out_of_range"
    assert [a["kind"] for a in row["anomalies"]] == ["low_num_examples", "out_of_range"]


def test_alerts_from_findings_have_stable_ids(spark):
    found = spark.createDataFrame(
        [("b1", "out_of_domain", "carrier", 3.0, 0.0, "3 of 9 rows", "quarantine"),
         (None, "stale_source", "time_hour", 72.0, 48.0, "old", "warn")],
        contracts.FINDING_SCHEMA + ", policy string")

    def make(as_of):
        return alerts.from_findings(found, stage="ingest", source="flights", as_of=as_of,
                                    created_at=datetime(2024, 1, 2, 3))

    first, again, later = make(date(2024, 1, 2)), make(date(2024, 1, 2)), make(date(2024, 1, 3))
    assert first.columns == alerts.ALERT_COLUMNS
    assert_df_equality(first, again)
    rows = {r["kind"]: r for r in first.collect()}
    later_ids = {r["kind"]: r["alert_id"] for r in later.collect()}
    # a batch's finding keeps its id whatever the as-of; a finding about no batch is per as-of
    assert later_ids["out_of_domain"] == rows["out_of_domain"]["alert_id"]
    assert later_ids["stale_source"] != rows["stale_source"]["alert_id"]
    assert rows["out_of_domain"]["subject"] == "flights.carrier" and rows["out_of_domain"]["severity"] == "warning"
    assert rows["out_of_domain"]["detail"] == "3 of 9 rows (policy quarantine)"


# ----------------------------------------------------------------------------- inference
def test_infer_stats_and_suggestions(spark):
    raw = spark.createDataFrame(
        [("1", "2.5", "a", "2024-01-01", "2024-01-01T10:00:00Z", "NA", "t"),
         ("7", "3", "b", "2024-01-02", "2024-01-01T11:00:00Z", "x", "f"),
         ("NA", "4.75", "a", "2024-01-03", "2024-01-01T12:00:00Z", "y", "t"),
         ("10", "1e3", "a", "2024-01-04", "2024-01-01T13:00:00Z", "z", "f")],
        "i string, d string, cat string, day string, ts string, s string, b string")
    stats = {r["column"]: r.asDict() for r in raw.transform(inference.infer_stats(raw.columns, ["NA"])).collect()}
    assert stats["i"]["present"] == 3 and stats["i"]["fails_int"] == 0
    assert (stats["d"]["min_value"], stats["d"]["max_value"]) == (2.5, 1000.0)
    values = raw.transform(inference.domain_values(["cat"], ["NA"])).first()["cat"]
    assert values == ["a", "b"]
    suggest = {c: inference.suggest_column(stats[c], values=values if c == "cat" else None) for c in stats}
    assert suggest["i"] == {"type": "int", "min": 0, "max": 11}  # never below 0 when the data is not
    assert suggest["d"] == {"type": "double", "nullable": False, "min": 0.0, "max": 1099.75}
    assert suggest["cat"] == {"type": "string", "nullable": False, "domain": ["a", "b"]}
    assert suggest["day"] == {"type": "date", "nullable": False}
    assert suggest["ts"] == {"type": "timestamp", "nullable": False}
    assert suggest["s"] == {"type": "string"}
    assert suggest["b"] == {"type": "boolean", "nullable": False}
    assert inference.is_domain_candidate(stats["cat"], 50) and not inference.is_domain_candidate(stats["i"], 50)


def test_infer_stats_cannot_overflow_and_finds_null_markers(spark):
    # ids above 9,999, amounts over 10,000 and numeric text: none of them is a year
    raw = spark.createDataFrame(
        [("10001", "12500.50", "16060", "02134", "2024-01-01"), ("99999", "NA", "A12", "16060", "2024-01-02"),
         ("123456", "10000", "77", "00501", "N/A")],
        "id string, amount string, code string, zip string, day string")
    stats = raw.transform(inference.infer_stats(raw.columns, (), inference.NULL_TOKEN_CANDIDATES)) \
        .select("column", "present", "fails_int", "fails_date", "fails_timestamp", "min_value", "max_value",
                "min_time", "max_time", "tokens")
    expected = spark.createDataFrame([
        ("id", 3, 0, 3, 3, 10001.0, 123456.0, None, None, []),
        ("amount", 2, 1, 2, 2, 10000.0, 12500.5, None, None, ["NA"]),
        ("code", 3, 1, 3, 3, 77.0, 16060.0, None, None, []),
        ("zip", 3, 2, 3, 3, 16060.0, 16060.0, None, None, []),  # leading zeros are not numbers
        ("day", 2, 2, 0, 0, None, None, "2024-01-01 00:00:00", "2024-01-02 00:00:00", ["N/A"]),
    ], "column string, present bigint, fails_int bigint, fails_date bigint, fails_timestamp bigint, "
       "min_value double, max_value double, min_time string, max_time string, tokens array<string>")
    assert_df_equality(stats, expected, ignore_nullable=True, ignore_row_order=True)
    rows = {r["column"]: r.asDict() for r in raw.transform(inference.infer_stats(
        raw.columns, (), inference.NULL_TOKEN_CANDIDATES)).collect()}
    assert {c: inference.infer_type(s) for c, s in rows.items()} == {
        "id": "int", "amount": "double", "code": "string", "zip": "string", "day": "date"}
    assert inference.suggested_null_tokens(rows.values()) == ["NA", "N/A"]


def test_suggest_column_constant_and_negative_ranges():
    base = {"rows": 5, "present": 5, "max_length": 4, "fails_int": 0, "fails_bigint": 0, "fails_double": 0,
            "fails_boolean": 5, "fails_date": 5, "fails_timestamp": 5, "min_time": None, "max_time": None,
            "distinct": 1}
    assert inference.suggest_column({**base, "min_value": 2013.0, "max_value": 2013.0})["min"] == 2012
    neg = inference.suggest_column({**base, "min_value": -50.0, "max_value": -10.0})
    assert (neg["min"], neg["max"]) == (-54, -6)
    near_zero = inference.suggest_column({**base, "min_value": -50.0, "max_value": -1.0})
    assert near_zero["max"] == 0  # widened up to 0, never above it
