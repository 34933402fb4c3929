"""The errors a stage raises for an expected problem; the command line prints their one line."""

from __future__ import annotations


class StageError(RuntimeError):
    """An expected failure of a stage: the message names the table, column or key."""
