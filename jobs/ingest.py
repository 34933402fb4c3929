"""ingest: raw_<source> -> clean_<source> + quarantine + data_quality.

Each raw row carries the batch it arrived in. A batch is processed once: its clean rows, its
quarantined rows and its data_quality row are written with replaceWhere/MERGE on the batch id,
so re-running changes nothing and a run that died mid-way is finished by the next one. When the
config names a package file as a source's landing (the demo), the file is first landed into
raw_<source> as a new batch, unless that exact file was landed already.
"""

from __future__ import annotations

import hashlib
import logging
import zipfile
from importlib import util as importlib_util
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.config import Source
from jobs.runtime import Context
from transforms import cleaning

log = logging.getLogger("lakescore.ingest")

BATCH_ID = "_batch_id"
LANDED_AT = "_landed_at"
RAW_META = [BATCH_ID, LANDED_AT]


class IngestError(RuntimeError):
    pass


# ----------------------------------------------------------------------------- landing
def _landing_file(ctx: Context, source: str, src: Source) -> Path:
    """The CSV file to land: inside a Python package (the demo) or a plain path; a .zip holding
    one CSV is extracted once into the local home."""
    landing = src.landing
    assert landing is not None
    if landing.package:
        spec = importlib_util.find_spec(landing.package)
        if spec is None or not spec.submodule_search_locations:
            raise IngestError(f"sources.{source}.landing.package: package {landing.package!r} is not installed")
        path = Path(list(spec.submodule_search_locations)[0]) / landing.path
    else:
        path = Path(landing.path)
    if not path.exists():
        raise IngestError(f"sources.{source}.landing.path: {path} does not exist")
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.namelist() if m.endswith(".csv")]
            if len(members) != 1:
                raise IngestError(f"sources.{source}.landing.path: {path} must hold exactly one .csv")
            target = ctx.home / "landing" / source / f"{_digest(path)}-{Path(members[0]).name}"
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_suffix(".part")
                with zf.open(members[0]) as fin, open(tmp, "wb") as fout:
                    while chunk := fin.read(1 << 20):
                        fout.write(chunk)
                tmp.rename(target)
            return target
    return path


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()[:16]


def land(ctx: Context, source: str, src: Source) -> str | None:
    """Append the landing file to raw_<source> as one batch, unless it is there already.
    Returns the new batch id, or None when nothing was landed."""
    store = ctx.tables
    path = _landing_file(ctx, source, src)
    batch_id = f"{source}-{_digest(path)}"
    raw = ctx.cfg.raw_table(source)
    if store.exists(raw):
        seen = store.spark.table(store.display(raw)).where(F.col(BATCH_ID) == batch_id).limit(1).count()
        if seen:
            log.info("land  %s: batch %s is already in %s", source, batch_id, store.display(raw))
            return None
    df = (store.spark.read.option("header", True).option("inferSchema", False)
          .option("mode", "PERMISSIVE").csv(f"file://{path}")
          .withColumn(BATCH_ID, F.lit(batch_id))
          .withColumn(LANDED_AT, F.lit(Context.now()).cast("timestamp")))
    store.write(df, raw, mode="append")
    return batch_id


# ------------------------------------------------------------------------------ clean
def pending_batches(ctx: Context, source: str) -> list[str]:
    """Batch ids in raw_<source> that data_quality has not recorded yet (bounded: one per batch)."""
    store = ctx.tables
    raw = store.spark.table(store.display(ctx.cfg.raw_table(source)))
    if BATCH_ID not in raw.columns:
        raise IngestError(f"table {store.display(ctx.cfg.raw_table(source))}: missing column {BATCH_ID}: "
                          "every raw row must name the batch it arrived in")
    batches = raw.select(BATCH_ID).distinct()
    dq = ctx.cfg.tables.data_quality
    if store.exists(dq):
        done = store.spark.table(store.display(dq)).where(F.col("source") == source).select(F.col("batch_id").alias(BATCH_ID))
        batches = batches.join(done, BATCH_ID, "left_anti")
    return sorted(r[BATCH_ID] for r in batches.collect())


def _check_columns(ctx: Context, source: str, src: Source, raw: DataFrame) -> None:
    missing = [c for c in src.columns if c not in raw.columns]
    if missing:
        raise IngestError(f"table {ctx.tables.display(ctx.cfg.raw_table(source))}: "
                          f"missing column(s) {missing} declared in sources.{source}.columns")


def _in_list(column: str, values: list[str]) -> str:
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"{column} IN ({quoted})"


def clean_source(ctx: Context, source: str, src: Source) -> dict[str, int]:
    store, cfg = ctx.tables, ctx.cfg
    batches = pending_batches(ctx, source)
    if not batches:
        log.info("clean %s: no new batch", source)
        return {"rows_in": 0, "rows_clean": 0, "rows_quarantined": 0}
    raw = store.read(cfg.raw_table(source), where=_in_list(BATCH_ID, batches))
    _check_columns(ctx, source, src, raw)
    spec = {name: (c.type, c.nullable) for name, c in src.columns.items()}
    meta = [c for c in RAW_META if c in raw.columns]
    checked = raw.transform(cleaning.validate(spec, src.null_values, keep=meta)).cache()
    try:
        counts = checked.groupBy(BATCH_ID).agg(
            F.count(F.lit(1)).alias("rows_in"),
            F.sum(F.when(F.size(cleaning.REASONS) == 0, 1).otherwise(0)).alias("rows_clean"),
        ).collect()
        clean = cleaning.clean_rows(checked, src.derived)
        quarantine = (cleaning.quarantine_rows(checked, source, carry=[BATCH_ID])
                      .withColumnRenamed(BATCH_ID, "batch_id")
                      .withColumn("as_of", F.lit(ctx.as_of))
                      .withColumn("quarantined_at", F.lit(Context.now()).cast("timestamp")))
        # Rows written come from each commit's Delta metrics: the check is on what landed.
        written_clean = store.write(clean, cfg.clean_table(source), replace_where=_in_list(BATCH_ID, batches))
        written_q = store.write(quarantine, cfg.tables.quarantine,
                                replace_where=f"source = '{source}' AND " + _in_list("batch_id", batches))
    finally:
        checked.unpersist()
    rows_in = sum(r["rows_in"] for r in counts)
    if rows_in != written_clean + written_q:
        raise IngestError(f"table {store.display(cfg.raw_table(source))}: reconciliation failed for batches "
                          f"{batches}: {rows_in} rows in, {written_clean} clean + {written_q} quarantined")
    now = Context.now()
    dq_rows = [(source, r[BATCH_ID], ctx.as_of, now, int(r["rows_in"]), int(r["rows_clean"]),
                int(r["rows_in"]) - int(r["rows_clean"])) for r in counts]
    dq = store.spark.createDataFrame(
        dq_rows, "source string, batch_id string, as_of date, processed_at timestamp, "
                 "rows_in long, rows_clean long, rows_quarantined long")
    store.merge(dq, cfg.tables.data_quality, keys=["source", "batch_id"])
    return {"rows_in": rows_in, "rows_clean": written_clean, "rows_quarantined": written_q}


def run(ctx: Context) -> dict:
    summary = {}
    for source, src in ctx.cfg.sources.items():
        if src.landing is not None:
            land(ctx, source, src)
        elif not ctx.tables.exists(ctx.cfg.raw_table(source)):
            raise IngestError(f"table {ctx.tables.display(ctx.cfg.raw_table(source))} does not exist and "
                              f"sources.{source}.landing is not set")
        summary[source] = clean_source(ctx, source, src)
        log.info("clean %s: %s", source, summary[source])
    return summary


if __name__ == "__main__":
    from jobs.cli import stage_main

    stage_main("ingest")
