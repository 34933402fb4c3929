"""The generated feature page: every feature of a use case with its meaning, source, known-at,
how it is computed and how the model prepares it (`lakescore features docs`)."""

from __future__ import annotations

from lakescore.config import Feature, UseCase
from lakescore.transforms.features.sql_refs import column_references

KNOWN_AT_MEANING = {
    "static": "reference data as loaded",
    "catalog": "the entity row, known before the event",
    "prediction_time": "as it stood at the prediction time",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _keys(mapping: dict[str, str]) -> str:
    return ", ".join(k if k == v else f"{k} = {v}" for k, v in mapping.items()) or "every row"


def _sources(cfg: UseCase, feature: Feature) -> list[str]:
    fs, cols = cfg.features, cfg.entity_columns
    lookups = {k.lower(): k for k in fs.lookups}
    histories = {k.lower(): k for k in fs.histories}
    out = []
    for qualifier, name in sorted(column_references(feature.sql), key=lambda r: (r[0] or "", r[1])):
        if qualifier is None:
            if name in cols:
                out.append(f"`{cfg.entity.source}.{cols[name]}`")
            elif name in ("as_of", "prediction_time"):
                out.append(f"`{name}`")
            continue
        if qualifier in lookups:
            lk = fs.lookups[lookups[qualifier]]
            how = (f"latest by {_keys(lk.keys)} known at the prediction time" if lk.point_in_time
                   else f"dimension by {_keys(lk.keys)}")
            out.append(f"`{lk.source}.{name}` ({how})")
        elif qualifier in histories:
            h = fs.histories[histories[qualifier]]
            agg = next(a for n, a in h.aggregates.items() if n.lower() == name)
            what = "count" if agg.value is None else f"{agg.agg} of `{agg.value}`"
            prior = f", shrunk with {agg.prior_weight:g} pseudo-events" if agg.prior_weight else ""
            out.append(f"{what} over `{h.source}` by {_keys(h.by)}, {h.window_days} day(s) before the as-of, "
                       f"known before the prediction time{prior}")
    return out


def _step(op: str, p: dict) -> str:
    if op == "date_part":
        return f"{p['part']} in {p['timezone']}"
    if op == "cyclic":
        return f"{p['fn']}(2π·x / {p['period']:g})"
    if op == "log":
        return f"ln(x + {p['offset']:g})"
    if op == "clip":
        low = "-∞" if p["low"] is None else f"{p['low']:g}"
        high = "∞" if p["high"] is None else f"{p['high']:g}"
        return f"clip to [{low}, {high}]"
    return "bucket index at " + ", ".join(f"{b:g}" for b in p["boundaries"])


def _computed(cfg: UseCase, feature: Feature) -> str:
    steps = [_step(s.op, s.params(cfg.entity.timezone)) for s in feature.steps]
    return " → ".join([f"`{feature.sql}`", *steps])


def _prepared(feature: Feature) -> str:
    if not feature.in_model:
        return "not a model input"
    if feature.kind == "numeric":
        lo, hi = feature.clip_quantiles or (0.0, 1.0)
        clip = "training min–max" if (lo, hi) == (0.0, 1.0) else f"training quantiles {lo:g}–{hi:g}"
        return f"NULL → training {feature.impute or 'median'}; clip to {clip}; scale into [0, 1]"
    rare = f", under {feature.min_count} training rows → other" if feature.min_count and feature.min_count > 1 else ""
    return (f"one-hot: top {feature.max_categories or 100} training values{rare}; "
            "NULL → missing, unseen → other")


def render(cfg: UseCase, config_path: str) -> str:
    """The markdown page for a use case's features."""
    e = cfg.entity
    lines = [
        f"# Features of `{cfg.name}`",
        "",
        f"Generated from `{config_path}` by `lakescore features docs --config {config_path} --output <this file>`;",
        "do not edit by hand (a test checks that it is current).",
        "",
        f"One row per catalog entity ({', '.join(e.key)}) × as_of in the `{cfg.tables.features}` table. The prediction "
        f"time of an as-of is 00:00 of that day in {e.timezone}; no value known after it is used. Feature set "
        f"`{cfg.feature_set_id}` (the `feature_set` column).",
        "",
        "Known at: **static** = reference data as loaded; **catalog** = the entity row's own columns, known before "
        "the event; **prediction_time** = as it stood at the prediction time (point-in-time lookups, windowed "
        "history, the as-of).",
        "",
        "| feature | type | known at | source | computed in the features stage | prepared in the model | meaning |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in cfg.features.columns:
        kind = "double" if f.kind == "numeric" else "string"
        lines.append("| " + " | ".join(_cell(x) for x in [
            f"`{f.name}`", f"{f.kind} ({kind})", cfg.feature_known_at(f), "; ".join(_sources(cfg, f)) or "constant",
            _computed(cfg, f), _prepared(f), f.description]) + " |")
    if cfg.features.lookups:
        lines += ["", "## Lookups", "", "| name | table | keys (entity = table) | kind | meaning |", "|---|---|---|---|---|"]
        for name, lk in cfg.features.lookups.items():
            kind = (f"point in time: latest record with `{lk.known_at}` ≤ prediction time"
                    + (f", at most {lk.max_age_hours:g} h old" if lk.max_age_hours else "")
                    if lk.point_in_time else "dimension (static), one row per key")
            lines.append("| " + " | ".join(_cell(x) for x in [f"`{name}`", f"`{lk.source}`", _keys(lk.keys), kind,
                                                               lk.description]) + " |")
    if cfg.features.histories:
        lines += ["", "## Histories", "",
                  "| name | events | by | window | counted when | aggregates | meaning |", "|---|---|---|---|---|---|---|"]
        for name, h in cfg.features.histories.items():
            aggs = ", ".join(f"{a}: {x.agg}" + (f"(`{x.value}`)" if x.value else "") for a, x in h.aggregates.items())
            events = f"`{h.source}`" + (f" where `{h.where}`" if h.where else "")
            lines.append("| " + " | ".join(_cell(x) for x in [
                f"`{name}`", events, _keys(h.by),
                f"event day (`{h.event_time}`) in the {h.window_days} day(s) before the as-of",
                f"`{h.known_at}` before the prediction time", aggs, h.description]) + " |")
    after = sorted(cfg.entity_columns[c] for c in cfg.after_event_columns)
    lines += ["", "## Never features", "",
              f"Columns of `{e.source}` known only after the event, refused in any feature expression, lookup key "
              f"or entity filter: {', '.join(f'`{c}`' for c in after) or 'none'}.", ""]
    return "\n".join(lines)
