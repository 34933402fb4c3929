"""The generated feature page: committed, current, and complete."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from lakescore.cli import app
from lakescore.config import load_config
from lakescore.features.feature_page import render
from tests.support import FLIGHTS_YML, ROOT

runner = CliRunner()
PAGE = ROOT / "docs" / "features.md"


def test_the_committed_feature_page_is_current():
    expected = render(load_config(FLIGHTS_YML), "conf/flights.yml")
    assert PAGE.read_text() == expected, "run: lakescore features docs -c conf/flights.yml -o docs/features.md"


def test_every_feature_is_documented_with_source_and_known_at():
    cfg = load_config(FLIGHTS_YML)
    rows = {line.split(" | ")[0].strip("| `"): line for line in PAGE.read_text().splitlines()
            if line.startswith("| `")}
    for f in cfg.features.columns:
        row = rows[f.name]
        assert f" | {cfg.feature_known_at(f)} | " in row and f.description.split(",")[0] in row
        assert "constant" not in row  # every feature names where it comes from
    assert "`arr_delay`" in PAGE.read_text().split("## Never features")[1]


def test_docs_command_writes_and_checks(tmp_path):
    out = tmp_path / "features.md"
    written = runner.invoke(app, ["features", "docs", "-c", str(FLIGHTS_YML), "-o", str(out)])
    assert written.exit_code == 0 and out.read_text() == render(load_config(FLIGHTS_YML), str(FLIGHTS_YML))
    assert runner.invoke(app, ["features", "docs", "-c", str(FLIGHTS_YML), "-o", str(out), "--check"]).exit_code == 0
    data = yaml.safe_load(FLIGHTS_YML.read_text())
    data["features"]["columns"][0]["description"] = "changed"
    changed = tmp_path / "changed.yml"
    changed.write_text(yaml.safe_dump(data))
    stale = runner.invoke(app, ["features", "docs", "-c", str(changed), "-o", str(out), "--check"])
    assert stale.exit_code == 1 and "is not current" in stale.output
    printed = runner.invoke(app, ["features", "docs", "-c", str(changed)])
    assert printed.exit_code == 0 and "| `carrier` | categorical (string) | catalog |" in printed.stdout
