"""`lakescore predict`: one entity's prediction on demand, from the cache or computed now."""

from __future__ import annotations

import json
from datetime import datetime
from enum import Enum
from typing import Annotated

import typer

from lakescore.core.stage_runner import EXPECTED_ERRORS, ConfigOpt, SetOpt, TargetOpt, fail, make_context, setup_logging


class Format(str, Enum):
    text = "text"
    json = "json"


def _text(out: dict) -> str:
    p = out["prediction"]
    how = {"cache": f"cached in predictions (served_by {p.get('served_by') or 'batch'}, scored {p['scored_at']})",
           "computed": "computed on demand" + (", written to predictions" if out["written"] else
                                               " (not written; --write appends it to predictions)")}[out["served"]]
    lines = [f"as-of {p['as_of']}: prediction {p['prediction']:g}, score {p['score']:.6f}",
             f"  {how} in {out['seconds']:.2f}s",
             f"  model {p['model_name']} version {p['model_version']} @{p['model_alias']}, training cutoff "
             f"{p['model_trained_at']}, age {p['model_age_days']:g} days"]
    if out.get("stale"):
        lines.append(f"  warning: {out['stale']}")
    if "features" in out:
        lines.append(f"  features (feature set {out['feature_set']}):")
        width = max(len(n) for n in out["features"])
        lines += [f"    {n:<{width}}  {v}" for n, v in out["features"].items()]
    return "\n".join(lines)


def predict(
    config: ConfigOpt,
    key: Annotated[list[str], typer.Option("--key", "-k", help="<column>=<value> of the entity key (repeat for "
                                            "each key column), e.g. flight_id=20131201-UA-1545-EWR")],
    as_of: Annotated[datetime | None, typer.Option(
        "--as-of", formats=["%Y-%m-%d"], help="the as-of to predict for (default: the cached newest prediction, "
        "else the entity's own day)")] = None,
    write: Annotated[bool, typer.Option("--write", help="append a computed prediction to predictions "
                                        "(served_by on_demand)")] = False,
    output: Annotated[Format, typer.Option("--format", "-f", help="text or json")] = Format.text,
    target: TargetOpt = None,
    overrides: SetOpt = None,
) -> None:
    """One entity's prediction, from the cache or computed on demand.

    The cached row of predictions (predictions_latest without --as-of) when there is one; else the
    entity's feature row for the as-of computed now by the features stage's code, scored by
    @champion and printed with the model version and the feature values."""
    from lakescore.features import feature_rows
    from lakescore.scoring.on_demand import parse_keys
    from lakescore.scoring.on_demand import predict as predict_one

    setup_logging()
    day = as_of.date() if as_of else None
    try:
        ctx = make_context(config, day or datetime.now().date(), target, overrides=overrides)
        out = predict_one(ctx, parse_keys(ctx, key), feature_rows, day, write)
    except EXPECTED_ERRORS as exc:
        fail(str(exc))
        return
    typer.echo(json.dumps(out, default=str, indent=2) if output == Format.json else _text(out))
