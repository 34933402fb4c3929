"""The errors a stage raises for an expected problem; the command line prints their one line."""

from __future__ import annotations


class StageError(RuntimeError):
    """An expected failure of a stage: the message names the table, column or key."""


def reason(exc: BaseException, limit: int = 300) -> str:
    """The informative first line of an exception's message: a Py4J error's first line only says
    which JVM call failed, the next one says why."""
    lines = [line.strip().lstrip(":").strip() for line in str(exc).splitlines()]
    lines = [line for line in lines if line and not line.startswith("An error occurred while calling")]
    return (lines[0] if lines else type(exc).__name__)[:limit]
