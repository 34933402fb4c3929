"""What an analyst's query costs, with and without the warm endpoint (`lakescore serve`).

    python benchmarks/sql_endpoint.py --config conf/flights.yml --runs 5

on a home where `make demo` ran, times in this order: `lakescore sql --no-endpoint` (a session
of its own: process start to exit), then starts `lakescore serve` (its start to the first
answer), `lakescore sql` through it (process start to exit), and the query alone from a client
connected to it (the warm query). Prints the median of each and, with `--json`, writes every
figure to a file. A benchmark, never a timed test: run it on an otherwise idle machine (the load
average is printed before and after).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

QUERY = "select count(*) from predictions"


def _lakescore(*args: str) -> list[str]:
    return [sys.executable, "-m", "lakescore", *args]


def _wall(cmd: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - began)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="conf/flights.yml")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--query", default=QUERY)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from lakescore.config import load_config
    from lakescore.core import endpoint
    from lakescore.core.runtime import local_home

    home = local_home(load_config(args.config))
    load_before = os.getloadavg()
    print(f"load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; home {home}")
    figures: dict[str, list[float]] = {}
    figures["sql_own_session"] = _wall(_lakescore("sql", "-c", args.config, "--no-endpoint", args.query), args.runs)

    port = _free_port()
    began = time.perf_counter()
    server = subprocess.Popen(_lakescore("serve", "-c", args.config, "--port", str(port)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while endpoint.running(home) is None:
            if server.poll() is not None:
                raise SystemExit(f"lakescore serve exited {server.returncode}")
            time.sleep(0.2)
        figures["serve_start"] = [time.perf_counter() - began]
        figures["sql_through_endpoint"] = _wall(_lakescore("sql", "-c", args.config, args.query), args.runs)
        client = (
            "import json, sys, time\n"
            "from lakescore.core import endpoint\n"
            f"spark = endpoint.remote_session(endpoint.running({str(home)!r}))\n"
            f"spark.catalog.setCurrentDatabase({load_config(args.config).storage.schema_name!r})\n"
            "out = []\n"
            f"for _ in range({args.runs} + 1):\n"
            "    t = time.perf_counter(); spark.sql(sys.argv[1]).collect(); out.append(time.perf_counter() - t)\n"
            "print(json.dumps(out[1:]))\n")    # the first query warms this client's own plans
        done = subprocess.run([sys.executable, "-c", client, args.query], check=True, capture_output=True, text=True)
        figures["warm_query"] = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait(timeout=120)
    load_after = os.getloadavg()
    for name, values in figures.items():
        print(f"  {name:<24} median {statistics.median(values):6.2f} s  ({', '.join(f'{v:.2f}' for v in values)})")
    print(f"load average after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"query": args.query, "figures": figures, "load_before": load_before,
                                         "load_after": load_after}, indent=1))


if __name__ == "__main__":
    main()
