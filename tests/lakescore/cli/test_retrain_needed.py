"""`lakescore retrain-needed`: the retraining policy's answer for the training job's condition task
(on the end-to-end tables: @champion was trained for the as-of, so training is not due)."""

from __future__ import annotations

import re

import yaml
from typer.testing import CliRunner

from lakescore.cli import app
from lakescore.cli.retrain import NOT_DUE
from tests.support import flights_data


def test_retrain_needed_says_why_and_exits_by_the_answer_only_when_asked(e2e, flights_files, tmp_path):
    ctx, _ = e2e
    config = tmp_path / "flights.yml"
    config.write_text(yaml.safe_dump(flights_data(flights_files, ctx.cfg.storage.schema_name)))
    args = ["retrain-needed", "-c", str(config)]
    same_day = CliRunner().invoke(app, [*args, "--as-of", "2013-12-01"])
    assert same_day.exit_code == 0, same_day.output
    assert re.search(r"retrain: false: @champion version \d+ \(trained for 2013-12-01\) is 0 day\(s\) old", same_day.output)
    assert "task value" not in same_day.output               # not in a Databricks job: nothing to set
    assert CliRunner().invoke(app, [*args, "--as-of", "2013-12-01", "--exit-code"]).exit_code == NOT_DUE
    later = CliRunner().invoke(app, [*args, "--as-of", "2014-01-15", "--exit-code"])  # past max_model_age_days
    assert later.exit_code == 0, later.output
    assert re.search(r"retrain: true: @champion version \d+ \(trained for 2013-12-01\) is 45 days old", later.output)
