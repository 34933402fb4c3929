"""Monitoring (every stage's findings, monitor): `alerts` (rows of the shared alerts table),
`drift` (histograms and distances), `stats` (KS and chi-squared p-values as Spark expressions),
`decisions` (the drift tests), `comparisons` (drift_metrics rows), `skew` (per-example skew,
feedback loops), `quality` (out-of-sample quality), `health` (model health, findings, the trigger),
`profiles` (reference profiles: a model version's histograms and health baseline, merged, read back)."""

__all__ = ["alerts", "comparisons", "decisions", "drift", "health", "profiles", "quality", "skew", "stats"]
