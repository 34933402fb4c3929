"""Which columns a SQL expression from the config reads, found without Spark (at config load).

The scan is conservative, which is the safe direction for the leakage guard: every identifier
outside string literals and comments that is not immediately called as a function counts as a
reference, so `timestampadd(MINUTE, ...)` also "reads" a column named `minute` if there is one.
A qualified name `a.b` (struct field or lookup column) is returned as ("a", "b"); a plain name
as (None, "name"). Names are lower-cased: Spark resolves columns case-insensitively.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

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


_LAMBDA = re.compile(rf"\(\s*({_PART}(?:\s*,\s*{_PART})*)\s*\)\s*->|({_PART})\s*->")


def lambda_variables(sql: str) -> set[str]:
    """The variables of the expression's lambdas (`x -> ...`, `(acc, x) -> ...`), lower-cased."""
    text = _COMMENT.sub(" ", _STRING.sub(" '' ", sql))
    out: set[str] = set()
    for many, one in _LAMBDA.findall(text):
        out |= {_unquote(p) for p in re.findall(_PART, many or one)}
    return out


def names_a_column(name: str, lambdas: set[str]) -> bool:
    """Whether a plain (lower-cased) name of an expression must be a column: not a Spark SQL
    keyword, a function Spark calls without parentheses, one of the expression's lambda
    variables or a metadata column (a name starting with _)."""
    from lakescore.transforms.features.sql_keywords import NILADIC_FUNCTIONS, SQL_KEYWORDS

    return not (name in SQL_KEYWORDS or name in NILADIC_FUNCTIONS or name in lambdas or name.startswith("_"))


def undeclared_names(sql: str, known: Iterable[str]) -> list[str]:
    """The plain names `sql` reads that must be columns (`names_a_column`) and are not in
    `known` (compared lower-case): what a misspelt column leaves."""
    known, lambdas = {k.lower() for k in known}, lambda_variables(sql)
    return sorted(n for q, n in column_references(sql) if q is None and n not in known and names_a_column(n, lambdas))


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """" (did you mean 'x'?)" for the candidate closest to a misspelt `word`, else ""."""
    by_lower = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.75)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""


# What a config expression may not hold: it is an expression over a row, evaluated by Spark in
# a projection or filter, never a statement, a query of other tables or a call into the JVM.
_STATEMENT_WORDS = ("select", "insert", "update", "delete", "merge", "drop", "create", "alter", "truncate",
                    "grant", "revoke", "call", "refresh", "msck", "load", "overwrite")
_FORBIDDEN_FUNCTIONS = ("reflect", "java_method", "try_reflect")
_WORD = re.compile(r"`[^`]*`|[A-Za-z_][A-Za-z0-9_]*")


def expression_problem(sql: str) -> str | None:
    """Why `sql` is not a plain SQL expression (None when it is): a statement separator, a
    statement keyword or subquery, a call into the JVM, or an unclosed quote or comment. Words
    inside string literals, comments and backtick-quoted names do not count."""
    if "\x00" in sql:
        return "a NUL character"
    text = _COMMENT.sub(" ", _STRING.sub(" _string_ ", sql))
    if "'" in text or '"' in text:
        return "an unclosed string literal"
    if "/*" in text:
        return "an unclosed comment"
    if ";" in text:
        return "';': one expression, not several statements"
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            break
    if depth != 0:
        return "unbalanced parentheses"
    for match in _WORD.finditer(text):
        word = match.group(0)
        if word.startswith("`"):
            continue
        low = word.lower()
        if low in _STATEMENT_WORDS:
            return f"{word!r}: an expression over the row, not a statement or a query of other tables"
        if low in _FORBIDDEN_FUNCTIONS and text[match.end():].lstrip().startswith("("):
            return f"{word}(): calls into the JVM are not allowed"
    return None
