"""The training rows and model evaluation that several stages share (features, train, promote):
which as-ofs a training window covers, the labelled feature rows of that window read at pinned
Delta versions (split into train, test and out-of-time rows), and a model's quality metrics on
labelled rows, whole or by group. Reading is here; the logic is in transforms (labels, split,
metrics)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Callable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.config import UseCase
from lakescore.runtime import Context
from transforms.columns import AS_OF, LABEL_KNOWN_AT, PREDICTION, SCORE, SLICE_KEY, SLICE_VALUE
from transforms.features.asof import day_start
from transforms.modeling.labels import labels
from transforms.modeling.metrics import explode_slices, quality_metrics
from transforms.modeling.predictions import model_output
from transforms.modeling.split import assign_split
from transforms.sqltext import date_range


def window_first_day(cfg: UseCase, as_of: date) -> date:
    """First as-of of the training window that ends before `as_of`."""
    return as_of - timedelta(days=cfg.train.window_days)


def out_of_time_first_day(as_of: date, days: int) -> date | None:
    """First as-of of the out-of-time rows (the last `days` as-ofs before `as_of`; None: none)."""
    return as_of - timedelta(days=days) if days else None


def training_frame(ctx: Context, as_of: date, versions: dict[str, int] | None = None,
                   out_of_time_days: int | None = None) -> DataFrame:
    """Labelled feature rows of the training window before `as_of`, with their split (train,
    test, out_of_time); `versions` pins the Delta versions of the inputs and `out_of_time_days`
    the out-of-time days (as recorded by a training run; default split.out_of_time_days)."""
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
            .transform(assign_split(cfg.entity.key, cfg.split.test_fraction, cfg.split.salt,
                                    out_of_time_first_day(as_of, cfg.split.out_of_time_days if out_of_time_days
                                                          is None else out_of_time_days))))


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


def evaluate_by(cfg: UseCase, scorer: Scorer, rows: DataFrame, groups: list[str],
                slices: list[str] | None = None) -> DataFrame:
    """A model's quality metrics per group of labelled rows, in one pass: one row per value of
    `groups` (and, with `slices`, per slice: `slice_key`/`slice_value`, both NULL for the whole)
    with `count`, `num_labelled` and the metrics. Small: one row per group and slice value."""
    scored = scorer(rows)
    if slices is not None:
        scored = scored.transform(explode_slices(slices))
        groups = [*groups, SLICE_KEY, SLICE_VALUE]
    return quality_metrics(scored, groups, cfg.label.kind, cfg.label.name, SCORE, PREDICTION)
