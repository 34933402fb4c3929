"""The layout's rules, checked on the code itself: no import cycles between the modules of
jobs/, transforms/ and lakescore/ (installed as lakescore.jobs, lakescore.transforms and
lakescore); transforms stay pure; no stage imports another stage; no stage folder of the platform
imports another, and core, config and models import none; every package is in the wheel and its
`__init__` names its public parts; files stay small; SQL text never interpolates a value by hand."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# folder of the checkout -> the package it ships as (pyproject.toml's package-dir)
PACKAGES = {"lakescore": "lakescore", "jobs": "lakescore.jobs", "transforms": "lakescore.transforms"}
STAGE_FOLDERS = ("ingest", "features", "training", "gate", "scoring", "monitoring")
SHARED_FOLDERS = ("core", "config", "models")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            out[".".join((package, *parts))] = path
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
    assert {"lakescore.jobs.train", "lakescore.cli", "lakescore.config.use_case",
            "lakescore.transforms.features.leakage", "lakescore.ingest.check"} <= set(MODULES)
    assert "lakescore.config.use_case" in GRAPH["lakescore.config.loading"]
    assert "lakescore.core.stage_runner" in GRAPH["lakescore.jobs.train"]


def test_no_import_cycles():
    assert _cycles(GRAPH) == []


def test_the_cycle_check_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


# What a pure transform never touches: sessions, table or file I/O, MLflow, Delta's API.
_IMPURE_MODULES = ("mlflow", "delta", "pyspark.sql.session")
_IMPURE_NAMES = {"SparkSession", "saveAsTable", "write", "writeStream", "read", "readStream", "getOrCreate",
                 "builder", "DeltaTable"}


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_transforms_are_pure():
    for name, path in MODULES.items():
        if not _in(name, "lakescore.transforms"):
            continue
        assert not [d for d in GRAPH[name] if not _in(d, "lakescore.transforms")], name
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not [m for m in mods if m.startswith(_IMPURE_MODULES)], f"{name} imports {mods}"
            used = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
            assert used not in _IMPURE_NAMES, f"{name}:{node.lineno} uses {used}"


def test_no_stage_imports_another_stage_and_the_platform_imports_no_stage():
    stages = {n for n in MODULES if _in(n, "lakescore.jobs") and n not in ("lakescore.jobs", "lakescore.jobs.pipeline")}
    for name in stages:
        assert not (GRAPH[name] & stages), name
    for name, deps in GRAPH.items():
        # only the command line knows the pipeline (`run`, `backfill`)
        if not _in(name, "lakescore.jobs") and not _in(name, "lakescore.cli"):
            assert not [d for d in deps if _in(d, "lakescore.jobs")], name


def _folder(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGE_FOLDERS + SHARED_FOLDERS + ("cli",) else None


def test_no_stage_folder_imports_another_and_the_shared_folders_import_none():
    """The platform's stage folders serve one stage each: what two of them need lives in core,
    config or models, and a composition of two (`lakescore predict` builds a feature row and
    scores it) is made by the command line or the notebook helper, which may import any folder."""
    offenders = []
    for name, deps in GRAPH.items():
        home = _folder(name)
        if home is None or home == "cli":
            continue
        for dep in deps:
            there = _folder(dep)
            if there in (None, home) or there in SHARED_FOLDERS and home not in SHARED_FOLDERS:
                continue
            if home in SHARED_FOLDERS and there in SHARED_FOLDERS:
                continue
            offenders.append(f"{name} -> {dep}")
    assert offenders == [], offenders


def test_the_folder_rule_finds_offenders():
    assert _folder("lakescore.scoring.on_demand") == "scoring" and _folder("lakescore.notebook") is None
    assert _folder("lakescore.transforms.features.asof") is None


def test_code_imports_the_installed_names_only():
    """`import transforms` or `from jobs import ...` works only from the checkout's root, never from
    the wheel: the code imports lakescore.transforms and lakescore.jobs."""
    bare = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bare += [f"{name}: {m}" for m in mods if m.split(".")[0] in ("jobs", "transforms")]
    assert bare == []


def _bound_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            names |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def test_every_package_is_in_the_wheel_and_names_its_public_parts():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {n for n, p in MODULES.items() if p.name == "__init__.py"}
    assert packages == listed
    for package in sorted(packages):
        path = MODULES[package]
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree), f"{package}: no docstring"
        public = [ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                  and any(getattr(t, "id", "") == "__all__" for t in node.targets)]
        assert public, f"{package}: no __all__"
        missing = [name for name in public[0] if name not in _bound_names(tree)
                   and not (path.parent / f"{name}.py").exists() and not (path.parent / name / "__init__.py").exists()
                   and not (package == "lakescore" and name in ("jobs", "transforms"))]
        assert missing == [], package


def test_files_stay_small():
    big = {str(p.relative_to(ROOT)): n for p in MODULES.values() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert big == {}


# SQL that splices a value in by hand: a quote or backtick right around an interpolation
# (`'{x}'`, `DATE'{d}'`, `` `{name}` ``). Values go through transforms.sqltext (literal, eq,
# in_list, ident); the only file allowed to build such text is sqltext itself, the feature page
# writes Markdown code spans, not SQL, and a line that builds text for people (not SQL) says so
# with a `# not SQL` comment.
_HAND_QUOTED = re.compile(r"""['`]\{[^}]*\}['`]?|\{[^}]*\}['`]""")
# Markdown page generators: their backticks are Markdown code spans, not SQL identifiers
_ALLOWED = {"transforms/sqltext.py", "lakescore/features/feature_page.py", "lakescore/core/table_page.py"}


def _f_strings(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            yield node.lineno, text


def test_sql_text_goes_through_the_quoting_helpers():
    offenders = []
    for path in MODULES.values():
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
    from lakescore.cli import StageName
    from lakescore.jobs.pipeline import STAGES

    assert [s.value for s in StageName] == [*STAGES, "all"]
