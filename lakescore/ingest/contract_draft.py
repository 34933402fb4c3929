"""`lakescore contract infer`: draft a source's contract from its raw data, to review and paste
under `sources.<name>` (as TensorFlow Data Validation's infer_schema drafts a schema).

It reads a CSV file (or a folder or glob of them) given with `--file`, or, for a source of a
config, `raw_<source>` when the table exists and otherwise the source's landing files. The
config may hold only `sources:` (a first contract is drafted before the rest of the use case
exists). It writes nothing. Types are the narrowest that every value casts to, a column is
required when no value is missing, a string column with few distinct values gets them as its
domain, a numeric column gets its observed range widened by a margin. Malformed lines are left
out (and counted). Patterns, freshness and policies are for the reviewer to add.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakescore.config import Landing, Source, SourcesFile, Volume, check_identifier
from lakescore.core.runtime import on_databricks
from lakescore.ingest.file_reader import LandingError, read_landing, where
from lakescore.transforms.columns import MALFORMED_COLUMNS, RAW_META
from lakescore.transforms.contracts import inference
from lakescore.transforms.sqltext import col

log = logging.getLogger("lakescore.contract")

SAMPLE_SEED = 13


def flow(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**9).strip()
    return text.removesuffix("\n...").strip()  # a plain scalar ends its document


@dataclass
class Draft:
    """A drafted contract: the YAML text (the mapping under `sources.<source>`) and what a
    starter use case needs from it."""

    source: str
    text: str
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    key: list[str] = field(default_factory=list)  # the config's key, or a column whose values are all distinct


def read_source(spark: SparkSession, home: Path, source: str, sources: SourcesFile | None,
                file: Path | None) -> tuple[DataFrame, str]:
    """The raw data to infer from and how to name it: the `file`, else raw_<source>, else the
    source's landing files."""
    if file is not None:
        landing = Landing(path=str(Path(file).expanduser().absolute()))
        return read_landing(spark, home, source, landing), f"{where(source, landing)}"
    src = sources.sources.get(source) if sources else None
    table = f"{sources.tables.raw_prefix if sources else 'raw_'}{source}"
    if sources is not None and sources.storage is not None:
        from lakescore.core.table_store import TableStore

        store = TableStore(spark, sources, databricks=on_databricks())  # type: ignore[arg-type]
        if store.exists(table):
            return spark.table(store.display(table)), store.display(table)
        table = store.display(table)
    if src is not None and src.landing is not None:
        return read_landing(spark, home, source, src.landing), f"the landing files {where(source, src.landing)}"
    raise LandingError(f"table {table} does not exist and sources.{source}.landing is not set: "
                       "nothing to infer a contract from (give --file PATH)")


def infer(spark: SparkSession, df: DataFrame, source: str, origin: str, src: Source | None = None, *,
          sample_rows: int = 0, max_domain_size: int = 50, margin: float = 0.1, landing: str | None = None) -> Draft:
    """The draft contract of `source` from its raw rows `df` (`landing`: the path to write as
    its landing when the config has none)."""
    check_identifier(source)
    malformed = [c for c in MALFORMED_COLUMNS if c in df.columns]
    columns = [c for c in df.columns if c not in RAW_META and c not in MALFORMED_COLUMNS]
    bad = F.lit(False)
    for c in malformed:
        bad = bad | col(c).isNotNull()
    df = df.withColumn("__bad", bad).cache()
    try:
        counts = df.agg(F.count(F.lit(1)), F.sum(F.col("__bad").cast("int"))).first()
        total, n_bad = int(counts[0]), int(counts[1] or 0)
        rows = df.where(~F.col("__bad")).select(*[col(c) for c in columns])
        sampled = f"{total - n_bad:,} rows"
        if sample_rows and total - n_bad > sample_rows:
            rows = rows.sample(fraction=min(1.0, sample_rows / (total - n_bad) * 1.1), seed=SAMPLE_SEED).limit(sample_rows)
            sampled = f"a sample of {sample_rows:,} of {total - n_bad:,} rows"
        rows = rows.cache()
        draft = _draft(rows, source, origin, src, columns, sampled, n_bad, max_domain_size, margin, landing)
        rows.unpersist()
    finally:
        df.unpersist()
    return draft


def _stats(rows: DataFrame, columns: list[str], src: Source | None) -> tuple[dict, list[str], bool]:
    """Per-column statistics, and the null tokens they were computed with (the config's, or
    the markers found among values of another type)."""
    if src is not None and src.null_values:
        tokens = list(src.null_values)
        stats = {r["column"]: r.asDict() for r in rows.transform(inference.infer_stats(columns, tokens)).collect()}
        return stats, tokens, False
    candidates = inference.NULL_TOKEN_CANDIDATES
    stats = {r["column"]: r.asDict() for r in rows.transform(inference.infer_stats(columns, (), candidates)).collect()}
    tokens = inference.suggested_null_tokens(stats.values())
    if {t for s in stats.values() for t in s["tokens"]} - set(tokens):  # markers that are text: count them again
        stats = {r["column"]: r.asDict() for r in rows.transform(inference.infer_stats(columns, tokens)).collect()}
    return stats, tokens, True


def _key(rows: DataFrame, columns: list[str], stats: dict, src: Source | None) -> tuple[list[str], str | None]:
    """The key and a note on its uniqueness: the config's key, or the first required column
    whose values look all distinct (checked exactly)."""
    key = list(src.key) if src is not None and src.key else []
    guessed = not key
    if guessed:
        key = next(([c] for c in columns if stats[c]["present"] == stats[c]["rows"] > 0
                    and stats[c]["distinct"] >= 0.97 * stats[c]["rows"]), [])
    if not key or not all(k in columns for k in key):
        return [], None
    distinct, n = rows.agg(F.count_distinct(*[col(k) for k in key]), F.count(F.lit(1))).first()
    if guessed:
        return (key, f"# candidate key {key}: {distinct:,} distinct of {n:,} rows") if distinct == n else ([], None)
    return key, (f"# key {key}: {distinct:,} distinct of {n:,} rows"
                 + ("" if distinct == n else "  <- NOT UNIQUE: review the key"))


def _draft(rows: DataFrame, source: str, origin: str, src: Source | None, columns: list[str], sampled: str,
           n_bad: int, max_domain_size: int, margin: float, landing: str | None) -> Draft:
    stats, tokens, suggested = _stats(rows, columns, src)
    candidates = [c for c in columns if inference.is_domain_candidate(stats[c], max_domain_size)]
    values = rows.transform(inference.domain_values(candidates, tokens)).first().asDict() if candidates else {}
    key, key_note = _key(rows, columns, stats, src)

    lines = [f"# Draft contract for source {source}, inferred from {origin} ({sampled}).",
             f"# Paste under sources.{source}: and review every line: ranges are the observed ones",
             f"# widened by {margin:.0%} of their span, domains are the observed values.",
             "# Add patterns, freshness and policies by hand (README: Data contracts)."]
    if n_bad:
        lines.append(f"# {n_bad:,} malformed line(s) left out (see raw _corrupt_record).")
    if src is not None:
        for name in ("landing", "null_values", "key", "key_scope"):
            value = getattr(src, name)
            if value in (None, [], "table"):
                continue
            dumped = value.model_dump(exclude_none=True, exclude_defaults=True) if hasattr(value, "model_dump") else value
            lines.append(f"{name}: {flow(dumped)}")
    if landing and (src is None or src.landing is None):
        lines.append(f"landing: {flow({'path': landing})}")
    if tokens and suggested:
        lines.append(f"null_values: {flow(tokens)}   # markers seen among values of another type")
    if key_note:
        lines.append(key_note)
    lines.append("columns:")
    specs = {}
    for c in columns:
        s = stats[c]
        spec = specs[c] = inference.suggest_column(s, margin=margin, max_domain_size=max_domain_size,
                                                   values=values.get(c))
        observed = [f"{(1 - s['present'] / s['rows']) * 100 if s['rows'] else 0:.1f}% null",
                    f"~{s['distinct']:,} distinct"]
        if "min" in spec:
            observed.insert(0, f"observed {s['min_value']:g}..{s['max_value']:g}")
        elif spec["type"] in inference.TIME_TYPES and s["min_time"] is not None:
            shown = 10 if spec["type"] == "date" else None
            observed.insert(0, f"observed {s['min_time'][:shown]}..{s['max_time'][:shown]}")
        lines.append(f"  {c}: {flow(spec)}  # {', '.join(observed)}")
    if src is not None and src.derived:
        lines.append("derived:")
        lines += [f"  {name}: {flow(sql)}" for name, sql in src.derived.items()]
    for name in ("freshness", "volume"):
        value = getattr(src, name) if src is not None else None
        if value is not None and value != Volume():
            lines.append(f"{name}: {flow(value.model_dump())}")
    if src is not None and src.policies:
        lines.append(f"policies: {flow(dict(src.policies))}")
    return Draft(source, "\n".join(lines) + "\n", specs, key)


def suggested_source(text: str) -> Source:
    """Validate a draft (as `infer` prints it) as a source contract."""
    return Source.model_validate(yaml.safe_load(text))
