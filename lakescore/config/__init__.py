"""The use-case configuration, one module per section group; `load_config` reads and validates
a YAML file (see README, The use case file)."""

from lakescore.config.base import ConfigError, Identifier, SqlExpr, Strict, check_identifier
from lakescore.config.entity import Entity, Label
from lakescore.config.features import Aggregate, Feature, FeatureSet, History, Lookup, Step
from lakescore.config.gate import Gate, Slices, Slow, Threshold
from lakescore.config.loading import SourcesFile, deep_merge, load_config, load_sources, parse_config
from lakescore.config.modeling import (
    LOWER_IS_BETTER,
    METRICS,
    POWER_METRIC,
    Importance,
    Leakage,
    Model,
    Retrain,
    Split,
    Train,
)
from lakescore.config.monitoring import MlflowSettings, Monitor
from lakescore.config.scoring import Score
from lakescore.config.sources import ColumnSpec, Freshness, Landing, Source, Volume
from lakescore.config.storage import Storage, Tables
from lakescore.config.use_case import UseCase

__all__ = [
    "Aggregate", "ColumnSpec", "ConfigError", "Entity", "Feature", "FeatureSet", "Freshness", "Gate",
    "History", "Identifier", "Importance", "LOWER_IS_BETTER", "Label", "Landing", "Leakage", "Lookup", "METRICS",
    "MlflowSettings", "Model", "Monitor", "POWER_METRIC", "Retrain", "Score", "Slices", "Slow", "Source", "SourcesFile",
    "Split",
    "SqlExpr", "Step", "Storage", "Strict", "Tables", "Threshold", "Train", "UseCase", "Volume", "check_identifier",
    "deep_merge", "load_config", "load_sources", "parse_config",
]
