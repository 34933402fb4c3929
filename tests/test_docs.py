"""The documentation holds: every relative link and anchor of the README, docs/ and
benchmarks/README.md points at a file and heading that exist, the generated table page is
current, and the README's analyst queries run against the end-to-end home."""

from __future__ import annotations

import re
import shlex

import yaml
from typer.testing import CliRunner

from lakescore.cli import app
from lakescore.config import load_config
from lakescore.core.table_page import render
from tests.support import FLIGHTS_YML, ROOT, flights_data

PAGES = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]{2,}|`", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    out: set[str] = set()
    for line in _FENCE.sub("", text).splitlines():
        if line.startswith("#"):
            base = anchor(line.lstrip("#"))
            n, name = 0, base
            while name in out:   # GitHub numbers repeated headings
                n += 1
                name = f"{base}-{n}"
            out.add(name)
    return out


def test_anchor_follows_githubs_rules():
    assert anchor("Catalogs: events and snapshots") == "catalogs-events-and-snapshots"
    assert anchor("`drift_metrics`") == "drift_metrics"
    assert anchors("# A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}


def test_every_relative_link_and_anchor_resolves():
    broken = []
    for page in PAGES:
        text = page.read_text()
        for target in _LINK.findall(_FENCE.sub("", text)):
            if re.match(r"[a-z]+:", target):    # http:, mailto:
                continue
            path, _, frag = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no file)")
            elif frag and file.suffix == ".md" and frag not in anchors(file.read_text()):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no heading)")
    assert broken == []


def test_the_table_page_is_current():
    page = render(load_config(FLIGHTS_YML), "conf/flights.yml")
    assert (ROOT / "docs" / "tables.md").read_text() == page, \
        "docs/tables.md is not current: run lakescore tables docs -c conf/flights.yml -o docs/tables.md"


def _readme_queries() -> list[str]:
    """The SQL of every `lakescore sql --config conf/flights.yml "..."` command in the README."""
    text = (ROOT / "README.md").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        if "lakescore sql --config conf/flights.yml" in line:
            args = shlex.split(line.split("lakescore", 1)[1])
            out.append(args[-1])
    return out


def test_the_readmes_queries_run_on_the_end_to_end_home(e2e, flights_files, tmp_path):
    queries = _readme_queries()
    assert len(queries) >= 3, queries
    config = tmp_path / "e2e.yml"
    config.write_text(yaml.safe_dump(flights_data(flights_files, "e2e_flights")))
    for query in queries:
        out = CliRunner().invoke(app, ["sql", "--config", str(config), "--format", "json", query])
        assert out.exit_code == 0, f"{query}: {out.output}"
        assert out.stdout.strip() not in ("", "[]"), f"{query}: no rows"
