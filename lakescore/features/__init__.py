"""Features (`jobs/features.py`) and the commands beside it:

- `feature_rows`: the one code path that computes feature rows, for the stage (every catalog
  entity of some as-ofs) and for an on-demand prediction (one entity), with the leakage guard
- `feature_page`: the generated feature page (`lakescore features docs`)
"""

__all__ = ["feature_page", "feature_rows"]
