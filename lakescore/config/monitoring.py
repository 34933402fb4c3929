"""What the monitor stage watches, and where MLflow records runs."""

from __future__ import annotations

from pydantic import Field

from lakescore.config.base import Strict


class Monitor(Strict):
    lookback_days: int = Field(7, ge=1, description="prediction windows (days) refreshed per run")


class MlflowSettings(Strict):
    experiment: str = Field(description="experiment name (a workspace path on Databricks)")
