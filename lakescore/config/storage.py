"""Where a use case's tables live: the schema (and catalog on Databricks), the local home, and
the name of every table."""

from __future__ import annotations

from pydantic import Field

from lakescore.config.base import Identifier, Strict


class Storage(Strict):
    catalog: Identifier | None = Field(
        None, description="Unity Catalog catalog on Databricks; unused on the local runtime"
    )
    schema_name: Identifier = Field(alias="schema", description="database that holds every table")
    local_home: str = Field(
        ".lakescore",
        description="local runtime folder: Delta warehouse (its folders are the catalog), MLflow database and "
        "artifacts; relative paths are relative to the working directory; LAKESCORE_HOME overrides",
    )


class Tables(Strict):
    raw_prefix: Identifier = "raw_"
    clean_prefix: Identifier = "clean_"
    quarantine: Identifier = "quarantine"
    data_quality: Identifier = "data_quality"
    features: Identifier = "features"
    predictions: Identifier = "predictions"
    predictions_latest: Identifier = "predictions_latest"
    model_validations: Identifier = "model_validations"
    feature_reports: Identifier = "feature_reports"
    model_metrics: Identifier = "model_metrics"
    slice_metrics: Identifier = "slice_metrics"
    drift_metrics: Identifier = "drift_metrics"
    model_health: Identifier = "model_health"
    estimated_performance: Identifier = "estimated_performance"
    reference_profiles: Identifier = "reference_profiles"
    alerts: Identifier = "alerts"
    landed_files: Identifier = "landed_files"
    stage_runs: Identifier = "stage_runs"

