"""Data contracts (ingest): `kinds` (anomaly names, default policies), `rules` (typing, row
rules, malformed lines), `keys` (key uniqueness), `anomalies` (dataset level, the profile),
`measures` (volume, freshness), `quality` (data_quality rows), `snapshots` (the versions of a
snapshot export), `inference` (`lakescore contract infer`)."""

__all__ = ["anomalies", "inference", "keys", "kinds", "measures", "quality", "rules", "snapshots"]
