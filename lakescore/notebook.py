"""A data scientist's handles on a use case from a notebook: the Spark session and MLflow of the
use case, and the training rows of an as-of as pandas, to fit a model of any library that
`lakescore model register` (or `register` here) then brings to the gate:

    ctx = notebook.use_case("conf/flights.yml", "2013-12-01")
    X, y = notebook.training_rows(ctx)
    model = make_pipeline(...).fit(X, y)
    info = mlflow.sklearn.log_model(model, name="model", signature=infer_signature(X),
                                    serialization_format="cloudpickle")
    notebook.register(ctx, info.model_uri)          # version @challenger; then promote, score
    notebook.predict(ctx, {"flight_id": "20131201-UA-1545-EWR"})  # one entity, cached or computed now

The training rows are those `train` fits on: the labelled feature rows of the window before the
as-of, the `train` side of lakescore's split (the gate evaluates on the `test` side). They come
to the driver as pandas, so this is for notebooks, not for stages.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from pyspark.sql import functions as F

from lakescore.config import load_config
from lakescore.core.runtime import Context, local_home
from lakescore.models import registry
from lakescore.models.training_rows import training_frame
from lakescore.transforms.columns import SPLIT, TRAIN


def use_case(config: str, as_of: str | date, target: str | None = None) -> Context:
    """The use case's context for `as_of`, with MLflow pointed at its tracking and registry (the
    local SQLite database, or the workspace on Databricks)."""
    cfg = load_config(config, target=target)
    day = as_of if isinstance(as_of, date) else date.fromisoformat(as_of)
    ctx = Context(cfg=cfg, as_of=day, config_path=str(config), target=target, home=local_home(cfg))
    registry.configure(ctx)
    return ctx


def training_rows(ctx: Context, split: str = TRAIN) -> tuple[pd.DataFrame, pd.Series]:
    """The model inputs (the use case's model features, in order) and the label of one side of
    the split of the training window before the context's as-of, as pandas."""
    cfg = ctx.cfg
    names = [f.name for f in cfg.model_features]
    rows = (training_frame(ctx, ctx.as_of).where(F.col(SPLIT) == split)
            .orderBy(*cfg.entity.key).select(*names, cfg.label.name).toPandas())
    return rows[names], rows[cfg.label.name]


def register(ctx: Context, model_uri: str, trained_until: date | None = None) -> dict:
    """`lakescore model register` from the notebook: the model as a version @challenger, trained
    for the context's as-of unless `trained_until` says otherwise."""
    from lakescore.training.register_model import register as register_model

    return register_model(ctx, model_uri, trained_until or ctx.as_of)


def predict(ctx: Context, keys: dict[str, str], as_of: date | None = None, write: bool = False) -> dict:
    """`lakescore predict` from the notebook: the entity's cached prediction, else one computed now
    by the features stage's code and scored by @champion (see `lakescore.scoring.on_demand`)."""
    from lakescore.features import feature_rows
    from lakescore.scoring import on_demand

    return on_demand.predict(ctx, keys, feature_rows, as_of, write)
