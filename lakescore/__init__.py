"""lakescore's platform: the command line, config, runtime and Spark session, table store,
model registry, alerts table, landing files and the readers the stages share. It knows
tables, MLflow and sessions; the data and model logic is in `transforms`, the stages in `jobs`."""
