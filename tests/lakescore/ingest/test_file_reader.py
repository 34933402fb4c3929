"""Ingest from a drop folder of real CSV files: each new file is one batch (nothing twice, a
changed file is a new batch), a relative landing path is the config file's, and no line is lost:
extra and missing fields, an unbalanced quote, quoted line breaks, a BOM, CRLF and blank lines."""

from __future__ import annotations

import os
import re
from datetime import date

import pytest
import yaml
from pyspark.sql import functions as F

from lakescore.config import Landing, load_config
from lakescore.core.runtime import Context
from lakescore.ingest.file_reader import LandingError, count_lines, landing_paths, raw_column_name
from lakescore.jobs import ingest
from tests.support import events_use_case

SCHEMA = "test_landing_folder"
CONTRACT = {
    "null_values": ["NA"],
    "key": ["id"],
    "columns": {"id": {"type": "int", "nullable": False}, "name": {"type": "string"},
                "amount": {"type": "double"}, "at": {"type": "timestamp", "nullable": False}},
    "volume": None,
    "max_quarantine_rate": 0.9,  # the changed file of run 3 repeats rows already clean
}
# A BOM, a blank line, an extra field, a missing field, a quoted line break, a line of spaces, a
# quoted comma and a blank line at the end: 10 lines, 5 rows (2 malformed), 3 blank.
FIRST = ("\ufeffid,name,amount,at\n"
         "1,plain,1.5,2024-01-01 10:00:00\n"
         "\n"
         "2,extra,2.5,2024-01-01 11:00:00,EXTRA\n"
         "3,missing\n"
         '4,"multi\nline",4.5,2024-01-01 13:00:00\n'
         "   \n"
         '5,"quoted, comma",NA,2024-01-01 14:00:00\n'
         "\n")
# CRLF line breaks and an unbalanced quote, which takes the lines after it into its text.
SECOND = ("id,name,amount,at\r\n"
          "6,ok,1,2024-01-02 10:00:00\r\n"
          "7,\"unbalanced,2,2024-01-02 11:00:00\r\n"
          "8,swallowed,3,2024-01-02 12:00:00\r\n")
THIRD = "id,name,amount,at\n9,late,9,2024-01-03 10:00:00\n"


def _write(path, text: str) -> None:
    path.write_bytes(text.encode("utf-8"))


@pytest.fixture()
def drop(spark, lakescore_home, tmp_path, monkeypatch):
    """A config file in conf/ whose landing is the folder conf/drop, loaded from elsewhere."""
    spark.sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    spark.sql(f"CREATE SCHEMA {SCHEMA}")
    conf = tmp_path / "conf"
    (conf / "drop").mkdir(parents=True)
    config = conf / "events.yml"
    config.write_text(yaml.safe_dump(events_use_case("folder", SCHEMA, {
        "events": {**CONTRACT, "landing": {"path": "drop"}}}, label="amount > 1")))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a relative landing path is the config file's, not the working directory's
    return conf / "drop", config, lakescore_home


def _run(config, home, day: int) -> dict:
    ctx = Context(cfg=load_config(config), as_of=date(2024, 1, day), config_path=str(config), home=home)
    return ingest.run(ctx)["events"]


def _table(spark, name):
    return spark.table(f"{SCHEMA}.{name}")


def test_a_folder_gains_files_and_no_line_is_lost(spark, drop):
    folder, config, home = drop
    _write(folder / "2024-01-01.csv", FIRST)
    assert _run(config, home, 2) == {"rows_in": 5, "rows_clean": 3, "rows_quarantined": 2}

    raw = _table(spark, "raw_events")
    assert raw.columns[:4] == ["id", "name", "amount", "at"]  # the BOM is not part of a name
    corrupt = {r["id"]: r["_corrupt_record"] for r in raw.collect()}
    assert corrupt == {"1": None, "2": "2,extra,2.5,2024-01-01 11:00:00,EXTRA", "3": "3,missing", "4": None, "5": None}
    clean = {r["id"]: (r["name"], r["amount"]) for r in _table(spark, "clean_events").collect()}
    assert clean == {1: ("plain", 1.5), 4: ("multi\nline", 4.5), 5: ("quoted, comma", None)}
    q = {r["original"]["id"]: r for r in _table(spark, "quarantine").collect()}
    assert q["2"]["reason_codes"] == "malformed_row"
    assert q["2"]["original"]["_corrupt_record"].endswith(",EXTRA")  # the extra field is kept
    assert q["2"]["reasons"][0]["detail"] == "line does not fit the header's fields: 2,extra,2.5,2024-01-01 11:00:00,EXTRA"
    assert q["3"]["reason_codes"] == "malformed_row,missing_value"
    dq = _table(spark, "data_quality").first()
    assert (dq["rows_in"], dq["rows_clean"], dq["rows_quarantined"], dq["rows_blank"]) == (5, 3, 2, 3)
    assert "malformed_row" in dq["anomaly_kinds"]
    files = _table(spark, "landed_files").first()
    assert (files["file_name"], files["lines"], files["rows"], files["rows_malformed"], files["rows_blank"]) == \
        ("2024-01-01.csv", 10, 5, 2, 3)
    assert files["batch_id"] == dq["batch_id"] and dq["batch_id"].startswith("2024-01-01-")

    # Run 2: a new file, a file still being written (hidden) and one the pattern leaves out.
    _write(folder / "2024-01-02.csv", SECOND)
    _write(folder / ".2024-01-03.csv", THIRD)
    _write(folder / "notes.txt", "not data\n")
    assert _run(config, home, 3) == {"rows_in": 2, "rows_clean": 1, "rows_quarantined": 1}
    swallowed = _table(spark, "quarantine").where("original['id'] = '7'").first()
    assert swallowed["reason_codes"] == "malformed_row,missing_value"  # its at is inside the quote
    assert "8,swallowed" in swallowed["original"]["_corrupt_record"]  # the lines it took are in its text
    second = _table(spark, "landed_files").where("file_name = '2024-01-02.csv'").first()
    assert (second["lines"], second["rows"], second["rows_blank"]) == (4, 2, 0)

    # Run 3: the hidden file is complete (renamed), the first file changes, the second is only touched.
    os.rename(folder / ".2024-01-03.csv", folder / "2024-01-03.csv")
    _write(folder / "2024-01-01.csv", FIRST + "10,corrected,10,2024-01-01 15:00:00\n")
    os.utime(folder / "2024-01-02.csv")
    summary = _run(config, home, 4)
    assert summary["rows_in"] == 6 + 1  # the changed file is a new batch (its old rows duplicate keys)
    batches = [r["batch_id"] for r in _table(spark, "data_quality").orderBy("landed_at", "batch_id").collect()]
    assert len(batches) == 4 and len(set(batches)) == 4
    assert sum(1 for b in batches if b.startswith("2024-01-01-")) == 2
    assert _table(spark, "landed_files").count() == 4
    # every batch: rows in = clean + quarantined, and each raw row is in exactly one of them
    dq = _table(spark, "data_quality").agg(F.sum("rows_in"), F.sum("rows_clean"), F.sum("rows_quarantined")).first()
    assert dq[0] == dq[1] + dq[2] == _table(spark, "raw_events").count() == 5 + 2 + 6 + 1
    assert _table(spark, "clean_events").count() + _table(spark, "quarantine").count() == dq[0]
    dupes = _table(spark, "quarantine").where(F.col("reason_codes").contains("duplicate_key")).count()
    assert dupes == 3  # the changed file's rows 1, 4 and 5 were clean in its first version


@pytest.mark.parametrize("name", ["2024-01-01.csv", "events.csv"])
def test_a_file_whose_rows_reached_raw_but_not_landed_files_keeps_its_counts(spark, drop, name):
    """A run killed between the raw append and the landed_files commit (found by the kill -9
    chain): the re-run records the file once, from the raw table's rows, blank lines included;
    also a file named after its source, whose batch id is the same under the older naming (the
    chain found it recorded twice)."""
    from lakescore.ingest.raw_landing import land

    folder, config, home = drop
    _write(folder / name, FIRST)
    ctx = Context(cfg=load_config(config), as_of=date(2024, 1, 2), config_path=str(config), home=home)
    land(ctx, ctx.cfg.sources)
    spark.sql(f"DELETE FROM {SCHEMA}.landed_files")     # the state the kill left: rows in raw only
    assert _run(config, home, 2) == {"rows_in": 5, "rows_clean": 3, "rows_quarantined": 2}
    assert _table(spark, "raw_events").count() == 5      # not landed twice
    assert _table(spark, "landed_files").count() == 1
    files = _table(spark, "landed_files").first()
    assert (files["lines"], files["rows"], files["rows_malformed"], files["rows_blank"]) == (10, 5, 2, 3)
    assert _table(spark, "data_quality").first()["rows_blank"] == 3


def test_a_relative_landing_path_is_the_config_files(tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    (conf / "data").mkdir(parents=True)
    (conf / "data" / "x.csv").write_text("id\n1\n")
    config = conf / "x.yml"
    events = {**CONTRACT, "landing": {"path": "data/x.csv"}}
    config.write_text(yaml.safe_dump(events_use_case("rel", "rel", {"events": events})))
    monkeypatch.chdir(tmp_path)
    cfg = load_config(config)
    assert landing_paths("events", cfg.sources["events"].landing) == [conf / "data" / "x.csv"]
    events["landing"] = {"path": "data/nope.csv"}
    config.write_text(yaml.safe_dump(events_use_case("rel", "rel", {"events": events})))
    with pytest.raises(LandingError, match=re.escape(f"sources.events.landing.path: {conf / 'data' / 'nope.csv'} "
                                                     "does not exist")):
        landing_paths("events", load_config(config).sources["events"].landing)
    with pytest.raises(LandingError, match=re.escape(f"folder {tmp_path / 'missing'} ")):
        landing_paths("events", Landing(path=str(tmp_path / "missing" / "*.csv")))


def test_globs_patterns_names_and_line_counts(tmp_path):
    for name in ("a.csv", "b.csv.gz", "c.zip", "d.txt", "_e.csv"):
        (tmp_path / name).write_text("x\n")
    found = [p.name for p in landing_paths("s", Landing(path=str(tmp_path)))]
    assert found == ["a.csv", "b.csv.gz", "c.zip"]
    assert [p.name for p in landing_paths("s", Landing(path=str(tmp_path), pattern="*.txt"))] == ["d.txt"]
    assert [p.name for p in landing_paths("s", Landing(path=str(tmp_path / "*.csv")))] == ["a.csv"]
    (tmp_path / "f.csv").write_bytes(b"h\r\n1\r\n\r\n2")
    (tmp_path / "g.csv").write_bytes(b"h\r1\r")
    assert (count_lines(tmp_path / "f.csv"), count_lines(tmp_path / "g.csv"), count_lines(tmp_path / "a.csv")) == (4, 2, 1)
    assert [raw_column_name(n, i) for i, n in enumerate(["\ufeffid", "Order ID", "2nd", "(%)", "a-b"])] == \
        ["id", "Order_ID", "_2nd", "_c3", "a_b"]


# The same 3 rows (one malformed, a blank line) in UTF-16 and UTF-32, little and big endian,
# each told by its BOM; a header naming `Amount` and `AT` for the contract's `amount` and `at`.
ENCODED = ("id,name,amount,at\n"
           "11,ünïcödé €,1.5,2024-01-01 10:00:00\n"
           "\n"
           '12,"two\nlines",2.5,2024-01-01 11:00:00\n'
           "13,short\n")


def test_utf16_and_utf32_files_are_decoded_by_their_bom_and_header_case_follows_the_contract(spark, drop, caplog):
    folder, config, home = drop
    encodings = {"le16": "utf-16-le", "be16": "utf-16-be", "le32": "utf-32-le", "be32": "utf-32-be"}
    for n, (name, encoding) in enumerate(encodings.items()):
        text = ENCODED.replace("\n1", f"\n{n}1")  # ids 011.. 313: unique over the files
        (folder / f"{name}.csv").write_bytes(("\ufeff" + text).encode(encoding))
    # a first batch whose header spells two contract columns in other case: it names no raw column
    _write(folder / "a-case.csv", "id,name,Amount,AT\n91,cased,9.5,2024-01-01 12:00:00\n")
    with caplog.at_level("WARNING", logger="lakescore.landing"):
        assert _run(config, home, 2) == {"rows_in": 4 * 3 + 1, "rows_clean": 4 * 2 + 1, "rows_quarantined": 4}
    assert [c for c in _table(spark, "raw_events").columns if c.lower() in ("amount", "at")] == ["amount", "at"]
    warned = [r.getMessage() for r in caplog.records if "differ only in case" in r.getMessage()]
    assert len(warned) == 2 and all("a-case.csv" in m for m in warned)
    assert "header column 'Amount' read as the contract's column 'amount'" in warned[0]
    clean = {r["id"]: (r["name"], r["amount"]) for r in _table(spark, "clean_events").collect()}
    assert clean[91] == ("cased", 9.5)
    for n in range(4):
        assert clean[n * 100 + 11] == ("ünïcödé €", 1.5) and clean[n * 100 + 12] == ("two\nlines", 2.5)
    short = _table(spark, "quarantine").where(F.col("original")["_corrupt_record"].isNotNull()).collect()
    assert sorted(r["original"]["_corrupt_record"] for r in short) == [f"{n}13,short" for n in range(4)]
    files = {r["file_name"]: r for r in _table(spark, "landed_files").collect()}
    for name in encodings:  # lines counted on the decoded text: header + 3 rows (4 lines) + 1 blank
        f = files[f"{name}.csv"]
        assert (f["lines"], f["rows"], f["rows_malformed"], f["rows_blank"]) == (6, 3, 1, 1)
    dq = _table(spark, "data_quality").agg(F.sum("rows_in"), F.sum("rows_clean"), F.sum("rows_quarantined")).first()
    assert dq[0] == dq[1] + dq[2] == _table(spark, "raw_events").count() == 13
