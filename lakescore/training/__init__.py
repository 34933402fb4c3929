"""Training (`jobs/train.py`) and bringing a model trained elsewhere:

- `retrain_policy`: whether train trains for an as-of (`train.retrain`, the monitor's trigger)
- `run_tables`: what a training run leaves for SQL: `feature_reports`, `model_metrics`, feature alerts
- `register_model`: `lakescore model register`, any MLflow model as a new @challenger
"""

__all__ = ["register_model", "retrain_policy", "run_tables"]
