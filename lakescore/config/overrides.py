"""Command-line overrides of a use-case file: `--set key.path=value`, repeatable, merged over the
file (and over its target) before validation, so a bad key or a bad type is refused like one in
the file, naming the key. The value is read as YAML: `0.1` is a number, `true` a boolean, `null`
nothing, `[a, b]` a list, anything else text (quote it to keep a number as text: `'"007"'`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from lakescore.config.base import ConfigError


def parse_override(item: str) -> tuple[list[str], Any]:
    """`a.b.c=value` -> (["a", "b", "c"], value read as YAML)."""
    key, sep, raw = item.partition("=")
    path = key.strip().split(".")
    if not sep or not all(p.strip() for p in path):
        raise ConfigError(f"--set {item}: expected key.path=value (e.g. --set train.window_days=60)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {item}: the value is not valid YAML: {str(exc).splitlines()[0]}") from None
    return [p.strip() for p in path], value


def overrides_mapping(items: Iterable[str] | None) -> dict[str, Any]:
    """The nested mapping of `--set` items, later items winning."""
    out: dict[str, Any] = {}
    for item in items or ():
        path, value = parse_override(item)
        node = out
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = value
    return out
