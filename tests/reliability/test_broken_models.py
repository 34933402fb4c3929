"""Broken models and stores at scoring: a corrupted model artifact (its MLmodel, or the Spark
model's data), a deleted artifact, @champion pointing at a deleted version (deleted through
MLflow, which drops the alias, and an alias left behind in the store), and a tracking store that
cannot be opened. Each time `lakescore run score` (a subprocess, on the reference home) exits 1
with one error line naming what is broken, writes nothing, and the earlier predictions are
intact (compared with chispa); `stage_runs` records the failed score with that line. The home
(artifacts, store and stage_runs) is restored after each case, so the re-run tests that follow
start from the uninterrupted reference."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from chispa import assert_df_equality
from mlflow import MlflowClient

from tests.reliability import harness as h

pytestmark = pytest.mark.reliability


def _client(home: Path) -> MlflowClient:
    uri = f"sqlite:///{home / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _champion_artifact(home: Path) -> tuple[str, Path]:
    client = _client(home)
    version = str(client.get_registered_model(h.MODEL).aliases["champion"])
    uri = client.get_model_version_download_uri(h.MODEL, version)
    assert uri.startswith("file://"), uri
    return version, Path(uri[len("file://"):])


def _garble(path: Path) -> None:
    path.write_bytes(b"\x00\xffnot what it was\n{{{" * 7)


def corrupt_mlmodel(home):
    _garble(_champion_artifact(home)[1] / "MLmodel")
    return r"model tiny_model version \d+ \(@champion\): its artifact file://\S+ cannot be loaded: "


def corrupt_model_data(home):
    for part in (_champion_artifact(home)[1] / "sparkml").rglob("*.parquet"):
        _garble(part)
    return r"model tiny_model version \d+ \(@champion\): its artifact file://\S+ cannot be loaded: "


def delete_artifact(home):
    shutil.rmtree(_champion_artifact(home)[1])
    return r"model tiny_model version \d+ \(@champion\): its artifact file://\S+ cannot be loaded: "


def delete_champion_version(home):
    version, _ = _champion_artifact(home)
    _client(home).delete_model_version(h.MODEL, version)        # MLflow drops the version's aliases with it
    return r"model tiny_model has no @champion: run promote first"


def leave_alias_of_deleted_version(home):
    version, _ = _champion_artifact(home)
    _client(home).delete_model_version(h.MODEL, version)
    with sqlite3.connect(home / "mlflow.db") as db:              # an alias left behind (a partial restore, a hand edit)
        db.execute("INSERT INTO registered_model_aliases (alias, version, name) VALUES ('champion', ?, ?)",
                   (int(version), h.MODEL))
    return r"model tiny_model@champion points at version \d+, which does not exist \(deleted\?\)"


def corrupt_tracking_store(home):
    _garble(home / "mlflow.db")
    return r"the MLflow tracking store sqlite:///\S+mlflow\.db cannot be opened: .*file is not a database"


CASES = [corrupt_mlmodel, corrupt_model_data, delete_artifact, delete_champion_version,
         leave_alias_of_deleted_version, corrupt_tracking_store]


@pytest.mark.parametrize("breakage", CASES, ids=[c.__name__ for c in CASES])
def test_score_with_a_broken_model_or_store_fails_in_one_line_and_writes_nothing(spark, reference, breakage, tmp_path):
    import re

    home, config = reference["home"], reference["config"]
    predictions, stage_runs = h.tables(home)["predictions"], h.tables(home)["stage_runs"]
    before_version = h.read_delta_rs(predictions)[0]
    runs_version = h.read_delta_rs(stage_runs)[0]
    saved = tmp_path / "saved"
    shutil.copytree(home / "mlartifacts", saved / "mlartifacts")
    shutil.copy2(home / "mlflow.db", saved / "mlflow.db")
    try:
        expected = breakage(home)
        run = h.run_cli(h.command("score", config), home)
        errors = [line for line in run.stderr.splitlines() if line.startswith("lakescore: error:")]
        assert run.returncode == 1, run.stderr[-3000:]
        assert len(errors) == 1 and "Traceback" not in run.stderr, run.stderr[-3000:]
        assert re.search(expected, errors[0]), errors[0]
        print(f"\n{breakage.__name__}: {errors[0]}")
        assert h.read_delta_rs(predictions)[0] == before_version              # nothing written
        assert_df_equality(h.spark_frame(spark, predictions, before_version), h.spark_frame(spark, predictions),
                           ignore_row_order=True)
        # what an operator reads afterwards: stage_runs says score failed, and why
        recorded = spark.read.format("delta").load(str(stage_runs)).where("stage = 'score'").collect()
        assert [r.status for r in recorded] == ["failed"], recorded
        assert re.search(expected, recorded[0].detail or ""), recorded[0].detail
    finally:
        shutil.rmtree(home / "mlartifacts")
        shutil.copytree(saved / "mlartifacts", home / "mlartifacts")
        shutil.copy2(saved / "mlflow.db", home / "mlflow.db")
        # the home as it was for the next test (a later `run all` again compares with it)
        spark.sql(f"RESTORE TABLE delta.`{stage_runs}` TO VERSION AS OF {runs_version}")
    assert h.dangling_aliases(home) == []
