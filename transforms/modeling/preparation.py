"""Fitted feature preparation as Spark ML stages, so it travels inside the model.

- `MinMaxClipScaler`: per numeric column, fitted on the training rows: the clip bounds (the
  training min/max, or the given quantiles) and the fill value for NULL (median or mean). The
  model fills, clips to the bounds and scales into [0, 1], so a serving value outside the
  training range still lands in [0, 1]. NaN counts as NULL; +-inf is clipped. A column that was
  all NULL (or constant) in training becomes a constant 0.0.
- `CategoryEncoder`: per categorical column, the vocabulary of training values seen at least
  `minCount` times (the `maxCategories` most frequent, ties by value); the model one-hot encodes
  into vocabulary + two buckets: `missing` (NULL) and `other` (unseen at training, or rare).

Both are pure Python stages with DefaultParamsReadable/Writable: a PipelineModel holding them
saves and loads (also through `mlflow.spark.log_model` / `load_model`) while this module is
importable, and their transforms are Spark SQL expressions (no Python UDF at scoring time).
The fitted values are Params, readable with `fitted_parameters`.
"""

from __future__ import annotations

import math

from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.functions import array_to_vector
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCols, HasOutputCols
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakescore.transforms.sqltext import col

MISSING = "__missing__"
OTHER = "__other__"


def _finite(x: Column) -> Column:
    d = x.cast("double")
    return F.when(~F.isnan(d) & (F.abs(d) != F.lit(float("inf"))), d)


def scale_column(x: Column, low: float, high: float, fill: float) -> Column:
    """x (NULL/NaN -> fill) clipped to [low, high] and mapped linearly onto [0, 1]; 0.0 when
    high <= low (nothing was learnt). Always in [0, 1] and never NULL."""
    d = x.cast("double")
    v = F.coalesce(F.when(~F.isnan(d), d), F.lit(float(fill)))
    v = F.least(F.greatest(v, F.lit(float(low))), F.lit(float(high)))
    if not high > low:
        return F.lit(0.0)
    if math.isfinite(high - low):
        return (v - F.lit(float(low))) / F.lit(float(high - low))
    half = 0.5  # a range wider than the largest double: scale both terms down first
    return (v * half - F.lit(low * half)) / F.lit(high * half - low * half)


class _ScalerParams(HasInputCols, HasOutputCols):
    lowerQuantiles = Param(Params._dummy(), "lowerQuantiles",
                           "per column: clip below this training quantile (0: the minimum)",
                           typeConverter=TypeConverters.toListFloat)
    upperQuantiles = Param(Params._dummy(), "upperQuantiles",
                           "per column: clip above this training quantile (1: the maximum)",
                           typeConverter=TypeConverters.toListFloat)
    imputeStrategies = Param(Params._dummy(), "imputeStrategies", "per column: median or mean",
                             typeConverter=TypeConverters.toListString)


class MinMaxClipScaler(Estimator, _ScalerParams, DefaultParamsReadable, DefaultParamsWritable):
    @keyword_only
    def __init__(self, *, inputCols=None, outputCols=None, lowerQuantiles=None, upperQuantiles=None,
                 imputeStrategies=None):
        super().__init__()
        self._set(**self._input_kwargs)

    def _options(self) -> tuple[list[str], list[float], list[float], list[str]]:
        cols = self.getInputCols()
        n = len(cols)
        lows = self.getOrDefault(self.lowerQuantiles) if self.isDefined(self.lowerQuantiles) else [0.0] * n
        highs = self.getOrDefault(self.upperQuantiles) if self.isDefined(self.upperQuantiles) else [1.0] * n
        impute = self.getOrDefault(self.imputeStrategies) if self.isDefined(self.imputeStrategies) else ["median"] * n
        if not (len(lows) == len(highs) == len(impute) == len(self.getOutputCols()) == n):
            raise ValueError("MinMaxClipScaler: one option per input column")
        for lo, hi in zip(lows, highs):
            if not 0.0 <= lo < hi <= 1.0:
                raise ValueError(f"MinMaxClipScaler: quantiles need 0 <= low < high <= 1, got {lo}, {hi}")
        bad = sorted(set(impute) - {"median", "mean"})
        if bad:
            raise ValueError(f"MinMaxClipScaler: unknown impute strategy {bad}")
        return cols, lows, highs, impute

    def _fit(self, dataset: DataFrame) -> MinMaxClipScalerModel:
        cols, lows, highs, impute = self._options()
        aggs = []
        for i, c in enumerate(cols):
            x = _finite(col(c))
            lo = F.min(x) if lows[i] == 0.0 else F.percentile(x, lows[i])
            hi = F.max(x) if highs[i] == 1.0 else F.percentile(x, highs[i])
            fill = F.percentile(x, 0.5) if impute[i] == "median" else F.avg(x)
            aggs += [lo.alias(f"lo{i}"), hi.alias(f"hi{i}"), fill.alias(f"fill{i}")]
        row = dataset.agg(*aggs).first() if aggs else None
        low, high, fill = [], [], []
        for i in range(len(cols)):
            lo, hi, fi = (row[f"lo{i}"], row[f"hi{i}"], row[f"fill{i}"]) if row else (None, None, None)
            if lo is None or hi is None:  # no value at all in training
                lo = hi = fi = 0.0
            low.append(float(lo))
            high.append(float(hi))
            fill.append(float(fi))
        return self._copyValues(MinMaxClipScalerModel(lowerBounds=low, upperBounds=high, fillValues=fill))


class MinMaxClipScalerModel(Model, _ScalerParams, DefaultParamsReadable, DefaultParamsWritable):
    lowerBounds = Param(Params._dummy(), "lowerBounds", "fitted lower clip bound per column",
                        typeConverter=TypeConverters.toListFloat)
    upperBounds = Param(Params._dummy(), "upperBounds", "fitted upper clip bound per column",
                        typeConverter=TypeConverters.toListFloat)
    fillValues = Param(Params._dummy(), "fillValues", "fitted value for NULL per column",
                       typeConverter=TypeConverters.toListFloat)

    @keyword_only
    def __init__(self, *, inputCols=None, outputCols=None, lowerQuantiles=None, upperQuantiles=None,
                 imputeStrategies=None, lowerBounds=None, upperBounds=None, fillValues=None):
        super().__init__()
        self._set(**self._input_kwargs)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        lows, highs = self.getOrDefault(self.lowerBounds), self.getOrDefault(self.upperBounds)
        fills = self.getOrDefault(self.fillValues)
        return dataset.withColumns({
            out: scale_column(col(c), lows[i], highs[i], fills[i])
            for i, (c, out) in enumerate(zip(self.getInputCols(), self.getOutputCols()))
        })

    def fitted(self) -> dict[str, dict]:
        cols = self.getInputCols()
        lows, highs = self.getOrDefault(self.lowerBounds), self.getOrDefault(self.upperBounds)
        fills = self.getOrDefault(self.fillValues)
        qlo = self.getOrDefault(self.lowerQuantiles) if self.isDefined(self.lowerQuantiles) else [0.0] * len(cols)
        qhi = self.getOrDefault(self.upperQuantiles) if self.isDefined(self.upperQuantiles) else [1.0] * len(cols)
        imp = self.getOrDefault(self.imputeStrategies) if self.isDefined(self.imputeStrategies) else ["median"] * len(cols)
        return {c: {"min": lows[i], "max": highs[i], "fill": fills[i], "impute": imp[i],
                    "clip_quantiles": [qlo[i], qhi[i]]} for i, c in enumerate(cols)}


def _to_list_of_string_lists(value):
    return [[str(v) for v in TypeConverters.toList(inner)] for inner in TypeConverters.toList(value)]


def one_hot(x: Column, vocabulary: list[str]) -> Column:
    """A dense 0/1 vector of len(vocabulary) + 2: the value's slot, or `missing` (NULL) or
    `other` (any value not in the vocabulary)."""
    n = len(vocabulary)
    value = x.cast("string")
    if vocabulary:
        slots = F.create_map(*[lit for i, v in enumerate(vocabulary) for lit in (F.lit(v), F.lit(i))])
        index = F.when(value.isNull(), F.lit(n)).otherwise(F.coalesce(F.try_element_at(slots, value), F.lit(n + 1)))
    else:
        index = F.when(value.isNull(), F.lit(0)).otherwise(F.lit(1))
    # zeros, a one at the slot, zeros: the slot is computed once per row (a higher-order function
    # comparing each position with it looked the value up in the vocabulary once per position,
    # 7x slower on a 100-value vocabulary)
    return array_to_vector(F.concat(F.array_repeat(F.lit(0.0), index), F.array(F.lit(1.0)),
                                    F.array_repeat(F.lit(0.0), F.lit(n + 1) - index)))


def encoded_slots(vocabulary: list[str]) -> list[str]:
    """The names of `one_hot`'s slots, in order."""
    return [*vocabulary, MISSING, OTHER]


class _EncoderParams(HasInputCols, HasOutputCols):
    minCounts = Param(Params._dummy(), "minCounts", "per column: fewer training rows -> `other`",
                      typeConverter=TypeConverters.toListInt)
    maxCategories = Param(Params._dummy(), "maxCategories", "per column: most categories kept",
                          typeConverter=TypeConverters.toListInt)


class CategoryEncoder(Estimator, _EncoderParams, DefaultParamsReadable, DefaultParamsWritable):
    @keyword_only
    def __init__(self, *, inputCols=None, outputCols=None, minCounts=None, maxCategories=None):
        super().__init__()
        self._set(**self._input_kwargs)

    def _fit(self, dataset: DataFrame) -> CategoryEncoderModel:
        cols = self.getInputCols()
        n = len(cols)
        mins = self.getOrDefault(self.minCounts) if self.isDefined(self.minCounts) else [1] * n
        maxs = self.getOrDefault(self.maxCategories) if self.isDefined(self.maxCategories) else [100] * n
        if not (len(mins) == len(maxs) == len(self.getOutputCols()) == n):
            raise ValueError("CategoryEncoder: one option per input column")
        vocab: list[list[str]] = [[] for _ in cols]
        if cols:
            pairs = F.explode(F.array(*[F.struct(F.lit(i).alias("i"), col(c).cast("string").alias("v"))
                                        for i, c in enumerate(cols)])).alias("p")
            counts = (dataset.select(pairs).select("p.i", "p.v").where(F.col("v").isNotNull())
                      .groupBy("i", "v").agg(F.count(F.lit(1)).alias("n")))
            rank = F.row_number().over(Window.partitionBy("i").orderBy(F.col("n").desc(), F.col("v")))
            min_n = F.element_at(F.array(*[F.lit(m) for m in mins]), F.col("i") + 1)
            max_k = F.element_at(F.array(*[F.lit(m) for m in maxs]), F.col("i") + 1)
            kept = (counts.where(F.col("n") >= min_n).withColumn("r", rank).where(F.col("r") <= max_k)
                    .select("i", "v", "r"))
            for row in sorted(kept.collect(), key=lambda r: (r["i"], r["r"])):  # at most sum(maxCategories) rows
                vocab[row["i"]].append(row["v"])
        return self._copyValues(CategoryEncoderModel(vocabularies=vocab))


class CategoryEncoderModel(Model, _EncoderParams, DefaultParamsReadable, DefaultParamsWritable):
    vocabularies = Param(Params._dummy(), "vocabularies", "fitted categories per column, most frequent first",
                         typeConverter=_to_list_of_string_lists)

    @keyword_only
    def __init__(self, *, inputCols=None, outputCols=None, minCounts=None, maxCategories=None, vocabularies=None):
        super().__init__()
        self._set(**self._input_kwargs)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        vocab = self.getOrDefault(self.vocabularies)
        # the vector's size as ML attribute metadata: the assembler then needs no first row to
        # learn it (an as-of without entities scores to no rows instead of failing)
        return dataset.withColumns({
            out: one_hot(col(c), vocab[i]).alias(out, metadata={"ml_attr": {"num_attrs": len(vocab[i]) + 2}})
            for i, (c, out) in enumerate(zip(self.getInputCols(), self.getOutputCols()))
        })

    def fitted(self) -> dict[str, dict]:
        vocab = self.getOrDefault(self.vocabularies)
        return {c: {"categories": vocab[i], "slots": encoded_slots(vocab[i])} for i, c in enumerate(self.getInputCols())}
