"""How the score stage runs a model and how old a model may be when it scores."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lakescore.config.base import Strict

WARN, FAIL = "warn", "fail"


class Score(Strict):
    env_manager: Literal["local", "virtualenv", "uv", "conda"] = Field(
        "local", description="environment of a pyfunc model scored with mlflow.pyfunc.spark_udf: local (this "
        "interpreter's packages) or one built from the model's own requirements")
    max_model_age_days: float | None = Field(
        None, gt=0, description="largest age (days from the model's training cutoff to the prediction time) "
        "at which @champion may score; unset: no limit")
    on_stale: Literal["warn", "fail"] = Field(
        WARN, description="an older model: warn (a warning alert, predictions written) or fail "
        "(nothing written, the previous predictions stay)")
    zorder: bool = Field(
        True, description="after writing an as-of's predictions, OPTIMIZE its partition ZORDER BY the entity "
        "key (compacts the files; lookups by key skip files); no table feature is added")
