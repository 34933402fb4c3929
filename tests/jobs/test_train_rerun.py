"""A re-run of train for an as-of leaves the report tables (`model_metrics`, `feature_reports`)
and the reference profiles as one run leaves them, whether the earlier run finished or was killed after registering its
version and writing its reports but before moving @challenger (the state simulated here by
removing the alias): the as-of holds the rows of one version, the new one, and of the versions
another alias (@champion) still names. The kill -9 chain (tests/reliability/test_kill.py) found
the bug this holds: the rows of a killed run's version stayed beside the re-run's."""

from __future__ import annotations

from dataclasses import replace

import pytest
from mlflow import MlflowClient
from pyspark.sql import functions as F

from lakescore.jobs import train
from lakescore.jobs.pipeline import run_stages
from lakescore.models import registry
from tests.support import CHECKS_AS_OF, checks_use_case, context, write_checks_events

pytestmark = pytest.mark.slow   # `make slow`: CI runs it after `make test`

REPORTS = ("model_metrics", "feature_reports")
VARYING = ("model_version", "run_id", "computed_at", "reported_at")


def _aliases(client, name: str) -> dict[str, str]:
    return {a: str(v) for a, v in client.get_registered_model(name).aliases.items()}


def _rows(spark, schema: str) -> dict[str, list]:
    """Per report table: the as-of's rows with the columns that change between runs left out,
    sorted, and the versions they are of."""
    out = {}
    for table in REPORTS:
        df = spark.table(f"{schema}.{table}").where(F.col("as_of") == CHECKS_AS_OF)
        kept = [c for c in df.columns if c not in VARYING]
        out[table] = (sorted(tuple(r) for r in df.select(*kept).collect()),
                      sorted({r.model_version for r in df.select("model_version").collect()}))
    return out


def _profiled(spark, schema: str, name: str) -> list[str]:
    """The versions of the model that have a reference profile."""
    df = spark.table(f"{schema}.reference_profiles").where(F.col("model_name") == name)
    return sorted({r.model_version for r in df.select("model_version").collect()}, key=int)


def test_a_rerun_of_train_replaces_the_reports_of_versions_no_alias_names(spark, lakescore_home):
    schema = "train_rerun"
    cfg = checks_use_case(schema, features=["x1", "x2"], overrides={"train": {"importance": {"repeats": 1}}})
    ctx = context(cfg, CHECKS_AS_OF, lakescore_home)
    write_checks_events(spark, schema)
    run_stages(ctx, ["features"])
    first = train.run(ctx)
    name, v1 = registry.model_name(ctx), first["model_version"]
    once = _rows(spark, schema)
    assert {t: vs for t, (_, vs) in once.items()} == {t: [v1] for t in REPORTS}
    assert len(once["model_metrics"][0]) > 0 and len(once["feature_reports"][0]) == 2

    client = MlflowClient()
    # a run killed after its reports, before the alias: its version registered, no alias names it
    client.delete_registered_model_alias(name, registry.CHALLENGER)
    second = train.run(ctx)
    v2 = second["model_version"]
    assert v2 != v1
    again = _rows(spark, schema)
    assert again == {t: (rows, [v2]) for t, (rows, _) in once.items()}    # the same rows, of v2 only
    assert _aliases(client, name) == {registry.CHALLENGER: v2}
    assert _profiled(spark, schema, name) == [v2]     # the killed run's profile went too

    # a plain re-run (no @champion yet, so it trains again): the superseded challenger's rows go too
    v3 = train.run(ctx)["model_version"]
    assert _rows(spark, schema) == {t: (rows, [v3]) for t, (rows, _) in once.items()}
    assert _profiled(spark, schema, name) == [v3]

    # a version @champion names keeps its rows beside a forced retrain's
    registry.promote(registry.by_version(ctx, v3), None)
    v4 = train.run(replace(ctx, force=True))["model_version"]
    kept = _rows(spark, schema)
    assert {t: vs for t, (_, vs) in kept.items()} == {t: sorted([v3, v4]) for t in REPORTS}
    assert _aliases(client, name) == {registry.CHAMPION: v3, registry.CHALLENGER: v4}
    assert _profiled(spark, schema, name) == sorted([v3, v4], key=int)
