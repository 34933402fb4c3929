"""Shared building blocks of the config models: strict models, checked identifiers, SQL
expressions, time zones, and the one error type a bad config raises."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from lakescore.transforms.features.sql_refs import expression_problem

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(ValueError):
    """A configuration problem; the message names the file and the key."""


def check_identifier(value: str) -> str:
    """`value` if it is a plain identifier (it may then reach SQL, quoted); ValueError otherwise."""
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        raise ValueError(
            f"{value!r} is not a plain identifier (letters, digits and _, not starting with a digit)"
        )
    return value


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(value)
    except Exception:  # noqa: BLE001 - ZoneInfo raises several kinds for a bad name
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. America/New_York)") from None
    return value


def check_expression(value: str) -> str:
    """`value` if it is a plain SQL expression (no statement, subquery or JVM call)."""
    problem = expression_problem(value)
    if problem:
        raise ValueError(f"{value!r} is not a plain SQL expression: {problem}")
    return value


Identifier = Annotated[str, AfterValidator(check_identifier)]
SqlExpr = Annotated[str, Field(min_length=1), AfterValidator(check_expression)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
ColumnType = Literal["string", "int", "bigint", "double", "boolean", "date", "timestamp"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
