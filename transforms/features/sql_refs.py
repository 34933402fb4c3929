"""Which columns a SQL expression from the config reads, found without Spark (at config load).

The scan is conservative, which is the safe direction for the leakage guard: every identifier
outside string literals and comments that is not immediately called as a function counts as a
reference, so `timestampadd(MINUTE, ...)` also "reads" a column named `minute` if there is one.
A qualified name `a.b` (struct field or lookup column) is returned as ("a", "b"); a plain name
as (None, "name"). Names are lower-cased: Spark resolves columns case-insensitively.
"""

from __future__ import annotations

import re

_STRING = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"", re.DOTALL)
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_PART = r"(?:`[^`]+`|[A-Za-z_][A-Za-z0-9_]*)"
_NAME = re.compile(rf"(?<![\w.`]){_PART}(?:\s*\.\s*{_PART})*")


def _unquote(part: str) -> str:
    return part.strip().strip("`").lower()


def column_references(sql: str) -> set[tuple[str | None, str]]:
    """(qualifier, name) pairs an expression may read; function names are left out."""
    text = _COMMENT.sub(" ", _STRING.sub(" '' ", sql))
    refs: set[tuple[str | None, str]] = set()
    for match in _NAME.finditer(text):
        rest = text[match.end():].lstrip()
        if rest.startswith("("):  # a function call, e.g. hour(ts) or coalesce(...)
            continue
        if rest.startswith("->"):  # a lambda variable: x -> x + 1
            continue
        parts = [_unquote(p) for p in re.findall(_PART, match.group(0))]
        if len(parts) == 1:
            refs.add((None, parts[0]))
        else:
            refs.add((parts[0], parts[1]))
    return refs
