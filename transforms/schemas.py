"""The schemas of the tables lakescore writes, as code: the columns and types the README
documents. The table store checks every write against them (`check`), so a stage that writes an
undocumented column, leaves one out or changes a type fails, naming the table and the column.

Fixed tables (quarantine, data_quality, alerts, model_validations, landed_files,
feature_reports, model_metrics, stage_runs, reference_profiles) are constants; tables whose columns follow the use case
(clean_<source>, features, predictions, slice_metrics) are built from it. A column whose type
follows data the config does not type (a derived key column) is declared with type None:
present, any type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from lakescore.transforms.columns import (
    AS_OF,
    BATCH_ID,
    BINARY,
    COLUMN_KIND,
    COLUMN_NAME,
    DETAIL,
    DRIFT_TYPE,
    FEATURE_SET,
    FEATURES_VERSION,
    GRANULARITY,
    LANDED_AT,
    MODEL_AGE_DAYS,
    MODEL_ALIAS,
    MODEL_ID,
    MODEL_NAME,
    MODEL_TRAINED_AT,
    MODEL_VERSION,
    NUM_IN_SAMPLE,
    NUM_LABELLED,
    PREDICTION,
    PREDICTION_TIME,
    RUN_ID,
    SCORE,
    SCORED_AT,
    SECONDS,
    SERVED_BY,
    SLICE_KEY,
    SLICE_VALUE,
    SPLIT,
    STAGE,
    STARTED_AT,
    STATUS,
    VALID_FROM,
    VALID_TO,
    WINDOW,
)
from lakescore.transforms.modeling.metrics import BINARY_METRICS, REGRESSION_METRICS

STRING, DOUBLE, LONG, DATE, TIMESTAMP, BOOLEAN = (StringType(), DoubleType(), LongType(), DateType(),
                                                  TimestampType(), BooleanType())
# The contract's column types as Spark types.
CONTRACT_TYPES: dict[str, DataType] = {
    "string": STRING, "int": IntegerType(), "bigint": LONG, "double": DOUBLE, "boolean": BOOLEAN,
    "date": DATE, "timestamp": TIMESTAMP,
}
FEATURE_TYPES: dict[str, DataType] = {"numeric": DOUBLE, "categorical": STRING}


def _struct(*fields: tuple[str, DataType]) -> StructType:
    return StructType([StructField(name, dtype, True) for name, dtype in fields])


@dataclass(frozen=True)
class TableSchema:
    """The columns of a table in order, each with its type (None: any type); `optional` columns
    may be left out of a write."""

    columns: tuple[tuple[str, DataType | None], ...]
    optional: frozenset[str] = frozenset()

    @classmethod
    def of(cls, *parts: Iterable[tuple[str, DataType | None]] | StructType,
           optional: Iterable[str] = ()) -> TableSchema:
        cols: list[tuple[str, DataType | None]] = []
        for part in parts:
            cols += [(f.name, f.dataType) for f in part.fields] if isinstance(part, StructType) else list(part)
        return cls(tuple(cols), frozenset(optional))

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.columns]

    def struct(self) -> StructType:
        """As a StructType (columns of any type as string, for an empty frame)."""
        return StructType([StructField(n, t or STRING, True) for n, t in self.columns])


class SchemaMismatch(ValueError):
    """A write whose columns or types differ from the table's documented schema."""


def _same(expected: DataType, actual: DataType) -> bool:
    """Types equal, ignoring nullability (of fields, array elements and map values)."""
    if isinstance(expected, StructType) and isinstance(actual, StructType):
        return [f.name for f in expected.fields] == [f.name for f in actual.fields] and all(
            _same(e.dataType, a.dataType) for e, a in zip(expected.fields, actual.fields))
    if isinstance(expected, ArrayType) and isinstance(actual, ArrayType):
        return _same(expected.elementType, actual.elementType)
    if isinstance(expected, MapType) and isinstance(actual, MapType):
        return _same(expected.keyType, actual.keyType) and _same(expected.valueType, actual.valueType)
    return type(expected) is type(actual) and expected.simpleString() == actual.simpleString()


def check(table: str, actual: StructType, expected: TableSchema) -> None:
    """Raise SchemaMismatch naming `table` and the first column that is undocumented, missing or
    of another type than documented."""
    want = dict(expected.columns)
    lower = {n.lower(): n for n in want}
    for field in actual.fields:
        name = lower.get(field.name.lower())
        if name is None:
            raise SchemaMismatch(f"table {table}: column {field.name} ({field.dataType.simpleString()}) is not "
                                 f"in the table's schema (columns: {', '.join(expected.names)})")
        if want[name] is not None and not _same(want[name], field.dataType):
            raise SchemaMismatch(f"table {table}: column {field.name} is {field.dataType.simpleString()} but the "
                                 f"table's schema says {want[name].simpleString()}")
    have = {f.name.lower() for f in actual.fields}
    missing = [n for n in expected.names if n.lower() not in have and n not in expected.optional]
    if missing:
        raise SchemaMismatch(f"table {table}: column(s) {missing} of the table's schema are missing from the write")


# ------------------------------------------------------------------------- fixed tables
REASON = _struct(("code", STRING), ("column", STRING), ("detail", STRING))
QUARANTINE = TableSchema.of([
    ("source", STRING), ("batch_id", STRING), ("original", MapType(STRING, STRING)),
    ("reasons", ArrayType(REASON)), ("reason_codes", STRING), (AS_OF, DATE), ("quarantined_at", TIMESTAMP)])

ANOMALY = _struct(("kind", STRING), ("column", STRING), ("value", DOUBLE), ("threshold", DOUBLE),
                  ("detail", STRING), ("policy", STRING))
DATA_QUALITY = TableSchema.of([
    ("source", STRING), ("batch_id", STRING), (AS_OF, DATE), ("processed_at", TIMESTAMP), ("rows_in", LONG),
    ("rows_clean", LONG), ("rows_quarantined", LONG), ("quarantine_rate", DOUBLE), ("rows_blank", LONG),
    ("landed_at", TIMESTAMP), ("null_rates", MapType(STRING, DOUBLE)), ("newest_event_at", TIMESTAMP),
    ("freshness_hours", DOUBLE), ("volume_baseline", DOUBLE), ("volume_ratio", DOUBLE),
    ("anomalies", ArrayType(ANOMALY)), ("anomaly_kinds", STRING), ("contract_hash", STRING),
    ("replayed_at", TIMESTAMP)])

# One row per file lakescore landed into a raw table (as Auto Loader's file state): what it was,
# which batch it became, and how its lines were counted (lines = header + rows' lines + blank).
LANDED_FILES = TableSchema.of([
    ("source", STRING), ("batch_id", STRING), ("path", STRING), ("file_name", STRING), ("digest", STRING),
    ("bytes", LONG), ("modified_at", TIMESTAMP), ("lines", LONG), ("rows", LONG), ("rows_malformed", LONG),
    ("rows_blank", LONG), ("landed_at", TIMESTAMP)])

ALERTS = TableSchema.of([
    ("alert_id", STRING), (AS_OF, DATE), ("stage", STRING), ("severity", STRING), ("kind", STRING),
    ("subject", STRING), ("value", DOUBLE), ("threshold", DOUBLE), ("detail", STRING), ("source", STRING),
    ("batch_id", STRING), ("created_at", TIMESTAMP)])

MODEL_VALIDATIONS = TableSchema.of([
    (MODEL_NAME, STRING), (MODEL_VERSION, STRING), (AS_OF, DATE), ("check", STRING), ("metric", STRING),
    ("value", DOUBLE), ("baseline", DOUBLE), ("threshold", DOUBLE), ("passed", BOOLEAN), ("reason", STRING),
    ("decision", STRING), ("validated_at", TIMESTAMP)])

# One row per model version x feature: the training-time report on each model feature.
FEATURE_REPORTS = TableSchema.of([
    (AS_OF, DATE), (MODEL_NAME, STRING), (MODEL_VERSION, STRING), (RUN_ID, STRING), ("feature", STRING),
    ("kind", STRING), ("single_feature_power", DOUBLE), ("power_metric", STRING), ("permutation_importance", DOUBLE),
    ("importance_std", DOUBLE), ("importance_metric", STRING), ("ablation_delta", DOUBLE), ("verdict", STRING),
    ("reported_at", TIMESTAMP)])

# One row per model version x split x slice x metric: every training run's metrics, for SQL.
MODEL_METRICS = TableSchema.of([
    (AS_OF, DATE), (MODEL_NAME, STRING), (MODEL_VERSION, STRING), (RUN_ID, STRING), (SPLIT, STRING),
    (SLICE_KEY, STRING), (SLICE_VALUE, STRING), ("rows", LONG), ("metric", STRING), ("value", DOUBLE),
    ("computed_at", TIMESTAMP)])

# One row per as-of x stage: how its newest run ended (succeeded, failed, skipped) and how long it
# took, written by lakescore.core.stage_runs when a command that runs stages ends (and per as-of by
# `lakescore backfill`: an as-of is finished when every stage the backfill runs has succeeded).
STAGE_RUNS = TableSchema.of([
    (AS_OF, DATE), (STAGE, STRING), (STATUS, STRING), (STARTED_AT, TIMESTAMP), (SECONDS, DOUBLE), (DETAIL, STRING)])


# ------------------------------------------------------------------- use-case tables
def clean(columns: Mapping[str, str], derived: Iterable[str], snapshot: bool = False) -> TableSchema:
    """clean_<source>: the contract's columns typed, the derived columns (any type), the batch
    columns (`_landed_at` only when the raw table has it: another system may write only `_batch_id`)
    and, for a snapshot source, when each version was valid (`_valid_from`, `_valid_to`)."""
    valid = [(VALID_FROM, TIMESTAMP), (VALID_TO, TIMESTAMP)] if snapshot else []
    return TableSchema.of([(c, CONTRACT_TYPES[t]) for c, t in columns.items()], [(d, None) for d in derived],
                          [(BATCH_ID, STRING), (LANDED_AT, TIMESTAMP)], valid, optional=[LANDED_AT])


def features(key: Mapping[str, DataType | None], event_time: tuple[str, DataType | None] | None,
             feature_kinds: Mapping[str, str]) -> TableSchema:
    """features: key, as_of, prediction_time, event time (an events catalog), one column per
    feature, feature_set."""
    return TableSchema.of(list(key.items()), [(AS_OF, DATE), (PREDICTION_TIME, TIMESTAMP), *filter(None, [event_time])],
                          [(n, FEATURE_TYPES[k]) for n, k in feature_kinds.items()], [(FEATURE_SET, STRING)])


def predictions(key: Mapping[str, DataType | None], event_time: tuple[str, DataType | None] | None) -> TableSchema:
    """predictions: key, as_of, prediction_time, event time, prediction, score, the model's
    identity and age, how the row was served (batch or on_demand), and the Delta version of
    `features` the scores were computed from (NULL on demand: computed from the sources)."""
    return TableSchema.of(list(key.items()), [
        (AS_OF, DATE), (PREDICTION_TIME, TIMESTAMP), *filter(None, [event_time]), (PREDICTION, DOUBLE), (SCORE, DOUBLE),
        (MODEL_NAME, STRING), (MODEL_VERSION, STRING), (MODEL_ALIAS, STRING), (MODEL_TRAINED_AT, TIMESTAMP),
        (MODEL_AGE_DAYS, DOUBLE), (RUN_ID, STRING), (SCORED_AT, TIMESTAMP), (SERVED_BY, STRING),
        (FEATURES_VERSION, LONG)])


WINDOW_TYPE = _struct(("start", TIMESTAMP), ("end", TIMESTAMP))
_WINDOW_COLUMNS = [(AS_OF, DATE), (WINDOW, WINDOW_TYPE), (GRANULARITY, STRING), (MODEL_ID, STRING)]


def slice_metrics(kind: str) -> TableSchema:
    """slice_metrics, shaped like Lakehouse Monitoring's profile table. `num_labelled` counts the
    rows whose label was known by the run's as-of and not seen by the serving model in training
    (the rows the metrics are computed on); `num_in_sample` the labelled rows it had seen."""
    metrics = BINARY_METRICS if kind == BINARY else REGRESSION_METRICS
    return TableSchema.of(_WINDOW_COLUMNS, [
        (SLICE_KEY, STRING), (SLICE_VALUE, STRING), ("count", LONG), (NUM_LABELLED, LONG), (NUM_IN_SAMPLE, LONG)],
        [(m, DOUBLE) for m in metrics], [("computed_at", TIMESTAMP)])


TEST_RESULT = _struct(("statistic", DOUBLE), ("pvalue", DOUBLE))
# drift_metrics, shaped like Lakehouse Monitoring's drift table: one row per window x model x
# comparison (drift_type) x column x slice.
# a feature's share of the score's shift (drift_metrics.attribution, on a drifted BASELINE score row)
ATTRIBUTION_SHARE = _struct((COLUMN_NAME, STRING), ("share", DOUBLE))
DRIFT_METRICS = TableSchema.of(_WINDOW_COLUMNS, [
    (DRIFT_TYPE, STRING), (COLUMN_NAME, STRING), (COLUMN_KIND, STRING), (SLICE_KEY, STRING), (SLICE_VALUE, STRING),
    ("baseline", STRING), ("count", LONG), ("baseline_count", LONG), ("null_rate", DOUBLE),
    ("baseline_null_rate", DOUBLE), ("mean", DOUBLE), ("baseline_mean", DOUBLE), ("stddev", DOUBLE),
    ("baseline_stddev", DOUBLE), ("wasserstein_distance", DOUBLE), ("ks_test", TEST_RESULT),
    ("population_stability_index", DOUBLE), ("js_distance", DOUBLE), ("l_infinity_distance", DOUBLE),
    ("tv_distance", DOUBLE), ("chi_squared_test", TEST_RESULT), ("unseen_share", DOUBLE),
    ("rows_compared", LONG), ("rows_different", LONG), ("correlation", DOUBLE),
    ("metric", STRING), ("value", DOUBLE), ("threshold", DOUBLE), ("drifted", BOOLEAN),
    ("attribution", ArrayType(ATTRIBUTION_SHARE)), ("computed_at", TIMESTAMP)])

# model_health: one row per window x model x slice x check (model_age, quality_drop,
# slow_degradation), shaped like model_validations.
MODEL_HEALTH = TableSchema.of(_WINDOW_COLUMNS, [
    (SLICE_KEY, STRING), (SLICE_VALUE, STRING), ("check", STRING), ("metric", STRING), ("value", DOUBLE),
    ("baseline", DOUBLE), ("threshold", DOUBLE), (NUM_LABELLED, LONG), ("passed", BOOLEAN), ("detail", STRING),
    ("computed_at", TIMESTAMP)])

CALIBRATION_POINT = _struct(("score", DOUBLE), ("probability", DOUBLE))
# estimated_performance: per window x model x slice x metric, a model's quality estimated before the
# labels from all the window's served rows (binary: its scores and calibration; regression: the
# expected MAE and RMSE of its loss model), beside the realized metric on its
# out-of-sample labelled rows once they are known (slice_metrics) and the estimate's error.
ESTIMATED_PERFORMANCE = TableSchema.of(_WINDOW_COLUMNS, [
    (SLICE_KEY, STRING), (SLICE_VALUE, STRING), ("metric", STRING), ("estimated", DOUBLE), ("realized", DOUBLE),
    ("error", DOUBLE), ("count", LONG), (NUM_LABELLED, LONG), ("computed_at", TIMESTAMP)])

PROFILE_BUCKET = _struct(("bin", IntegerType()), ("category", STRING), ("n", LONG), ("s1", DOUBLE), ("s2", DOUBLE))
# reference_profiles: what monitor compares a model version with, computed once per version (and
# per profile_key: a hash of the monitored columns, bins, slices, label and metric it depends on).
# part `drift`: one row per column x slice of its training rows (quantile edges, histogram on them);
# part `health`: one row per slice of its test rows (the quality metric, labelled rows, and on the
# whole-table row the model's own evaluation); part `calibration` (binary labels): one row, the isotonic
# calibration of its score on its held-out rows (transforms/monitoring/estimated.py); part `loss`
# (regression labels): a row per input of the loss model of its held-out rows' errors, one slot per
# histogram bucket (s1, s2: the absolute and squared error weights; transforms/monitoring/loss.py).
# See transforms/monitoring/profiles.py.
REFERENCE_PROFILES = TableSchema.of([
    (MODEL_NAME, STRING), (MODEL_VERSION, STRING), (MODEL_ID, STRING), ("profile_key", STRING), ("part", STRING),
    (COLUMN_NAME, STRING), (COLUMN_KIND, STRING), (SLICE_KEY, STRING), (SLICE_VALUE, STRING), ("count", LONG),
    ("null_count", LONG), ("edges", ArrayType(DOUBLE)), ("coarse_edges", ArrayType(DOUBLE)),
    ("histogram", ArrayType(PROFILE_BUCKET)), ("metric", STRING), ("value", DOUBLE), (NUM_LABELLED, LONG),
    ("evaluation", DOUBLE), ("evaluation_name", STRING), ("source", STRING), ("profile_config", STRING),
    ("computed_at", TIMESTAMP), ("calibration", ArrayType(CALIBRATION_POINT))])
