"""Data contracts (ingest): typing and row rules, dataset-level anomalies, data_quality rows, contract inference."""
