"""The Databricks bundle (databricks.yml + resources/*.yml), validated offline: the typed models
of the databricks-bundles package, the two jobs of each use case (batch inference, training on the
retraining policy), every task's arguments parsed by the real `lakescore` command line, every
variable defined for every target, valid Quartz schedules, and the registered model and
experiment the use case's config names for each target."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import typer
import yaml
from databricks.bundles.experiments import MlflowExperiment
from databricks.bundles.jobs import Job
from databricks.bundles.registered_models import RegisteredModel

from lakescore.cli import app
from lakescore.cli.retrain import TASK_VALUE
from lakescore.config import load_config
from lakescore.jobs.pipeline import STAGES, TRAINING
from tests.support import ROOT

BATCH = [s for s in STAGES if s not in TRAINING]          # ingest, features, score, monitor
AS_OF = "2013-12-01"                                       # stands for {{job.parameters.as_of}}
_VARIABLE = re.compile(r"\$\{var\.([A-Za-z0-9_]+)\}")


def _bundle() -> tuple[dict, dict[Path, dict]]:
    """databricks.yml and each included file (anchors and merge keys resolved by the YAML loader)."""
    bundle = yaml.safe_load((ROOT / "databricks.yml").read_text())
    files = {path: yaml.safe_load(path.read_text())
             for pattern in bundle["include"] for path in sorted(ROOT.glob(pattern))}
    return bundle, files


def _resources(kind: str) -> dict:
    out: dict = {}
    for spec in _bundle()[1].values():
        out.update(spec["resources"].get(kind, {}))
    return out


def _variables(bundle: dict, target: str) -> dict[str, str]:
    values = {name: spec.get("default") for name, spec in bundle["variables"].items()}
    values.update((bundle["targets"][target] or {}).get("variables", {}))
    return values


def _resolve(text: str, bundle: dict, target: str) -> str:
    """A value as the bundle would deploy it for `target` (the workspace's files are this checkout)
    and as a run would see it (the job parameter as_of set)."""
    values = _variables(bundle, target)
    text = _VARIABLE.sub(lambda m: str(values[m.group(1)]), text)
    return text.replace("${bundle.target}", target).replace("${workspace.file_path}", str(ROOT)) \
        .replace("{{job.parameters.as_of}}", AS_OF)


def parse_cli(args: list[str]) -> tuple[str, dict]:
    """The `lakescore` command the arguments name and its parsed parameters, by the real command
    line (click raises on an unknown command or option, a missing one or a bad value)."""
    cmd, ctx, name, rest = typer.main.get_command(app), None, "lakescore", list(args)
    while hasattr(cmd, "get_command"):  # a group (typer's own click, or click's)
        ctx = cmd.make_context(name, rest[:1], parent=ctx)
        name, rest = rest[0], rest[1:]
        cmd = cmd.get_command(ctx, name)
        assert cmd is not None, f"no command {name!r} in {args}"
    return name, cmd.make_context(name, rest, parent=ctx).params


# ------------------------------------------------------------------------ Quartz schedules
_FIELDS = [  # second, minute, hour, day of month, month, day of week, year (optional)
    (0, 59, {}), (0, 59, {}), (0, 23, {}), (1, 31, {}),
    (1, 12, {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}),
    (1, 7, {d: i + 1 for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}), (1970, 2099, {})]


def _quartz_field(text: str, low: int, high: int, names: dict, index: int) -> bool:
    def value(v: str) -> bool:
        n = names.get(v.upper()) if v.upper() in names else (int(v) if v.isdigit() else None)
        return n is not None and low <= n <= high

    for part in text.split(","):
        if part in ("*", "?") or (index == 3 and re.fullmatch(r"L(-\d+)?|\d+W|LW", part)) or \
                (index == 5 and re.fullmatch(r"[1-7]L|[1-7]#[1-5]", part)):
            continue
        base, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        ends = base.split("-") if base != "*" else []
        if base != "*" and not (1 <= len(ends) <= 2 and all(value(e) for e in ends)):
            return False
    return True


def quartz_valid(expression: str) -> bool:
    """A Quartz cron expression as Databricks schedules take it: 6 or 7 fields, `?` in exactly
    one of day-of-month and day-of-week, every value in its field's range."""
    fields = expression.split()
    if len(fields) not in (6, 7) or [fields[3], fields[5]].count("?") != 1:
        return False
    return all(_quartz_field(f, *_FIELDS[i][:3], i) for i, f in enumerate(fields))


@pytest.mark.parametrize("expression, valid", [
    ("0 30 5 * * ?", True), ("0 0 9 ? * MON-FRI", True), ("0 15 10 L * ?", True), ("0 0/5 14 * * ? 2030", True),
    ("0 30 5 * * *", False), ("0 30 5 ? * ?", False), ("30 5 * * ?", False), ("0 60 5 * * ?", False),
    ("0 30 24 * * ?", False), ("0 30 5 32 * ?", False), ("0 30 5 ? * FUNDAY", False), ("0 */0 5 * * ?", False),
])
def test_the_quartz_check_tells_valid_from_invalid(expression, valid):
    assert quartz_valid(expression) is valid


# ------------------------------------------------------------------------------- the jobs
def _jobs_by_use_case() -> dict[Path, dict[str, dict]]:
    """Each use case's config (from its tasks' --config) and its jobs by name."""
    bundle, _ = _bundle()
    out: dict[Path, dict[str, dict]] = {}
    for name, spec in _resources("jobs").items():
        configs = {_resolve(t["python_wheel_task"]["parameters"][t["python_wheel_task"]["parameters"].index("--config") + 1],
                            bundle, "dev") for t in spec["tasks"] if "python_wheel_task" in t}
        assert len(configs) == 1, f"job {name}: its tasks name several configs {configs}"
        out.setdefault(Path(configs.pop()), {})[name] = spec
    return out


def test_every_use_case_has_a_batch_inference_and_a_training_job():
    by_use_case = _jobs_by_use_case()
    assert {p.name for p in by_use_case} == {p.name for p in (ROOT / "conf").glob("*.yml")}
    for config, jobs in by_use_case.items():
        assert len(jobs) == 2, f"{config.name}: {sorted(jobs)}"
        tasks = {name: [t["task_key"] for t in job["tasks"]] for name, job in jobs.items()}
        batch = next(n for n, keys in tasks.items() if "score" in keys)
        training = next(n for n in jobs if n != batch)
        # the batch job chains the serving stages; training is not in it, so it never waits on training
        assert tasks[batch] == BATCH, batch
        for previous, task in zip(jobs[batch]["tasks"], jobs[batch]["tasks"][1:]):
            assert task["depends_on"] == [{"task_key": previous["task_key"]}], task["task_key"]
            assert task.get("run_if", "ALL_SUCCESS") == "ALL_SUCCESS"
        # the training job: the policy's answer as a task value, a condition on it, train -> promote
        assert tasks[training] == ["retrain_needed", "retrain_due", *TRAINING], training
        by_key = {t["task_key"]: t for t in jobs[training]["tasks"]}
        assert by_key["retrain_needed"]["python_wheel_task"]["parameters"][0] == "retrain-needed"
        condition = by_key["retrain_due"]["condition_task"]
        assert condition == {"op": "EQUAL_TO", "left": "{{tasks.retrain_needed.values." + TASK_VALUE + "}}",
                             "right": "true"}
        assert by_key["retrain_due"]["depends_on"] == [{"task_key": "retrain_needed"}]
        assert by_key["train"]["depends_on"] == [{"task_key": "retrain_due", "outcome": "true"}]
        assert by_key["promote"]["depends_on"] == [{"task_key": "train"}]
        # each job on its own schedule; training after the day's batch (same time zone)
        schedules = {n: jobs[n]["schedule"] for n in (batch, training)}
        assert schedules[batch]["timezone_id"] == schedules[training]["timezone_id"]
        hour = {n: int(s["quartz_cron_expression"].split()[2]) for n, s in schedules.items()}
        assert hour[training] > hour[batch], f"{config.name}: training should run after the batch job"


def test_jobs_parse_as_typed_models_and_every_task_runs_the_real_cli():
    bundle, _ = _bundle()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    parsed = 0
    for name, spec in _resources("jobs").items():
        job = Job.from_dict(spec)  # raises on any unknown or mistyped field
        assert {p.name for p in job.parameters} == {"as_of"}
        env_keys = {e.environment_key for e in job.environments}
        for task in job.tasks:
            if task.condition_task is not None:
                continue
            wheel = task.python_wheel_task
            assert task.environment_key in env_keys, f"{name}.{task.task_key}"
            assert wheel.package_name == "lakescore" and wheel.entry_point in scripts
            params = wheel.as_dict()["parameters"]  # variables back as ${...} text
            assert params[params.index("--as-of") + 1] == "{{job.parameters.as_of}}"
            assert params[params.index("--target") + 1] == "${bundle.target}"
            for target in bundle["targets"]:
                command, values = parse_cli([_resolve(p, bundle, target) for p in params])
                assert str(values["as_of"].date()) == AS_OF and values["target"] == target
                assert values["config"].exists(), values["config"]
                if command == "run":
                    assert values["stage"].value == task.task_key, f"{name}.{task.task_key}"
                else:
                    assert (command, task.task_key) == ("retrain-needed", "retrain_needed")
                parsed += 1
    assert parsed == 2 * 7 * len(_bundle()[0]["targets"])  # 2 use cases x 7 lakescore tasks x targets


def test_the_cli_refuses_what_a_task_could_get_wrong():
    with pytest.raises(typer.BadParameter, match="'scoring' is not one of"):
        parse_cli(["run", "scoring", "--config", "conf/flights.yml", "--as-of", AS_OF])
    with pytest.raises(typer.BadParameter, match="does not match the format"):
        parse_cli(["run", "score", "--config", "conf/flights.yml", "--as-of", "{{job.parameters.as_of}}"])
    with pytest.raises(Exception, match="No such option: --stage"):
        parse_cli(["retrain-needed", "--config", "conf/flights.yml", "--as-of", AS_OF, "--stage", "train"])
    with pytest.raises(Exception, match="Missing (option '--as-of'|parameter: as_of)"):
        parse_cli(["run", "score", "--config", "conf/flights.yml"])
    with pytest.raises(AssertionError, match="no command 'retrain'"):
        parse_cli(["retrain", "--config", "conf/flights.yml"])


def test_tasks_share_their_settings_through_anchors():
    """Each file says once what its jobs and tasks share (the YAML anchors), not per task."""
    for path, spec in _bundle()[1].items():
        text = path.read_text()
        for setting in ("package_name:", "max_retries:", "max_concurrent_runs:", "on_failure:", "environments:"):
            assert text.count(setting) == 1, f"{path.name}: {setting} written {text.count(setting)} times"
        jobs = spec["resources"]["jobs"]
        tasks = [t for job in jobs.values() for t in job["tasks"] if "python_wheel_task" in t]
        assert text.count("<<: *task") == len(tasks) and text.count("<<: *wheel") == len(tasks)
        assert text.count("<<: *job") == len(jobs)
        # what the anchors carry reached every task and job
        assert all(t["environment_key"] == "lakescore" and t["max_retries"] == 0 for t in tasks)
        assert all(j["max_concurrent_runs"] == 1 and j["environments"] for j in jobs.values())
        # the anchors' holders are the only keys beside `resources`
        assert set(spec) - {"resources"} == {"lakescore_job", "lakescore_task", "lakescore_wheel"}


def test_variables_are_defined_for_every_target_and_schedules_are_quartz():
    bundle, files = _bundle()
    used = set()
    for path in [ROOT / "databricks.yml", *files]:
        used |= set(_VARIABLE.findall(path.read_text()))
    declared = set(bundle["variables"])
    assert used <= declared, f"undeclared variables {used - declared}"
    assert used == declared, f"variables no file uses: {declared - used}"
    for target, spec in bundle["targets"].items():
        overrides = set((spec or {}).get("variables", {}))
        assert overrides <= declared, f"target {target} sets undeclared {overrides - declared}"
        values = _variables(bundle, target)
        assert all(values[v] is not None for v in declared), f"target {target}: {values}"
        assert values["schedule_pause_status"] in ("PAUSED", "UNPAUSED")
    assert sum(1 for t in bundle["targets"].values() if t.get("default")) == 1
    for name, job in _resources("jobs").items():
        schedule = job["schedule"]
        assert quartz_valid(schedule["quartz_cron_expression"]), f"{name}: {schedule['quartz_cron_expression']}"
        assert schedule["pause_status"] == "${var.schedule_pause_status}"


def test_registered_model_and_experiment_are_the_ones_each_target_uses():
    """What the bundle creates is what lakescore writes to: `<catalog>.<schema>.<model>` and the
    experiment of conf/<use case>.yml under each target."""
    bundle, _ = _bundle()
    models = {n: RegisteredModel.from_dict(s).as_dict() for n, s in _resources("registered_models").items()}
    experiments = {n: MlflowExperiment.from_dict(s).as_dict() for n, s in _resources("experiments").items()}
    configs = sorted(_jobs_by_use_case())
    assert len(models) == len(experiments) == len(configs)
    for config in configs:
        for target in bundle["targets"]:
            cfg = load_config(config, target=target)
            model = [m for m in models.values() if m["name"] == cfg.model.name]
            assert len(model) == 1, f"{config.name}: no registered model {cfg.model.name}"
            assert _resolve(model[0]["catalog_name"], bundle, target) == cfg.storage.catalog == target
            assert model[0]["schema_name"] == cfg.storage.schema_name
            names = [_resolve(e["name"], bundle, target) for e in experiments.values()]
            assert cfg.mlflow.experiment in names, f"{config.name} under {target}: {cfg.mlflow.experiment} not in {names}"
    assert all(s["lifecycle"]["prevent_destroy"] for s in [*models.values(), *experiments.values()])
