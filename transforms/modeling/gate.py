"""The gate's checks as pure functions: each takes measured figures and returns one check row
(`check`, `metric`, `value`, `baseline`, `threshold`, `passed`, `reason`), the shape of a
`model_validations` row. The promote stage measures (evaluations, the live schema, versions) and
records; the decisions are here."""

from __future__ import annotations

import math
from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakescore.transforms.columns import PREDICTION, SCORE

# The Spark type of a features column -> the MLflow signature type it is logged as.
MLFLOW_TYPES = {"double": "double", "float": "float", "int": "integer", "bigint": "long", "smallint": "integer",
                "tinyint": "integer", "string": "string", "boolean": "boolean"}
LIBRARIES = ("pyspark", "mlflow", "delta-spark")


def check(name: str, metric: str | None, value: float | None, baseline: float | None, threshold: float | None,
          passed: bool, reason: str) -> dict:
    return {"check": name, "metric": metric, "value": None if value is None else float(value),
            "baseline": None if baseline is None else float(baseline),
            "threshold": None if threshold is None else float(threshold), "passed": bool(passed), "reason": reason}


def error_text(exc: BaseException) -> str:
    """An exception in one line: its type and the first line of its message."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:300]}"


def failed(name: str, metric: str | None, reason: str) -> dict:
    return check(name, metric, None, None, None, False, reason)


def loss(value: float, baseline: float, lower_is_better: bool) -> float:
    """How much worse `value` is than `baseline` (negative: better)."""
    return (value - baseline) if lower_is_better else (baseline - value)


def floor_checks(metrics: Mapping[str, float], floors: Mapping[str, float], lower: frozenset[str],
                 rows: str) -> list[dict]:
    """`floor_<metric>`: each metric against its absolute bound (a ceiling for lower-is-better
    metrics); `rows` names the evaluation rows in the reason."""
    out = []
    for metric, bound in floors.items():
        value = metrics.get(metric)
        is_lower = metric in lower
        if value is None or math.isnan(value):
            out.append(check(f"floor_{metric}", metric, None, None, bound, False, f"{metric} missing on the {rows} rows"))
            continue
        ok = value <= bound if is_lower else value >= bound
        word = "ceiling" if is_lower else "floor"
        out.append(check(f"floor_{metric}", metric, value, None, bound, ok,
                         f"{metric} {value:.4f} on the {rows} rows {'<=' if is_lower else '>='} {bound}" if ok else
                         f"{metric} {value:.4f} on the {rows} rows {'above' if is_lower else 'below'} the {word} {bound}"))
    return out


def change_check(name: str, metric: str, value: float, baseline: float, allowed_drop: float, lower_is_better: bool,
                 against: str, threshold_text: str) -> dict:
    """The challenger's `value` may be worse than `baseline` (of `against`) by at most
    `allowed_drop` (in the metric's units; `threshold_text` says how it was set)."""
    worse = loss(value, baseline, lower_is_better)
    ok = worse <= allowed_drop + 1e-12
    reason = (f"{metric} {value:.4f} vs {against} {baseline:.4f}: {'drop' if worse > 0 else 'gain'} "
              f"{abs(worse):.4f}, largest allowed drop {allowed_drop:.4f} ({threshold_text})")
    return check(name, metric, value, baseline, allowed_drop, ok, reason)


def best_of(values: Mapping[str, float], lower_is_better: bool) -> tuple[str, float]:
    """The best (version, value) of several."""
    pick = min if lower_is_better else max
    version = pick(values, key=lambda v: values[v])
    return version, values[version]


def slice_checks(metric: str, challenger: Mapping[tuple[str, str], tuple[float | None, int]],
                 champion: Mapping[tuple[str, str], tuple[float | None, int]], min_rows: int,
                 allowed_drop, lower_is_better: bool, threshold_text: str) -> list[dict]:
    """`slice:<key>=<value>`: per slice with at least `min_rows` evaluation rows, the
    challenger's metric vs the champion's on the same rows. `allowed_drop(baseline)` gives the
    budget. Slices whose metric is undefined (one class only) are not checked."""
    out = []
    for (key, value), (ours, n) in sorted(challenger.items()):
        theirs = champion.get((key, value), (None, 0))[0]
        if n < min_rows or ours is None or theirs is None:
            continue
        row = change_check(f"slice:{key}={value}", metric, ours, theirs, allowed_drop(theirs), lower_is_better,
                           "champion", threshold_text)
        row["reason"] = f"slice {key}={value} ({n} rows): {row['reason']}"
        out.append(row)
    return out


def signature_check(signature: Mapping[str, str] | None, live: Mapping[str, str], features: list[str]) -> dict:
    """`compat_signature`: every input of the model's signature is a column of the live features
    table with the same type, and every model feature of the use case is an input of the model.
    `live`: the features table's column -> Spark type."""
    if signature is None:
        return failed("compat_signature", None, "the model was logged without a signature")
    problems = []
    missing = [c for c in signature if c not in live]
    if missing:
        problems.append(f"the model reads {missing}, not in the live features table")
    for c, t in signature.items():
        if c in live and MLFLOW_TYPES.get(live[c], live[c]) != t:
            problems.append(f"{c} is {t} in the signature but {live[c]} in the live features table")
    unused = [f for f in features if f not in signature]
    if unused:
        problems.append(f"the model's signature lacks the live feature column(s) {unused}")
    reason = "; ".join(problems) or f"{len(signature)} inputs match the live features table by name and type"
    return check("compat_signature", None, float(len(signature)), float(len(features)), None, not problems, reason)


def _major_minor(version: str | None) -> str | None:
    return ".".join(version.split(".")[:2]) if version else None


def versions_check(recorded: Mapping[str, str | None] | None, runtime: Mapping[str, str | None]) -> dict:
    """`compat_versions`: the pyspark, mlflow and delta-spark versions the model was trained with
    against this runtime's, by major.minor (a library absent on either side is not compared)."""
    if not recorded:
        return check("compat_versions", None, None, None, None, True, "no library versions recorded with the model")
    problems, same = [], []
    for lib in LIBRARIES:
        at_training, here = recorded.get(lib), runtime.get(lib)
        if not at_training or not here:
            continue
        if _major_minor(at_training) != _major_minor(here):
            problems.append(f"{lib} {at_training} at training, {here} here")
        else:
            same.append(f"{lib} {_major_minor(here)}")
    reason = "; ".join(problems) or f"same major.minor: {', '.join(same)}"
    return check("compat_versions", None, None, None, None, not problems, reason)


# ------------------------------------------------------------------- serving rows
def score_stats(scored: DataFrame, label_min: float | None, label_max: float | None) -> DataFrame:
    """One row about scored serving rows: rows, predictions present, non-finite scores, score
    range, and predictions outside [label_min, label_max] (when given)."""
    finite = F.col(SCORE).isNotNull() & ~F.isnan(F.col(SCORE)) & (F.abs(F.col(SCORE)) != F.lit(float("inf")))
    outside = F.lit(False)
    if label_min is not None and label_max is not None:
        outside = (F.col(PREDICTION) < F.lit(label_min)) | (F.col(PREDICTION) > F.lit(label_max))
    return scored.agg(
        F.count(F.lit(1)).alias("n"), F.count(PREDICTION).alias("n_pred"),
        F.sum(F.when(~finite, 1).otherwise(0)).alias("non_finite"),
        F.min(F.when(finite, F.col(SCORE))).alias("lo"), F.max(F.when(finite, F.col(SCORE))).alias("hi"),
        F.sum(F.when(outside, 1).otherwise(0)).alias("out_of_range"))


def modal_score_rows(scored: DataFrame) -> DataFrame:
    """The rows of the most common score value (one row: `rows`; none for no rows)."""
    return scored.groupBy(SCORE).agg(F.count(F.lit(1)).alias("rows")).orderBy(F.desc("rows")).limit(1).select("rows")


def infra_check(stats: Mapping[str, float], rows_in: int, binary: bool, as_of: str) -> dict:
    """`infra_compatibility`: one prediction per serving row, none missing, every score finite
    (and in [0, 1] for a binary label)."""
    problems = []
    if stats["n"] != rows_in:
        problems.append(f"{stats['n']} outputs for {rows_in} rows")
    if stats["n_pred"] != stats["n"]:
        problems.append(f"{stats['n'] - stats['n_pred']} null predictions")
    if stats["non_finite"]:
        problems.append(f"{stats['non_finite']} scores not finite")
    if binary and stats["n"] and stats["lo"] is not None and not (0.0 <= stats["lo"] <= stats["hi"] <= 1.0):
        problems.append(f"scores outside [0, 1]: {stats['lo']}..{stats['hi']}")
    reason = "; ".join(problems) or f"loaded and scored the {rows_in} rows of as-of {as_of}, every score finite"
    return check("infra_compatibility", "scored_rows", stats["n"], rows_in, None, not problems, reason)


def share_check(name: str, metric: str, part: int, total: int, limit: float, what: str) -> dict:
    """`part` of `total` serving rows are `what`: their share may be at most `limit`."""
    share = part / total if total else 0.0
    ok = share <= limit
    return check(name, metric, share, None, limit, ok,
                 f"{part} of {total} rows ({share:.2%}) {what}, at most {limit:.2%} allowed")
