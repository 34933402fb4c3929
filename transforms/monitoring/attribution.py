"""Drift attribution: how much of a window's score shift each feature explains.

When the score drifts against the serving model's training rows (BASELINE), a bounded sample of
the window's served rows (`SAMPLE` per window, chosen by a hash of the key: a re-run picks the
same rows) is scored again by the model K + 1 times in one Spark ML pass: as served, and once per
model feature with that feature's values replaced by draws from its reference distribution (the
model's stored profile: a fine quantile bin's mean, or a category, drawn with its frequency;
NULLs at their rate). The score's shift is its Wasserstein-1 distance to the reference score
distribution (the profile's score histogram, on its bins); a feature's share is the part of the
shift that disappears when it alone is put back to its reference:

    share(f) = (W(served) - W(f replaced)) / W(served)

Shares need not add to 1 (features interact, and a feature whose replacement moves the score
further from the reference has a negative share). Draws are hashes of the key, the feature and
the window, so the figures are reproducible.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakescore.transforms.columns import AS_OF, MODEL_ID, NUMERIC, PREDICTION, SCORE
from lakescore.transforms.sqltext import col

SAMPLE = 1000           # served rows per window
VARIANT = "_variant"    # '' for the rows as served, else the feature replaced
_SEED = 20131201


def reference_atoms(histogram: list[dict], kind: str) -> tuple[list, list[float]]:
    """A stored histogram (profile buckets: bin, category, n, s1) -> (values, cumulative shares):
    a numeric bin's mean or a category, NULL for the NULL bucket; shares sum to 1."""
    values, weights = [], []
    for b in sorted(histogram, key=lambda b: (b["bin"], b["category"] or "")):
        n = b["n"] or 0
        if n <= 0:
            continue
        if b["bin"] == -1:
            values.append(None)
        elif kind == NUMERIC:
            values.append(float(b["s1"]) / n)
        else:
            values.append(b["category"])
        weights.append(float(n))
    total, running, cumulative = sum(weights), 0.0, []
    for w in weights:
        running += w
        cumulative.append(running / total)
    return values, cumulative


def _uniform(*parts: Column) -> Column:
    """A number in [0, 1) from a hash of the columns (the same rows give the same draws)."""
    return (F.xxhash64(*parts, F.lit(_SEED)).bitwiseAND(F.lit((1 << 52) - 1)).cast("double")) / float(1 << 52)


def draw(values: list, cumulative: list[float], kind: str, u: Column) -> Column:
    """A draw from the atoms for the uniform `u`: the first atom whose cumulative share exceeds it."""
    typed = "double" if kind == NUMERIC else "string"
    atoms = F.array(*[F.lit(v).cast(typed) for v in values])
    index = F.size(F.filter(F.array(*[F.lit(c) for c in cumulative]), lambda c: c <= u))
    return F.element_at(atoms, F.least(index + 1, F.lit(len(values))))


def sample(rows: DataFrame, key: list[str], size: int = SAMPLE) -> DataFrame:
    """At most `size` rows per window and model, chosen by a hash of the key."""
    order = Window.partitionBy(AS_OF, MODEL_ID).orderBy(F.xxhash64(*[col(k) for k in key], F.lit(_SEED)), *key)
    return rows.withColumn("_rank", F.row_number().over(order)).where(F.col("_rank") <= size).drop("_rank")


def variants(rows: DataFrame, key: list[str], references: dict[str, tuple[str, list, list[float]]]) -> DataFrame:
    """Sampled rows -> the rows as served (`_variant` '') and, per feature of `references`
    (name -> kind, atoms, cumulative shares), a copy with that feature drawn from its reference."""
    out = rows.withColumn(VARIANT, F.lit(""))
    for name, (kind, values, cumulative) in references.items():
        if not values:
            continue
        u = _uniform(*[col(k).cast("string") for k in key], F.col(AS_OF).cast("string"), F.lit(name))
        out = out.unionByName(rows.withColumn(name, draw(values, cumulative, kind, u).cast(rows.schema[name].dataType))
                              .withColumn(VARIANT, F.lit(name)))
    return out


def shifts(scored: DataFrame, grid: list[float], cdf: list[float]) -> DataFrame:
    """Scored variants (as_of, model_id, `_variant`, score) and the reference score's CDF on a
    sorted grid -> per window, model and variant: `shift`, the Wasserstein-1 distance on the grid
    (sum over the grid's steps of |F_served - F_reference| x step)."""
    s = col(SCORE).cast("double")
    steps = [grid[j + 1] - grid[j] for j in range(len(grid) - 1)]
    terms = [F.abs(F.avg((s <= grid[j]).cast("double")) - F.lit(cdf[j])) * F.lit(steps[j]) for j in range(len(steps))]
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return scored.groupBy(AS_OF, MODEL_ID, VARIANT).agg(total.alias("shift"))


def reference_cdf(histogram: list[dict]) -> tuple[list[float], list[float]]:
    """The reference score's atoms (bin means, NULLs left out) as a sorted grid and its CDF."""
    values, cumulative = reference_atoms([b for b in histogram if b["bin"] != -1], NUMERIC)
    return values, cumulative


def shares(shift: DataFrame) -> DataFrame:
    """`shifts` rows -> per window and model: `attribution`, (column_name, share) per feature,
    largest share first, and the served shift."""
    served = shift.where(F.col(VARIANT) == "").select(AS_OF, MODEL_ID, F.col("shift").alias("_served"))
    replaced = shift.where(F.col(VARIANT) != "").join(served, on=[AS_OF, MODEL_ID])
    share = F.when(F.col("_served") > 0, (F.col("_served") - F.col("shift")) / F.col("_served"))
    entries = replaced.select(AS_OF, MODEL_ID, "_served", F.struct(
        (-share).alias("_order"), F.col(VARIANT).alias("column_name"), share.alias("share")).alias("_e"))
    return entries.groupBy(AS_OF, MODEL_ID).agg(
        F.first("_served").alias("score_shift"),
        F.transform(F.array_sort(F.collect_list("_e")), lambda e: F.struct(
            e["column_name"].alias("column_name"), e["share"].alias("share"))).alias("attribution"))


def attribute(rows: DataFrame, key: list[str], scorer, references: dict[str, tuple[str, list, list[float]]],
              score_histogram: list[dict], size: int = SAMPLE) -> DataFrame:
    """One model's served rows of the windows to explain (key, as_of, model_id, its features)
    -> `shares` per window: the sample, its variants scored in one pass, their shifts."""
    # bounded (`size` rows per window) and read once per variant: materialized once
    sampled = sample(rows.drop(SCORE, PREDICTION), key, size).localCheckpoint()
    grid, cdf = reference_cdf(score_histogram)
    if len(grid) < 2:
        return None
    return shares(shifts(scorer(variants(sampled, key, references)), grid, cdf))


def text(attribution: Column, least: float = 0.05, most: int = 3) -> Column:
    """`62% from origin_visib, 21% from x` of the largest shares (at least `least`), or ''."""
    kept = F.slice(F.filter(attribution, lambda e: e["share"] >= least), 1, most)
    said = F.transform(kept, lambda e: F.concat(F.format_number(e["share"] * 100, 0), F.lit("% from "),
                                                e["column_name"]))
    return F.when(F.size(kept) > 0, F.array_join(said, ", ")).otherwise(F.lit(""))


__all__ = ["SAMPLE", "VARIANT", "attribute", "draw", "reference_atoms", "reference_cdf", "sample", "shares", "shifts",
           "text", "variants"]
