"""What the monitor stage reads besides the recent predictions and the serving models' reference
profiles (`lakescore.models.reference_profiles`): the models that served each window (their
MLflow runs: training as-of, cutoff, input versions, evaluation metric) and the feature rows as
they were served (the Delta version of `features` each prediction read); and, for a check of the
profiles or a profile computed the old way, a model's training rows at the pinned Delta versions
scored by it (`training_rows`); the windows' slice columns (`window_slices`) and the columns every
per-window table shares (`with_window`). Reading is here; the logic is in transforms.monitoring."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, timedelta

from mlflow import MlflowClient
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.core.runtime import Context
from lakescore.models import registry
from lakescore.models.reference_profiles import EVALUATION_PREFIXES, INPUT_VERSIONS_TAG, scored_training_rows
from lakescore.transforms.columns import (
    AS_OF,
    FEATURES_VERSION,
    GRANULARITY,
    MODEL_ID,
    MODEL_NAME,
    MODEL_VERSION,
    RUN_ID,
    WINDOW,
)
from lakescore.transforms.features.asof import day_start
from lakescore.transforms.sqltext import dates_predicate, eq

log = logging.getLogger("lakescore.monitor")


@dataclass(frozen=True)
class Window:
    """One scored as-of: the model that served it and the features version it read."""

    as_of: date
    model_id: str
    model_version: str
    run_id: str
    features_version: int | None


@dataclass(frozen=True)
class ServedModel:
    model_id: str
    version: str
    run_id: str
    trained_as_of: date
    versions: dict[str, int]
    evaluation: float | None
    evaluation_name: str | None

    @property
    def description(self) -> str:
        """What its training rows are, for drift_metrics' `baseline` column."""
        pinned = ", ".join(f"{t.rsplit('.', 1)[-1]}@{v}" for t, v in sorted(self.versions.items()))
        return f"training rows of {self.model_id} (as-of {self.trained_as_of}; {pinned})"


def model_id(name: str, version: str) -> str:
    return f"{name}/{version}"


def windows(preds: DataFrame) -> list[Window]:
    """The scored as-ofs among `preds` (one small aggregate: a row per as-of)."""
    rows = (preds.groupBy(AS_OF).agg(F.first(MODEL_NAME).alias("n"), F.first(MODEL_VERSION).alias("v"),
                                      F.first(RUN_ID).alias("r"), F.max(FEATURES_VERSION).alias("fv"))
            .orderBy(AS_OF).collect())
    return [Window(r[AS_OF], model_id(r["n"], r["v"]), r["v"], r["r"], r["fv"]) for r in rows]


def served_model(ctx: Context, window: Window, metric: str) -> ServedModel:
    """The MLflow run behind a window's model."""
    run = MlflowClient().get_run(window.run_id)
    metrics = run.data.metrics
    name = next((f"{p}{metric}" for p in EVALUATION_PREFIXES if f"{p}{metric}" in metrics), None)
    return ServedModel(model_id=window.model_id, version=window.model_version, run_id=window.run_id,
                       trained_as_of=date.fromisoformat(run.data.params["as_of"]),
                       versions=json.loads(run.data.tags.get(INPUT_VERSIONS_TAG, "{}")),
                       evaluation=metrics.get(name) if name else None, evaluation_name=name)


def training_rows(ctx: Context, model: ServedModel) -> DataFrame:
    """The model's training-window rows (both splits, `split` says which) at the Delta versions its
    run recorded, scored by the model (`prediction`, `score`), with `model_id`: what monitor
    compared with before reference profiles, and what a missing profile is computed from."""
    ref = registry.by_version(ctx, model.version)
    return scored_training_rows(ctx, ref).withColumn(MODEL_ID, F.lit(model.model_id))


def features_as_served(ctx: Context, versions: dict[date, int | None]) -> DataFrame | None:
    """The feature rows of each as-of as they were at the given Delta version (the one scoring
    read; None: as they are now)."""
    store, table = ctx.tables, ctx.cfg.tables.features
    parts = [store.read(table, where=eq(AS_OF, day), version=version, count=False)
             for day, version in sorted(versions.items())]
    if not parts:
        return None
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part, allowMissingColumns=True)
    return out


def previous_days(served: list[Window]) -> dict[date, int | None]:
    """The day before each window, with the features version it was served from when it was
    scored too (None: read it as it is now)."""
    by_day = {w.as_of: w.features_version for w in served}
    return {w.as_of - timedelta(days=1): by_day.get(w.as_of - timedelta(days=1)) for w in served}


def with_window(df: DataFrame, tz: str) -> DataFrame:
    """Add the window (start and end of the as-of's day), granularity and computed_at."""
    return (df.withColumn(WINDOW, F.struct(day_start(F.col(AS_OF), tz).alias("start"),
                                           day_start(F.date_add(F.col(AS_OF), 1), tz).alias("end")))
            .withColumn(GRANULARITY, F.lit("1 day"))
            .withColumn("computed_at", F.lit(Context.now()).cast("timestamp")))


def window_slices(ctx: Context, days: list[date]) -> DataFrame:
    """The windows' entities with their slice columns (from the features table)."""
    cfg = ctx.cfg
    return ctx.tables.read(cfg.tables.features, where=dates_predicate(AS_OF, days), count=False) \
        .select(*cfg.entity.key, AS_OF, *cfg.slices)
