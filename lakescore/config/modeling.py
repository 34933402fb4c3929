"""How a use case trains its model: the split (hash and out-of-time), the training window and
seed, when to retrain, the training-time checks (data sanity, label-leakage power, feature
usefulness), the algorithm and its parameters; and which metrics fit which label kind."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lakescore.config.base import Identifier, Strict
from lakescore.transforms.modeling.metrics import LOWER_IS_BETTER

METRICS = {
    "binary": ("auc", "pr_auc", "log_loss", "accuracy"),
    "regression": ("rmse", "mae", "r2"),
}
ALGORITHMS = ("logistic_regression", "gbt_classifier", "random_forest_classifier",
              "linear_regression", "gbt_regressor", "random_forest_regressor")
# What a feature's power alone is measured in, per label kind (see transforms.modeling.leakage_power).
POWER_METRIC = {"binary": "auc", "regression": "r2"}
# train.leakage defaults per label kind: the single-feature power that is refused outright, and the
# power from which a feature that alone comes within `margin` of the whole model is refused.
DEFAULT_MAX_SINGLE_POWER = {"binary": 0.85, "regression": 0.9}
DEFAULT_MARGIN_MIN_POWER = {"binary": 0.7, "regression": 0.5}

__all__ = ["ALGORITHMS", "LOWER_IS_BETTER", "METRICS", "POWER_METRIC", "Importance", "Leakage", "Model",
           "Retrain", "Split", "Train", "is_classifier"]


def is_classifier(algorithm: str) -> bool:
    return algorithm.endswith("_classifier") or algorithm == "logistic_regression"


class Split(Strict):
    test_fraction: float = Field(gt=0, lt=1)
    salt: str = Field(min_length=1, description="changing it draws a different split")
    out_of_time_days: int = Field(
        7, ge=0, description="the last labelled as-ofs of the training window held out of training and of "
        "the hash split: the out-of-time evaluation rows (0: none)")


class Retrain(Strict):
    every_days: int | None = Field(
        7, ge=1, description="retrain when @champion's training cutoff is at least this many days old "
        "(null: no schedule, only the age limit and triggers)")
    max_model_age_days: int = Field(
        30, ge=1, description="hard limit: retrain whatever else says once @champion is this old")
    on_trigger: bool = Field(
        True, description="retrain when the monitor stage has opened a retraining trigger (an alerts row "
        "kind retrain_triggered) after @champion's training cutoff")
    cool_down_days: int | None = Field(
        7, ge=1, description="after the gate refuses a challenger, the schedule and the age limit wait this "
        "many days from that as-of before training again (a retraining trigger opened after the refusal "
        "does not wait); null: no cool-down")

    @model_validator(mode="after")
    def _order(self) -> Retrain:
        if self.every_days is not None and self.every_days > self.max_model_age_days:
            raise ValueError(f"train.retrain: every_days {self.every_days} is above max_model_age_days "
                             f"{self.max_model_age_days}")
        return self


class Leakage(Strict):
    max_single_power: float | None = Field(
        None, gt=0, le=1, description="a feature whose power alone (AUC for a binary label, R2 for "
        "regression) reaches this fails train (default 0.85 AUC, 0.9 R2)")
    margin: float = Field(
        0.02, ge=0, le=1, description="a feature whose power alone comes within this of the whole "
        "model's fails train (when its power is at least margin_min_power)")
    margin_min_power: float | None = Field(
        None, ge=0, le=1, description="the margin check applies to features at least this strong alone "
        "(default 0.7 AUC, 0.5 R2): a weak model's best feature is about as weak, not a leak")
    allow: list[Identifier] = Field(
        default_factory=list, description="features known to be strong on their own: reported as "
        "leak_suspect, never refused")


class Importance(Strict):
    repeats: int = Field(3, ge=1, description="seeded shuffles per feature (their mean and spread are reported)")
    max_rows: int = Field(10000, ge=100, description="evaluation rows used (a hash sample of them beyond this)")
    ablation: bool = Field(False, description="also retrain without each feature (one fit per feature)")
    min_gain: float | None = Field(
        None, ge=0, description="importance above this is helpful, below minus this harmful, else "
        "no_gain (default: 0.001 for auc, pr_auc, accuracy, r2; 0.1% of the metric for log_loss, rmse, mae)")


class Train(Strict):
    window_days: int = Field(ge=1, description="days of labelled history before the as-of")
    seed: int
    partitions: int = Field(2, ge=1, description="fixed partitioning before fit, for reproducibility")
    min_rows: int = Field(100, ge=1, description="fewer labelled rows fails the job")
    every_nth_day: int = Field(
        1, ge=1, description="keep one as-of in n of each entity in the training rows (a snapshot catalog "
        "scores each entity every day: sampling keeps a long-lived entity from dominating)")
    retrain: Retrain = Field(default_factory=Retrain)
    leakage: Leakage = Field(default_factory=Leakage)
    importance: Importance = Field(default_factory=Importance)
    allow_empty_features: list[Identifier] = Field(
        default_factory=list, description="model features allowed to be entirely NULL or constant in "
        "the training rows (any other such feature fails train)")


ParamValue = int | float | str | bool


class Model(Strict):
    name: Identifier = Field(description="registered model name (three-level on Unity Catalog)")
    algorithm: Literal[ALGORITHMS]  # type: ignore[valid-type]
    params: dict[str, ParamValue] = Field(default_factory=dict)
    primary_metric: Literal[METRICS["binary"] + METRICS["regression"]]  # type: ignore[valid-type]
