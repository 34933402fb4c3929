"""Bad raw batches at volume: generated CSV files (one batch each) of the events contract
(tests/support.py EVENT_CONTRACT), read the way ingest lands files (`lakescore.ingest.file_reader`: the
header per file, the multi-line CSV reader, `_corrupt_record`), appended to `raw_events`, then
checked and split by the real ingest stage (`lakescore.jobs.ingest.run`: every pending batch in one pass).

Many files per Spark read: files whose first line is the same share a header, so they are read
together (`landing.read_csv_files`, one read per header); the contract runs once over all
batches. Every file is one of: clean rows, malformed lines (too many or too few fields, an
unbalanced quote), quotes and line breaks inside values, Latin-1, UTF-16 or UTF-32 text (with
their BOM: decoded to UTF-8 as landing does, `landing.bom_encoding`/`utf8_copy`), a UTF-8 BOM,
CRLF line ends, huge, tiny, NaN and infinite numbers, blank lines, an empty file, a header
only, a duplicated header name, columns renamed, added or removed, a name in other case
(`Amount`: read as the contract's `amount`). What must hold, per batch
and in total: the lines of each file = header + the lines of its rows + its blank lines (no
line lost at read), and rows in = clean + quarantined (no row lost by the contract). A file
that `landing.header` refuses (two header names that become one column) is counted apart: it
stays in the landing folder."""

from __future__ import annotations

import csv
import io
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pyspark.sql import functions as F

from lakescore.config import deep_merge, parse_config
from lakescore.core.runtime import Context
from lakescore.ingest.file_reader import (
    LandingError,
    bom_encoding,
    count_lines,
    header,
    line_breaks,
    read_csv_files,
    utf8_copy,
)
from lakescore.transforms.columns import BATCH_ID, LANDED_AT
from tests.support import EVENT_CONTRACT, events_use_case

COLUMNS = ["id", "kind", "amount", "code", "at"]
NUMBERS = ["1e308", "-1e308", "1e400", "1e-320", "4.9e-324", "-0", "NaN", "nan", "Infinity", "-Infinity", "inf",
           "1" * 400, "0x1F", "1,5", "", "12.5", "99.999999999999999999"]
TEXTS = ["a", "b", "c", "d", "", "NA", "a\nb", 'say "hi"', "ünïcödé", "\u0430", "a,b", " a ", "\t", "€"]
HEADERS = {  # the header variants and how each changes the columns
    "same": COLUMNS,
    "renamed": ["id", "kind", "amt", "code", "at"],
    "added": [*COLUMNS, "extra"],
    "removed": ["id", "kind", "amount", "at"],
    "removed_required": ["id", "kind", "amount", "code"],
    "reordered": ["at", "code", "amount", "kind", "id"],
    "spaces": ["id", " kind ", "Amount", "code", "at"],
}
ENCODINGS = ["utf-8", "utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16", "utf-32"]
SHAPES = ["clean", "malformed", "quotes", "numbers", "blank_lines", "mixed", "mixed", "empty", "header_only",
          "duplicated_header"]


@dataclass
class Generated:
    path: Path
    shape: str
    rows: int            # data records written (a record may span lines)
    blank: int           # blank lines written


VALID = {"id": None, "kind": ["a", "b", "c"], "amount": ["0", "12.5", "100", "3e1"], "code": ["AB1", "XY9"],
         "at": ["2024-01-01 10:00:00", "2024-01-01T11:30:00Z"]}


def _value(rng: random.Random, column: str, shape: str, i: int) -> str:
    if shape == "clean" and column in VALID:
        return str(i) if column == "id" else rng.choice(VALID[column])
    if column == "id":
        return rng.choice([str(i), str(i), str(rng.randrange(5)), "x", "", "2147483648"])
    if column == "at":
        return rng.choice(["2024-01-01 10:00:00", "2024-01-01T11:30:00Z", "not a time", ""])
    if column in ("amount", "amt", "Amount") or shape == "numbers":
        return rng.choice(NUMBERS)
    if column == "code":
        return rng.choice(["AB1", "ab1", "", "ABC1"])
    return rng.choice(TEXTS)


def _text(rng: random.Random, shape: str, columns: list[str]) -> tuple[str, int, int]:
    """The file's text after its header: (text, records, blank lines)."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator=rng.choice(["\n", "\n", "\r\n"]))
    records = blank = 0
    for i in range(rng.randint(1, 9)):
        kind = shape if shape != "mixed" else rng.choice(["clean", "malformed", "quotes", "numbers", "blank_lines"])
        if kind == "blank_lines" and rng.random() < 0.5:
            buf.write(rng.choice(["\n", "   \n"]))
            blank += 1
        row = [_value(rng, c, kind, i) for c in columns]
        if kind == "malformed" and rng.random() < 0.6:
            cut = rng.choice(["more", "fewer", "quote"])
            line = ",".join(row[:-1]) if cut == "fewer" else ",".join([*row, "surplus"]) if cut == "more" else \
                ",".join(['"' + row[0]] + row[1:])
            buf.write(line.replace("\n", " ") + "\n")
            records += 1
            if cut == "quote":       # an unbalanced quote runs to the end of the file: stop here
                break
            continue
        out.writerow(row)
        records += 1
    return buf.getvalue(), records, blank


def generate(folder: Path, rng: random.Random, n: int, prefix: str) -> list[Generated]:
    """n batch files in `folder` (one per batch)."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for b in range(n):
        shape = rng.choice(SHAPES)
        path = folder / f"{prefix}{b:05d}.csv"
        if shape == "empty":
            path.write_bytes(b"")
            made.append(Generated(path, shape, 0, 0))
            continue
        name, columns = rng.choice(list(HEADERS.items()))
        names = [*columns[:2], columns[1], *columns[2:]] if shape == "duplicated_header" else columns
        first = ",".join(names) + "\n"
        if shape == "header_only":
            body, records, blank = "", 0, 0
        else:
            body, records, blank = _text(rng, shape, columns)
        encoding = rng.choice(ENCODINGS)
        path.write_bytes((first + body).encode(encoding, errors="replace"))
        made.append(Generated(path, f"{shape}/{name}/{encoding}", records, blank))
    return made


@dataclass
class Figures:
    batches: int = 0
    files_refused: int = 0
    rows_written: int = 0
    rows_in: int = 0
    clean: int = 0
    quarantined: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    shapes: Counter = field(default_factory=Counter)

    @property
    def lost(self) -> int:
        return self.rows_in - self.clean - self.quarantined


def use_case(schema: str):
    events = {"columns": EVENT_CONTRACT, "key": ["id"], "key_scope": "batch", "volume": None,
              # a contract that keeps going whatever arrives: every batch-level finding warns
              "policies": {"missing_column": "quarantine", "high_quarantine_rate": "warn"}}
    data = deep_merge(events_use_case("raw_volume", schema, {"events": events}), {"train": {"window_days": 10}})
    return parse_config(data, source="tests")


def _first_line(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.readline()


def land_and_ingest(spark, home: Path, folder: Path, rng: random.Random, n: int, schema: str, prefix: str) -> Figures:
    """Generate n batches, land them as ingest does (one read per header), ingest, and check."""
    from lakescore.jobs import ingest

    figures, started = Figures(), time.perf_counter()
    made = generate(folder, rng, n, prefix)
    figures.seconds["generate"] = time.perf_counter() - started
    figures.shapes = Counter(g.shape.split("/")[0] for g in made)
    # the text Spark reads: a UTF-16 or UTF-32 file's UTF-8 copy (as landing.csv_file makes it)
    decoded = folder / "decoded"
    for g in made:
        encoding = bom_encoding(g.path)
        if encoding is not None:
            g.path = utf8_copy(g.path, decoded / f"{g.path.stem}-utf8.csv", encoding)
    by_first: dict[bytes, list[Generated]] = {}
    for g in made:
        by_first.setdefault(_first_line(g.path), []).append(g)
    frames, landed = [], {}
    started = time.perf_counter()
    # in any order: a first file with `Amount` names the raw column `amount` all the same
    for first, files in by_first.items():
        if not first:                               # an empty file: no header, no batch
            landed.update({g.path.name: g for g in files})
            continue
        try:
            columns = header(spark, files[0].path, COLUMNS)
        except LandingError as exc:                 # a column named twice: refused, the file stays
            assert "both become column" in str(exc) and str(files[0].path) in str(exc), str(exc)
            figures.files_refused += len(files)
            continue
        rows = read_csv_files(spark, [g.path for g in files], columns, path_column="_path")
        frames.append(rows.select("*", line_breaks(columns).alias("_breaks")))
        landed.update({g.path.name: g for g in files})
    raw = frames[0]
    for more in frames[1:]:
        raw = raw.unionByName(more, allowMissingColumns=True)
    raw = raw.withColumn(BATCH_ID, F.element_at(F.split("_path", "/"), -1)).drop("_path") \
        .withColumn(LANDED_AT, F.current_timestamp())
    ctx = Context(cfg=use_case(schema), as_of=date(2024, 1, 2), home=home)
    read = raw.groupBy(BATCH_ID).agg(F.count(F.lit(1)).alias("rows"), F.sum("_breaks").alias("breaks")).collect()
    ctx.tables.write(raw.drop("_breaks"), ctx.cfg.raw_table("events"), mode="append")
    figures.seconds["land"] = time.perf_counter() - started

    # no line lost at read: lines = header + the lines of the rows + blank lines, per file
    counted = {r[BATCH_ID]: (r["rows"], r["breaks"] or 0) for r in read}
    for name, g in landed.items():
        rows, breaks = counted.get(name, (0, 0))
        lines = count_lines(g.path)
        assert lines == (1 if lines else 0) + rows + breaks + g.blank, \
            f"{g.path} ({g.shape}): {lines} lines, read {rows} rows with {breaks} inner breaks and {g.blank} blank"
    figures.batches = len(landed)
    figures.rows_written = sum(g.rows for g in landed.values())

    started = time.perf_counter()
    ingest.run(ctx)
    figures.seconds["ingest"] = time.perf_counter() - started

    # rows in = clean + quarantined, per batch, from the tables themselves and from data_quality
    store, names = ctx.tables, list(counted)
    in_raw = store.spark.table(store.display(ctx.cfg.raw_table("events"))).where(F.col(BATCH_ID).isin(names)) \
        .groupBy(BATCH_ID).agg(F.count(F.lit(1)).alias("rows_in"))
    clean = store.spark.table(store.display(ctx.cfg.clean_table("events"))).where(F.col(BATCH_ID).isin(names)) \
        .groupBy(BATCH_ID).agg(F.count(F.lit(1)).alias("clean"))
    quarantined = store.spark.table(store.display(ctx.cfg.tables.quarantine)) \
        .where((F.col("source") == "events") & F.col("batch_id").isin(names)) \
        .groupBy(F.col("batch_id").alias(BATCH_ID)).agg(F.count(F.lit(1)).alias("quarantined"))
    quality = store.spark.table(store.display(ctx.cfg.tables.data_quality)) \
        .where((F.col("source") == "events") & F.col("batch_id").isin(names)) \
        .select(F.col("batch_id").alias(BATCH_ID), "rows_in", "rows_clean", "rows_quarantined") \
        .withColumnRenamed("rows_in", "dq_in")
    joined = in_raw.join(clean, BATCH_ID, "left").join(quarantined, BATCH_ID, "left").join(quality, BATCH_ID, "left") \
        .fillna(0, ["clean", "quarantined"])
    totals = joined.agg(
        F.count(F.lit(1)).alias("batches"), F.sum("rows_in").alias("rows_in"), F.sum("clean").alias("clean"),
        F.sum("quarantined").alias("quarantined"),
        F.sum((F.col("rows_in") != F.col("clean") + F.col("quarantined")).cast("int")).alias("unbalanced"),
        F.sum(F.col("dq_in").isNull().cast("int")).alias("unchecked"),
        F.sum(((F.col("dq_in") != F.col("rows_in")) | (F.col("rows_clean") != F.col("clean"))
               | (F.col("rows_quarantined") != F.col("quarantined"))).cast("int")).alias("dq_differs"),
    ).first()
    assert totals["unbalanced"] == 0 and totals["unchecked"] == 0 and totals["dq_differs"] == 0, totals.asDict()
    assert totals["batches"] == len(counted)
    figures.rows_in, figures.clean, figures.quarantined = totals["rows_in"], totals["clean"], totals["quarantined"]
    assert figures.lost == 0
    return figures


def report(figures: Figures) -> str:
    seconds = ", ".join(f"{k} {v:.1f}s" for k, v in figures.seconds.items())
    return (f"raw batches: {figures.batches} batches landed and checked ({figures.files_refused} more refused for a "
            f"header naming a column twice), {figures.rows_written} records written, {figures.rows_in} rows in = "
            f"{figures.clean} clean + {figures.quarantined} quarantined, {figures.lost} lost; shapes "
            f"{dict(figures.shapes)}; {seconds}")
