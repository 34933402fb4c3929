"""The training rows and model evaluation that several stages share (features, train, promote):
which as-ofs a training window covers, the labelled feature rows of that window read at pinned
Delta versions (split into train, test and out-of-time rows), and a model's quality metrics on
labelled rows, whole or by group. Reading is here; the logic is in transforms (labels, split,
metrics)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.config import UseCase
from lakescore.core.runtime import Context
from lakescore.transforms.columns import AS_OF, LABEL_KNOWN_AT, PREDICTION, SCORE, SLICE_KEY, SLICE_VALUE, VALID_TO
from lakescore.transforms.features.asof import day_start
from lakescore.transforms.modeling.labels import labels, outcome_labels, sample_as_ofs
from lakescore.transforms.modeling.metrics import explode_slices, quality_metrics
from lakescore.transforms.modeling.predictions import model_output
from lakescore.transforms.modeling.split import assign_split
from lakescore.transforms.sqltext import col, date_range


def window_first_day(cfg: UseCase, as_of: date) -> date:
    """First as-of of the training window that ends before `as_of`."""
    return as_of - timedelta(days=cfg.train.window_days)


def label_delay_days(cfg: UseCase) -> int:
    """Days after an as-of before its labels can be known: an outcome window's length (a label
    of as-of D is known once [D, D + within_days) has closed); 0 for a per-entity label."""
    return cfg.label.outcome.within_days if cfg.label.outcome else 0


def out_of_time_first_day(as_of: date, days: int, delay_days: int = 0) -> date | None:
    """First as-of of the out-of-time rows: the last `days` as-ofs before `as_of` whose labels
    can be known by it (`delay_days` earlier for an outcome window); None: none."""
    return as_of - timedelta(days=days + delay_days) if days else None


def labels_of(ctx: Context, rows: DataFrame, known_before: Column, first: date, last: date,
              versions: dict[str, int] | None = None) -> tuple[DataFrame, list[str]]:
    """The labels (with `label_known_at`) known strictly before `known_before` of catalog rows (key, as_of,
    prediction_time) of as-ofs in [first, last], and the columns to join them on.

    A per-entity label (label.expr) is one value per entity, from its clean row (for a snapshot
    catalog, its current version): joined on the key. An outcome label (label.outcome) is one
    value per (entity, as-of), from the outcome source's events in the window after the
    prediction time: joined on the key and the as-of."""
    cfg, store = ctx.cfg, ctx.tables
    versions = versions or {}
    key, label = cfg.entity.key, cfg.label
    if label.outcome is None:
        table = cfg.clean_table(cfg.entity.source)
        entities = store.read(table, version=versions.get(store.display(table)), count=False)
        if cfg.entity.snapshot:
            entities = entities.where(F.col(VALID_TO).isNull())
        lab = entities.transform(labels(key, label.name, label.expr, label.known_at, known_before=known_before))
        return lab, key
    out = label.outcome
    table = cfg.clean_table(out.source)
    events = store.read(table, version=versions.get(store.display(table)), count=False)
    lab = rows.select(*[col(k) for k in key], F.col(AS_OF)).distinct().transform(outcome_labels(
        label.name, events, by=out.by, event_time=out.event_time, known_at=out.known_at,
        within_days=out.within_days, agg=out.agg, expr=out.expr, empty=out.empty, timezone=cfg.entity.timezone,
        first=first, last=last, known_before=known_before))
    return lab, [*key, AS_OF]


def training_frame(ctx: Context, as_of: date, versions: dict[str, int] | None = None,
                   out_of_time_days: int | None = None) -> DataFrame:
    """Labelled feature rows of the training window before `as_of`, with their split (train,
    test, out_of_time); `versions` pins the Delta versions of the inputs and `out_of_time_days`
    the out-of-time days (as recorded by a training run; default split.out_of_time_days).

    Only labels known before the as-of's prediction time count (an outcome window must have
    closed); with train.every_nth_day, one as-of in n of each entity is kept. The hash split is
    by entity: an entity is never on both sides."""
    cfg, store = ctx.cfg, ctx.tables
    versions = versions or {}
    features_table = cfg.tables.features
    first = window_first_day(cfg, as_of)
    feats = store.read(features_table, where=date_range(AS_OF, first, as_of),
                       version=versions.get(store.display(features_table)))
    cutoff = day_start(F.lit(as_of), cfg.entity.timezone)
    lab, on = labels_of(ctx, feats, cutoff, first, as_of, versions)
    rows = (feats.join(lab.drop(LABEL_KNOWN_AT), on=on, how="inner")
            .transform(sample_as_ofs(cfg.entity.key, cfg.train.every_nth_day)))
    return rows.transform(assign_split(cfg.entity.key, cfg.split.test_fraction, cfg.split.salt,
                                       out_of_time_first_day(as_of, cfg.split.out_of_time_days if out_of_time_days
                                                             is None else out_of_time_days, label_delay_days(cfg))))


Scorer = Callable[[DataFrame], DataFrame]


def spark_ml_scorer(model, kind: str) -> Scorer:
    """Rows -> the rows with `prediction` and `score`, by a fitted Spark ML model."""
    return lambda rows: model.transform(rows).transform(model_output(kind))


def evaluate(cfg: UseCase, scorer: Scorer, rows: DataFrame) -> dict[str, float]:
    """A model's quality metrics on labelled rows (one small aggregate); `scorer` adds
    `prediction` and `score` to rows (`spark_ml_scorer`, `lakescore.models.registry.scorer`)."""
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
