"""`--set key.path=value`: parsed as YAML values, merged over the file and its target, validated
like the file (a bad key or type is named), and accepted by every command that takes --config."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from lakescore.cli import app
from lakescore.config import ConfigError, load_config
from lakescore.config.overrides import overrides_mapping
from tests.support import FLIGHTS_YML

runner = CliRunner()


def test_values_are_read_as_yaml_and_nested_later_items_winning():
    assert overrides_mapping(["model.params.regParam=0.1", "train.window_days=60", "score.zorder=false",
                              "monitor.lookback_days=null", "slices=[origin, carrier]", "name=x=y",
                              "train.window_days=61", "mlflow.experiment='007'"]) == {
        "model": {"params": {"regParam": 0.1}}, "train": {"window_days": 61}, "score": {"zorder": False},
        "monitor": {"lookback_days": None}, "slices": ["origin", "carrier"], "name": "x=y",
        "mlflow": {"experiment": "007"}}


@pytest.mark.parametrize("item", ["train.window_days", "=3", "train..window_days=3", "a.b=[unclosed"])
def test_a_malformed_item_is_refused(item):
    with pytest.raises(ConfigError, match=r"--set "):
        overrides_mapping([item])


def _targeted(tmp_path):
    data = yaml.safe_load(FLIGHTS_YML.read_text())
    data["targets"] = {"big": {"train": {"window_days": 90}, "model": {"params": {"maxIter": 7}}}}
    path = tmp_path / "flights.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_overrides_merge_over_the_file_and_its_target(tmp_path):
    path = _targeted(tmp_path)
    base = load_config(path)
    cfg = load_config(path, target="big", overrides=overrides_mapping(
        ["model.params.regParam=0.1", "train.window_days=60"]))
    assert cfg.train.window_days == 60                       # over the target's 90
    assert cfg.model.params["regParam"] == 0.1 and cfg.model.params["maxIter"] == 7
    assert cfg.model.algorithm == base.model.algorithm and cfg.features == base.features
    assert load_config(path, target="big").train.window_days == 90


@pytest.mark.parametrize("item, message", [
    ("model.algoritm=gbt", "model.algoritm: unknown key"),
    ("train.window_days=sixty", "train.window_days: Input should be a valid integer"),
    ("train.window_days.days=3", "train.window_days: Input should be a valid integer"),
    ("split.test_fraction=[1, 2]", "split.test_fraction: Input should be a valid number"),
])
def test_a_bad_override_is_named_like_a_bad_key_in_the_file(tmp_path, item, message):
    with pytest.raises(ConfigError, match=r"flights.yml: invalid config: ") as info:
        load_config(_targeted(tmp_path), overrides=overrides_mapping([item]))
    assert message in str(info.value)


COMMANDS = [
    ["run", "train", "--as-of", "2013-12-01"],
    ["backfill", "--start", "2013-12-01", "--end", "2013-12-02"],
    ["sql", "select 1"],
    ["predict", "--key", "flight_id=x"],
    ["model", "checks"], ["model", "rollback"], ["model", "register", "--model-uri", "runs:/x/model"],
    ["ingest", "replay", "--source", "flights"],
    ["features", "docs"],
    ["contract", "infer", "--source", "flights"],   # validates sources, storage and tables only
    ["metrics", "--out", "never-written.prom"],
    ["retrain-needed", "--as-of", "2013-12-01"],
    ["report", "--out", "never-written.html"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_every_command_with_a_config_takes_set_and_names_a_bad_key(command):
    """The config is refused before any Spark session starts: one line naming the key, exit 1."""
    key = "tables.predictons" if command[0] == "contract" else "train.windw_days"
    out = runner.invoke(app, [*command, "-c", str(FLIGHTS_YML), "--set", f"{key}=3"])
    assert out.exit_code == 1, out.output
    assert "lakescore: error: " in out.output and f"{key}: unknown key" in out.output, out.output


def test_a_stage_script_takes_set():
    """`python -m lakescore.jobs.<stage>` (and so `spark-submit jobs/<stage>.py`) parses --set too."""
    import subprocess
    import sys

    from tests.support import ROOT

    out = subprocess.run([sys.executable, "-m", "lakescore.jobs.score", "--config", str(FLIGHTS_YML),
                          "--as-of", "2013-12-01", "--set", "model.algoritm=x"],
                         cwd=ROOT, check=False, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "model.algoritm: unknown key" in out.stderr, out.stderr
