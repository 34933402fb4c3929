"""Column names and values shared by several stages and tables: the one place they are spelled.

Tables and transforms refer to these constants, never to the literal strings, so a rename is a
change here and a column documented in the README is the column the code writes.
"""

from __future__ import annotations

# Raw and clean tables: the batch a row arrived in and when it was landed.
BATCH_ID = "_batch_id"
LANDED_AT = "_landed_at"
RAW_META = (BATCH_ID, LANDED_AT)
# Snapshot sources (arrival: snapshot): each version of an entity is valid in [from, to).
VALID_FROM = "_valid_from"
VALID_TO = "_valid_to"
SNAPSHOT_META = (VALID_FROM, VALID_TO)
# Raw rows that did not parse: the text of the record as it arrived (Spark's CSV reader's
# columnNameOfCorruptRecord, as lakescore lands files) or Auto Loader's rescued data (a raw
# table written by Databricks Auto Loader). A row with a value in one of them is malformed.
CORRUPT_RECORD = "_corrupt_record"
RESCUED_DATA = "_rescued_data"
MALFORMED_COLUMNS = (CORRUPT_RECORD, RESCUED_DATA)

# Entity x as-of rows (features, predictions, monitoring windows).
AS_OF = "as_of"
PREDICTION_TIME = "prediction_time"
AS_OF_COLUMNS = (AS_OF, PREDICTION_TIME)
FEATURE_SET = "feature_set"

# Training rows: which side of the split a row is on.
SPLIT = "split"
TRAIN = "train"
TEST = "test"
OUT_OF_TIME = "out_of_time"

# Labels: when an entity's label became known.
LABEL_KNOWN_AT = "label_known_at"

# Model output and the predictions table.
PREDICTION = "prediction"
SCORE = "score"
PROBABILITY = "probability"
MODEL_NAME = "model_name"
MODEL_VERSION = "model_version"
MODEL_ALIAS = "model_alias"
MODEL_TRAINED_AT = "model_trained_at"
MODEL_AGE_DAYS = "model_age_days"
RUN_ID = "run_id"
SCORED_AT = "scored_at"
FEATURES_VERSION = "features_version"   # the Delta version of `features` a prediction read
# How a prediction was made: by the score stage for the whole catalog, or on demand for one entity.
SERVED_BY = "served_by"
BATCH = "batch"
ON_DEMAND = "on_demand"

# Monitoring tables (shaped like Lakehouse Monitoring's profile and drift tables).
MODEL_ID = "model_id"
SLICE_KEY = "slice_key"
SLICE_VALUE = "slice_value"
WINDOW = "window"
GRANULARITY = "granularity"
NUM_LABELLED = "num_labelled"
NUM_IN_SAMPLE = "num_in_sample"
COLUMN_NAME = "column_name"
COLUMN_KIND = "column_kind"
DRIFT_TYPE = "drift_type"
# drift_type values: the comparison a drift_metrics row makes
BASELINE = "BASELINE"          # the serving model's training rows (training-serving skew)
CONSECUTIVE = "CONSECUTIVE"    # the previous window
EXAMPLE = "EXAMPLE"            # the same rows as served vs as they are now (per-example skew)
FEEDBACK = "FEEDBACK"          # served score vs the later value of a feature a feedback loop feeds

# Feature kinds.
NUMERIC = "numeric"
CATEGORICAL = "categorical"

# Label kinds.
BINARY = "binary"
REGRESSION = "regression"

# stage_runs: how each stage last ran for an as-of.
STAGE = "stage"
STATUS = "status"
SUCCEEDED = "succeeded"
FAILED = "failed"
STARTED_AT = "started_at"
SECONDS = "seconds"
DETAIL = "detail"

# the gate's decisions (model_validations.decision), read back by the report
PROMOTED, REJECTED, ROLLBACK = "promoted", "rejected", "rollback"
