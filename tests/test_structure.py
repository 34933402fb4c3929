"""The layout's rules, checked on the code itself: no import cycles between the modules of
jobs/, transforms/ and lakescore/; transforms stay pure; no stage imports another stage; files
stay small; SQL text never interpolates a value by hand."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("jobs", "transforms", "lakescore")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Project modules `name` imports anywhere in its file (top level or inside a function)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rsplit(".", 1)[0] if "." in target else ""
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_walk_sees_the_project():
    assert {"jobs.train", "lakescore.cli", "lakescore.config.use_case", "transforms.features.leakage"} <= set(MODULES)
    assert "lakescore.config.use_case" in GRAPH["lakescore.config.loading"]
    assert "lakescore.stage" in GRAPH["jobs.train"]


def test_no_import_cycles():
    assert _cycles(GRAPH) == []


def test_the_cycle_check_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


# What a pure transform never touches: sessions, table or file I/O, MLflow, Delta's API.
_IMPURE_MODULES = ("mlflow", "delta", "pyspark.sql.session")
_IMPURE_NAMES = {"SparkSession", "saveAsTable", "write", "writeStream", "read", "readStream", "getOrCreate",
                 "builder", "DeltaTable"}


def test_transforms_are_pure():
    for name, path in MODULES.items():
        if not name.startswith("transforms"):
            continue
        assert not [d for d in GRAPH[name] if d.startswith(("jobs", "lakescore"))], name
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not [m for m in mods if m.startswith(_IMPURE_MODULES)], f"{name} imports {mods}"
            used = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
            assert used not in _IMPURE_NAMES, f"{name}:{node.lineno} uses {used}"


def test_no_stage_imports_another_stage_and_the_platform_imports_no_stage():
    stages = {n for n in MODULES if n.startswith("jobs.") and n != "jobs.pipeline"}
    for name in stages:
        assert not (GRAPH[name] & stages), name
    for name, deps in GRAPH.items():
        # only the command line knows the pipeline (`run`, `backfill`)
        if name.startswith("lakescore") and name != "lakescore.cli" and not name.startswith("lakescore.cli."):
            assert not [d for d in deps if d.startswith("jobs")], name


def test_files_stay_small():
    big = {str(p.relative_to(ROOT)): n for p in MODULES.values() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert big == {}


# SQL that splices a value in by hand: a quote or backtick right around an interpolation
# (`'{x}'`, `DATE'{d}'`, `` `{name}` ``). Values go through transforms.sqltext (literal, eq,
# in_list, ident); the only file allowed to build such text is sqltext itself, the feature page
# writes Markdown code spans, not SQL, and a line that builds text for people (not SQL) says so
# with a `# not SQL` comment.
_HAND_QUOTED = re.compile(r"""['`]\{[^}]*\}['`]?|\{[^}]*\}['`]""")
_ALLOWED = {"transforms/sqltext.py", "lakescore/feature_docs.py"}


def _f_strings(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            yield node.lineno, text


def test_sql_text_goes_through_the_quoting_helpers():
    offenders = []
    for name, path in MODULES.items():
        rel = str(path.relative_to(ROOT))
        if rel in _ALLOWED:
            continue
        lines = path.read_text().splitlines()
        for line, text in _f_strings(path):
            if _HAND_QUOTED.search(text) and "# not SQL" not in lines[line - 1]:
                offenders.append(f"{rel}:{line}: {text}")
    assert offenders == []


def test_the_scan_finds_hand_quoted_sql():
    assert _HAND_QUOTED.search("source = '{}' AND x")
    assert _HAND_QUOTED.search("as_of = DATE'{}'")
    assert _HAND_QUOTED.search("USE CATALOG `{}`")
    assert not _HAND_QUOTED.search("{} = {}")


def test_the_cli_names_the_pipeline_stages_in_order():
    from jobs.pipeline import STAGES
    from lakescore.cli import STAGE_NAMES

    assert list(STAGE_NAMES) == STAGES
