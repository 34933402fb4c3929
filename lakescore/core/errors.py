"""The errors a stage raises for an expected problem; the command line prints their one line."""

from __future__ import annotations


class StageError(RuntimeError):
    """An expected failure of a stage: the message names the table, column or key."""


def reason(exc: BaseException, limit: int = 300) -> str:
    """The informative line of an exception's message: a JVM error's deepest cause ("Caused by:
    ..."), otherwise the first line (a Py4J error's first line only says which JVM call failed,
    the next one says why)."""
    text = str(exc)
    causes = [line.strip()[len("Caused by:"):].strip() for line in text.splitlines()
              if line.strip().startswith("Caused by:")]
    if causes:
        return causes[-1][:limit]
    lines = [line.strip().lstrip(":").strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("An error occurred while calling")]
    return (lines[0] if lines else type(exc).__name__)[:limit]
