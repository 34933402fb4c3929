"""What the gate (promote) reads: a model version's training run (the rows it was evaluated on,
rebuilt from the Delta versions it recorded; its metrics, library versions and label range), a
model's metrics on those rows (whole and per slice), and the live features table's schema."""

from __future__ import annotations

import json
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.core.runtime import Context
from lakescore.models import registry
from lakescore.models.training_rows import evaluate_by, training_frame
from lakescore.transforms.columns import OUT_OF_TIME, SLICE_KEY, SLICE_VALUE, SPLIT

# A training run's metric names by the rows they were measured on.
METRIC_PREFIX = {OUT_OF_TIME: "oot_", "test": "test_", "train": "train_"}
ROWS_NAME = {OUT_OF_TIME: "out-of-time", "test": "test"}


def evaluation_rows(ctx: Context, ref: registry.ModelRef) -> DataFrame:
    """The rows `ref` was evaluated on at training (gate.evaluate_on: its out-of-time or test
    rows), rebuilt from the Delta versions its run recorded."""
    data = registry.run_data(ref)
    trained_as_of = date.fromisoformat(data.params["as_of"])
    versions = json.loads(data.tags.get("lakescore.input_versions", "{}"))
    oot_days = data.params.get("out_of_time_days")
    frame = training_frame(ctx, trained_as_of, versions, None if oot_days is None else int(oot_days))
    return frame.where(F.col(SPLIT) == ctx.cfg.gate.evaluate_on)


def run_metrics(ref: registry.ModelRef, split: str) -> dict[str, float]:
    """The metrics `ref`'s training run logged for a split (without the prefix)."""
    prefix = METRIC_PREFIX[split]
    return {k.removeprefix(prefix): v for k, v in registry.run_data(ref).metrics.items() if k.startswith(prefix)}


def label_range(ref: registry.ModelRef) -> tuple[float | None, float | None]:
    metrics = registry.run_data(ref).metrics
    return metrics.get("train_label_min"), metrics.get("train_label_max")


def recorded_versions(ref: registry.ModelRef) -> dict[str, str | None] | None:
    raw = registry.run_data(ref).tags.get("lakescore.runtime_versions")
    return json.loads(raw) if raw else None


def metrics_by_slice(ctx: Context, ref: registry.ModelRef, rows: DataFrame,
                     slices: bool = True) -> dict[tuple[str | None, str | None], dict]:
    """`ref`'s metrics on `rows`: (None, None) for all rows and, with `slices`, (slice_key,
    slice_value) for each value of each configured slice (one pass)."""
    out = evaluate_by(ctx.cfg, registry.scorer(ctx, ref), rows, [], ctx.cfg.slices if slices else [])
    return {(r[SLICE_KEY], r[SLICE_VALUE]): r.asDict() for r in out.collect()}


def live_feature_types(ctx: Context) -> dict[str, str]:
    """The live features table's columns and Spark types (its schema only: no data read)."""
    store = ctx.tables
    return dict(store.spark.table(store.display(ctx.cfg.tables.features)).dtypes)
