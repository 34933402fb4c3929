"""Pure DataFrame -> DataFrame (and -> Column) functions, grouped by the flow: contracts (ingest),
features, modeling (train, promote, score), monitoring; `columns` and `sqltext` are shared. No
I/O, no session, no MLflow, no import from the rest of lakescore."""

__all__ = ["columns", "contracts", "features", "modeling", "monitoring", "schemas", "sqltext"]
