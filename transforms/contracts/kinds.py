"""Anomaly kinds of the data contracts and their default policies: the one place they are named.

Names follow TensorFlow Data Validation's anomaly types. Row-level kinds are judged on each
row (they are also the reason codes of quarantined rows); dataset-level kinds on a batch as a
whole. A policy says what a kind does: `warn` (an alert; rows go on), `quarantine` (the
offending rows go to quarantine) or `fail` (the stage stops before any write).
"""

from __future__ import annotations

# row level (reason codes)
TYPE_MISMATCH = "type_mismatch"
MISSING_VALUE = "missing_value"
OUT_OF_DOMAIN = "out_of_domain"
OUT_OF_RANGE = "out_of_range"
PATTERN_MISMATCH = "pattern_mismatch"
DUPLICATE_KEY = "duplicate_key"
MALFORMED_ROW = "malformed_row"
# dataset level
MISSING_COLUMN = "missing_column"
NEW_COLUMN = "new_column"
UNEXPECTED_STRING_VALUES = "unexpected_string_values"
LOW_PRESENCE = "low_presence"
LOW_NUM_EXAMPLES = "low_num_examples"
HIGH_NUM_EXAMPLES = "high_num_examples"
STALE_SOURCE = "stale_source"
HIGH_QUARANTINE_RATE = "high_quarantine_rate"

ROW_KINDS = (TYPE_MISMATCH, MISSING_VALUE, OUT_OF_DOMAIN, OUT_OF_RANGE, PATTERN_MISMATCH, DUPLICATE_KEY,
             MALFORMED_ROW)
DATASET_KINDS = (MISSING_COLUMN, NEW_COLUMN, UNEXPECTED_STRING_VALUES, LOW_PRESENCE, LOW_NUM_EXAMPLES,
                 HIGH_NUM_EXAMPLES, STALE_SOURCE, HIGH_QUARANTINE_RATE)
ALL_KINDS = ROW_KINDS + DATASET_KINDS
# Kinds that concern one declared column, so a column may override their policy.
COLUMN_KINDS = (TYPE_MISMATCH, MISSING_VALUE, OUT_OF_DOMAIN, OUT_OF_RANGE, PATTERN_MISMATCH, MISSING_COLUMN,
                UNEXPECTED_STRING_VALUES, LOW_PRESENCE)

WARN = "warn"
QUARANTINE = "quarantine"
FAIL = "fail"
POLICIES = (WARN, QUARANTINE, FAIL)

DEFAULT_POLICIES: dict[str, str] = {
    **{kind: QUARANTINE for kind in ROW_KINDS},
    MISSING_COLUMN: FAIL,
    NEW_COLUMN: WARN,
    UNEXPECTED_STRING_VALUES: WARN,
    LOW_PRESENCE: WARN,
    LOW_NUM_EXAMPLES: WARN,
    HIGH_NUM_EXAMPLES: WARN,
    STALE_SOURCE: WARN,
    # a batch mostly rejected is a broken batch or a broken contract: stop, do not serve stale data
    HIGH_QUARANTINE_RATE: FAIL,
}

# Ingest alerts outside the contract's policies: a snapshot's keys whose new row the contract
# rejected keep their previous version (a warning, counted per batch).
SNAPSHOT_HELD = "snapshot_held"
# An as-of whose catalog holds no entity: features and score write an empty partition and warn.
EMPTY_CATALOG = "empty_catalog"

# Alert kinds of the model checks (not contract anomalies: no policy applies to them).
FEATURE_NO_GAIN = "feature_no_gain"          # train: a model feature whose permutation importance is nil
CHALLENGER_REJECTED = "challenger_rejected"  # promote: the gate refused @challenger
MODEL_KINDS = (FEATURE_NO_GAIN, CHALLENGER_REJECTED)

# Findings of the monitor stage (alerts with stage `monitor`): drift, skew, model health and
# the retraining trigger. Not contract anomalies: no policy applies to them.
TRAINING_SERVING_SKEW = "training_serving_skew"
FEATURE_DRIFT = "feature_drift"
PREDICTION_DRIFT = "prediction_drift"
EXAMPLE_SKEW = "example_skew"
MODEL_STALE = "model_stale"
QUALITY_DROP = "quality_drop"
SLOW_DEGRADATION = "slow_degradation"
ESTIMATED_DEGRADATION = "estimated_degradation"  # the quality estimated before labels land (CBPE)
RETRAIN_TRIGGERED = "retrain_triggered"  # train's retraining policy reads it
MONITOR_KINDS = (TRAINING_SERVING_SKEW, FEATURE_DRIFT, PREDICTION_DRIFT, EXAMPLE_SKEW, MODEL_STALE, QUALITY_DROP,
                 SLOW_DEGRADATION, ESTIMATED_DEGRADATION, RETRAIN_TRIGGERED)
