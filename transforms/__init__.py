"""Pure DataFrame -> DataFrame (and -> Column) functions: no I/O, no session, no MLflow."""
