"""The model as a Spark ML Pipeline: preparation of the feature columns (casting, imputing,
encoding with a bucket for unseen categories, scaling) travels inside the fitted model, so
scoring applies exactly what training fitted."""

from __future__ import annotations

from typing import Mapping

from pyspark.ml import Pipeline
from pyspark.ml.classification import GBTClassifier, LogisticRegression, RandomForestClassifier
from pyspark.ml.feature import Imputer, MinMaxScaler, OneHotEncoder, SQLTransformer, StringIndexer, VectorAssembler
from pyspark.ml.regression import GBTRegressor, LinearRegression, RandomForestRegressor

ALGORITHMS = {
    "logistic_regression": LogisticRegression,
    "gbt_classifier": GBTClassifier,
    "random_forest_classifier": RandomForestClassifier,
    "linear_regression": LinearRegression,
    "gbt_regressor": GBTRegressor,
    "random_forest_regressor": RandomForestRegressor,
}
MISSING_CATEGORY = "__missing__"
VECTOR = "features_vector"


def build_pipeline(numeric: list[str], categorical: list[str], label: str, algorithm: str,
                   params: Mapping[str, object], seed: int) -> Pipeline:
    """An unfitted pipeline: typed numeric and categorical inputs -> `prediction` (+ `probability`)."""
    estimator_cls = ALGORITHMS[algorithm]
    estimator = estimator_cls(featuresCol=VECTOR, labelCol=label)
    for name, value in params.items():
        if not estimator.hasParam(name):
            raise ValueError(f"model.params.{name}: not a parameter of {estimator_cls.__name__}")
        estimator.set(estimator.getParam(name), value)
    if estimator.hasParam("seed"):
        estimator.set(estimator.getParam("seed"), seed)

    casts = [f"CAST(`{c}` AS DOUBLE) AS `_num_{c}`" for c in numeric]
    cats = [f"COALESCE(CAST(`{c}` AS STRING), '{MISSING_CATEGORY}') AS `_cat_{c}`" for c in categorical]
    stages: list = [SQLTransformer(statement=f"SELECT *, {', '.join(casts + cats)} FROM __THIS__")]
    vector_inputs = []
    if numeric:
        stages.append(Imputer(strategy="median", inputCols=[f"_num_{c}" for c in numeric],
                              outputCols=[f"_imp_{c}" for c in numeric]))
        stages.append(VectorAssembler(inputCols=[f"_imp_{c}" for c in numeric], outputCol="_numeric_raw"))
        stages.append(MinMaxScaler(inputCol="_numeric_raw", outputCol="_numeric_scaled"))
        vector_inputs.append("_numeric_scaled")
    if categorical:
        stages.append(StringIndexer(inputCols=[f"_cat_{c}" for c in categorical],
                                    outputCols=[f"_idx_{c}" for c in categorical],
                                    handleInvalid="keep", stringOrderType="frequencyDesc"))
        stages.append(OneHotEncoder(inputCols=[f"_idx_{c}" for c in categorical],
                                    outputCols=[f"_ohe_{c}" for c in categorical], handleInvalid="keep"))
        vector_inputs += [f"_ohe_{c}" for c in categorical]
    stages.append(VectorAssembler(inputCols=vector_inputs, outputCol=VECTOR))
    stages.append(estimator)
    return Pipeline(stages=stages)
