"""Modeling (train, promote, score): `labels`, `split` (hash and out-of-time), `pipeline` (the
Spark ML model) and `preparation` (its fitted stages), `metrics` (quality per group),
`predictions` (prediction rows), `importance` (permutation importance), `leakage_power`
(single-feature power), `sanity` (training-data profile, prediction sanity), `gate` (the checks)."""

__all__ = ["gate", "importance", "labels", "leakage_power", "metrics", "pipeline", "predictions", "preparation", "sanity",
           "split"]
