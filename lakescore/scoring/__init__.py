"""Scoring beside the batch (`jobs/score.py` scores the catalog):

- `on_demand`: `lakescore predict`, the cached prediction of one entity, or one computed now by
  the batch's own feature code (passed in by the caller) and scorer
"""

__all__ = ["on_demand"]
