"""`lakescore contract infer`: draft a source's contract from its raw data, to review and paste
under `sources.<name>` (as TensorFlow Data Validation's infer_schema drafts a schema).

It reads `raw_<source>` when the table exists; otherwise, when the config names a landing
file for the source, it reads that file directly. It writes nothing. Types are the narrowest
that every value casts to, a column is required when no value is missing, a string column with
few distinct values gets them as its domain, a numeric column gets its observed range widened
by a margin. Patterns, freshness and policies are for the reviewer to add.
"""

from __future__ import annotations

import logging
from typing import Any

import yaml
from pyspark.sql import DataFrame

from lakescore.config import Source, Volume, check_identifier
from lakescore.landing import LandingError, landing_file, read_landing
from lakescore.runtime import Context
from transforms.columns import RAW_META
from transforms.contracts import inference
from transforms.sqltext import col

log = logging.getLogger("lakescore.contract")

SAMPLE_SEED = 13


def _flow(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**9).strip()
    return text.removesuffix("\n...").strip()  # a plain scalar ends its document


def _raw(ctx: Context, source: str, src: Source | None) -> tuple[DataFrame, str]:
    store = ctx.tables
    raw = ctx.cfg.raw_table(source)
    if store.exists(raw):
        return store.spark.table(store.display(raw)), store.display(raw)
    if src is not None and src.landing is not None:
        df = read_landing(ctx, landing_file(ctx, source, src))
        where = src.landing.path if not src.landing.package else f"{src.landing.package}/{src.landing.path}"
        return df, f"the landing file {where}"
    raise LandingError(f"table {store.display(raw)} does not exist and sources.{source}.landing is not set: "
                      "nothing to infer a contract from")


def infer(ctx: Context, source: str, *, sample_rows: int = 0, max_domain_size: int = 50,
          margin: float = 0.1) -> str:
    """The draft contract of `source` as YAML text (the mapping under `sources.<source>`)."""
    check_identifier(source)
    src = ctx.cfg.sources.get(source)
    df, origin = _raw(ctx, source, src)
    columns = [c for c in df.columns if c not in RAW_META]
    tokens = list(src.null_values) if src else []
    total = df.count()
    sampled = f"{total:,} rows"
    if sample_rows and total > sample_rows:
        df = df.sample(fraction=min(1.0, sample_rows / total * 1.1), seed=SAMPLE_SEED).limit(sample_rows)
        sampled = f"a sample of {sample_rows:,} of {total:,} rows"
    df = df.select(*[col(c) for c in columns]).cache()
    try:
        stats = {r["column"]: r.asDict() for r in df.transform(inference.infer_stats(columns, tokens)).collect()}
        candidates = [c for c in columns if inference.is_domain_candidate(stats[c], max_domain_size)]
        values = df.transform(inference.domain_values(candidates, tokens)).first().asDict() if candidates else {}
        key_note = None
        if src is not None and src.key and all(k in columns for k in src.key):
            distinct = df.select(*[col(k) for k in src.key]).distinct().count()
            rows = df.count()
            key_note = (f"# key {src.key}: {distinct:,} distinct of {rows:,} rows"
                        + ("" if distinct == rows else "  <- NOT UNIQUE: review the key"))
    finally:
        df.unpersist()

    lines = [f"# Draft contract for source {source}, inferred from {origin} ({sampled}).",
             f"# Paste under sources.{source}: and review every line: ranges are the observed ones",
             f"# widened by {margin:.0%} of their span, domains are the observed values.",
             "# Add patterns, freshness and policies by hand (README: Data contracts)."]
    if src is not None:
        for name in ("landing", "null_values", "key", "key_scope"):
            value = getattr(src, name)
            if value in (None, [], "table"):
                continue
            dumped = value.model_dump(exclude_none=True, exclude_defaults=True) if hasattr(value, "model_dump") else value
            lines.append(f"{name}: {_flow(dumped)}")
    if key_note:
        lines.append(key_note)
    lines.append("columns:")
    for c in columns:
        s = stats[c]
        spec = inference.suggest_column(s, margin=margin, max_domain_size=max_domain_size, values=values.get(c))
        observed = [f"{(1 - s['present'] / s['rows']) * 100 if s['rows'] else 0:.1f}% null",
                    f"~{s['distinct']:,} distinct"]
        if "min" in spec:
            observed.insert(0, f"observed {s['min_value']:g}..{s['max_value']:g}")
        elif spec["type"] in ("date", "timestamp") and s["min_time"] is not None:
            observed.insert(0, f"observed {s['min_time']}..{s['max_time']}")
        lines.append(f"  {c}: {_flow(spec)}  # {', '.join(observed)}")
    if src is not None and src.derived:
        lines.append("derived:")
        lines += [f"  {name}: {_flow(sql)}" for name, sql in src.derived.items()]
    for name in ("freshness", "volume"):
        value = getattr(src, name) if src is not None else None
        if value is not None and value != Volume():
            lines.append(f"{name}: {_flow(value.model_dump())}")
    if src is not None and src.policies:
        lines.append(f"policies: {_flow(dict(src.policies))}")
    return "\n".join(lines) + "\n"


def suggested_source(text: str) -> Source:
    """Validate a draft (as `infer` prints it) as a source contract."""
    return Source.model_validate(yaml.safe_load(text))

