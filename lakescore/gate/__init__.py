"""The gate (`jobs/promote.py`):

- `inputs`: what the gate compares: a version's training run, its rows and metrics, the live schema
- `model_validations`: the `model_validations` table (every check of every candidate) and what
  the gate reads back from it
"""

__all__ = ["inputs", "model_validations"]
