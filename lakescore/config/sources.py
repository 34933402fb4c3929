"""The data contract of each source (`sources.<name>`): landing, columns with their types and
rules, key, derived columns, freshness, volume and a policy per anomaly kind (the kinds and
their defaults are in transforms.contracts.kinds)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, model_validator

from lakescore.config.base import ColumnType, Identifier, SqlExpr, Strict
from lakescore.transforms.columns import LANDED_AT
from lakescore.transforms.contracts.kinds import ALL_KINDS, COLUMN_KINDS, DEFAULT_POLICIES, POLICIES

DEFAULT_PATTERNS = ("*.csv", "*.csv.gz", "*.zip")


class Landing(Strict):
    """Where a source's files come from when lakescore lands them itself: one file, a folder
    where each new file is a batch (the local twin of Auto Loader), or a glob."""

    package: str | None = Field(
        None, description="Python package that ships the file; `path` is then inside it"
    )
    path: str = Field(min_length=1, description="a file (.csv, .csv.gz, or .zip holding one .csv), a folder "
                      "(each file in it matching `pattern` is a batch) or a glob (data/*/orders-*.csv); "
                      "relative to the config file's folder")
    pattern: str | None = Field(None, min_length=1, description="which files of the folder to land (a glob "
                                "on the file name; default *.csv, *.csv.gz and *.zip)")
    format: Literal["csv"] = "csv"
    # The folder a relative `path` is relative to: the config file's (set when it is loaded).
    _base: str | None = PrivateAttr(None)

    def location(self) -> Path:
        """`path` made absolute: against the config file's folder when it was loaded from a
        file, else the working directory (a package's path is resolved by landing)."""
        path = Path(self.path).expanduser()
        if not path.is_absolute() and self._base is not None:
            path = Path(self._base) / path
        return path.absolute()

    def with_base(self, base: str | Path) -> Landing:
        self._base = str(base)
        return self

    def patterns(self) -> tuple[str, ...]:
        return (self.pattern,) if self.pattern else DEFAULT_PATTERNS


Policy = Literal[POLICIES]  # type: ignore[valid-type]
AnomalyKind = Literal[ALL_KINDS]  # type: ignore[valid-type]
Bound = int | float | str
_NUMERIC = ("int", "bigint", "double")
_TIME = ("date", "timestamp")
def _check_policies(policies: dict[str, str], allowed: tuple[str, ...], where: str) -> None:
    bad = sorted(k for k in policies if k not in allowed)
    if bad:
        raise ValueError(f"{where}: {bad} cannot be set here (allowed: {', '.join(allowed)})")


class ColumnSpec(Strict):
    type: ColumnType
    nullable: bool = Field(True, description="false: a NULL is a missing_value")
    domain: list[str | int | float | bool] | None = Field(
        None, min_length=1, description="allowed values (a categorical domain): others are out_of_domain")
    min_domain_mass: float | None = Field(
        None, ge=0, le=1, description="smallest tolerated share of non-null values inside the domain "
        "(TFDV's min_domain_mass, default 1.0): below it the batch has unexpected_string_values")
    min: Bound | None = Field(None, description="smallest allowed value (numbers; ISO text for dates)")
    max: Bound | None = Field(None, description="largest allowed value")
    pattern: str | None = Field(None, min_length=1, description="Java regular expression a string value must match")
    min_presence: float | None = Field(
        None, ge=0, le=1, description="smallest tolerated share of rows with a value: below it, low_presence")
    policies: dict[AnomalyKind, Policy] = Field(
        default_factory=dict, description="per-column policy overrides of column-level anomaly kinds")

    @model_validator(mode="after")
    def _consistent(self) -> ColumnSpec:
        if self.min_domain_mass is not None and self.domain is None:
            raise ValueError("min_domain_mass needs a domain")
        if self.pattern is not None:
            if self.type != "string":
                raise ValueError(f"pattern applies to string columns, not {self.type}")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern {self.pattern!r} is not a regular expression: {exc}") from None
        for name in ("min", "max"):
            bound = getattr(self, name)
            if bound is None:
                continue
            if self.type in _NUMERIC and (isinstance(bound, (bool, str))):
                raise ValueError(f"{name}: {bound!r} is not a number for a {self.type} column")
            if self.type in _TIME and not isinstance(bound, str):
                raise ValueError(f"{name}: write a {self.type} bound as ISO text, e.g. '2013-01-01'")
            if self.type not in _NUMERIC + _TIME:
                raise ValueError(f"{name} applies to numeric, date and timestamp columns, not {self.type}")
            if self.type in _TIME:
                _parse_time(bound, name)
        if self.min is not None and self.max is not None:
            lo, hi = (_parse_time(self.min, "min"), _parse_time(self.max, "max")) if self.type in _TIME \
                else (self.min, self.max)
            if lo > hi:
                raise ValueError(f"min {self.min!r} is larger than max {self.max!r}")
        _check_policies(self.policies, COLUMN_KINDS, "policies")
        return self

    def policy(self, kind: str, source_policies: dict[str, str]) -> str:
        return self.policies.get(kind) or source_policies.get(kind) or DEFAULT_POLICIES[kind]


def _parse_time(value: str, name: str):
    from datetime import datetime

    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not an ISO date or timestamp") from None


class Freshness(Strict):
    column: Identifier = Field(description="a date/timestamp column of the source (the event time), "
                               "or _landed_at (when the batch was landed)")
    max_age_hours: float = Field(gt=0, description="the newest value may be at most this old at the "
                                 "as-of (00:00 in entity.timezone); older: stale_source")


class Volume(Strict):
    history_batches: int = Field(5, ge=1, description="compare a batch with the median rows of this many "
                                 "previous batches of the source")
    min_ratio: float = Field(0.5, gt=0, description="rows / median below this: low_num_examples")
    max_ratio: float = Field(2.0, gt=0, description="rows / median above this: high_num_examples")

    @model_validator(mode="after")
    def _ordered(self) -> Volume:
        if not self.min_ratio <= 1 <= self.max_ratio:
            raise ValueError("volume needs min_ratio <= 1 <= max_ratio")
        return self


class Source(Strict):
    landing: Landing | None = Field(
        None, description="omit when the raw table is written by another system"
    )
    null_values: list[str] = Field(
        default_factory=list, description="raw text values that mean NULL (e.g. NA)"
    )
    key: list[Identifier] = Field(default_factory=list)
    key_scope: Literal["table", "batch"] = Field(
        "table", description="table: a key may appear once in clean_<source> (facts arrive once); "
        "batch: once per batch (full snapshots of a reference table)")
    arrival: Literal["events", "snapshot"] = Field(
        "events", description="events: each batch adds rows (facts arrive once); snapshot: each batch is a "
        "full export of a catalog, and clean_<source> keeps every version of each key with the time it "
        "was valid from and to (_valid_from, _valid_to)")
    @property
    def key_checked_in(self) -> str:
        """Where a key must be unique: a snapshot's keys within each batch (its versions live in clean)."""
        return "batch" if self.arrival == "snapshot" else self.key_scope

    snapshot_time: SqlExpr | None = Field(
        None, description="snapshot: SQL timestamp over the batch's rows, when the export was taken (one "
        "value per batch, e.g. an export-date column); default: when the batch was landed (_landed_at)")
    columns: dict[Identifier, ColumnSpec]
    derived: dict[Identifier, SqlExpr] = Field(
        default_factory=dict, description="columns computed from the typed row, as SQL"
    )
    derived_from: list[str] = Field(
        default_factory=list, description="tables the system that writes raw_<name> reads (its lineage: "
        "`table`, `schema.table` or `catalog.schema.table`); one of this use case's own outputs makes a "
        "feedback loop, refused unless declared under feedback_loops")
    freshness: Freshness | None = Field(None, description="stale_source check; none when omitted")
    volume: Volume | None = Field(default_factory=Volume, description="volume against history; "
                                  "null turns the check off")
    max_quarantine_rate: float = Field(
        0.5, ge=0, le=1, description="a batch with a larger share of its rows quarantined has the anomaly "
        "high_quarantine_rate (policy fail by default: the stage stops; 1 turns it off)")
    policies: dict[AnomalyKind, Policy] = Field(
        default_factory=dict, description="policy per anomaly kind for this source (defaults: "
        "row-level kinds quarantine, missing_column and high_quarantine_rate fail, the other "
        "dataset-level kinds warn)")

    @model_validator(mode="after")
    def _key_in_columns(self) -> Source:
        if not self.columns:
            raise ValueError("columns must declare at least one column")
        missing = [k for k in self.key if k not in self.columns]
        if missing:
            raise ValueError(f"key columns {missing} are not declared under columns")
        nullable = [k for k in self.key if self.columns[k].nullable]
        if nullable:
            raise ValueError(f"key columns {nullable} must be declared nullable: false")
        dupes = sorted({k for k in self.key if self.key.count(k) > 1})
        if dupes:
            raise ValueError(f"key columns {dupes} are listed twice")
        if self.arrival == "snapshot":
            if not self.key:
                raise ValueError("arrival: snapshot needs a key (what identifies an entity across snapshots)")
            if "key_scope" in self.model_fields_set and self.key_scope != "batch":
                raise ValueError("arrival: snapshot checks the key within each batch: leave key_scope out")
        elif self.snapshot_time is not None:
            raise ValueError("snapshot_time goes with arrival: snapshot")
        clash = sorted(set(self.derived) & set(self.columns))
        if clash:
            raise ValueError(f"derived columns {clash} are also declared under columns")
        if self.freshness is not None and self.freshness.column != LANDED_AT:
            col = self.columns.get(self.freshness.column)
            if col is None or col.type not in _TIME:
                raise ValueError(f"freshness.column {self.freshness.column!r} must be a date or timestamp "
                                 f"column of the source, or {LANDED_AT}")
        return self

    def policy(self, kind: str, column: str | None = None) -> str:
        """The policy of an anomaly kind (on a column): column override, source, default."""
        if column is not None and column in self.columns:
            return self.columns[column].policy(kind, self.policies)
        return self.policies.get(kind) or DEFAULT_POLICIES[kind]



class DraftSource(Source):
    """A source whose contract is being drafted (`lakescore contract infer`): it may have no
    columns yet, only its landing."""

    columns: dict[Identifier, ColumnSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _key_in_columns(self) -> DraftSource:
        return super()._key_in_columns() if self.columns or self.key else self
