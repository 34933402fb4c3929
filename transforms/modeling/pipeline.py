"""The model as a Spark ML Pipeline: the fitted preparation of the feature columns (numeric:
impute, clip, scale into [0, 1]; categorical: one-hot with `missing` and `other` buckets)
travels inside the fitted model, so scoring applies exactly what training fitted, and the
model takes the `features` table's rows as they are."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier, LogisticRegression, RandomForestClassifier
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.regression import GBTRegressor, LinearRegression, RandomForestRegressor

from lakescore.transforms.modeling.preparation import (
    CategoryEncoder,
    CategoryEncoderModel,
    MinMaxClipScaler,
    MinMaxClipScalerModel,
)

ALGORITHMS = {
    "logistic_regression": LogisticRegression,
    "gbt_classifier": GBTClassifier,
    "random_forest_classifier": RandomForestClassifier,
    "linear_regression": LinearRegression,
    "gbt_regressor": GBTRegressor,
    "random_forest_regressor": RandomForestRegressor,
}
VECTOR = "features_vector"
DEFAULT_MAX_CATEGORIES = 100


def build_pipeline(numeric: list[str], categorical: list[str], label: str, algorithm: str,
                   params: Mapping[str, object], seed: int,
                   options: Mapping[str, Mapping[str, Any]] | None = None) -> Pipeline:
    """An unfitted pipeline: the feature columns (as the features table has them) ->
    `prediction` (+ `probability`). `options` per feature: impute (median|mean), clip_quantiles
    ([low, high]) for numeric; min_count, max_categories for categorical."""
    options = options or {}
    estimator_cls = ALGORITHMS[algorithm]
    estimator = estimator_cls(featuresCol=VECTOR, labelCol=label)
    for name, value in params.items():
        if not estimator.hasParam(name):
            raise ValueError(f"model.params.{name}: not a parameter of {estimator_cls.__name__}")
        estimator.set(estimator.getParam(name), value)
    if estimator.hasParam("seed"):
        estimator.set(estimator.getParam("seed"), seed)

    def opt(name: str, key: str, default):
        value = options.get(name, {}).get(key)
        return default if value is None else value

    stages: list = []
    vector_inputs: list[str] = []
    if numeric:
        quantiles = [opt(c, "clip_quantiles", (0.0, 1.0)) for c in numeric]
        stages.append(MinMaxClipScaler(
            inputCols=numeric, outputCols=[f"_scaled_{c}" for c in numeric],
            lowerQuantiles=[float(q[0]) for q in quantiles], upperQuantiles=[float(q[1]) for q in quantiles],
            imputeStrategies=[opt(c, "impute", "median") for c in numeric]))
        vector_inputs += [f"_scaled_{c}" for c in numeric]
    if categorical:
        stages.append(CategoryEncoder(
            inputCols=categorical, outputCols=[f"_onehot_{c}" for c in categorical],
            minCounts=[int(opt(c, "min_count", 1)) for c in categorical],
            maxCategories=[int(opt(c, "max_categories", DEFAULT_MAX_CATEGORIES)) for c in categorical]))
        vector_inputs += [f"_onehot_{c}" for c in categorical]
    stages.append(VectorAssembler(inputCols=vector_inputs, outputCol=VECTOR))
    stages.append(estimator)
    return Pipeline(stages=stages)


def fitted_preparation(model: PipelineModel) -> dict[str, dict]:
    """What the fitted pipeline learnt about each feature: clip bounds, fill value for numeric,
    the categories (and slot order) for categorical. Small: one entry per feature."""
    out: dict[str, dict] = {}
    for stage in model.stages:
        if isinstance(stage, MinMaxClipScalerModel):
            out.update({c: {"kind": "numeric", **v} for c, v in stage.fitted().items()})
        elif isinstance(stage, CategoryEncoderModel):
            out.update({c: {"kind": "categorical", **v} for c, v in stage.fitted().items()})
    return out


def split_model(model: PipelineModel) -> tuple[PipelineModel, Any]:
    """A fitted `build_pipeline` model as (its preparation up to the assembled `features_vector`,
    its estimator)."""
    return PipelineModel(stages=list(model.stages[:-1])), model.stages[-1]


def feature_slots(model: PipelineModel) -> dict[str, tuple[int, int]]:
    """Where each feature lands in the assembled `features_vector` of a fitted `build_pipeline`
    model: feature -> (first position, 0-based; number of positions). A numeric feature takes one
    position, a categorical one a position per category plus `missing` and `other`."""
    sizes: dict[str, tuple[str, int]] = {}
    assembler = None
    for stage in model.stages:
        if isinstance(stage, MinMaxClipScalerModel):
            sizes.update({out: (c, 1) for c, out in zip(stage.getInputCols(), stage.getOutputCols())})
        elif isinstance(stage, CategoryEncoderModel):
            fitted = stage.fitted()
            sizes.update({out: (c, len(fitted[c]["slots"])) for c, out in zip(stage.getInputCols(), stage.getOutputCols())})
        elif isinstance(stage, VectorAssembler):
            assembler = stage
    if assembler is None:
        raise ValueError("not a build_pipeline model: no VectorAssembler stage")
    out, start = {}, 0
    for column in assembler.getInputCols():
        feature, size = sizes[column]
        out[feature] = (start, size)
        start += size
    return out
