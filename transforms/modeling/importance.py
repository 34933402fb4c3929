"""Feature usefulness: permutation importance (and the verdict on each feature).

A feature's permutation importance is how much the model's metric on the evaluation rows
worsens when that feature's column is shuffled (the link between the feature and the label
broken, its distribution kept), averaged over seeded shuffles. Every shuffle of every feature,
and the unshuffled rows, are scored in one pass.

The model's preparation works on each feature alone, row by row (scale a number, one-hot a
category), so shuffling a feature's column and then preparing it equals preparing it and then
shuffling its positions in the assembled model input. The rows are therefore prepared once;
each (feature, repeat) copy swaps in the shuffled positions (`permuted_copies`) and only the
estimator runs per copy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from pyspark.ml import PipelineModel
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lakescore.transforms.columns import PREDICTION, SCORE
from lakescore.transforms.modeling.pipeline import VECTOR, feature_slots, split_model
from lakescore.transforms.modeling.predictions import model_output
from lakescore.transforms.sqltext import col

PERMUTED = "_permuted"      # the feature shuffled in a copy (NULL: the unshuffled baseline copy)
REPEAT = "_repeat"
_I, _TARGET, _DONOR = "_row", "_target", "_donor"

HELPFUL, NO_GAIN, HARMFUL, LEAK_SUSPECT = "helpful", "no_gain", "harmful", "leak_suspect"
VERDICTS = (HELPFUL, NO_GAIN, HARMFUL, LEAK_SUSPECT)


def sample_rows(rows: DataFrame, order: list[str], max_rows: int, total: int, seed: int) -> DataFrame:
    """At most about `max_rows` of `total` rows, chosen by a seeded hash of `order` (the same
    rows in every run)."""
    if total <= max_rows:
        return rows
    h = F.pmod(F.xxhash64(F.lit(seed), *[col(c).cast("string") for c in order]), F.lit(1_000_000)) / 1_000_000.0
    return rows.where(h < F.lit(max_rows / total))


def permuted_copies(rows: DataFrame, vector: str, slots: Mapping[str, tuple[int, int]], order: list[str],
                    repeats: int, seed: int) -> DataFrame:
    """`rows` (with `vector`, an array of the model's inputs, and `order` columns, unique per
    row) once unshuffled (`_permuted` NULL, `_repeat` 0) and once per (feature, repeat): the
    feature's positions `slots[feature]` = (start, length) taken from another row, by a seeded
    shuffle of the rows (the same in every run). Rows: len(rows) x (1 + features x repeats);
    the other columns are kept."""
    indexed = rows.withColumn(_I, F.row_number().over(Window.orderBy(*[col(c) for c in order])))
    reps = F.explode(F.array(*[F.lit(r) for r in range(1, repeats + 1)]))
    # repeat r gives row rank_r(i) the positions of row i, rank_r a seeded hash order: a permutation
    donors = (indexed.select(F.col(_I), col(vector).alias(_DONOR)).withColumn(REPEAT, reps)
              .withColumn(_TARGET, F.row_number().over(
                  Window.partitionBy(REPEAT).orderBy(F.xxhash64(F.lit(seed), F.col(REPEAT), F.col(_I)), F.col(_I))))
              .select(F.col(REPEAT), F.col(_TARGET).alias(_I), F.col(_DONOR)))
    plan = F.explode(F.array(*[F.struct(F.lit(f).alias("f"), F.lit(s).alias("s"), F.lit(n).alias("n"),
                                        F.lit(r).alias("r"))
                               for f, (s, n) in slots.items() for r in range(1, repeats + 1)]))
    v, d = col(vector), F.col(_DONOR)
    start, size = F.col("_plan.s"), F.col("_plan.n")
    swapped = F.concat(F.slice(v, 1, start), F.slice(d, start + 1, size),
                       F.slice(v, start + size + 1, F.size(v) - start - size))
    copies = (indexed.withColumn("_plan", plan).withColumn(REPEAT, F.col("_plan.r"))
              # a sort-merge join: Spark underestimates the exploded side (rows x features x repeats
              # vectors) and a broadcast of it runs out of driver memory on full data
              .join(donors.hint("merge"), on=[REPEAT, _I], how="inner")
              .withColumn(vector, swapped).withColumn(PERMUTED, F.col("_plan.f"))
              .select(*[col(c) for c in rows.columns], F.col(PERMUTED), F.col(REPEAT)))
    baseline = rows.withColumn(PERMUTED, F.lit(None).cast("string")).withColumn(REPEAT, F.lit(0))
    return baseline.unionByName(copies)


def permutation_scores(model: PipelineModel, rows: DataFrame, label: str, kind: str, order: list[str],
                       repeats: int, seed: int) -> DataFrame:
    """(`_permuted`, `_repeat`, label, prediction, score) of every copy of `rows` (see
    `permuted_copies`) by a fitted `build_pipeline` model: prepared once, the estimator per copy."""
    prepare, estimator = split_model(model)
    prepared = prepare.transform(rows).select(*[col(c) for c in order], col(label),
                                              vector_to_array(F.col(VECTOR)).alias(VECTOR))
    copies = permuted_copies(prepared, VECTOR, feature_slots(model), order, repeats, seed)
    scored = estimator.transform(copies.withColumn(VECTOR, array_to_vector(F.col(VECTOR))))
    return scored.transform(model_output(kind)).select(PERMUTED, REPEAT, label, PREDICTION, SCORE)


def importances(metric_by_copy: dict[tuple[str | None, int], float], lower_is_better: bool) -> dict[str, dict]:
    """From the metric of each copy ((feature, repeat) -> value; (None, 0) the baseline) to each
    feature's importance: mean and spread (sample standard deviation) over its repeats of how
    much worse the metric got when it was shuffled (positive: the feature helps)."""
    base = metric_by_copy[(None, 0)]
    per: dict[str, list[float]] = {}
    for (feature, _), value in metric_by_copy.items():
        if feature is None:
            continue
        per.setdefault(feature, []).append((value - base) if lower_is_better else (base - value))
    out = {}
    for feature, losses in sorted(per.items()):
        mean = sum(losses) / len(losses)
        std = math.sqrt(sum((x - mean) ** 2 for x in losses) / (len(losses) - 1)) if len(losses) > 1 else 0.0
        out[feature] = {"importance": mean, "std": std}
    return out


def verdict(importance: float | None, min_gain: float, leak_suspect: bool = False) -> str:
    """helpful (importance above min_gain), harmful (below -min_gain), no_gain (in between), or
    leak_suspect (flagged by the leakage power check, whatever its importance)."""
    if leak_suspect:
        return LEAK_SUSPECT
    if importance is None or math.isnan(importance):
        return NO_GAIN
    if importance > min_gain:
        return HELPFUL
    if importance < -min_gain:
        return HARMFUL
    return NO_GAIN


def ablation_delta(baseline: float, without: float, lower_is_better: bool) -> float:
    """Drop-column importance: how much worse the model retrained without the feature is."""
    return (without - baseline) if lower_is_better else (baseline - without)


def with_verdict(verdicts: Iterable[tuple[str, str]], wanted: str) -> list[str]:
    return [f for f, v in verdicts if v == wanted]
