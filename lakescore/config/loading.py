"""Loading a use-case YAML: per-target overrides merged in, then validated, with one message
that names the file and the key of every problem."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from lakescore.config.base import ConfigError
from lakescore.config.use_case import UseCase


def deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _describe(error: ValidationError, path: str) -> str:
    lines = []
    for e in error.errors():
        key = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"{key}: {msg}" if key else msg)  # a cross-check names its keys itself
    head = f"{path}: invalid config: {lines[0]}"
    rest = [f"  also {line}" for line in lines[1:]]
    return "\n".join([head, *rest])


def parse_config(data: dict[str, Any], *, target: str | None = None, source: str = "<config>") -> UseCase:
    """Validate a config mapping; `target` merges `targets.<target>` over it first."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: invalid config: the top level must be a mapping")
    if target:
        targets = data.get("targets") or {}
        if target not in targets:
            raise ConfigError(f"{source}: invalid config: targets.{target}: no such target "
                              f"(known: {sorted(targets) or 'none'})")
        data = deep_merge(data, targets[target])
    try:
        return UseCase.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None


def load_config(path: str | Path, *, target: str | None = None,
                overrides: dict[str, Any] | None = None) -> UseCase:
    """Load and validate a use-case YAML; `overrides` (a nested mapping) is merged last."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if overrides:
        data = deep_merge(data or {}, overrides)
    return parse_config(data, target=target, source=str(path))