"""The reference_profiles table: what monitor compares a serving model with (its training rows'
histograms, its test rows' quality per slice, its own evaluation and, for a binary label, its
score's calibration on its held-out rows, for a regression label, the loss model of its errors there),
computed once per model version instead of on every monitor run. The math is in
transforms.monitoring.profiles, transforms.monitoring.estimated and transforms.monitoring.loss.

- `compute`: a profile from rows already scored (train: the rows it has just evaluated);
- `from_training_rows`: the same from the version's training rows re-read at the Delta versions
  its run recorded and scored by the registered model (a model brought in with `lakescore model
  register`, or a home from before profiles existed);
- `write`, `read`, `exists`, `ensure` (read, or compute from the training rows and write once).

A profile is keyed by the version (model_name, model_version) and `profile_key`, a hash of
`profile_config`: the monitored columns and their kinds, the bins, the slices, the label and the
quality metric, and the calibration's (or the loss model's) method and rows. Changing any of them makes monitor compute
a new profile once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import date

from mlflow import MlflowClient
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.config import UseCase
from lakescore.core.runtime import Context
from lakescore.models import registry
from lakescore.models.training_rows import evaluate_by, training_frame
from lakescore.transforms import schemas
from lakescore.transforms.columns import (
    BINARY,
    COLUMN_NAME,
    MODEL_ID,
    MODEL_NAME,
    MODEL_VERSION,
    NUMERIC,
    PREDICTION,
    REGRESSION,
    SCORE,
    SLICE_KEY,
    SLICE_VALUE,
    SPLIT,
    TEST,
    TRAIN,
)
from lakescore.transforms.monitoring import estimated, loss, profiles
from lakescore.transforms.sqltext import all_of, eq, in_list

log = logging.getLogger("lakescore.reference_profiles")

INPUT_VERSIONS_TAG = "lakescore.input_versions"
# the evaluation a model's quality is held against: out-of-time if its run has it, else test
EVALUATION_PREFIXES = ("oot_", "test_")
FROM_TRAIN, FROM_TRAINING_ROWS = "train", "training_rows"   # the `source` column: how it was computed
CALIBRATION = "calibration"   # the part holding a binary model's score calibration
LOSS = "loss"                 # the part holding a regression model's loss model (a row per input)


def quality_metric(cfg: UseCase) -> str:
    return cfg.monitor.quality.metric or cfg.model.primary_metric


def drift_slices(cfg: UseCase) -> list[str]:
    return list(cfg.slices) if cfg.monitor.drift.by_slice else []


def profile_config(cfg: UseCase) -> dict:
    """What a profile depends on (its key is a hash of it)."""
    d = cfg.monitor.drift
    return {"columns": sorted(cfg.monitored_columns.items()), "bins": d.bins, "coarse_bins": d.coarse_bins,
            "drift_slices": drift_slices(cfg), "health_slices": list(cfg.slices),
            "label": {"name": cfg.label.name, "kind": cfg.label.kind}, "metric": quality_metric(cfg),
            "calibration": {"method": "isotonic", "rows": cfg.gate.evaluate_on} if calibrates(cfg) else None,
            **({"loss": {"method": "additive_ridge", "reg_param": loss.REG_PARAM, "rows": cfg.gate.evaluate_on}}
               if estimates_loss(cfg) else {})}


def calibrates(cfg: UseCase) -> bool:
    """Whether the profile holds a calibration (and monitor estimates performance): a binary label."""
    return cfg.label.kind == BINARY


def estimates_loss(cfg: UseCase) -> bool:
    """Whether the profile holds a loss model (and monitor estimates MAE and RMSE): a regression label."""
    return cfg.label.kind == REGRESSION


def loss_inputs(cfg: UseCase) -> dict[str, str]:
    """The loss model's inputs and their kinds: the model's features and its prediction."""
    return {**{f.name: f.kind for f in cfg.model_features}, PREDICTION: NUMERIC}


def profile_key(cfg: UseCase) -> str:
    return hashlib.sha256(json.dumps(profile_config(cfg), sort_keys=True).encode()).hexdigest()[:16]


def evaluation_of(metrics: dict[str, float], metric: str) -> tuple[float | None, str | None]:
    """The model's own evaluation among its run's metrics (`oot_<metric>`, else `test_<metric>`)."""
    name = next((f"{p}{metric}" for p in EVALUATION_PREFIXES if f"{p}{metric}" in metrics), None)
    return (float(metrics[name]) if name else None), name


@dataclass(frozen=True)
class Profile:
    """A computed profile, small and on the driver, not yet tied to a version."""

    drift: list            # rows of profiles.DRIFT_COLUMNS
    health: list[dict]     # per slice of the test rows: slice_key, slice_value, count, num_labelled, value
    evaluation: float | None
    evaluation_name: str | None
    source: str
    calibration: tuple[list[float], list[float]] | None = None   # isotonic (boundaries, probabilities)
    loss: loss.LossModel | None = None                           # a regression model's loss model


def compute(cfg: UseCase, train_rows: DataFrame, test_quality: list[dict], evaluation: float | None,
            evaluation_name: str | None, source: str = FROM_TRAIN, held_out: DataFrame | None = None) -> Profile:
    """A profile from the model's training-split rows scored (`score`, `prediction`), its
    quality on the test rows per slice (`evaluate_by` rows with `slice_key`, `slice_value`,
    `count`, `num_labelled` and the metrics) and, for a binary label, its held-out rows scored
    (`gate.evaluate_on`'s split: the calibration's rows). Two passes over the training rows, one
    isotonic fit; a row per column and slice value reaches the driver."""
    d, columns, slices = cfg.monitor.drift, cfg.monitored_columns, drift_slices(cfg)
    rows = train_rows.select(F.lit("").alias(MODEL_ID), *dict.fromkeys([*columns, *slices]))
    drift = profiles.drift_profile(rows, columns, slices, d.bins, d.coarse_bins).collect()
    metric = quality_metric(cfg)
    health = [{SLICE_KEY: r[SLICE_KEY], SLICE_VALUE: r[SLICE_VALUE], "count": r.get("count"),
               "num_labelled": r.get("num_labelled"), "value": r.get(metric)} for r in test_quality]
    calibration = (estimated.fit_calibration(held_out, cfg.label.name, SCORE)
                   if held_out is not None and calibrates(cfg) else None)
    fitted = None
    if held_out is not None and estimates_loss(cfg):
        # its slots are the training rows' reference bins and categories, just computed
        whole = {r[COLUMN_NAME]: r.asDict() for r in drift if r[SLICE_KEY] is None}
        fitted = loss.fit_loss_model(held_out, loss.terms_of(loss_inputs(cfg), whole), cfg.label.name, PREDICTION)
    return Profile(drift, health, evaluation, evaluation_name, source, calibration, fitted)


def _run(ref: registry.ModelRef):
    return MlflowClient().get_run(ref.run_id)


def scored_training_rows(ctx: Context, ref: registry.ModelRef) -> DataFrame:
    """The version's training-window rows (both splits, `split` says which) at the Delta versions
    its run recorded, scored by the registered model (`prediction`, `score`)."""
    run = _run(ref)
    rows = training_frame(ctx, date.fromisoformat(run.data.params["as_of"]),
                          json.loads(run.data.tags.get(INPUT_VERSIONS_TAG, "{}")))
    return registry.scorer(ctx, ref)(rows)


def from_training_rows(ctx: Context, ref: registry.ModelRef) -> Profile:
    """A version's profile computed from its training rows re-read and re-scored (see the module)."""
    cfg = ctx.cfg
    evaluation, name = evaluation_of(_run(ref).data.metrics, quality_metric(cfg))
    # on local disk: the training window re-scored grows with the catalog (see jobs/monitor.py)
    scored = scored_training_rows(ctx, ref).persist(StorageLevel.DISK_ONLY)
    try:
        test = [r.asDict() for r in evaluate_by(cfg, lambda df: df, scored.where(F.col(SPLIT) == TEST), [],
                                                 cfg.slices).collect()]
        return compute(cfg, scored.where(F.col(SPLIT) == TRAIN), test, evaluation, name, FROM_TRAINING_ROWS,
                       held_out=scored.where(F.col(SPLIT) == cfg.gate.evaluate_on))
    finally:
        scored.unpersist()


def _scope(cfg: UseCase, name: str, versions: list[str]) -> str:
    return all_of(eq(MODEL_NAME, name), in_list(MODEL_VERSION, versions), eq("profile_key", profile_key(cfg)))


def write(ctx: Context, name: str, version: str, profile: Profile, replacing: tuple[str, ...] = ()) -> int:
    """The profile as version `version`'s rows, replacing its rows of the same profile key and
    those of the versions in `replacing` (train: the versions its run supersedes; a version left
    without a profile that monitor needs gets one computed from its training rows)."""
    cfg, store, table = ctx.cfg, ctx.tables, ctx.cfg.tables.reference_profiles
    mid, key, now = f"{name}/{version}", profile_key(cfg), ctx.now()
    config = json.dumps(profile_config(cfg), sort_keys=True)
    metric = quality_metric(cfg)
    head = (name, version, mid, key)
    rows = [(*head, profiles.DRIFT, *tuple(r)[1:], None, None, None, None, None,
             profile.source, config, now, None) for r in profile.drift]
    for h in profile.health:
        whole = h[SLICE_KEY] is None
        rows.append((*head, profiles.HEALTH, None, None, h[SLICE_KEY], h[SLICE_VALUE], h["count"], None, None, None,
                     None, metric, None if h["value"] is None else float(h["value"]), h["num_labelled"],
                     profile.evaluation if whole else None, profile.evaluation_name if whole else None,
                     profile.source, config, now, None))
    if profile.calibration is not None:
        points = [(float(x), float(p)) for x, p in zip(*profile.calibration)]
        rows.append((*head, CALIBRATION, SCORE, None, None, None, len(points), None, None, None, None, None, None,
                     None, None, None, profile.source, config, now, points))
    if profile.loss is not None:
        rows += _loss_rows(head, profile, config, now)
    df = ctx.spark.createDataFrame(rows, schemas.REFERENCE_PROFILES.struct())
    where = _scope(cfg, name, [version, *replacing]) if store.exists(table) else None
    written = store.write(df, table, replace_where=where)
    log.info("reference profile of %s (key %s, from %s): %d rows", mid, key, profile.source, len(rows))
    return written


def _loss_rows(head: tuple, profile: Profile, config: str, now) -> list[tuple]:
    """The loss part: a row per input (its edges; per slot, in `histogram`: bin = the slot,
    category = its category, n = its held-out rows, s1 / s2 = its absolute / squared error
    weights) and one `(intercept)` row (one bucket: the held-out rows and the two intercepts)."""
    model, tail = profile.loss, (None, None, None, None, None, profile.source, config, now, None)
    rows = []
    for t in model.terms:
        names = list(t.categories) + [None, None] if t.kind != NUMERIC else [None] * t.size
        buckets = [(j, names[j], t.rows[j], t.w_abs[j], t.w_sq[j]) for j in range(t.size)]
        rows.append((*head, LOSS, t.column, t.kind, None, None, model.rows, t.rows[-1],
                     list(t.edges) if t.kind == NUMERIC else None, None, buckets, *tail))
    rows.append((*head, LOSS, loss.INTERCEPT, None, None, None, model.rows, None, None, None,
                 [(0, None, model.rows, model.intercept_abs, model.intercept_sq)], *tail))
    return rows


def loss_models(profile: DataFrame) -> dict[str, loss.LossModel]:
    """The loss part of collected profiles -> model_id: its LossModel."""
    found: dict[str, dict] = {}
    for r in profile.where(F.col("part") == LOSS).select(MODEL_ID, COLUMN_NAME, "column_kind", "count",
                                                         "edges", "histogram").collect():
        found.setdefault(r[MODEL_ID], {})[r[COLUMN_NAME]] = r
    out = {}
    for model_id, parts in found.items():
        head = parts.pop(loss.INTERCEPT, None)
        if head is None:
            continue
        terms = []
        for name, r in sorted(parts.items()):
            b = sorted(r["histogram"], key=lambda x: x["bin"])
            terms.append(loss.Term(name, r["column_kind"], edges=tuple(r["edges"] or ()),
                                   categories=tuple(x["category"] for x in b[:-2]) if r["column_kind"] != NUMERIC else (),
                                   w_abs=tuple(x["s1"] for x in b), w_sq=tuple(x["s2"] for x in b),
                                   rows=tuple(x["n"] for x in b)))
        intercept = head["histogram"][0]
        out[model_id] = loss.LossModel(tuple(terms), intercept["s1"], intercept["s2"], int(head["count"]))
    return out


def read(ctx: Context, name: str, versions: list[str]) -> DataFrame | None:
    """The versions' profiles of the config's profile key (None: the table does not exist yet)."""
    store, table = ctx.tables, ctx.cfg.tables.reference_profiles
    if not store.exists(table):
        return None
    return store.read(table, where=_scope(ctx.cfg, name, versions), count=False)


def exists(ctx: Context, name: str, version: str) -> bool:
    found = read(ctx, name, [version])
    return found is not None and found.limit(1).count() > 0


def ensure(ctx: Context, ref: registry.ModelRef) -> bool:
    """Make sure the version has a profile of the config's key: compute it from its training rows
    and write it when it has none. Returns True when it was computed."""
    if exists(ctx, ref.name, ref.version):
        return False
    log.info("reference profile of %s/%s (key %s): none yet, computed from its training rows", ref.name,
             ref.version, profile_key(ctx.cfg))
    write(ctx, ref.name, ref.version, from_training_rows(ctx, ref))
    return True


def drift_part(profile: DataFrame) -> DataFrame:
    return profile.where(F.col("part") == profiles.DRIFT)


def health_part(profile: DataFrame) -> DataFrame:
    return profile.where(F.col("part") == profiles.HEALTH)


def calibrations(profile: DataFrame) -> dict[str, tuple[list[float], list[float]]]:
    """The calibration part of collected profiles -> model_id: (boundaries, probabilities)."""
    out = {}
    for r in profile.where(F.col("part") == CALIBRATION).select(MODEL_ID, CALIBRATION).collect():
        if r[CALIBRATION]:
            out[r[MODEL_ID]] = estimated.clean([p["score"] for p in r[CALIBRATION]],
                                               [p["probability"] for p in r[CALIBRATION]])
    return out
