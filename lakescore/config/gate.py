"""The quality gate between @challenger and @champion: which rows it evaluates on, the absolute
floors, the change thresholds (sudden, slow, per slice) and the prediction sanity bounds.

A change threshold is `{absolute: x}` (in the metric's units) or `{relative: r}` (a share of the
baseline's value); a bare number is absolute. Left out, it takes the metric's default below."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from lakescore.config.base import Strict


class Threshold(Strict):
    absolute: float | None = Field(None, ge=0, description="largest allowed drop, in the metric's units")
    relative: float | None = Field(None, ge=0, description="largest allowed drop, as a share of the baseline")

    @model_validator(mode="before")
    @classmethod
    def _bare_number(cls, value: Any) -> Any:
        return {"absolute": value} if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _one(self) -> Threshold:
        if (self.absolute is None) == (self.relative is None):
            raise ValueError("a threshold is exactly one of {absolute: x} or {relative: r}")
        return self

    def allowed_drop(self, baseline: float) -> float:
        """The drop allowed from `baseline`, in the metric's units."""
        return self.absolute if self.absolute is not None else self.relative * abs(baseline)

    def describe(self) -> str:
        return f"absolute {self.absolute}" if self.absolute is not None else f"relative {self.relative:.2%}"


def _defaults(higher: float, r2: float, log_loss: float, errors: float) -> dict[str, Threshold]:
    """Per metric: absolute for the bounded metrics (auc, pr_auc, accuracy, r2), relative for the
    ones in the label's units or unbounded (rmse, mae, log_loss)."""
    return {**{m: Threshold(absolute=higher) for m in ("auc", "pr_auc", "accuracy")},
            "r2": Threshold(absolute=r2), "log_loss": Threshold(relative=log_loss),
            "rmse": Threshold(relative=errors), "mae": Threshold(relative=errors)}


DEFAULT_CHANGE = _defaults(0.01, 0.01, 0.02, 0.01)   # vs @champion (sudden)
DEFAULT_SLOW = _defaults(0.02, 0.02, 0.04, 0.02)     # vs the best recent champion (slow)
DEFAULT_SLICE = _defaults(0.05, 0.05, 0.10, 0.05)    # per slice vs @champion


class Slow(Strict):
    versions: int = Field(5, ge=1, description="compare with the best of the last N promoted versions")
    max_drop: Threshold | None = Field(None, description="largest allowed drop from the best of them "
                                       "(default: 0.02 absolute for auc/accuracy/r2, 2% for rmse/mae, 4% log_loss)")


class Slices(Strict):
    min_rows: int = Field(200, ge=1, description="slices with fewer evaluation rows are not checked")
    max_drop: Threshold | None = Field(None, description="largest allowed drop per slice vs @champion "
                                       "(default: 0.05 absolute for auc/accuracy/r2, 5% for rmse/mae, 10% log_loss)")


class Gate(Strict):
    evaluate_on: Literal["out_of_time", "test"] = Field(
        "out_of_time", description="the rows the gate evaluates on: the out-of-time rows or the hash-split test rows")
    floors: dict[str, float] = Field(
        default_factory=dict,
        description="absolute bounds on the challenger's metrics (on evaluate_on rows): minimum for "
        "higher-is-better metrics, maximum for rmse/mae/log_loss",
    )
    max_drop_vs_champion: Threshold | None = Field(
        None, description="sudden degradation: largest allowed drop of the primary metric against "
        "@champion on the same rows (default: 0.01 absolute for auc/accuracy/r2, 1% for rmse/mae, 2% log_loss)")
    slow: Slow = Field(default_factory=Slow)
    slices: Slices = Field(default_factory=Slices)
    max_out_of_range_share: float = Field(
        0.05, ge=0, le=1, description="regression: largest share of the as-of's predictions outside the "
        "training label range")
    max_constant_score_share: float = Field(
        0.5, ge=0, le=1, description="binary: largest share of the as-of's rows sharing one score value")

    def change(self, metric: str) -> Threshold:
        return self.max_drop_vs_champion or DEFAULT_CHANGE[metric]

    def slow_drop(self, metric: str) -> Threshold:
        return self.slow.max_drop or DEFAULT_SLOW[metric]

    def slice_drop(self, metric: str) -> Threshold:
        return self.slices.max_drop or DEFAULT_SLICE[metric]
