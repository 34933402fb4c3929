"""Landing new files into raw_<source>, as Auto Loader does on Databricks: every file of a
source's landing that was not landed before becomes one batch, and the `landed_files` table
records each file landed (its path, size, time and digest, its batch, and how its lines were
counted: lines = header + the lines of its rows + blank lines).

A file is new when neither its path with the same size and modification time, nor its batch
id (its name and content digest) is in `landed_files`, and its batch is not in the raw table
already (a landing cut short before `landed_files` was written, or a file landed before this
table existed). The files of every source are found and checked before anything is written; the
new files of a source are appended to its raw table in one commit, then the files' rows of
`landed_files` are replaced (one replaceWhere commit for all sources).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.config import Source
from lakescore.core.runtime import Context
from lakescore.ingest.file_reader import LandingFile, count_lines, csv_file, describe, landing_paths, line_breaks, read_csv
from lakescore.transforms import schemas
from lakescore.transforms.columns import BATCH_ID, CORRUPT_RECORD, LANDED_AT
from lakescore.transforms.sqltext import all_of, any_of, eq, in_list

log = logging.getLogger("lakescore.landing")


@dataclass
class Known:
    """What landed_files holds of one source (one entry per file landed: bounded by files)."""

    files: dict[str, tuple[int, float]] = field(default_factory=dict)  # path -> (bytes, mtime)
    batches: set[str] = field(default_factory=set)


def known_files(ctx: Context) -> dict[str, Known]:
    store, table = ctx.tables, ctx.cfg.tables.landed_files
    out: dict[str, Known] = {}
    if not store.exists(table):
        return out
    for r in store.spark.table(store.display(table)).select("source", "batch_id", "path", "bytes", "modified_at").collect():
        k = out.setdefault(r["source"], Known())
        k.batches.add(r["batch_id"])
        if r["modified_at"] is not None and r["bytes"] is not None:
            k.files[r["path"]] = (int(r["bytes"]), r["modified_at"].timestamp())
    return out


def _unchanged(path: Path, known: Known) -> bool:
    seen = known.files.get(str(path))
    if seen is None:
        return False
    stat = path.stat()
    return seen[0] == stat.st_size and abs(seen[1] - stat.st_mtime) < 1e-3


def new_files(ctx: Context, source: str, src: Source, known: Known
              ) -> tuple[list[LandingFile], list[tuple[LandingFile, str]]]:
    """The files of a source's landing not landed yet, and those whose batch the raw table
    already holds without a landed_files row, with that batch id (recorded, not landed again)."""
    candidates: dict[str, LandingFile] = {}
    for path in landing_paths(source, src.landing):
        if _unchanged(path, known):
            continue
        f = describe(path)
        if f.batch_id not in known.batches and f.legacy_batch_id(source) not in known.batches:
            candidates.setdefault(f.batch_id, f)  # the same name and content twice (a glob): once
    if not candidates:
        return [], []
    store, raw = ctx.tables, ctx.cfg.raw_table(source)
    in_raw: set[str] = set()
    if store.exists(raw):
        ids = [i for f in candidates.values() for i in (f.batch_id, f.legacy_batch_id(source))]
        in_raw = {r[BATCH_ID] for r in store.spark.table(store.display(raw)).where(in_list(BATCH_ID, ids))
                  .select(BATCH_ID).distinct().collect()}
    # one entry per file: a file named after its source has the same id under both namings
    seen = [(f, next(i for i in (f.batch_id, f.legacy_batch_id(source)) if i in in_raw))
            for f in candidates.values() if {f.batch_id, f.legacy_batch_id(source)} & in_raw]
    done = {f.batch_id for f, _ in seen}
    return [f for f in candidates.values() if f.batch_id not in done], seen


@dataclass
class Landed:
    """A file read for landing: its rows, its columns and its lines."""

    file: LandingFile
    lines: int
    rows: DataFrame | None
    columns: list[str] = field(default_factory=list)


def _read(ctx: Context, source: str, f: LandingFile, now) -> Landed:
    path = csv_file(ctx.home, source, f)
    rows, columns = read_csv(ctx.spark, path, ctx.cfg.sources[source].columns)
    if columns:
        rows = rows.withColumn(BATCH_ID, F.lit(f.batch_id)).withColumn(LANDED_AT, F.lit(now).cast("timestamp"))
    return Landed(f, count_lines(path), rows if columns else None, columns)


def _counts(ctx: Context, source: str, read: list[Landed]) -> dict[str, tuple[int, int, int]]:
    """(rows, malformed rows, blank lines) of each file just landed, from the raw table: lines =
    1 (the header) + the lines of its rows + its blank lines. Only a file with more lines than
    header + rows (blank lines, or line breaks inside quoted values) needs its rows' line breaks
    counted (one more query over its rows)."""
    store, raw = ctx.tables, ctx.cfg.raw_table(source)
    landed = {r.file.batch_id: r for r in read if r.rows is not None}
    counts = {b: (0, 0) for b in landed}
    if landed:
        table = store.spark.table(store.display(raw)).where(in_list(BATCH_ID, list(landed)))
        for row in table.groupBy(BATCH_ID).agg(F.count(F.lit(1)).alias("n"), F.count(CORRUPT_RECORD).alias("bad")).collect():
            counts[row[BATCH_ID]] = (int(row["n"]), int(row["bad"]))
    extra = {b: r.lines - 1 - counts[b][0] for b, r in landed.items()}
    breaks = {}
    for b in [b for b, n in extra.items() if n > 0]:
        breaks[b] = store.spark.table(store.display(raw)).where(eq(BATCH_ID, b)) \
            .agg(F.sum(line_breaks(landed[b].columns))).first()[0] or 0
    out = {r.file.batch_id: (0, 0, max(r.lines - 1, 0)) for r in read if r.rows is None}
    for b in landed:
        blank = extra[b] - int(breaks.get(b, 0))
        if blank < 0:
            log.warning("land  %s: %s has %d lines but its header and rows take %d", source, landed[b].file.path,
                        landed[b].lines, landed[b].lines - blank)
        out[b] = (*counts[b], max(blank, 0))
    return out


def _record(source: str, f: LandingFile, lines: int | None, counts, now, batch_id: str | None = None) -> tuple:
    rows, malformed, blank = counts if counts is not None else (None, None, None)
    return (source, batch_id or f.batch_id, str(f.path), f.name, f.digest, f.bytes, f.modified_at, lines, rows,
            malformed, blank, now)


def land(ctx: Context, sources: dict[str, Source]) -> dict[str, dict[str, int | None]]:
    """Land the new files of every source that has a landing: one batch per file. Returns, per
    source, the batches landed now and their blank lines."""
    store, cfg = ctx.tables, ctx.cfg
    known = known_files(ctx)
    todo = {s: new_files(ctx, s, src, known.get(s, Known())) for s, src in sources.items() if src.landing}
    now = Context.now()
    records, out = [], {}
    for source, (new, seen) in todo.items():
        out[source] = {}
        # a file whose rows are in raw without a landed_files row (a run killed between the two
        # commits): its counts come from the raw table as for a file landed now, so its blank
        # lines stay known (a batch id of the older naming is recorded without them)
        again = {f.batch_id: _read(ctx, source, f, now) for f, batch_id in seen if batch_id == f.batch_id}
        recount = _counts(ctx, source, list(again.values())) if again else {}
        for f, batch_id in seen:
            log.info("land  %s: %s is batch %s, already in %s", source, f.path, batch_id,
                     store.display(cfg.raw_table(source)))
            counts = recount.get(batch_id)
            records.append(_record(source, f, again[batch_id].lines if counts else None, counts, now, batch_id))
            if counts:
                out[source][batch_id] = counts[2]
        if not new:
            log.info("land  %s: no new file in %s", source, sources[source].landing.path)
            continue
        read = [_read(ctx, source, f, now) for f in new]
        frames = [r.rows for r in read if r.rows is not None]
        if frames:
            union = frames[0]
            for more in frames[1:]:
                union = union.unionByName(more, allowMissingColumns=True)
            store.write(union, cfg.raw_table(source), mode="append")
        landed = _counts(ctx, source, read)
        for r in read:
            counts = landed[r.file.batch_id]
            records.append(_record(source, r.file, r.lines, counts, now))
            out[source][r.file.batch_id] = counts[2]
            log.info("land  %s: %s -> batch %s: %d rows (%d malformed), %d blank line(s)", source, r.file.path,
                     r.file.batch_id, *counts)
    if records:
        frame = ctx.spark.createDataFrame(records, schemas.LANDED_FILES.struct())
        # one replaceWhere of the files seen (a file seen again is recorded again), not a MERGE
        by_source: dict[str, set[str]] = {}
        for r in records:
            by_source.setdefault(r[0], set()).add(r[1])
        scope = any_of(*(all_of(eq("source", s), in_list("batch_id", sorted(b))) for s, b in sorted(by_source.items())))
        store.replace(frame, cfg.tables.landed_files, scope)
    return out


def blank_lines(ctx: Context, source: str, batches: list[str]) -> dict[str, int | None]:
    """The blank lines of batches landed by lakescore (from landed_files; bounded: one per batch)."""
    store, table = ctx.tables, ctx.cfg.tables.landed_files
    if not batches or not store.exists(table):
        return {}
    rows = store.spark.table(store.display(table)).where(f"{eq('source', source)} AND {in_list('batch_id', batches)}")
    return {r["batch_id"]: r["rows_blank"] for r in rows.select("batch_id", "rows_blank").collect()}
