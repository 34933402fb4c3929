"""A snapshot catalog end to end on tiny data: a product catalog exported five times (changes,
additions, a removal, rejected rows, a line with a missing field, an unchanged re-export, an
export whose valid rows are all unchanged), scored every day, with labels from an outcome window of
orders. Checks the versions in clean_products, one row per active entity per as-of in features
and predictions, a product exported after an as-of's prediction time not scored on it, labels
only from closed windows, and an empty as-of through every stage."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest
import yaml
from pyspark.sql import functions as F

from lakescore.config import load_config
from lakescore.core.runtime import Context
from lakescore.jobs import features, ingest
from lakescore.jobs.pipeline import STAGES, run_stages
from lakescore.models.training_rows import training_frame
from tests.support import context

pytestmark = pytest.mark.slow   # `make slow`: CI runs it after `make test`

SCHEMA = "test_snapshot_catalog"
START = date(2024, 3, 1)          # first export; orders run from here for 40 days
AS_OF = START + timedelta(days=39)
PRODUCTS = [f"p{i:02d}" for i in range(60)]


def _catalog(day: int, removed: set[str] = frozenset(), extra: dict | None = None, bad: set[str] = frozenset(),
             prices_of: int | None = None, raw: tuple[str, ...] = ()) -> str:
    """A full export of the catalog as of START + day: sku, category, price, retired, exported_on
    (prices as on day `prices_of`, default `day`; `raw` lines appended as they are)."""
    lines = ["sku,category,price,retired,exported_on"]
    priced = day if prices_of is None else prices_of
    for i, sku in enumerate(PRODUCTS):
        if sku in removed:
            continue
        price = "oops" if sku in bad else f"{10 + i + (priced if i % 7 == 0 else 0)}.5"   # every 7th reprices
        retired = "true" if sku == "p05" and day >= 20 else "false"
        lines.append(f"{sku},{'hot' if i % 3 == 0 else 'cold'},{price},{retired},{START + timedelta(days=day)}")
    for sku, category in (extra or {}).items():
        lines.append(f"{sku},{category},99.5,false,{START + timedelta(days=day)}")
    return "\n".join([*lines, *raw]) + "\n"


def _orders() -> str:
    """Orders of 40 days: a hot product sells most days, a cold one rarely."""
    rng = random.Random(7)
    lines = ["order_id,sku,at,qty"]
    n = 0
    for d in range(40):
        for i, sku in enumerate([*PRODUCTS, "p90"]):
            rate = 0.6 if i % 3 == 0 else 0.08
            if rng.random() < rate:
                at = datetime.combine(START + timedelta(days=d), datetime.min.time()) + timedelta(hours=rng.randrange(24))
                lines.append(f"o{n},{sku},{at},{rng.randrange(1, 5)}")
                n += 1
    return "\n".join(lines) + "\n"


def use_case(folder) -> dict:
    return {
        "name": "catalog",
        "storage": {"schema": SCHEMA},
        "sources": {
            "products": {
                "landing": {"path": str(folder / "products")},
                "key": ["sku"], "arrival": "snapshot", "snapshot_time": "CAST(exported_on AS TIMESTAMP)",
                "columns": {"sku": {"type": "string", "nullable": False}, "category": {"type": "string"},
                            "price": {"type": "double"}, "retired": {"type": "boolean"},
                            "exported_on": {"type": "date", "nullable": False}},
                "volume": None, "max_quarantine_rate": 0.5,
            },
            "orders": {
                "landing": {"path": str(folder / "orders.csv")},
                "key": ["order_id"],
                "columns": {"order_id": {"type": "string", "nullable": False}, "sku": {"type": "string"},
                            "at": {"type": "timestamp", "nullable": False}, "qty": {"type": "int"}},
                "volume": None,
            },
        },
        "entity": {"source": "products", "key": ["sku"], "catalog": "snapshot", "active": "NOT retired"},
        "label": {"name": "sells_7d", "kind": "binary",
                  "outcome": {"source": "orders", "by": {"sku": "sku"}, "event_time": "at", "within_days": 7,
                              "agg": "any", "expr": "qty >= 2"}},
        "features": {
            "histories": {"sold_7d": {"source": "orders", "by": {"sku": "sku"}, "event_time": "at", "known_at": "at",
                                      "window_days": 7, "aggregates": {"orders": {"agg": "count"}}}},
            "columns": [{"name": "category", "kind": "categorical", "known_at": "catalog"},
                        {"name": "price", "kind": "numeric", "known_at": "catalog"},
                        {"name": "orders_7d", "kind": "numeric", "known_at": "prediction_time",
                         "expr": "sold_7d.orders"}],
        },
        "slices": ["category"],
        "split": {"test_fraction": 0.3, "salt": "catalog", "out_of_time_days": 7},
        "train": {"window_days": 25, "seed": 1, "min_rows": 200, "every_nth_day": 2,
                  "leakage": {"allow": ["orders_7d", "category"]}},
        "model": {"name": f"{SCHEMA}_model", "algorithm": "logistic_regression", "primary_metric": "auc"},
        "gate": {"floors": {"auc": 0.6}, "slices": {"min_rows": 20}},
        "mlflow": {"experiment": f"test-{SCHEMA}"},
    }


@pytest.fixture(scope="module")
def catalog(spark, lakescore_home, tmp_path_factory):
    """Exports landed on days 0, 10, 20, 25 and 30, then the orders; ingested after each landing."""
    spark.sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    folder = tmp_path_factory.mktemp("catalog")
    (folder / "products").mkdir()
    (folder / "orders.csv").write_text("order_id,sku,at,qty\n")
    config = folder / "catalog.yml"
    config.write_text(yaml.safe_dump(use_case(folder)))
    cfg = load_config(config)
    later = dict(removed={"p10"}, extra={"p90": "hot"}, bad={"p12"}, prices_of=20)
    exports = [
        (0, _catalog(0)),
        (10, _catalog(10, removed={"p10"}, extra={"p90": "hot"})),            # one gone, one new, reprices
        # p12's row is rejected (held: it keeps its version); p05 retires; p91's first row is
        # rejected (quarantined, not held: it has no version to keep)
        (20, _catalog(20, **later, raw=(f"p91,hot,oops,false,{START + timedelta(days=20)}",))),
        # the same catalog exported again: no version changes, no commit, no error
        (25, _catalog(25, **later)),
        # damaged rows only (p13's price, a line with a missing field): every valid row unchanged
        (30, _catalog(30, **{**later, "bad": {"p12", "p13"}}, raw=("p92,cold,5.5",))),
    ]
    results = []
    for day, text in exports:
        (folder / "products" / f"export-{day:02d}.csv").write_text(text)
        results.append(ingest.run(Context(cfg=cfg, as_of=START + timedelta(days=day), home=lakescore_home)))
    (folder / "orders.csv").write_text(_orders())
    ingest.run(Context(cfg=cfg, as_of=AS_OF, home=lakescore_home))
    return cfg, results, lakescore_home


def test_snapshots_keep_one_current_row_per_key_and_their_history(catalog, spark):
    cfg, results, _ = catalog
    assert results[0]["products"]["new"] == 60 and results[0]["products"]["gone"] == 0
    second = results[1]["products"]
    assert (second["new"], second["gone"], second["changed"]) == (1, 1, 9)   # p90; p10; p00, p07, .., p56 repriced
    third = results[2]["products"]
    assert third["rows_quarantined"] == 2 and third["held"] == 1             # p12 keeps its version; p91 has none
    again = results[3]["products"]
    assert (again["new"], again["changed"], again["gone"], again["versions_written"]) == (0, 0, 0, 0)
    assert again["rows_in"] == 60 and again["held"] == 1
    damaged = results[4]["products"]
    assert (damaged["new"], damaged["changed"], damaged["gone"], damaged["versions_written"]) == (0, 0, 0, 0)
    assert damaged["rows_quarantined"] == 3 and damaged["held"] == 2          # p12, p13 held; p92's line quarantined
    clean = spark.table(f"{SCHEMA}.clean_products")
    current = clean.where("_valid_to IS NULL")
    assert current.groupBy("sku").count().where("count > 1").count() == 0
    assert {r.sku for r in current.collect()} == (set(PRODUCTS) - {"p10"}) | {"p90"}
    p10 = clean.where("sku = 'p10'").collect()
    assert len(p10) == 1 and p10[0]._valid_to == datetime.combine(START + timedelta(days=10), datetime.min.time())
    p07 = sorted(clean.where("sku = 'p07'").collect(), key=lambda r: r._valid_from)
    assert [r.price for r in p07] == [17.5, 27.5, 37.5]
    assert p07[0]._valid_to == p07[1]._valid_from and p07[-1]._valid_to is None
    p12 = clean.where("sku = 'p12' AND _valid_to IS NULL").first()
    assert p12.price == 22.5 and p12.exported_on == START                    # the version before the bad row
    held = spark.table(f"{SCHEMA}.alerts").where("kind = 'snapshot_held'").collect()
    assert sorted((r.as_of, r.value) for r in held) == [(START + timedelta(days=d), n) for d, n in
                                                         ((20, 1.0), (25, 1.0), (30, 2.0))]
    quality = spark.table(f"{SCHEMA}.data_quality").where("source = 'products'")
    assert quality.count() == 5                                               # a row for every export, the no-op too
    p13 = clean.where("sku = 'p13' AND _valid_to IS NULL").first()
    assert p13.exported_on == START                                           # its first version, kept


def test_features_hold_one_row_per_active_entity_known_at_each_as_of(catalog, spark):
    cfg, _, home = catalog
    first = features.run(context(cfg, START + timedelta(days=10), home))   # as-ofs from 15 days before the first export
    assert first["days"] == 26 and first["catalog"] == 60
    features.run(context(cfg, AS_OF, home))
    rows = spark.table(f"{SCHEMA}.features")
    per_day = {r.as_of: r.n for r in rows.groupBy("as_of").agg(F.count("*").alias("n")).collect()}
    assert rows.groupBy("sku", "as_of").count().where("count > 1").count() == 0
    day9, day10 = START + timedelta(days=9), START + timedelta(days=10)
    assert per_day[day9] == 60 and per_day[day10] == 60                       # p10 gone, p90 new on day 10
    skus = lambda d: {r.sku for r in rows.where(F.col("as_of") == d).collect()}  # noqa: E731
    assert "p90" not in skus(day9) and "p90" in skus(day10)                   # exported after day 9's prediction time
    assert "p05" not in skus(AS_OF) and per_day[AS_OF] == 59                  # retired: not active
    price = rows.where((F.col("sku") == "p07") & (F.col("as_of") == day9)).first().price
    assert price == 17.5                                                      # the version known then


def test_training_rows_have_closed_outcome_windows_and_an_entity_split(catalog, spark):
    cfg, _, home = catalog
    frame = training_frame(context(cfg, AS_OF, home), AS_OF)
    latest = frame.agg(F.max("as_of")).first()[0]
    assert latest <= AS_OF - timedelta(days=7)                                # its 7-day window closed before AS_OF
    in_window = frame.where("split != 'out_of_time'").groupBy("sku").agg(F.countDistinct("split").alias("n"))
    assert in_window.where("n > 1").count() == 0                              # an entity is on one side
    days_per_sku = frame.groupBy("sku").agg(F.countDistinct("as_of").alias("n")).agg(F.max("n")).first()[0]
    assert days_per_sku <= 13                                                 # every 2nd as-of of 25


def test_every_stage_scores_the_active_catalog_and_an_empty_as_of_warns(catalog, spark):
    cfg, _, home = catalog
    results = run_stages(context(cfg, AS_OF, home), STAGES)
    assert results["promote"]["decision"] == "promoted"
    preds = spark.table(f"{SCHEMA}.predictions").where(F.col("as_of") == AS_OF)
    assert preds.count() == 59 == preds.select("sku").distinct().count()
    assert "event_time" not in preds.columns and "at" not in preds.columns
    slices = spark.table(f"{SCHEMA}.slice_metrics")
    assert {r.slice_key for r in slices.collect()} >= {"category"}

    empty_day = START - timedelta(days=3)                                     # before the first export
    out = run_stages(context(cfg, empty_day, home), STAGES)
    assert out["features"]["catalog"] == 0 and out["score"]["predictions"] == 0
    assert out["train"]["trained"] is False
    warned = spark.table(f"{SCHEMA}.alerts").where((F.col("kind") == "empty_catalog") & (F.col("as_of") == empty_day))
    assert {r.stage for r in warned.collect()} == {"features", "score"}
    assert spark.table(f"{SCHEMA}.predictions").where(F.col("as_of") == empty_day).count() == 0
