"""What a stage run reports: a `StageResult` per stage (`lakescore.jobs.<stage>` defines its own),
read by attribute by the command line (`result.decision`, `result.checks`) and by key by code that
treats every stage alike (`result["rows"]`), with the one line `stage_runs` records for it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import fields
from typing import Any


class StageResult(Mapping[str, Any]):
    """A stage's figures: the fields of a dataclass subclass, also readable as a mapping."""

    def figures(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __getitem__(self, key: str) -> Any:
        return self.figures()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.figures())

    def __len__(self) -> int:
        return len(self.figures())

    @property
    def detail(self) -> str | None:
        """The line `stage_runs` records for a successful run (None: nothing to add)."""
        return None
