"""The leakage guard, in its two halves.

*Static*, at config load: each feature's SQL is scanned for what it reads (transforms.features.
sql_refs). A feature that reads a column of the entity row known only after the event (declared,
read by the label, or derived from one of those) is refused, and the known-at of each feature is
derived from its inputs:

    static           reference data as loaded (dimension lookups)
    catalog          the entity row's own columns known before the event (e.g. the schedule)
    prediction_time  values as they stood at the prediction time (point-in-time lookups,
                     histories, the as-of itself)

*Run time*, in the features stage: every feature that reads a time-stamped input (a
point-in-time lookup, a history) gets a source-time column, the latest `_known_at` among those
inputs. Before the stage writes, `point_in_time_violations` counts, per feature, the rows whose
source time is after `prediction_time`; any count above zero stops the stage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.columns import AS_OF_COLUMNS, PREDICTION_TIME
from lakescore.transforms.features.joins import KNOWN_AT
from lakescore.transforms.features.sql_refs import column_references, did_you_mean, lambda_variables, names_a_column
from lakescore.transforms.sqltext import col

STATIC, CATALOG, AT_PREDICTION_TIME = "static", "catalog", "prediction_time"
KNOWN_AT_LEVELS = (STATIC, CATALOG, AT_PREDICTION_TIME)
KNOWN_AT_ORDER: dict[str, int] = {level: i for i, level in enumerate(KNOWN_AT_LEVELS)}
SOURCE_TIME_PREFIX = "_source_time_"


# ------------------------------------------------------------------------------- static
@dataclass(frozen=True)
class Joined:
    """A lookup or a history as the static analysis sees it: its source, whether its values
    carry a source time, and the fields a feature may read as `<name>.<field>`."""

    source: str
    timed: bool
    fields: tuple[str, ...]
    history: bool = False


@dataclass(frozen=True)
class FeatureInputs:
    """What a feature's expression reads, as found at config load."""

    entity_columns: tuple[str, ...]
    lookups: tuple[str, ...]          # dimension lookups
    timed: tuple[str, ...]            # point-in-time lookups and histories (carry a source time)
    as_of: bool                       # reads as_of / prediction_time
    known_at: str                     # derived: the latest of its inputs


def unqualified_reads(sql: str) -> set[str]:
    """The plain (unqualified) names an expression reads, lower-cased."""
    return {n for q, n in column_references(sql) if q is None}


def after_event_columns(entity_columns: Mapping[str, str], *, declared: Iterable[str], label_expr: str,
                        derived: Mapping[str, str], protected: Iterable[str]) -> set[str]:
    """Entity columns known only after the event (lower-cased): `declared`, read by the label's
    expression, or derived from one of those; the `protected` ones (key, event time) never."""
    protected = {p.lower() for p in protected}
    out = {c.lower() for c in declared}
    out |= {n for n in unqualified_reads(label_expr) if n in entity_columns} - protected
    derived_sql = {k.lower(): v for k, v in derived.items()}
    changed = True
    while changed:
        changed = False
        for name, sql in derived_sql.items():
            if name not in out and name not in protected and unqualified_reads(sql) & out:
                out.add(name)
                changed = True
    return out


def feature_inputs(feature: str, sql: str, *, entity_source: str, entity_columns: Mapping[str, str],
                   after: set[str], joined: Mapping[str, Joined]) -> FeatureInputs:
    """What feature `feature` (expression `sql`) reads and its derived known-at. Raises
    ValueError naming the feature for a reference it may not make: a column known only after
    the event, an unknown lookup, history, column or aggregate, or a name that is none of these
    (nor a Spark SQL keyword or lambda variable): a misspelt column is refused at load, with the
    closest known name."""
    by_lower = {k.lower(): k for k in joined}
    entity, dims, timed, as_of = set(), set(), set(), False
    lambdas = lambda_variables(sql)
    for qualifier, name in sorted(column_references(sql), key=lambda r: (r[0] or "", r[1])):
        if qualifier is None:
            if name in after:
                raise ValueError(
                    f"feature {feature!r} reads column {entity_columns[name]!r} of {entity_source}, known "
                    "only after the event (entity.known_after_event or the label's inputs): it would leak the label")
            if name in entity_columns:
                entity.add(entity_columns[name])
            elif name in AS_OF_COLUMNS:
                as_of = True
            elif name in by_lower:
                j = joined[by_lower[name]]
                (timed if j.timed else dims).add(by_lower[name])
            elif names_a_column(name, lambdas):
                known = [*entity_columns.values(), *joined, *AS_OF_COLUMNS]
                raise ValueError(f"feature {feature!r} reads {name!r}: not a column of source {entity_source!r}, "
                                 f"a lookup, a history or the as-of{did_you_mean(name, known)}")
            continue
        if qualifier not in by_lower:
            raise ValueError(f"feature {feature!r} reads {qualifier}.{name}: {qualifier!r} is not a "
                             "lookup or history (features.lookups, features.histories)"
                             f"{did_you_mean(qualifier, joined)}")
        j = joined[by_lower[qualifier]]
        if name not in {f.lower() for f in j.fields}:
            if j.history:
                raise ValueError(f"feature {feature!r} reads {qualifier}.{name}: history "
                                 f"{by_lower[qualifier]!r} has no aggregate {name!r} (has {sorted(j.fields)})")
            raise ValueError(f"feature {feature!r} reads {qualifier}.{name}: source "
                             f"{j.source!r} has no column {name!r}{did_you_mean(name, j.fields)}")
        (timed if j.timed else dims).add(by_lower[qualifier])
    if timed or as_of:
        level = AT_PREDICTION_TIME
    elif entity:
        level = CATALOG
    else:
        level = STATIC
    return FeatureInputs(tuple(sorted(entity)), tuple(sorted(dims)), tuple(sorted(timed)), as_of, level)


# ----------------------------------------------------------------------------- run time
def source_time_column(feature: str) -> str:
    return f"{SOURCE_TIME_PREFIX}{feature}"


def source_time(inputs: list[str]) -> Column:
    """The latest `_known_at` of the named struct columns (NULL when none has a value)."""
    if not inputs:
        raise ValueError("source_time needs at least one time-stamped input")
    times = [col(i).getField(KNOWN_AT) for i in inputs]
    return F.greatest(*times) if len(times) > 1 else times[0]


def point_in_time_violations(df: DataFrame, features: list[str]) -> dict[str, dict]:
    """For each feature with a source-time column in `df`: rows whose source time is after their
    prediction time, and the largest lead in seconds. Returns only the features that violate
    (an empty dict means the rows are point-in-time correct). One aggregate, one small row."""
    if not features:
        return {}
    aggs = []
    for i, f in enumerate(features):
        src = col(source_time_column(f))
        late = src > F.col(PREDICTION_TIME)
        aggs += [F.sum(F.when(late, 1).otherwise(0)).alias(f"n{i}"),
                 F.max(F.when(late, F.unix_seconds(src) - F.unix_seconds(F.col(PREDICTION_TIME))).cast("long"))
                 .alias(f"s{i}")]
    row = df.agg(*aggs).first()
    return {f: {"rows": int(row[f"n{i}"]), "max_lead_seconds": int(row[f"s{i}"])}
            for i, f in enumerate(features) if row[f"n{i}"]}
