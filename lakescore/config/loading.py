"""Loading a use-case YAML: per-target overrides merged in, then validated, with one message
that names the file and the key of every problem."""

from __future__ import annotations

import copy
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from lakescore.config.base import ConfigError, Identifier, Strict
from lakescore.config.sources import DraftSource, Source
from lakescore.config.storage import Storage, Tables
from lakescore.config.use_case import UseCase
from lakescore.transforms.features.sql_refs import did_you_mean


def deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _keys_at(model: Any, loc: tuple) -> set[str]:
    """The keys the mapping at `loc` (a pydantic error's path below `model`) may hold: its
    model's field names and aliases, through dicts, lists, optionals and unions; empty when the
    path leads to no model."""
    candidates = [model]
    for part in loc:
        nxt = []
        for ann in _unwrap(candidates):
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                field = ann.model_fields.get(str(part)) or next(
                    (f for f in ann.model_fields.values() if f.alias == part), None)
                if field is not None:
                    nxt.append(field.annotation)
            elif typing.get_origin(ann) in (dict, list, tuple) and typing.get_args(ann):
                nxt.append(typing.get_args(ann)[-1 if typing.get_origin(ann) is dict else 0])
        candidates = nxt
    keys: set[str] = set()
    for ann in _unwrap(candidates):
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys |= {f.alias or name for name, f in ann.model_fields.items()}
    return keys


def _unwrap(annotations: list) -> list:
    """Optionals, unions and Annotated taken apart into their members."""
    out, todo = [], list(annotations)
    while todo:
        ann = todo.pop()
        origin = typing.get_origin(ann)
        if origin is typing.Annotated:
            todo.append(typing.get_args(ann)[0])
        elif origin in (typing.Union, types.UnionType):
            todo.extend(typing.get_args(ann))
        else:
            out.append(ann)
    return out


def _describe(error: ValidationError, path: str) -> str:
    lines = []
    for e in error.errors():
        key = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key" + did_you_mean(str(e["loc"][-1]), _keys_at(UseCase, tuple(e["loc"][:-1])))
        elif e["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"{key}: {msg}" if key else msg)  # a cross-check names its keys itself
    head = f"{path}: invalid config: {lines[0]}"
    rest = [f"  also {line}" for line in lines[1:]]
    return "\n".join([head, *rest])


def _targeted(data: Any, target: str | None, source: str, overrides: dict[str, Any] | None = None) -> dict:
    """The file's mapping with targets.<target> merged over it, then the command line's overrides."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: invalid config: the top level must be a mapping")
    if target:
        targets = data.get("targets") or {}
        if target not in targets:
            raise ConfigError(f"{source}: invalid config: targets.{target}: no such target "
                              f"(known: {sorted(targets) or 'none'})")
        data = deep_merge(data, targets[target])
    return deep_merge(data, overrides) if overrides else data


def _with_base(sources: dict[str, Source] | dict[str, DraftSource], base: str | Path | None) -> None:
    """Relative landing paths are relative to the config file's folder."""
    if base is not None:
        for src in sources.values():
            if src.landing is not None:
                src.landing.with_base(base)


def parse_config(data: dict[str, Any], *, target: str | None = None, source: str = "<config>",
                 base: str | Path | None = None, overrides: dict[str, Any] | None = None) -> UseCase:
    """Validate a config mapping; `target` merges `targets.<target>` over it first, then
    `overrides` (a nested mapping: the command line's `--set`). `base` is the folder relative
    landing paths are relative to (the config file's; default: the working directory)."""
    data = _targeted(data, target, source, overrides)
    try:
        cfg = UseCase.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None
    _with_base(cfg.sources, base)
    return cfg


def _read(path: Path) -> Any:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return {} if data is None else data


def load_config(path: str | Path, *, target: str | None = None,
                overrides: dict[str, Any] | None = None) -> UseCase:
    """Load and validate a use-case YAML; `overrides` (a nested mapping, see
    `lakescore.config.overrides`) is merged last, over the target's."""
    path = Path(path)
    return parse_config(_read(path), target=target, source=str(path), base=path.absolute().parent,
                        overrides=overrides)


class SourcesFile(Strict):
    """The part of a use-case file that `lakescore contract infer` needs: the sources (strictly
    validated), and where the tables are when the file says so. Any other section is left to
    the stages' full validation."""

    storage: Storage | None = None
    tables: Tables = Field(default_factory=Tables)
    sources: dict[Identifier, DraftSource] = Field(default_factory=dict)


def load_sources(path: str | Path, *, target: str | None = None,
                 overrides: dict[str, Any] | None = None) -> SourcesFile:
    """Load only the `sources:` (and `storage:`, `tables:`) of a config file, so a first contract
    can be drafted in a file that has nothing else yet."""
    path = Path(path)
    data = _targeted(_read(path), target, str(path), overrides)
    wanted = {k: v for k, v in data.items() if k in SourcesFile.model_fields}
    try:
        out = SourcesFile.model_validate(wanted)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(path))) from None
    _with_base(out.sources, path.absolute().parent)
    return out
