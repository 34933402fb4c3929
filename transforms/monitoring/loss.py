"""Estimated performance of a regression model before its labels land: direct loss estimation
(the method of NannyML's DLE), computed in Spark.

- `fit_loss_model`: when a version is trained, on its held-out rows (out-of-time, else test), two
  Spark ML linear regressions with a small ridge penalty predict a row's absolute error
  |label - prediction| and its squared error from a one-hot of each model input's reference slots
  and of the prediction's: a piecewise-constant additive model of the loss. A numeric input's slots
  are the bins of its training rows' coarse quantile edges (those of its reference profile) and
  one for NULL; a categorical input's are its training categories, one for any other value and
  one for NULL. A few numbers per slot, stored with the version's reference profile.
- `expected_loss`: served rows -> the same with `_abs` and `_sq`, their expected absolute and
  squared error (clipped at 0), from literal lookups of each slot's weight (no UDF, no join).
- `estimated_loss_metrics`: per group, `count`, the expected `mae` (mean of `_abs`) and `rmse`
  (root of the mean of `_sq`).

Like CBPE for binary models, the estimate holds under covariate shift: when the error's
distribution given the inputs and the prediction stays what it was on the held-out rows. It
sees a window that moves into regions where the model erred more; it cannot see the label
changing how it follows the inputs (the realized metric, once labels land, does: `error`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.ml.functions import array_to_vector
from pyspark.ml.regression import LinearRegression
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.columns import CATEGORICAL, MODEL_ID, NUMERIC
from lakescore.transforms.monitoring.drift import bin_of
from lakescore.transforms.sqltext import col

ESTIMATED_LOSS_METRICS = ["mae", "rmse"]
INTERCEPT = "(intercept)"          # the profile row holding the two intercepts
REG_PARAM = 1e-3                   # the ridge penalty: shrinks a rare slot's weight towards the mean
ABS, SQ = "_abs", "_sq"
_VECTOR, _ABS_ERR, _SQ_ERR = "_loss_design", "_abs_err", "_sq_err"


@dataclass(frozen=True)
class Term:
    """One input of the loss model and its slots' weights (absolute error, squared error)."""

    column: str
    kind: str                          # numeric | categorical
    edges: tuple[float, ...] = ()      # numeric: bin i holds (e_i, e_i+1]; slot len(edges)+1 is NULL
    categories: tuple[str, ...] = ()   # categorical: slot i is categories[i]; then other, then NULL
    w_abs: tuple[float, ...] = ()
    w_sq: tuple[float, ...] = ()
    rows: tuple[int, ...] = ()         # held-out rows per slot

    @property
    def size(self) -> int:
        return len(self.edges) + 2 if self.kind == NUMERIC else len(self.categories) + 2


@dataclass(frozen=True)
class LossModel:
    terms: tuple[Term, ...]
    intercept_abs: float
    intercept_sq: float
    rows: int                          # the held-out rows it was fitted on


def slot(term: Term) -> Column:
    """The slot (0-based) of a row's value of the term's column."""
    if term.kind == NUMERIC:
        v = col(term.column).cast("double")
        v = F.when(~F.isnan(v), v)
        edges = F.array(*[F.lit(float(e)) for e in term.edges]) if term.edges else F.array().cast("array<double>")
        return F.when(v.isNull(), F.lit(len(term.edges) + 1)).otherwise(bin_of(v, edges))
    c = col(term.column).cast("string")
    known = len(term.categories)
    if not known:
        return F.when(c.isNull(), F.lit(1)).otherwise(F.lit(0))
    index = F.create_map(*[x for i, name in enumerate(term.categories) for x in (F.lit(name), F.lit(i))])
    return F.when(c.isNull(), F.lit(known + 1)).otherwise(F.coalesce(F.element_at(index, c), F.lit(known)))


def _design(terms: list[Term]) -> Column:
    """The one-hot of every term's slot, as one dense vector."""
    cells = []
    for term in terms:
        s = slot(term)
        cells += [F.when(s == j, F.lit(1.0)).otherwise(F.lit(0.0)) for j in range(term.size)]
    return array_to_vector(F.array(*cells))


def fit_loss_model(rows: DataFrame, terms: list[Term], label: str, prediction: str) -> LossModel | None:
    """Held-out rows (the `terms`' columns, the numeric `label`, the model's `prediction`) and the
    terms' slots (no weights yet) -> the fitted LossModel; None without a labelled row."""
    y, yhat = col(label).cast("double"), col(prediction).cast("double")
    err = y - yhat
    data = rows.where(y.isNotNull() & yhat.isNotNull()).select(
        _design(terms).alias(_VECTOR), F.abs(err).alias(_ABS_ERR), (err * err).alias(_SQ_ERR),
        *[slot(t).alias(f"_slot{i}") for i, t in enumerate(terms)]).cache()
    try:
        counts = data.groupBy().agg(F.count(F.lit(1)).alias("n"), *[
            F.array(*[F.sum(F.when(F.col(f"_slot{i}") == j, 1).otherwise(0)) for j in range(t.size)]).alias(f"_n{i}")
            for i, t in enumerate(terms)]).first()
        n = int(counts["n"])
        if n == 0:
            return None
        fits = {}
        for target in (_ABS_ERR, _SQ_ERR):
            fits[target] = LinearRegression(featuresCol=_VECTOR, labelCol=target, regParam=REG_PARAM,
                                            elasticNetParam=0.0, standardization=False, solver="normal",
                                            fitIntercept=True).fit(data)
    finally:
        data.unpersist()
    w_abs, w_sq = (list(fits[t].coefficients.toArray()) for t in (_ABS_ERR, _SQ_ERR))
    fitted, start = [], 0
    for i, t in enumerate(terms):
        end = start + t.size
        fitted.append(Term(t.column, t.kind, tuple(t.edges), tuple(t.categories), tuple(float(w) for w in w_abs[start:end]),
                           tuple(float(w) for w in w_sq[start:end]), tuple(int(c) for c in counts[f"_n{i}"])))
        start = end
    return LossModel(tuple(fitted), float(fits[_ABS_ERR].intercept), float(fits[_SQ_ERR].intercept), n)


def _expected(model: LossModel, weights: str) -> Column:
    total = F.lit(model.intercept_abs if weights == "w_abs" else model.intercept_sq)
    for term in model.terms:
        total = total + F.element_at(F.array(*[F.lit(float(w)) for w in getattr(term, weights)]), slot(term) + 1)
    return F.greatest(total, F.lit(0.0))


def expected_loss(df: DataFrame, models: dict[str, LossModel]) -> DataFrame:
    """Rows with `model_id` and every term's column -> the same with `_abs` and `_sq` under their
    model's loss model. Rows of a model without one are dropped."""
    absolute = squared = None
    for model_id, model in models.items():
        hit = F.col(MODEL_ID) == model_id
        a, s = _expected(model, "w_abs"), _expected(model, "w_sq")
        absolute = F.when(hit, a) if absolute is None else absolute.when(hit, a)
        squared = F.when(hit, s) if squared is None else squared.when(hit, s)
    if absolute is None:
        return df.where(F.lit(False)).withColumn(ABS, F.lit(None).cast("double")).withColumn(SQ, F.lit(None).cast("double"))
    return df.withColumn(ABS, absolute).withColumn(SQ, squared).where(F.col(ABS).isNotNull())


def estimated_loss_metrics(df: DataFrame, groups: list[str]) -> DataFrame:
    """`expected_loss` rows -> per group: count, mae, rmse (the expected values). One aggregation."""
    return df.groupBy(*[col(g) for g in groups]).agg(
        F.count(F.lit(1)).alias("count"), F.avg(ABS).alias("mae"), F.sqrt(F.avg(SQ)).alias("rmse"))


def terms_of(inputs: dict[str, str], reference: dict[str, dict]) -> list[Term]:
    """The loss model's terms (no weights yet) from the inputs and their kinds and their training
    rows' reference (per column: `coarse_edges` for a numeric one, the `histogram` buckets for a
    categorical one, as the drift part of a reference profile holds them)."""
    terms = []
    for name, kind in inputs.items():
        ref = reference.get(name) or {}
        if kind == NUMERIC:
            terms.append(Term(name, NUMERIC, edges=tuple(float(e) for e in (ref.get("coarse_edges") or []))))
        elif kind == CATEGORICAL:
            buckets = [b for b in (ref.get("histogram") or []) if b["category"] is not None and b["bin"] != -1]
            names = sorted((b["category"] for b in buckets), key=lambda c: c)
            terms.append(Term(name, CATEGORICAL, categories=tuple(names)))
    return terms


__all__ = ["ESTIMATED_LOSS_METRICS", "INTERCEPT", "LossModel", "Term", "estimated_loss_metrics", "expected_loss",
           "fit_loss_model", "slot", "terms_of"]
