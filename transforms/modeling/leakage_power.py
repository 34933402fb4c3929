"""Label leakage by power: how well each model feature predicts the label on its own.

A feature that leaks the label (known only after the event, though nobody declared it so) is
suspiciously strong alone. Its *single-feature power* on the evaluation rows:

- binary label: the feature's own ROC AUC, as max(AUC, 1 - AUC) (a feature that ranks backwards
  is as strong): a numeric feature ranks by its value (NULL: the training median, as the model
  fills it); a categorical one by its value's label rate in the training rows (NULL is a value;
  one unseen at training gets the training rate);
- regression label: the R2 of the best straight line on the feature (corr^2) for a numeric
  feature; for a categorical one, the R2 of predicting each row by its value's training mean
  (the correlation ratio, measured out of sample so a high-cardinality code cannot fake it).

All features at once, in a bounded number of passes (the training medians and rates, then one
grouped aggregate over the evaluation rows stacked per feature), whatever their number.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.columns import BINARY
from lakescore.transforms.modeling.metrics import auc
from lakescore.transforms.sqltext import col

FEATURE = "feature"
POWER = "single_feature_power"
MISSING = "__missing__"
_X, _Y, _CAT, _V = "_x", "_y", "_categorical", "_v"


def _stack(rows: DataFrame, label: str, entries: list) -> DataFrame:
    """One row per (row, feature): the feature's name, its value or score, the label."""
    return rows.select(col(label).cast("double").alias(_Y), F.explode(F.array(*entries)).alias("_e")) \
        .select(F.col("_e.f").alias(FEATURE), F.col("_e.x").alias(_X), F.col("_e.v").alias(_V), F.col(_Y))


def _entry(name: str, x, v=None):
    return F.struct(F.lit(name).alias("f"), x.cast("double").alias("x"),
                    (v if v is not None else F.lit(None)).cast("string").alias("v"))


def stacked_scores(train: DataFrame, rows: DataFrame, numeric: list[str], categorical: list[str],
                   label: str) -> DataFrame:
    """Evaluation rows stacked per feature: (feature, _x, _y, _categorical) where _x is what the
    feature alone scores a row with (numeric: its value, NULL as the training median;
    categorical: its value's training label mean, the overall training mean for a value not
    seen in training)."""
    parts = []
    train = train.where(col(label).isNotNull())
    rows = rows.where(col(label).isNotNull())
    if numeric:
        medians = train.agg(*[F.percentile_approx(col(n), 0.5).alias(f"_m{i}") for i, n in enumerate(numeric)])
        filled = rows.crossJoin(medians)
        parts.append(_stack(filled, label, [_entry(n, F.coalesce(col(n).cast("double"), F.col(f"_m{i}")))
                                            for i, n in enumerate(numeric)]).withColumn(_CAT, F.lit(False)))
    if categorical:
        def values(df: DataFrame) -> DataFrame:
            return _stack(df, label, [_entry(c, F.lit(None), F.coalesce(col(c).cast("string"), F.lit(MISSING)))
                                      for c in categorical]).drop(_X)

        rates = values(train).groupBy(FEATURE, _V).agg(F.avg(_Y).alias("_rate"))
        overall = train.agg(F.avg(col(label).cast("double")).alias("_overall"))
        scored = (values(rows).join(rates, on=[FEATURE, _V], how="left").crossJoin(overall)
                  .select(FEATURE, F.coalesce(F.col("_rate"), F.col("_overall")).alias(_X), F.col(_V), F.col(_Y)))
        parts.append(scored.withColumn(_CAT, F.lit(True)))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out.drop(_V)


def single_feature_power(train: DataFrame, rows: DataFrame, numeric: list[str], categorical: list[str],
                         label: str, kind: str) -> DataFrame:
    """(feature, single_feature_power, rows): each feature's power alone on the labelled
    `rows`, with training statistics from `train` (see the module's doc)."""
    if not numeric and not categorical:
        raise ValueError("no feature to measure")
    long = stacked_scores(train, rows, numeric, categorical, label)
    if kind == BINARY:
        aucs = auc(long, [FEATURE], _Y, _X)
        counts = long.groupBy(FEATURE).agg(F.count(F.lit(1)).alias("rows"))
        return aucs.join(counts, FEATURE).select(
            F.col(FEATURE), F.greatest(F.col("auc"), 1 - F.col("auc")).alias(POWER), F.col("rows"))
    err = F.col(_Y) - F.col(_X)
    agg = long.groupBy(FEATURE).agg(
        F.corr(_X, _Y).alias("_corr"), F.sum(err * err).alias("_sse"), F.var_pop(_Y).alias("_var"),
        F.count(F.lit(1)).alias("rows"), F.max(F.col(_CAT).cast("int")).alias("_cat"))
    linear = F.coalesce(F.col("_corr") * F.col("_corr"), F.lit(0.0))
    by_mean = F.when(F.col("_var") > 0, F.greatest(F.lit(0.0), 1 - F.col("_sse") / (F.col("_var") * F.col("rows"))))
    power = F.when(F.col("_cat") == 1, F.coalesce(by_mean, F.lit(0.0))).otherwise(linear)
    return agg.select(F.col(FEATURE), power.alias(POWER), F.col("rows"))


def leakage_findings(powers: dict[str, float], model_power: float | None, *, metric: str, max_single_power: float,
                     margin: float, margin_min_power: float, allow: Iterable[str] = ()) -> list[dict]:
    """The features whose power alone looks like label leakage: at or above `max_single_power`,
    or (when at least `margin_min_power`) within `margin` of the whole model's power. Each:
    feature, power, reason, allowed (listed in `allow`: reported, not refused)."""
    allow = set(allow)
    out = []
    for feature, power in sorted(powers.items()):
        if power is None:
            continue
        if power >= max_single_power:
            reason = (f"alone it reaches {metric} {power:.3f}, at or above train.leakage.max_single_power "
                      f"{max_single_power}")
        elif model_power is not None and power >= margin_min_power and power >= model_power - margin:
            reason = (f"alone it reaches {metric} {power:.3f}, within train.leakage.margin {margin} of the whole "
                      f"model's {model_power:.3f}")
        else:
            continue
        out.append({"feature": feature, "power": power, "reason": reason, "allowed": feature in allow})
    return out
