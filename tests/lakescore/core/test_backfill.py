"""`lakescore backfill` on the tiny use case (tests/reliability/harness.py: 720 events over 1-12
January 2024) for two as-ofs, in the suite's Spark session: a failure stops it at the as-of that
failed, the same command resumes from there, a third run finds everything finished and changes
no table, and `--rerun` runs every as-of again and leaves the same data. The `--set` overrides
given to it reach the MLflow run of the model it trained."""

from __future__ import annotations

from datetime import date

import mlflow
import pytest
import yaml
from chispa import assert_df_equality
from typer.testing import CliRunner

from lakescore.cli import app
from lakescore.core import backfill as bf
from lakescore.core.errors import StageError
from lakescore.core.stage_runner import make_context
from lakescore.jobs.pipeline import TRAINING, stages
from lakescore.models import registry
from tests.reliability import harness

SCHEMA = "backfill_tiny"
DAYS = [date(2024, 1, 11), date(2024, 1, 12)]
SETS = ["model.params.regParam=0.05", "model.params.maxIter=12"]
# what differs between two runs besides the run-varying columns: when a stage ran and how long it took
VARYING = harness.RUN_VARYING | {"started_at", "seconds"}


class Silent:
    def begin(self, total, todo): ...
    def stage(self, as_of, name): ...
    def done(self, run): ...


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = harness.write_use_case(tmp_path_factory.mktemp("backfill"))
    data = yaml.safe_load(path.read_text())
    data["storage"]["schema"] = SCHEMA
    data["model"]["name"] = f"{SCHEMA}_model"
    data["mlflow"]["experiment"] = f"test-{SCHEMA}"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _cli(config, *extra: str):
    args = ["backfill", "-c", str(config), "--start", str(DAYS[0]), "--end", str(DAYS[-1])]
    for s in SETS:
        args += ["--set", s]
    return CliRunner().invoke(app, [*args, *extra])


def _tables(spark, home) -> dict:
    """Every Delta table of the schema (the view has no folder), without the run-varying
    columns, and its version."""
    out = {}
    for path in sorted((home / "warehouse" / f"{SCHEMA}.db").iterdir()):
        if not (path / "_delta_log").is_dir():
            continue
        version, _ = harness.read_delta_rs(path)
        df = harness.spark_frame(spark, path, version)   # pinned (read lazily), maps as sorted entries
        if path.name == "stage_runs":   # what each stage did: a re-run's train says "skipped", not "trained"
            df = df.drop("detail")
        out[path.name] = (df.drop(*(VARYING - harness.RUN_VARYING)), version)
    return out


@pytest.mark.slow
def test_backfill_resumes_after_a_failure_and_a_rerun_changes_nothing(spark, lakescore_home, config):
    failing = {"left": 1}

    def flaky_score(ctx):
        if ctx.as_of == DAYS[1] and failing["left"]:
            failing["left"] -= 1
            raise StageError("the score stage failed on purpose")
        return real_score(ctx)

    chosen = stages()
    real_score = dict(chosen)["score"]
    chosen = [(n, flaky_score if n == "score" else r) for n, r in chosen]
    make = lambda day: make_context(config, day, None, overrides=SETS)
    with pytest.raises(bf.BackfillStopped, match=r"backfill stopped at 2024-01-12: the score stage failed") as info:
        bf.backfill(make, DAYS, chosen, TRAINING, Silent())
    assert [(r.as_of, r.status) for r in info.value.runs] == [(DAYS[0], "succeeded"), (DAYS[1], "failed")]
    runs = {(r.as_of, r.stage): r.status for r in spark.table(f"{SCHEMA}.stage_runs").collect()}
    assert runs[(DAYS[0], "monitor")] == "succeeded" and runs[(DAYS[1], "score")] == "failed"
    assert runs[(DAYS[1], "monitor")] == "skipped"
    assert bf.finished(make(DAYS[0]), DAYS, [n for n, _ in chosen]) == {DAYS[0]}

    # the overrides reached the model trained for the first as-of
    ctx = make(DAYS[0])
    registry.configure(ctx)
    champion = registry.by_alias(ctx, registry.CHAMPION)
    run = mlflow.get_run(champion.run_id)
    assert run.data.params["model.regParam"] == "0.05" and run.data.params["model.maxIter"] == "12"
    assert yaml.safe_load(run.data.tags["lakescore.overrides"]) == SETS

    # the same command resumes: the first as-of is finished, the second runs
    resumed = _cli(config)
    assert resumed.exit_code == 0, resumed.output
    lines = {line.split()[0]: line.split() for line in resumed.output.splitlines() if line.startswith("2024-")}
    assert lines["2024-01-11"][1] == "skipped" and lines["2024-01-12"][1] == "succeeded"
    scored = spark.table(f"{SCHEMA}.predictions").groupBy("as_of").count().collect()
    assert {r.as_of: r["count"] for r in scored} == {d: int(lines[str(d)][3]) for d in DAYS}
    assert all(lines[str(d)][4] == champion.version for d in DAYS)       # rows scored, model version
    assert "1 as-of(s) run in" in resumed.output

    # everything finished: a third run writes nothing
    before = _tables(spark, lakescore_home)
    again = _cli(config)
    assert again.exit_code == 0, again.output
    assert "0 as-of(s) run" in again.output
    assert {n: v for n, (_, v) in _tables(spark, lakescore_home).items()} == {n: v for n, (_, v) in before.items()}

    # --rerun runs both as-ofs again (training is not due): the tables hold the same data
    rerun = _cli(config, "--rerun")
    assert rerun.exit_code == 0, rerun.output
    assert "2 as-of(s) run in" in rerun.output
    after = _tables(spark, lakescore_home)
    assert set(after) == set(before)
    for name, (df, _) in before.items():
        assert_df_equality(after[name][0], df, ignore_row_order=True, ignore_nullable=True)
    assert registry.by_alias(ctx, registry.CHAMPION).version == champion.version


def test_backfill_refuses_a_bad_range_and_unknown_stages(config):
    out = CliRunner().invoke(app, ["backfill", "-c", str(config), "--start", "2024-01-11", "--end", "2024-01-10"])
    assert out.exit_code == 1 and "--end 2024-01-10 is before --start 2024-01-11" in out.output
    out = CliRunner().invoke(app, ["backfill", "-c", str(config), "--start", "2024-01-10", "--end", "2024-01-11",
                                   "--stages", "ingest,scor"])
    assert out.exit_code == 1 and "unknown stage(s) ['scor']" in out.output
    out = CliRunner().invoke(app, ["backfill", "-c", str(config), "--start", "2024-01-10", "--end", "2024-01-11",
                                   "--every", "2d"])
    assert out.exit_code == 1 and "--every 2d" in out.output


def test_as_ofs_every_day_or_week():
    assert bf.as_ofs(date(2013, 12, 1), date(2013, 12, 31)) [-1] == date(2013, 12, 31)
    assert len(bf.as_ofs(date(2013, 12, 1), date(2013, 12, 31))) == 31
    assert bf.as_ofs(date(2013, 12, 1), date(2013, 12, 31), 7) == [date(2013, 12, d) for d in (1, 8, 15, 22, 29)]
