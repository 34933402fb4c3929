"""Models, whatever stage uses them:

- `registry`: MLflow tracking and the model registry (SQLite locally, Unity Catalog on
  Databricks), aliases `@champion`, `@challenger`, `@previous`
- `flavors`: what a registered model is (its flavors, signature), its scorer (Spark ML natively,
  anything else through pyfunc), its age
- `training_rows`: the labelled feature rows of a training window at pinned Delta versions, and a
  model's quality on labelled rows
- `reference_profiles`: the reference_profiles table, what monitor compares a model version with
  (written by train, ensured by promote and monitor)
"""

__all__ = ["flavors", "reference_profiles", "registry", "training_rows"]
