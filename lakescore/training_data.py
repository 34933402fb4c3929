"""The training rows and model evaluation that several stages share (features, train, promote):
which as-ofs a training window covers, the labelled feature rows of that window read at pinned
Delta versions, and a model's quality metrics on labelled rows. Reading is here; the logic is in
transforms (labels, split, metrics)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Callable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.config import UseCase
from lakescore.runtime import Context
from transforms.columns import AS_OF, LABEL_KNOWN_AT, PREDICTION, SCORE
from transforms.features.asof import day_start
from transforms.modeling.labels import labels
from transforms.modeling.metrics import quality_metrics
from transforms.modeling.predictions import model_output
from transforms.modeling.split import assign_split
from transforms.sqltext import date_range


def window_first_day(cfg: UseCase, as_of: date) -> date:
    """First as-of of the training window that ends before `as_of`."""
    return as_of - timedelta(days=cfg.train.window_days)


def training_frame(ctx: Context, as_of: date, versions: dict[str, int] | None = None) -> DataFrame:
    """Labelled feature rows of the training window before `as_of`, with their split;
    `versions` pins the Delta versions of the inputs (as recorded by a training run)."""
    cfg, store = ctx.cfg, ctx.tables
    versions = versions or {}
    features_table, entity_table = cfg.tables.features, cfg.clean_table(cfg.entity.source)
    feats = store.read(features_table, where=date_range(AS_OF, window_first_day(cfg, as_of), as_of),
                       version=versions.get(store.display(features_table)))
    entities = store.read(entity_table, version=versions.get(store.display(entity_table)))
    cutoff = day_start(F.lit(as_of), cfg.entity.timezone)
    lab = entities.transform(labels(cfg.entity.key, cfg.label.name, cfg.label.expr, cfg.label.known_at,
                                    known_before=cutoff)).drop(LABEL_KNOWN_AT)
    return (feats.join(lab, on=cfg.entity.key, how="inner")
            .transform(assign_split(cfg.entity.key, cfg.split.test_fraction, cfg.split.salt)))


Scorer = Callable[[DataFrame], DataFrame]


def spark_ml_scorer(model, kind: str) -> Scorer:
    """Rows -> the rows with `prediction` and `score`, by a fitted Spark ML model."""
    return lambda rows: model.transform(rows).transform(model_output(kind))


def evaluate(cfg: UseCase, scorer: Scorer, rows: DataFrame) -> dict[str, float]:
    """A model's quality metrics on labelled rows (one small aggregate); `scorer` adds
    `prediction` and `score` to rows (`spark_ml_scorer`, `lakescore.registry.scorer`)."""
    scored = scorer(rows)
    row = quality_metrics(scored, [], cfg.label.kind, cfg.label.name, SCORE, PREDICTION).first()
    return {k: float(v) for k, v in row.asDict().items() if v is not None}
