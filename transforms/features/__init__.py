"""Features (features stage): `asof` (the catalog spine, prediction time), `joins` (lookups,
point in time, histories), `steps` (stateless steps), `compute` (feature columns), `leakage`
(the static analysis at config load and the run-time guard), `sql_refs` (the columns an
expression reads)."""

__all__ = ["asof", "compute", "joins", "leakage", "sql_refs", "steps"]
