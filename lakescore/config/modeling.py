"""How a use case trains and gates its model: the split, the training window and seed, the
algorithm and its parameters, the quality gate; and which metrics fit which label kind."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lakescore.config.base import Identifier, Strict

METRICS = {
    "binary": ("auc", "pr_auc", "log_loss", "accuracy"),
    "regression": ("rmse", "mae", "r2"),
}
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})
ALGORITHMS = ("logistic_regression", "gbt_classifier", "random_forest_classifier",
              "linear_regression", "gbt_regressor", "random_forest_regressor")


def is_classifier(algorithm: str) -> bool:
    return algorithm.endswith("_classifier") or algorithm == "logistic_regression"


class Split(Strict):
    test_fraction: float = Field(gt=0, lt=1)
    salt: str = Field(min_length=1, description="changing it draws a different split")


class Train(Strict):
    window_days: int = Field(ge=1, description="days of labelled history before the as-of")
    seed: int
    partitions: int = Field(2, ge=1, description="fixed partitioning before fit, for reproducibility")
    min_rows: int = Field(100, ge=1, description="fewer labelled rows fails the job")


ParamValue = int | float | str | bool


class Model(Strict):
    name: Identifier = Field(description="registered model name (three-level on Unity Catalog)")
    algorithm: Literal[ALGORITHMS]  # type: ignore[valid-type]
    params: dict[str, ParamValue] = Field(default_factory=dict)
    primary_metric: Literal[METRICS["binary"] + METRICS["regression"]]  # type: ignore[valid-type]


class Gate(Strict):
    floors: dict[str, float] = Field(
        default_factory=dict,
        description="absolute bounds on the challenger's test metrics: minimum for "
        "higher-is-better metrics, maximum for rmse/mae/log_loss",
    )
    max_drop_vs_champion: float = Field(
        0.01, ge=0, description="sudden degradation: largest allowed loss on the primary metric "
        "against the champion, both evaluated on the challenger's test rows",
    )
