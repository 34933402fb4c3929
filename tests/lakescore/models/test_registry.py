"""The registry on a real MLflow store (SQLite in a home of its own): the experiment is created
where the home says, versions are found by alias and by number, promotion keeps the replaced
champion as @previous, a rollback swaps them (twice: back again), an alias whose version is gone is
one line naming it, and a store that cannot be opened is one line naming it."""

from __future__ import annotations

from datetime import date

import mlflow
import pytest
from mlflow import MlflowClient

from lakescore.config import parse_config
from lakescore.core.runtime import Context
from lakescore.models import registry
from tests.support import events_use_case

EVENTS = {"id": {"type": "int", "nullable": False}, "kind": {"type": "string"}, "at": {"type": "timestamp"}}


class Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [0.5] * len(model_input)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    cfg = parse_config(events_use_case("registry", "test_registry", {"events": {"columns": EVENTS}}))
    ctx = Context(cfg=cfg, as_of=date(2024, 1, 1), home=tmp_path_factory.mktemp("registry_home"))
    registry.configure(ctx)
    name = registry.model_name(ctx)
    for cutoff in ("2024-01-01T00:00:00", "2024-01-02T00:00:00", "2024-01-03T00:00:00"):
        with mlflow.start_run() as run:
            mlflow.log_param("training_cutoff", cutoff)
            mlflow.pyfunc.log_model(name="model", python_model=Constant(), pip_requirements=["mlflow"])
        mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    return ctx


def test_the_store_lives_in_the_home_and_names_its_model(ctx):
    assert mlflow.get_tracking_uri() == f"sqlite:///{ctx.home / 'mlflow.db'}"
    experiment = mlflow.get_experiment_by_name(ctx.cfg.mlflow.experiment)
    assert experiment.artifact_location == (ctx.home / "mlartifacts" / ctx.cfg.mlflow.experiment).as_uri()
    assert registry.model_name(ctx) == ctx.cfg.model.name
    on_uc = Context(cfg=ctx.cfg.model_copy(update={"storage": ctx.cfg.storage.model_copy(update={"catalog": "prod"})}),
                    as_of=ctx.as_of, home=ctx.home, databricks=True)
    assert registry.model_name(on_uc) == f"prod.{ctx.cfg.storage.schema_name}.{ctx.cfg.model.name}"


def test_promotion_keeps_the_replaced_champion_and_rollback_swaps_them(ctx):
    assert registry.by_alias(ctx, registry.CHAMPION) is None
    first, second = registry.by_version(ctx, "1"), registry.by_version(ctx, "2")
    assert first.trained_at.isoformat() == "2024-01-01T00:00:00" and second.uri.endswith("/2")
    registry.promote(first, None)
    registry.promote(second, registry.by_alias(ctx, registry.CHAMPION))
    champion, previous = registry.by_alias(ctx, registry.CHAMPION), registry.by_alias(ctx, registry.PREVIOUS)
    assert (champion.version, previous.version) == ("2", "1") and champion.uri.endswith("@champion")
    demoted, restored = registry.rollback(ctx)
    assert (demoted.version, restored.version) == ("2", "1")
    registry.rollback(ctx)                                          # a second rollback undoes the first
    assert registry.by_alias(ctx, registry.CHAMPION).version == "2"


def test_an_alias_whose_version_is_gone_is_one_line(ctx):
    client = MlflowClient()
    name = registry.model_name(ctx)
    client.set_registered_model_alias(name, registry.CHALLENGER, "3")
    client.delete_model_version(name, "3")
    aliases = client.get_registered_model(name).aliases or {}
    if aliases.get(registry.CHALLENGER) is None:      # the store dropped the alias with its version
        assert registry.by_alias(ctx, registry.CHALLENGER) is None
    else:
        with pytest.raises(registry.RegistryError, match=r"@challenger points at version 3, which does not exist"):
            registry.by_alias(ctx, registry.CHALLENGER)


def test_a_store_that_cannot_be_opened_is_one_line(ctx, tmp_path):
    (tmp_path / "mlflow.db").write_bytes(b"not a database, " * 512)
    broken = Context(cfg=ctx.cfg, as_of=ctx.as_of, home=tmp_path)
    try:
        with pytest.raises(registry.RegistryError,
                           match=r"the MLflow tracking store sqlite:///.*mlflow\.db cannot be opened"):
            registry.configure(broken)
    finally:
        registry.configure(ctx)
    assert registry.runtime_versions()["pyspark"] and registry.runtime_versions()["mlflow"]
