"""databricks.yml, validated offline with the databricks-bundles package's typed models."""

from __future__ import annotations

import re
import tomllib

import yaml
from databricks.bundles.jobs import Job

from jobs.pipeline import STAGES
from lakescore.config import load_config
from tests.support import ROOT


def _bundle():
    bundle = yaml.safe_load((ROOT / "databricks.yml").read_text())
    jobs = {}
    for pattern in bundle["include"]:
        for path in sorted(ROOT.glob(pattern)):
            jobs.update(yaml.safe_load(path.read_text())["resources"]["jobs"])
    return bundle, jobs


def test_jobs_parse_as_typed_models_and_run_every_stage_in_order():
    bundle, jobs = _bundle()
    assert jobs, "the bundle defines no job"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for name, spec in jobs.items():
        job = Job.from_dict(spec)  # raises on any unknown or mistyped field
        tasks = {t.task_key: t for t in job.tasks}
        assert list(tasks) == STAGES, name
        for previous, stage in zip(STAGES, STAGES[1:]):
            wanted = ["features", previous] if stage == "score" else [previous]
            assert [d.task_key for d in tasks[stage].depends_on] == wanted
        # scoring does not wait on training: score runs when features succeeded, whatever promote did
        assert tasks["score"].as_dict()["run_if"] == "AT_LEAST_ONE_SUCCESS"
        env_keys = {e.environment_key for e in job.environments}
        for stage, task in tasks.items():
            wheel = task.python_wheel_task
            assert task.environment_key in env_keys
            assert wheel.package_name == "lakescore" and wheel.entry_point in scripts
            params = wheel.as_dict()["parameters"]  # variables back as ${...} text
            assert params[:2] == ["run", stage]
            assert params[params.index("--as-of") + 1] == "{{job.parameters.as_of}}"
            assert params[params.index("--target") + 1] == "${bundle.target}"
        assert {p.name for p in job.parameters} == {"as_of"}


def test_variables_targets_and_config_agree():
    bundle, jobs = _bundle()
    used = set()
    for path in [ROOT / "databricks.yml", *ROOT.glob("resources/*.yml")]:
        used |= set(re.findall(r"\$\{var\.([a-z_]+)\}", path.read_text()))
    assert used <= set(bundle["variables"]), f"undeclared variables {used - set(bundle['variables'])}"
    config = ROOT / bundle["variables"]["config"]["default"]
    assert config.exists()
    for target in bundle["targets"]:
        cfg = load_config(config, target=target)  # every bundle target has config overrides
        assert cfg.storage.catalog == target
    assert sum(1 for t in bundle["targets"].values() if t.get("default")) == 1
