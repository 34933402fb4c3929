"""lakescore: batch offline inference on Spark, Delta Lake and MLflow.

The wheel has one top-level name. Beside the platform packages below it ships the folders the
project card puts at the top of the checkout under this namespace: `lakescore.jobs` (jobs/, what a
scheduler runs, one module per stage) and `lakescore.transforms` (transforms/, the pure
DataFrame -> DataFrame logic). The platform is grouped by the stage it serves:

- `core`: the runtime and Spark session, the table store, errors, the stage runner, the
  `stage_runs` and `alerts` tables, backfills
- `config`: the use-case YAML, validated at load
- `models`: the MLflow registry, model flavors and their scorers, training rows and evaluation
- `ingest`, `features`, `training`, `gate`, `scoring`, `monitoring`: what each stage (and the
  commands beside it) needs besides `core`, `config` and `models`
- `cli`: the `lakescore` command; `notebook`: a notebook's handles on a use case

Arrows point one way: cli -> jobs -> platform -> transforms; no stage folder imports another,
and core, config and models import no stage folder (tests/test_structure.py)."""

__all__ = ["cli", "config", "core", "features", "gate", "ingest", "jobs", "models", "monitoring", "notebook",
           "scoring", "training", "transforms"]
