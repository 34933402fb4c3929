"""SQL text built from values: the one way a name or a value enters a SQL string.

Every identifier that reaches SQL goes through `ident` (backtick-quoted, inner backticks
doubled) and every value through `literal` (typed literal, quotes and backslashes escaped), so
a value from config or data can never end a string or a name early. `col` is the Column of a
name, quoted the same way. Predicates the stages need (equality, IN lists, date ranges) are
built from these. A test scans the code for SQL strings that interpolate values by hand.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F


def ident(name: str) -> str:
    """A quoted identifier: `name`, with any backtick inside doubled."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"not an identifier: {name!r}")
    return "`" + name.replace("`", "``") + "`"


def qualified(*parts: str) -> str:
    """A dotted name of quoted parts: `catalog`.`schema`.`table`."""
    return ".".join(ident(p) for p in parts)


def col(name: str) -> Column:
    """The column `name`, quoted (dots and other characters are part of the name)."""
    return F.col(ident(name))


def literal(value: Any) -> str:
    """A SQL literal for a Python value: text, number, bool, date, timestamp or None."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"no SQL literal for {value!r}")
        return repr(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP{_string(value.isoformat(sep=' '))}"
    if isinstance(value, date):
        return f"DATE{_string(value.isoformat())}"
    if isinstance(value, str):
        return _string(value)
    raise TypeError(f"no SQL literal for a {type(value).__name__}: {value!r}")


def _string(text: str) -> str:
    # Spark SQL string literals take backslash escapes (and two adjacent literals concatenate,
    # so '' is not an escaped quote): escape the backslash first, then the quote.
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def mlflow_string(text: str) -> str:
    """A string in an MLflow search filter (`name = ...`, `params.as_of = ...`): single-quoted.
    MLflow's filter grammar has no escape for a quote inside a string, so a value holding one
    is refused rather than allowed to end the string early."""
    if not isinstance(text, str) or "'" in text or '"' in text:
        raise ValueError(f"not a value an MLflow search filter can hold: {text!r}")
    return "'" + text + "'"


def eq(column: str, value: Any) -> str:
    """`column` = value (IS NULL for None)."""
    return f"{ident(column)} IS NULL" if value is None else f"{ident(column)} = {literal(value)}"


def in_list(column: str, values: Iterable[Any]) -> str:
    """`column` IN (values); FALSE for no value."""
    values = list(values)
    if not values:
        return "FALSE"
    return f"{ident(column)} IN ({', '.join(literal(v) for v in values)})"


def all_of(*predicates: str) -> str:
    """The conjunction of predicates, each parenthesised."""
    return " AND ".join(f"({p})" for p in predicates if p)


def any_of(*predicates: str) -> str:
    """The disjunction of predicates, each parenthesised (FALSE for none)."""
    parts = [f"({p})" for p in predicates if p]
    return " OR ".join(parts) if parts else "FALSE"


def dates_predicate(column: str, days: Iterable[date]) -> str:
    """A predicate selecting exactly `days` in a date column: a range when they are consecutive,
    an IN list otherwise. (Not BETWEEN: Spark 4.0.1 fails to analyse a Delta replaceWhere with
    BETWEEN on an existing table.)"""
    days = sorted(set(days))
    if len(days) > 1 and (days[-1] - days[0]).days == len(days) - 1:
        return f"{ident(column)} >= {literal(days[0])} AND {ident(column)} <= {literal(days[-1])}"
    return in_list(column, days)


def date_range(column: str, first: date | None = None, before: date | None = None) -> str:
    """`column` >= first AND `column` < before (either bound may be left out)."""
    parts = ([f"{ident(column)} >= {literal(first)}"] if first else []) + \
            ([f"{ident(column)} < {literal(before)}"] if before else [])
    return " AND ".join(parts) or "TRUE"
