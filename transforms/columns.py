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

# Entity x as-of rows (features, predictions, monitoring windows).
AS_OF = "as_of"
PREDICTION_TIME = "prediction_time"
AS_OF_COLUMNS = (AS_OF, PREDICTION_TIME)
FEATURE_SET = "feature_set"

# Training rows: which side of the split a row is on.
SPLIT = "split"
TRAIN = "train"
TEST = "test"

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

# Monitoring tables (shaped like Lakehouse Monitoring's profile and drift tables).
MODEL_ID = "model_id"
SLICE_KEY = "slice_key"
SLICE_VALUE = "slice_value"
WINDOW = "window"
GRANULARITY = "granularity"

# Label kinds.
BINARY = "binary"
REGRESSION = "regression"
