"""The single-machine baseline a user would write instead of lakescore: pandas + scikit-learn on
Parquet copies of the generated landing files, for one as-of (benchmarks/scale.py runs it in a
process of its own and samples its memory).

    python benchmarks/baseline.py --data DATA_DIR --as-of 2013-12-01 --out OUT_DIR --result OUT.json

The same dominant work as lakescore's flow, without its contracts, checks and tables: read the
flights, weather, planes, airports and airlines; for each as-of of the 90-day training window and
the as-of itself, the flights scheduled that New York day with the weather lookup (the latest
observation at the origin known at the prediction time, at most 6 hours old: merge_asof), the
plane, destination and airline joins, and the three histories (route and carrier over 28 days,
origin over 1 day: flights that had landed before the prediction time, shrunk with 20
pseudo-flights); a logistic regression (imputation, scaling, one-hot with rare categories
bucketed) on a hash split of the labelled window; the as-of's flights scored and written as Parquet.
`prepare` (untimed) writes the Parquet copies once into DATA_DIR/parquet/.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

TZ = "America/New_York"
HISTORIES = {"route_28d": (["origin", "dest"], 28), "carrier_28d": (["carrier"], 28), "origin_1d": (["origin"], 1)}
PRIOR = 20.0
NUMERIC = ["distance", "dep_hour", "dep_time_sin", "dep_time_cos", "plane_age", "plane_seats", "plane_engines",
           "dest_lat", "dest_lon", "dest_alt", "dest_tz", "temp", "humid", "wind_speed", "precip", "visib",
           "pressure", "route_28d", "route_flights_28d", "carrier_28d", "origin_1d", "origin_mean_arr_delay_1d"]
CATEGORICAL = ["carrier", "origin", "dest", "distance_band", "day_of_week", "manufacturer"]


def prepare(data: Path) -> Path:
    """Parquet copies of the landing CSVs (one file per CSV), typed by pyarrow's inference."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    out = data / "parquet"
    if (out / "done").exists():
        return out
    for csv in sorted(data.rglob("*.csv")):
        rel = csv.relative_to(data).with_suffix(".parquet")
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        table = pcsv.read_csv(csv, convert_options=pcsv.ConvertOptions(null_values=["NA", ""],
                                                                        strings_can_be_null=True))
        pq.write_table(table, out / rel)
    (out / "done").write_text("")
    return out


def histories(flights: pd.DataFrame, as_ofs: pd.DatetimeIndex) -> dict[str, pd.DataFrame]:
    """Per history and as-of: flights and delay rate (shrunk to the window's overall rate) of the
    group's flights of the window that had landed before the as-of's prediction time."""
    f = flights[flights["arr_delay"].notna()]
    first = np.maximum(f["local_day"] + pd.Timedelta(days=1), f["landed_local"].dt.ceil("D"))
    out = {}
    for name, (by, days) in HISTORIES.items():
        last = f["local_day"] + pd.Timedelta(days=days)
        on = pd.DataFrame({**{k: f[k] for k in by}, "d": first, "n": 1.0, "late": f["late"], "delay": f["arr_delay"]})
        off = on.assign(d=last + pd.Timedelta(days=1), n=-1.0, late=-on["late"], delay=-on["delay"])
        ev = pd.concat([on[on["d"] <= last], off[on["d"] <= last]])
        daily = ev.groupby(by + ["d"])[["n", "late", "delay"]].sum().reset_index()
        keys = daily[by].drop_duplicates()
        grid = keys.merge(pd.DataFrame({"d": as_ofs}), how="cross")
        cum = (pd.concat([daily, grid.assign(n=0.0, late=0.0, delay=0.0)])
               .groupby(by + ["d"])[["n", "late", "delay"]].sum().groupby(level=list(range(len(by)))).cumsum()
               .reset_index())
        cum = cum[cum["d"].isin(as_ofs)]
        overall = cum.groupby("d")[["n", "late", "delay"]].transform("sum")
        cum[name] = (cum["late"] + PRIOR * overall["late"] / overall["n"]) / (cum["n"] + PRIOR)
        if name == "route_28d":
            cum["route_flights_28d"] = np.log1p(cum["n"])
        if name == "origin_1d":
            cum["origin_mean_arr_delay_1d"] = (cum["delay"] + PRIOR * overall["delay"] / overall["n"]) / (cum["n"] + PRIOR)
        out[name] = cum.drop(columns=["n", "late", "delay"]).rename(columns={"d": "as_of"})
    return out


def features(pq_dir: Path, as_of: date, window_days: int = 90) -> tuple[pd.DataFrame, dict]:
    t = {}
    started = time.perf_counter()
    flights = pd.read_parquet(pq_dir / "flights")
    weather = pd.read_parquet(pq_dir / "weather")
    planes = pd.read_parquet(pq_dir / "planes.parquet")
    airports = pd.read_parquet(pq_dir / "airports.parquet")
    t["read_s"] = time.perf_counter() - started
    started = time.perf_counter()
    sched = pd.to_datetime(flights["time_hour"], utc=True) + pd.to_timedelta(flights["minute"], unit="m")
    local = sched.dt.tz_convert(TZ)
    flights["local_day"] = local.dt.tz_localize(None).dt.normalize()
    landed = sched + pd.to_timedelta(flights["dep_delay"].fillna(0) + flights["air_time"].fillna(0) + 30, unit="m")
    flights["landed_local"] = landed.dt.tz_convert(TZ).dt.tz_localize(None)
    flights["late"] = (flights["arr_delay"] > 15).astype(float)
    day = pd.Timestamp(as_of)
    as_ofs = pd.date_range(day - pd.Timedelta(days=window_days + 1), day, freq="D")
    hist = histories(flights[flights["local_day"] >= as_ofs[0] - pd.Timedelta(days=29)], as_ofs)
    rows = flights[flights["local_day"].isin(as_ofs)].copy()
    rows["as_of"] = rows["local_day"]
    rows["label"] = np.where(rows["arr_delay"].isna(), np.nan, rows["late"])
    minute = local.loc[rows.index].dt.hour * 60 + local.loc[rows.index].dt.minute
    rows["dep_hour"] = local.loc[rows.index].dt.hour
    rows["dep_time_sin"], rows["dep_time_cos"] = np.sin(2 * np.pi * minute / 1440), np.cos(2 * np.pi * minute / 1440)
    rows["day_of_week"] = local.loc[rows.index].dt.dayofweek + 1
    rows["distance_band"] = np.searchsorted([500, 1000, 1500, 2500], rows["distance"], side="right")
    # the weather lookup: the latest observation at the origin known at the as-of's prediction time
    w = weather.assign(known=pd.to_datetime(weather["time_hour"], utc=True) + pd.Timedelta(hours=1))
    pt = pd.DataFrame({"as_of": as_ofs}).merge(pd.DataFrame({"origin": w["origin"].unique()}), how="cross")
    pt["prediction_time"] = pt["as_of"].dt.tz_localize(TZ).dt.tz_convert("UTC")
    look = pd.merge_asof(pt.sort_values("prediction_time"), w.sort_values("known"), left_on="prediction_time",
                         right_on="known", by="origin", tolerance=pd.Timedelta(hours=6), allow_exact_matches=True)
    wcols = ["temp", "humid", "wind_speed", "precip", "visib", "pressure"]
    rows = rows.merge(look[["as_of", "origin", *wcols]], on=["as_of", "origin"], how="left")
    rows["precip"] = np.log1p(rows["precip"])
    p = planes.rename(columns={"year": "plane_year", "seats": "plane_seats", "engines": "plane_engines"})
    rows = rows.merge(p[["tailnum", "plane_year", "plane_seats", "plane_engines", "manufacturer"]], on="tailnum", how="left")
    rows["plane_age"] = rows["as_of"].dt.year - rows["plane_year"]
    rows["plane_seats"] = np.log1p(rows["plane_seats"])
    a = airports.rename(columns={"faa": "dest", "lat": "dest_lat", "lon": "dest_lon", "alt": "dest_alt", "tz": "dest_tz"})
    rows = rows.merge(a[["dest", "dest_lat", "dest_lon", "dest_alt", "dest_tz"]], on="dest", how="left")
    for name, by in (("route_28d", ["origin", "dest"]), ("carrier_28d", ["carrier"]), ("origin_1d", ["origin"])):
        rows = rows.merge(hist[name], on=by + ["as_of"], how="left")
    t["features_s"] = time.perf_counter() - started
    return rows, t


def train_and_score(rows: pd.DataFrame, as_of: date, out: Path) -> dict:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    t = {}
    warnings.filterwarnings("ignore", message="lbfgs failed to converge")  # maxIter 50, as lakescore's
    started = time.perf_counter()
    day = pd.Timestamp(as_of)
    for c in CATEGORICAL:
        rows[c] = rows[c].astype(str)
    labelled = rows[(rows["as_of"] < day) & rows["label"].notna()]
    test = pd.util.hash_pandas_object(labelled[["carrier", "flight", "origin", "as_of"]], index=False) % 5 == 0
    model = make_pipeline(ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), NUMERIC),
        ("cat", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=30), CATEGORICAL)]),
        LogisticRegression(max_iter=50, C=1.0 / (0.001 * max(1, int((~test).sum())))))
    model.fit(labelled.loc[~test.values, NUMERIC + CATEGORICAL], labelled.loc[~test.values, "label"])
    t["train_s"] = time.perf_counter() - started
    t["train_rows"], t["test_rows"] = int((~test).sum()), int(test.sum())
    t["test_auc"] = round(float(roc_auc_score(labelled.loc[test.values, "label"],
                                              model.predict_proba(
                                                  labelled.loc[test.values, NUMERIC + CATEGORICAL])[:, 1])), 4)
    started = time.perf_counter()
    catalog = rows[rows["as_of"] == day]
    scored = catalog[["carrier", "flight", "origin", "as_of"]].copy()
    scored["score"] = model.predict_proba(catalog[NUMERIC + CATEGORICAL])[:, 1]
    scored["prediction"] = (scored["score"] >= 0.5).astype(float)
    out.mkdir(parents=True, exist_ok=True)
    rows.drop(columns=["landed_local"]).to_parquet(out / "features.parquet", index=False)
    scored.to_parquet(out / "predictions.parquet", index=False)
    t["score_write_s"] = time.perf_counter() - started
    t["scored_rows"], t["feature_rows"] = len(scored), len(rows)
    return t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--as-of", type=date.fromisoformat, default=date(2013, 12, 1))
    p.add_argument("--out", required=True)
    p.add_argument("--result", required=True)
    p.add_argument("--prepare-only", action="store_true")
    args = p.parse_args()
    pq_dir = prepare(Path(args.data))
    if args.prepare_only:
        return
    started = time.perf_counter()
    rows, t = features(pq_dir, args.as_of)
    t.update(train_and_score(rows, args.as_of, Path(args.out)))
    t["seconds"] = round(time.perf_counter() - started, 2)
    Path(args.result).write_text(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in t.items()},
                                            indent=2) + "\n")


if __name__ == "__main__":
    main()
