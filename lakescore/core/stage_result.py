"""What a stage run reports: a `StageResult` per stage (`lakescore.jobs.<stage>` defines its own),
read by attribute by the command line (`result.decision`, `result.checks`) and by key by code that
treats every stage alike (`result["rows"]`), with the one line `stage_runs` records for it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import fields
from typing import Any


class StageResult(Mapping[str, Any]):
    """A stage's figures: the fields of a dataclass subclass (declared with `eq=False`, so that a
    result compares equal to a mapping of the same figures), also readable as a mapping."""

    def figures(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __getitem__(self, key: str) -> Any:
        return self.figures()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.figures())

    def __len__(self) -> int:
        return len(self.figures())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.figures()) == dict(other)

    __hash__ = None  # type: ignore[assignment]  # mutable figures (lists, dicts)

    @property
    def detail(self) -> str | None:
        """The line `stage_runs` records for a successful run (None: nothing to add)."""
        return None
