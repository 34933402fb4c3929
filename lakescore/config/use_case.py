"""The use case: one YAML file under conf/ describes everything a use case needs. Its sections
are validated by the models of this package (pydantic, unknown keys refused); this module holds
the whole file's model, the checks that span sections (references, the static leakage guard)
and the helpers the stages use (table names, model features, the feature-set fingerprint)."""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import Any

from pydantic import Field, field_validator, model_validator

from lakescore.config.base import Identifier, Strict
from lakescore.config.entity import Entity, Label
from lakescore.config.features import Feature, FeatureSet
from lakescore.config.gate import Gate
from lakescore.config.modeling import (
    DEFAULT_MARGIN_MIN_POWER,
    DEFAULT_MAX_SINGLE_POWER,
    METRICS,
    Model,
    Split,
    Train,
    is_classifier,
)
from lakescore.config.monitoring import FeedbackLoop, MlflowSettings, Monitor
from lakescore.config.scoring import Score
from lakescore.config.sources import Source
from lakescore.config.storage import Storage, Tables
from lakescore.transforms.columns import AS_OF_COLUMNS, CATEGORICAL, FEATURE_SET, NUMERIC, PREDICTION, SCORE
from lakescore.transforms.features.leakage import (
    KNOWN_AT_ORDER,
    FeatureInputs,
    Joined,
    after_event_columns,
    feature_inputs,
    unqualified_reads,
)
from lakescore.transforms.features.sql_refs import did_you_mean, undeclared_names
from lakescore.transforms.monitoring.drift import CATEGORICAL_METRICS, NUMERIC_METRICS


class UseCase(Strict):
    name: Identifier
    description: str = ""
    storage: Storage
    tables: Tables = Field(default_factory=Tables)
    sources: dict[Identifier, Source] = Field(min_length=1)
    entity: Entity
    label: Label
    features: FeatureSet = Field(description="lookups, histories and the feature columns; a plain "
                                 "list is short for {columns: <list>}")
    slices: list[Identifier] = Field(default_factory=list)
    split: Split
    train: Train
    model: Model
    gate: Gate = Field(default_factory=Gate)
    score: Score = Field(default_factory=Score)
    monitor: Monitor = Field(default_factory=Monitor)
    feedback_loops: list[FeedbackLoop] = Field(
        default_factory=list, description="sources that read this use case's own outputs, on purpose")
    mlflow: MlflowSettings
    targets: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-target overrides, merged before validation"
    )

    @model_validator(mode="after")
    def _cross_checks(self) -> UseCase:
        if self.entity.source not in self.sources:
            raise ValueError(f"entity.source {self.entity.source!r} is not one of sources")
        src = self.sources[self.entity.source]
        known = set(src.columns) | set(src.derived)
        for field, cols in (("entity.key", self.entity.key), ("entity.event_time", self.entity_time_columns)):
            missing = [c for c in cols if c not in known]
            if missing:
                raise ValueError(f"{field}: {missing} not a column of source {self.entity.source!r}")
        if self.entity.snapshot and src.arrival != "snapshot":
            raise ValueError(f"entity.catalog snapshot needs sources.{self.entity.source}.arrival: snapshot (the "
                             "versions of each entity with the time they were valid)")
        self._check_outcome()
        names = self.feature_names
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"features: duplicate names {dupes}")
        if self.label.name in names:
            raise ValueError(f"features: {self.label.name!r} is the label")
        bad_slices = [s for s in self.slices if s not in names]
        if bad_slices:
            raise ValueError(f"slices: {bad_slices} are not features")
        classification = is_classifier(self.model.algorithm)
        if classification != (self.label.kind == "binary"):
            raise ValueError(
                f"model.algorithm {self.model.algorithm!r} does not fit label.kind {self.label.kind!r}"
            )
        allowed = METRICS[self.label.kind]
        for key in [self.model.primary_metric, *self.gate.floors, *filter(None, [self.monitor.quality.metric])]:
            if key not in allowed:
                raise ValueError(f"metric {key!r} is not one of {sorted(allowed)} for a {self.label.kind} label")
        model_inputs = {f.name for f in self.model_features}
        for where, names in (("train.leakage.allow", self.train.leakage.allow),
                             ("train.allow_empty_features", self.train.allow_empty_features)):
            unknown = [n for n in names if n not in model_inputs]
            if unknown:
                raise ValueError(f"{where}: {unknown} are not model features")
        delay = self.label.outcome.within_days if self.label.outcome else 0
        if self.split.out_of_time_days + delay >= self.train.window_days:
            raise ValueError(f"split.out_of_time_days ({self.split.out_of_time_days})"
                             + (f" + label.outcome.within_days ({delay})" if delay else "")
                             + f" must be below train.window_days ({self.train.window_days}): nothing would be left "
                             "to train on")
        if self.gate.evaluate_on == "out_of_time" and self.split.out_of_time_days == 0:
            raise ValueError("gate.evaluate_on is out_of_time but split.out_of_time_days is 0: hold out some days "
                             "or evaluate on test")
        monitored = self.monitored_columns
        for name, override in self.monitor.drift.columns.items():
            if name not in monitored:
                raise ValueError(f"monitor.drift.columns.{name}: not a model feature, {SCORE} or {PREDICTION}")
            test = override.test
            if test is not None:
                allowed_metrics = NUMERIC_METRICS if monitored[name] == NUMERIC else CATEGORICAL_METRICS
                bad = [m for m in (test.metric, test.small_metric) if m is not None and m not in allowed_metrics]
                if bad:
                    raise ValueError(f"monitor.drift.columns.{name}.test: {bad} do not apply to a {monitored[name]} "
                                     f"column (use one of {list(allowed_metrics)})")
        for i, kind in enumerate(("numeric", "categorical")):
            test = getattr(self.monitor.drift, kind)
            allowed_metrics = (NUMERIC_METRICS, CATEGORICAL_METRICS)[i]
            bad = [m for m in (test.metric, test.small_metric) if m is not None and m not in allowed_metrics]
            if bad:
                raise ValueError(f"monitor.drift.{kind}: {bad} do not apply to {kind} columns")
        return self

    @model_validator(mode="after")
    def _feedback_loops(self) -> UseCase:
        """A source that reads one of this use case's outputs (predictions, ...) feeds the model's
        own predictions back into its features: refused unless declared (README, Monitoring)."""
        declared = {}
        for i, loop in enumerate(self.feedback_loops):
            if loop.source not in self.sources:
                raise ValueError(f"feedback_loops.{i}.source: {loop.source!r} is not one of sources")
            declared[loop.source] = i
        loops = self.loop_sources
        for name, via in loops.items():
            if name not in declared:
                raise ValueError(f"sources.{name}: reads {via}, an output of this use case: a feedback loop (the "
                                 "model's outputs would feed its own features); declare it under feedback_loops "
                                 "with a reason, or read another table")
        for name, i in declared.items():
            if name not in loops:
                raise ValueError(f"feedback_loops.{i}.source: sources.{name} reads none of this use case's outputs "
                                 "(set its derived_from), so there is no loop to declare")
        return self

    @field_validator("features", mode="before")
    @classmethod
    def _list_is_columns(cls, value: Any) -> Any:
        return {"columns": value} if isinstance(value, list) else value

    @model_validator(mode="after")
    def _feature_checks(self) -> UseCase:
        """Static leakage guard and references of the features section (see README, Features)."""
        if self.entity.source not in self.sources:
            return self  # _cross_checks names the problem
        fs, cols, after = self.features, self.entity_columns, self.after_event_columns
        for name in self.entity.known_after_event:
            if name.lower() not in cols:
                raise ValueError(f"entity.known_after_event: {name!r} is not a column of source {self.entity.source!r}")
        for where, sql in (("label.expr", self.label.expr), ("label.known_at", self.label.known_at),
                           ("entity.filter", self.entity.filter)):
            unknown = undeclared_names(sql or "", [*cols, *AS_OF_COLUMNS])
            if unknown:
                raise ValueError(f"{where}: reads {unknown[0]!r}, not a column of source {self.entity.source!r}"
                                 f"{did_you_mean(unknown[0], cols.values())}")
        if self.entity.filter:
            leaked = sorted(unqualified_reads(self.entity.filter) & after)
            if leaked:
                raise ValueError(f"entity.filter reads {leaked}, known only after the event: the catalog "
                                 "must be decidable at the prediction time")
        reserved = {c.lower() for c in [*self.entity.key, *self.entity_time_columns, *AS_OF_COLUMNS, FEATURE_SET]}
        clash = sorted(set(fs.lookups) & set(fs.histories))
        if clash:
            raise ValueError(f"features: {clash} name both a lookup and a history")
        joins: list[tuple[str, str, dict[str, str], str]] = (
            [(f"features.lookups.{n}", lk.source, lk.keys, "keys") for n, lk in fs.lookups.items()]
            + [(f"features.histories.{n}", h.source, h.by, "by") for n, h in fs.histories.items()])
        for where, source, on, key in joins:
            name = where.rsplit(".", 1)[1]
            if name.lower() in cols or name.lower() in reserved:
                raise ValueError(f"{where}: the name {name!r} is already a column of the entity row")
            if source not in self.sources:
                raise ValueError(f"{where}.source: {source!r} is not one of sources")
            src = self.sources[source]
            src_cols = set(src.columns) | set(src.derived)
            for entity_col, source_col in on.items():
                if entity_col.lower() not in cols:
                    raise ValueError(f"{where}.{key}: {entity_col!r} is not a column of source {self.entity.source!r}")
                if entity_col.lower() in after:
                    raise ValueError(f"{where}.{key}: {entity_col!r} is known only after the event")
                if source_col not in src_cols:
                    raise ValueError(f"{where}.{key}.{entity_col}: {source_col!r} is not a column of source {source!r}")
        for i, feature in enumerate(fs.columns):
            if feature.name.lower() in reserved:
                raise ValueError(f"features.columns.{i} ({feature.name}): the name is a column the features table "
                                 "has anyway (key, event time, as_of, prediction_time, feature_set)")
            try:
                inputs = self.feature_inputs(feature)
            except ValueError as exc:
                raise ValueError(f"features.columns.{i}: {exc}") from None
            declared = feature.known_at
            if declared and KNOWN_AT_ORDER[declared] < KNOWN_AT_ORDER[inputs.known_at]:
                reads = [*inputs.timed, *(["as_of"] if inputs.as_of else []), *inputs.entity_columns, *inputs.lookups]
                raise ValueError(f"features.columns.{i} ({feature.name}): declared known_at {declared} but it reads "
                                 f"{reads}, known at {inputs.known_at}")
        return self

    def _check_outcome(self) -> None:
        """An outcome label's source, keys and columns; its source's future must not reach a
        feature through a dimension lookup (read as loaded, it holds the outcome)."""
        out = self.label.outcome
        if out is None:
            return
        if out.source not in self.sources:
            raise ValueError(f"label.outcome.source: {out.source!r} is not one of sources")
        src = self.sources[out.source]
        src_cols = set(src.columns) | set(src.derived)
        for entity_col, source_col in out.by.items():
            if entity_col not in self.entity.key:
                raise ValueError(f"label.outcome.by: {entity_col!r} is not an entity.key column")
            if source_col not in src_cols:
                raise ValueError(f"label.outcome.by.{entity_col}: {source_col!r} is not a column of source {out.source!r}")
        for name, lk in self.features.lookups.items():
            if lk.source == out.source and not lk.point_in_time:
                raise ValueError(f"features.lookups.{name}: a dimension lookup of {out.source!r}, the label's outcome "
                                 "source, reads it as loaded, outcomes included: use a point-in-time lookup (known_at) "
                                 "or a history")

    # -- helpers used by the jobs ----------------------------------------------------------
    @property
    def entity_time_columns(self) -> list[str]:
        """The entity's event-time column, for an events catalog (none for a snapshot)."""
        return [self.entity.event_time] if self.entity.event_time else []

    @property
    def output_tables(self) -> list[str]:
        """The tables this use case writes from its model's work (not raw_ and clean_ tables)."""
        t = self.tables
        return [t.features, t.predictions, t.predictions_latest, t.model_validations, t.slice_metrics,
                t.drift_metrics, t.model_health, t.alerts, t.quarantine, t.data_quality]

    def _own_table(self, name: str) -> str | None:
        """The table name if `name` (table, schema.table or catalog.schema.table) is in this use
        case's schema (None for another schema's table)."""
        parts = name.lower().split(".")
        if len(parts) > 1 and parts[-2] != self.storage.schema_name.lower():
            return None
        return parts[-1]

    @cached_property
    def loop_sources(self) -> dict[str, str]:
        """Sources that are, or are derived from, one of `output_tables` (directly, or through
        another such source's raw or clean table): source -> the output table it reads."""
        outputs = {o.lower() for o in self.output_tables}
        found: dict[str, str] = {}
        changed = True
        while changed:
            changed = False
            via_source = {n: t for s, t in found.items() for n in (self.raw_table(s).lower(), self.clean_table(s).lower())}
            for name, src in self.sources.items():
                if name in found:
                    continue
                reads = [self.raw_table(name).lower(), *filter(None, map(self._own_table, src.derived_from))]
                hit = next((r for r in reads if r in outputs), None) or next(
                    (via_source[r] for r in reads if r in via_source), None)
                if hit:
                    found[name] = hit
                    changed = True
        return found

    def loop_features(self, source: str) -> list[str]:
        """Model features that read `source` (as the entity row, a lookup or a history)."""
        joined = {n for n, j in self.joined_inputs.items() if j.source == source}
        out = []
        for f in self.model_features:
            inputs = self.feature_inputs(f)
            if (source == self.entity.source and inputs.entity_columns) or joined & {*inputs.lookups, *inputs.timed}:
                out.append(f.name)
        return out

    @property
    def monitored_columns(self) -> dict[str, str]:
        """What drift_metrics watches: every model feature, the score and the prediction, with
        their kind (the prediction of a binary label is a category)."""
        out = {f.name: f.kind for f in self.model_features}
        out[SCORE] = NUMERIC
        out[PREDICTION] = CATEGORICAL if self.label.kind == "binary" else NUMERIC
        return out

    def raw_table(self, source: str) -> str:
        return f"{self.tables.raw_prefix}{source}"

    def clean_table(self, source: str) -> str:
        return f"{self.tables.clean_prefix}{source}"

    @property
    def max_single_power(self) -> float:
        return self.train.leakage.max_single_power or DEFAULT_MAX_SINGLE_POWER[self.label.kind]

    @property
    def margin_min_power(self) -> float:
        value = self.train.leakage.margin_min_power
        return DEFAULT_MARGIN_MIN_POWER[self.label.kind] if value is None else value

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features.columns]

    @property
    def model_features(self) -> list[Feature]:
        """The features the model takes as inputs."""
        return [f for f in self.features.columns if f.in_model]

    @property
    def entity_columns(self) -> dict[str, str]:
        """Columns of the entity row, lower-cased name -> name."""
        src = self.sources[self.entity.source]
        return {c.lower(): c for c in [*src.columns, *src.derived]}

    @cached_property
    def after_event_columns(self) -> set[str]:
        """Entity columns known only after the event (lower-cased): declared, read by the
        label's expression, or derived from one of those (transforms.features.leakage)."""
        return after_event_columns(
            self.entity_columns, declared=self.entity.known_after_event, label_expr=self.label.expr or "",
            derived=self.sources[self.entity.source].derived, protected=[*self.entity.key, *self.entity_time_columns])

    @cached_property
    def joined_inputs(self) -> dict[str, Joined]:
        """The lookups and histories as the static leakage analysis sees them."""
        fs, out = self.features, {}
        for name, lk in fs.lookups.items():
            src = self.sources.get(lk.source)
            fields = tuple([*src.columns, *src.derived]) if src else ()
            out[name] = Joined(lk.source, lk.point_in_time, fields)
        for name, h in fs.histories.items():
            out[name] = Joined(h.source, True, tuple(h.aggregates), history=True)
        return out

    def feature_inputs(self, feature: Feature) -> FeatureInputs:
        """What `feature` reads (entity columns, lookups, histories, the as-of) and the derived
        known-at; raises ValueError naming the feature for a reference it may not make."""
        return feature_inputs(feature.name, feature.sql, entity_source=self.entity.source,
                              entity_columns=self.entity_columns, after=self.after_event_columns,
                              joined=self.joined_inputs)

    @property
    def feature_entity_columns(self) -> list[str]:
        """Entity columns the features stage needs: key, event time, the columns features read
        and the lookup and history keys (in the source's order)."""
        fs = self.features
        wanted = {c.lower() for c in [*self.entity.key, *self.entity_time_columns]}
        wanted |= {c.lower() for f in fs.columns for c in self.feature_inputs(f).entity_columns}
        wanted |= {c.lower() for lk in fs.lookups.values() for c in lk.keys}
        wanted |= {c.lower() for h in fs.histories.values() for c in h.by}
        return [c for low, c in self.entity_columns.items() if low in wanted]

    def feature_known_at(self, feature: Feature) -> str:
        return feature.known_at or self.feature_inputs(feature).known_at

    @property
    def feature_set_id(self) -> str:
        """A fingerprint of what the feature values depend on: the entity, the features section and
        the column types and derived SQL of the sources they read; descriptions and contract rules
        left out. Rows of the features table carry it, so a partition computed by other
        definitions is recomputed and a skew check can compare training and serving rows."""

        def strip(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: strip(v) for k, v in value.items() if k != "description"}
            if isinstance(value, list):
                return [strip(v) for v in value]
            return value

        fs = self.features
        used = {self.entity.source, *(lk.source for lk in fs.lookups.values()), *(h.source for h in fs.histories.values())}
        spec = {
            "entity": self.entity.model_dump(mode="json"),
            "features": strip(fs.model_dump(mode="json")),
            # a column's type, not its contract rules: those decide which rows are clean, not
            # how a feature is computed (tightening a domain must not recompute every feature)
            "sources": {name: {"columns": {c: col.type for c, col in src.columns.items()},
                               "derived": dict(src.derived)}
                        for name, src in sorted(self.sources.items()) if name in used},
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
