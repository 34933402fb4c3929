"""What a training run leaves besides the model, for people and SQL: the per-feature report
(`feature_reports`), every metric of the run by split and slice (`model_metrics`), both also as
MLflow table artifacts, and the alerts about features that bring nothing. Small tables: one row
per feature, or per split x slice value x metric.

Both tables are written before the train stage moves @challenger to the new version, and each
write replaces the as-of's rows of every version of the model that no other alias than
@challenger names: the rows of a version a killed run registered (but never aliased), and of the
challenger the new version supersedes. So a re-run of train for an as-of, after a kill or not,
leaves exactly the rows one run leaves: those of the new version (and of the versions @champion
or @previous still name)."""

from __future__ import annotations

from datetime import date, datetime

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from lakescore.core import alerts
from lakescore.core.runtime import Context
from lakescore.models import registry
from lakescore.transforms import schemas
from lakescore.transforms.columns import AS_OF, MODEL_NAME, MODEL_VERSION, SLICE_KEY, SLICE_VALUE, SPLIT
from lakescore.transforms.contracts.kinds import FEATURE_NO_GAIN
from lakescore.transforms.modeling.importance import NO_GAIN
from lakescore.transforms.sqltext import all_of, eq, in_list, mlflow_string

TRAIN_STAGE = "train"


def kept_versions(name: str) -> set[str]:
    """The versions of model `name` that an alias other than @challenger names (the one train
    moves): their report rows stay when a new version's rows are written."""
    try:
        aliases = MlflowClient().get_registered_model(name).aliases or {}
    except MlflowException:
        return set()  # no such model yet
    return {str(v) for a, v in aliases.items() if a != registry.CHALLENGER}


def superseded_versions(ctx: Context, name: str, version: str) -> list[str]:
    """The versions of model `name` trained for this as-of (their run's `as_of` param) that no
    alias other than @challenger names, `version` aside: what a re-run of train for the as-of
    supersedes (a version a killed run registered, or the challenger it replaces). For the tables
    without an as-of column (reference_profiles); one registry search and one run search."""
    kept = kept_versions(name) | {str(version)}
    try:
        found = MlflowClient().search_model_versions(f"name = {mlflow_string(name)}")
    except MlflowException:
        return []
    candidates = {v.run_id: str(v.version) for v in found if str(v.version) not in kept and v.run_id}
    if not candidates:
        return []
    ids = ", ".join(mlflow_string(r) for r in candidates)
    as_of = mlflow_string(ctx.as_of.isoformat())
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list",
                              filter_string=f"params.as_of = {as_of} AND attributes.run_id IN ({ids})")
    return sorted((candidates[r.info.run_id] for r in runs), key=int)


def _scope(ctx: Context, name: str, version: str) -> str:
    """The rows a version's report replaces: its own, and the as-of's rows of every version no
    other alias than @challenger names (see the module)."""
    kept = kept_versions(name) - {str(version)}
    superseded = all_of(eq(AS_OF, ctx.as_of), f"NOT ({in_list(MODEL_VERSION, kept)})") if kept \
        else eq(AS_OF, ctx.as_of)
    return all_of(eq(MODEL_NAME, name), f"({eq(MODEL_VERSION, version)}) OR ({superseded})")


def write_feature_report(ctx: Context, name: str, version: str, run_id: str, report: list[dict]) -> int:
    """`feature_reports` rows of one model version (replacing that version's rows) and the same
    table as the run's artifact `feature_report.json`."""
    now = Context.now()
    rows = [(ctx.as_of, name, version, run_id, r["feature"], r["kind"], r["single_feature_power"], r["power_metric"],
             r["permutation_importance"], r["importance_std"], r["importance_metric"], r["ablation_delta"],
             r["verdict"], now) for r in report]
    df = ctx.spark.createDataFrame(rows, schemas.FEATURE_REPORTS.struct())
    mlflow.log_table({c: [r[c] for r in report] for c in report[0]}, artifact_file="feature_report.json", run_id=run_id)
    return ctx.tables.write(df, ctx.cfg.tables.feature_reports, replace_where=_scope(ctx, name, version))


def write_model_metrics(ctx: Context, name: str, version: str, run_id: str, metrics: list[dict]) -> int:
    """`model_metrics` rows of one training run: each metric per split (train, test, out_of_time)
    and slice (`slice_key`/`slice_value` NULL for all rows); also the artifact `model_metrics.json`."""
    now = Context.now()
    skip = {SPLIT, SLICE_KEY, SLICE_VALUE, "count", "num_labelled"}
    rows = [(ctx.as_of, name, version, run_id, m[SPLIT], m[SLICE_KEY], m[SLICE_VALUE], int(m["num_labelled"] or 0),
             metric, float(value), now)
            for m in metrics for metric, value in m.items() if metric not in skip and value is not None]
    df = ctx.spark.createDataFrame(rows, schemas.MODEL_METRICS.struct())
    cols = schemas.MODEL_METRICS.names
    mlflow.log_table({c: [r[i].isoformat() if isinstance(r[i], (date, datetime)) else r[i] for r in rows]
                      for i, c in enumerate(cols)}, artifact_file="model_metrics.json", run_id=run_id)
    return ctx.tables.write(df, ctx.cfg.tables.model_metrics, replace_where=_scope(ctx, name, version))


def write_feature_alerts(ctx: Context, name: str, version: str, report: list[dict], min_gain: float) -> int:
    """A warning in `alerts` per model feature with no gain (its permutation importance within
    +-min_gain); the train stage's earlier alerts of this as-of are replaced."""
    findings = [(r["feature"], r["permutation_importance"], min_gain,
                 f"feature {r['feature']} of {name} version {version}: permutation importance "
                 f"{r['permutation_importance']:+.5f} {r['importance_metric']} (+-{r['importance_std']:.5f}) is within "
                 f"+-{min_gain:g}: it brings the model nothing; drop it or look at its values")
                for r in report if r["verdict"] == NO_GAIN]
    return alerts.as_of_warnings(ctx, stage=TRAIN_STAGE, kind=FEATURE_NO_GAIN, source=name, findings=findings)
