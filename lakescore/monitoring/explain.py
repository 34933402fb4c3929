"""What moved the score: drift attribution on the drifted score rows of drift_metrics (the math is
in transforms/monitoring/attribution.py).

- BASELINE (the window against the serving model's training rows): each feature is put back to
  its training distribution, the model's stored reference profile, and the score's shift is
  measured against the training score distribution stored there;
- CONSECUTIVE (the window against the day before): each feature is put back to the day before's
  served distribution, and the shift is measured against the day before's served scores. That
  reference is a profile of the day before's served rows (their own quantile bins), computed here
  from its features as served and its predictions: one pass over one day's rows.

Either way on a bounded sample of the window's served rows, re-scored by the window's model.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.core.runtime import Context
from lakescore.models import reference_profiles, registry
from lakescore.monitoring.window_inputs import ServedModel, Window, features_as_served, previous_days
from lakescore.transforms import schemas
from lakescore.transforms.columns import (
    AS_OF,
    BASELINE,
    COLUMN_KIND,
    COLUMN_NAME,
    CONSECUTIVE,
    DRIFT_TYPE,
    MODEL_ID,
    NUMERIC,
    SCORE,
    SLICE_KEY,
)
from lakescore.transforms.monitoring import attribution, profiles


def _references(stored: dict[str, dict], features: list[str]) -> tuple[dict, list | None]:
    """Profile rows per column (`column_kind`, `histogram`) -> the features' reference atoms and
    the score's histogram (None: no score reference)."""
    refs = {f: (stored[f][COLUMN_KIND], *attribution.reference_atoms(stored[f]["histogram"], stored[f][COLUMN_KIND]))
            for f in features if f in stored}
    return refs, (stored[SCORE]["histogram"] if SCORE in stored else None)


def _served_rows(ctx: Context, preds: DataFrame, versions: dict[date, int | None], model_id: str | None,
                 columns: list[str]) -> DataFrame:
    """The served rows of the days in `versions` (their features as scored and their predictions;
    of `model_id` only, unless None)."""
    key = ctx.cfg.entity.key
    served = preds if model_id is None else preds.where(F.col(MODEL_ID) == model_id)
    return features_as_served(ctx, versions).join(
        served.where(F.col(AS_OF).isin(list(versions))).select(*key, AS_OF, MODEL_ID, SCORE), on=[*key, AS_OF]) \
        .select(*key, AS_OF, MODEL_ID, *columns)


def _day_before_profiles(ctx: Context, preds: DataFrame, days: list[date], before: dict[date, int | None],
                         features: list[str]) -> dict[date, dict[str, dict]]:
    """Each window's day before, its served rows (any model) -> its drift profile per column (the
    whole table), keyed by the window: one pass over those days' rows for all of them."""
    cfg, d = ctx.cfg, ctx.cfg.monitor.drift
    previous = {day - timedelta(days=1): before.get(day - timedelta(days=1)) for day in days}
    rows = _served_rows(ctx, preds, previous, None, [*features, SCORE])
    # keyed by the window it is the reference of, as profiles are keyed by model
    rows = rows.withColumn(MODEL_ID, F.date_add(F.col(AS_OF), 1).cast("string"))
    kinds = {**{f.name: f.kind for f in cfg.model_features}, SCORE: NUMERIC}
    out: dict[date, dict[str, dict]] = {}
    for r in profiles.drift_profile(rows, kinds, [], d.bins, d.coarse_bins).collect():
        if r["count"]:
            out.setdefault(date.fromisoformat(r[MODEL_ID]), {})[r[COLUMN_NAME]] = r.asDict()
    return out


def explain_score_drift(ctx: Context, drift: DataFrame, preds: DataFrame, served: list[Window],
                        models: dict[str, ServedModel], profile: DataFrame) -> DataFrame:
    """drift_metrics rows (cached: read twice) -> the same with `attribution` on each drifted
    BASELINE and CONSECUTIVE score row of the whole table: every model feature's share of the
    score's shift against that row's reference."""
    cfg = ctx.cfg
    score_row = F.col(COLUMN_NAME) == SCORE
    score_row = score_row & F.col(SLICE_KEY).isNull() & F.col(DRIFT_TYPE).isin(BASELINE, CONSECUTIVE)
    drifted = [(r[DRIFT_TYPE], r[AS_OF], r[MODEL_ID]) for r in drift.where(score_row & F.col("drifted"))
               .select(DRIFT_TYPE, AS_OF, MODEL_ID).collect()]
    if not drifted:
        return drift
    stored: dict[str, dict] = {}
    for r in reference_profiles.drift_part(profile).where(F.col(SLICE_KEY).isNull()).select(
            MODEL_ID, COLUMN_NAME, COLUMN_KIND, "histogram").collect():
        stored.setdefault(r[MODEL_ID], {})[r[COLUMN_NAME]] = r.asDict()
    versions, before = {w.as_of: w.features_version for w in served}, previous_days(served)
    key, features = cfg.entity.key, [f.name for f in cfg.model_features]
    scorers = {}

    def explain(kind: str, model_id: str, days: list[date], references: dict, score_histogram) -> DataFrame | None:
        if score_histogram is None or not references:
            return None
        if model_id not in scorers:
            scorers[model_id] = registry.scorer(ctx, registry.by_version(ctx, models[model_id].version))
        rows = _served_rows(ctx, preds, {d: versions.get(d) for d in days}, model_id, features)
        found = attribution.attribute(rows, key, scorers[model_id], references, score_histogram)
        return None if found is None else found.withColumn(DRIFT_TYPE, F.lit(kind))

    parts = []
    for model_id in sorted({m for t, _, m in drifted if t == BASELINE}):
        days = sorted(d for t, d, m in drifted if t == BASELINE and m == model_id)
        parts.append(explain(BASELINE, model_id, days, *_references(stored.get(model_id, {}), features)))
    consecutive = sorted((d, m) for t, d, m in drifted if t == CONSECUTIVE)
    day_before = _day_before_profiles(ctx, preds, [d for d, _ in consecutive], before, features) if consecutive else {}
    for day, model_id in consecutive:
        parts.append(explain(CONSECUTIVE, model_id, [day], *_references(day_before.get(day, {}), features)))
    parts = [p for p in parts if p is not None]
    if not parts:
        return drift
    found = parts[0]
    for part in parts[1:]:
        found = found.unionByName(part)
    found = found.select(F.col(AS_OF).alias("_a"), F.col(MODEL_ID).alias("_m"), F.col(DRIFT_TYPE).alias("_t"),
                         F.col("attribution").alias("_attr"))
    on = (drift[AS_OF] == found["_a"]) & (drift[MODEL_ID] == found["_m"]) & (drift[DRIFT_TYPE] == found["_t"])
    joined = drift.join(found, on=on & score_row, how="left")
    return joined.withColumn("attribution", F.coalesce(F.col("_attr"), F.col("attribution"))).select(
        *schemas.DRIFT_METRICS.names)


__all__ = ["explain_score_drift"]
