"""`lakescore contract infer --starter`: a starter use-case file around a drafted contract, so a
new user goes from a CSV file to `lakescore run ingest` with one command. Every choice it makes
(the entity key and time, the label, the features, the model) is marked TODO for review; the
file validates as it is."""

from __future__ import annotations

from typing import Any

from lakescore.ingest.contract_draft import Draft, flow
from lakescore.transforms.columns import LANDED_AT
from lakescore.transforms.contracts.inference import NUMERIC_TYPES

MAX_FEATURES = 8


def _first(columns: dict[str, dict[str, Any]], types: tuple[str, ...], skip: set[str] = frozenset()) -> str | None:
    return next((c for c, spec in columns.items() if spec["type"] in types and c not in skip), None)


def starter(draft: Draft, origin: str) -> str:
    """The YAML text of a use case with `draft` as its only source."""
    source, columns = draft.source, draft.columns
    event_time = _first(columns, ("timestamp",)) or _first(columns, ("date",))
    derived = None
    if event_time is None:
        event_time, derived = "landed_at", f"landed_at: {LANDED_AT}   # when the row was landed (no time column)"
    key = draft.key or [next(iter(columns))]
    skip = {*key, event_time}
    label_col = _first({c: s for c, s in reversed(columns.items())}, NUMERIC_TYPES, skip)
    if label_col is not None:
        label = {"name": "label", "kind": "regression", "expr": label_col, "known_at": event_time}
        model = {"name": f"{source}_model", "algorithm": "linear_regression", "primary_metric": "rmse"}
        skip.add(label_col)
    else:
        flag = _first(columns, ("string", "boolean"), skip) or key[0]
        label = {"name": "label", "kind": "binary", "expr": f"CASE WHEN {flag} IS NULL THEN 0 ELSE 1 END",
                 "known_at": event_time}
        model = {"name": f"{source}_model", "algorithm": "logistic_regression", "primary_metric": "auc"}
        skip.add(flag)
    features = []
    for c, spec in columns.items():
        if c in skip or len(features) >= MAX_FEATURES:
            continue
        if spec["type"] in NUMERIC_TYPES:
            features.append({"name": c, "kind": "numeric", "known_at": "catalog"})
        elif spec["type"] == "boolean":
            features.append({"name": c, "kind": "numeric", "known_at": "catalog", "expr": f"CAST({c} AS INT)"})
        elif spec["type"] == "string" and "domain" in spec:
            features.append({"name": c, "kind": "categorical", "known_at": "catalog"})
    if not features:
        features.append({"name": f"{key[0]}_text", "kind": "categorical", "known_at": "catalog",
                         "expr": f"CAST({key[0]} AS STRING)"})

    contract = ["    " + line if line else line for line in draft.text.rstrip("\n").splitlines()]
    if derived:
        if "    derived:" not in contract:
            contract.append("    derived:")
        contract.insert(contract.index("    derived:") + 1, "      " + derived)
    lines = [
        f"# Starter use case for {origin}, drafted by `lakescore contract infer --starter`.",
        "# Review every TODO, then: lakescore run ingest -c <this file> --as-of YYYY-MM-DD",
        "# (relative paths in this file are relative to its folder).",
        f"name: {source}",
        "description: TODO what this use case predicts",
        "storage:",
        f"  schema: lakescore_{source}",
        "sources:",
        f"  {source}:",
        *contract,
        "entity:                     # TODO which rows are scored, and when they happen",
        f"  source: {source}",
        f"  key: {flow(key)}",
        f"  event_time: {event_time}",
        "  timezone: UTC",
        f"label: {flow(label)}   # TODO what to predict: SQL over the clean row",
        "features:                   # TODO the model's inputs (README: Features)",
        *[f"  - {flow(f)}" for f in features],
        "split: {test_fraction: 0.2, salt: starter}",
        "train: {window_days: 30, seed: 1}",
        f"model: {flow(model)}",
        f"mlflow: {flow({'experiment': source})}",
    ]
    return "\n".join(lines) + "\n"
