"""The scale benchmark (`benchmarks/run.py --sizes 1000000,10000000`, `make bench-scale`).

For each size, in a fresh home: generate the flights sources (benchmarks/generate.py; cached by
seed and size under --cache), then run, each in a process of its own, every stage of the flow for
the as-of (ingest, features, train, promote, score; monitor the next day, the first run that knows
the as-of's labels), each measured stage's I/O floor (benchmarks/scale_steps.py), the daily flow
after that history (a new day's batch landed, then ingest, features, score and monitor: no
training) and the pandas + scikit-learn baseline (benchmarks/baseline.py). Each process's wall time, peak memory of
its process
tree (PSS: the Python driver, its JVM and Python workers, sampled from /proc every second; the
RSS of the driver and of the JVM every 0.2 s), the JVM's peak heap and the
load average before and after are recorded. Writes benchmarks/results/scale-<timestamp>.json and
.md (the table and the ratios). Not part of the test suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.scale_report import markdown, ratios  # noqa: E402

SEQUENCE = ["floor_ingest", "ingest", "features", "floor_features", "train", "promote", "score", "floor_score",
            "monitor", "floor_monitor", "daily", "baseline"]


def _proc_kb(pid: int, file: str, field: str) -> int | None:
    """A `field:` line of /proc/<pid>/<file>, in kB (None when the process or the field is gone)."""
    try:
        with open(f"/proc/{pid}/{file}") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _rss_kb(pid: int) -> int:
    return _proc_kb(pid, "status", "VmRSS") or 0


def _pss_kb(pid: int) -> int:
    """Proportional set size: a page shared by several processes counts once in their sum (a JVM
    that forks a helper, as Hadoop's local file system does for `chmod`, is not counted twice)."""
    pss = _proc_kb(pid, "smaps_rollup", "Pss")
    return _rss_kb(pid) if pss is None else pss


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            out.setdefault(ppid, []).append(int(entry))
    return out


def _tree(root: int) -> list[int]:
    kids, out, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def measured(cmd: list[str], env: dict, log: Path) -> dict:
    """Run `cmd`, sampling its process tree's memory; returns wall seconds, the peak PSS of the
    whole tree (`rss_peak_mb`: the Python driver, its JVM and any Python workers, shared pages
    counted once), the peak RSS of the Python process and of its largest child (the JVM) and the
    load average before and after."""
    peak = {"tree": 0, "python": 0, "jvm": 0}
    load_before = os.getloadavg()
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        done = threading.Event()

        def sample() -> None:
            n = 0
            while not done.is_set():
                pids = _tree(proc.pid)
                sizes = {p: _rss_kb(p) for p in pids}
                if n % 5 == 0:     # PSS walks the page tables: every second (10% of a core every 0.2 s)
                    peak["tree"] = max(peak["tree"], sum(_pss_kb(p) for p in pids))
                n += 1
                peak["python"] = max(peak["python"], sizes.get(proc.pid, 0))
                peak["jvm"] = max(peak["jvm"], max((v for p, v in sizes.items() if p != proc.pid), default=0))
                done.wait(0.2)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        rc = proc.wait()
        done.set()
        thread.join()
    return {"rc": rc, "wall_s": round(time.perf_counter() - started, 2),
            "rss_peak_mb": round(peak["tree"] / 1024, 1), "python_rss_peak_mb": round(peak["python"] / 1024, 1),
            "jvm_rss_peak_mb": round(peak["jvm"] / 1024, 1),
            "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()]}


def data_for(size: int, seed: int, cache: Path, env: dict) -> Path:
    data = cache / f"flights-{size}-seed{seed}"
    if not (data / "manifest.json").exists():
        print(f"generating {size:,} flights into {data}", flush=True)
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generate.py"), "--flights", str(size),
                        "--seed", str(seed), "--out", str(data)], check=True, env=env, stdout=subprocess.DEVNULL)
    return data


def use_case(home: Path, data: Path) -> Path:
    """conf/flights.yml with the sources landing from the generated files and the home given.
    A source of several files lands from a folder of the home holding links to them, so the
    daily step can add a new file without touching the cached data."""
    cfg = yaml.safe_load((ROOT / "conf" / "flights.yml").read_text())
    for source in cfg["sources"]:
        folder = data / source
        if folder.is_dir():
            landing = home / "landing" / source
            landing.mkdir(parents=True, exist_ok=True)
            for f in sorted(folder.glob("*.csv")):
                (landing / f.name).symlink_to(f)
            cfg["sources"][source]["landing"] = {"path": str(landing)}
        else:
            cfg["sources"][source]["landing"] = {"path": str(data / f"{source}.csv")}
    cfg["storage"]["local_home"] = str(home)
    path = home / "flights.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run_size(size: int, args, env: dict, save=lambda partial: None) -> dict:
    data = data_for(size, args.seed, Path(args.cache), env)
    manifest = json.loads((data / "manifest.json").read_text())
    homes = Path(args.homes)
    homes.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix=f"scale-{size}-", dir=homes))
    config = use_case(home, data)
    env = {**env, "LAKESCORE_HOME": str(home)}
    steps: dict[str, dict] = {}
    out = {"size": size, "manifest": manifest, "home": str(home), "data": str(data), "steps": steps}
    wanted = SEQUENCE if args.steps == "all" else [s for s in SEQUENCE if s in args.steps.split(",")]
    for step in wanted:
        result = home / f"{step}.json"
        if step == "baseline":
            if size > args.baseline_max:
                steps[step] = {"skipped": f"size over --baseline-max {args.baseline_max:,}"}
                continue
            subprocess.run([sys.executable, str(ROOT / "benchmarks" / "baseline.py"), "--data", str(data),
                            "--out", "-", "--result", "-", "--prepare-only"], check=True, env=env)
            cmd = [sys.executable, str(ROOT / "benchmarks" / "baseline.py"), "--data", str(data),
                   "--as-of", args.as_of, "--out", str(home / "baseline"), "--result", str(result)]
        else:
            cmd = [sys.executable, str(ROOT / "benchmarks" / "scale_steps.py"), step, "--config", str(config),
                   "--home", str(home), "--as-of", args.as_of, "--data", str(data), "--result", str(result),
                   "--seed", str(args.seed)]
        m = measured(cmd, env, home / f"{step}.log")
        if result.exists():
            m.update(json.loads(result.read_text()))
        steps[step] = m
        save(out)                                  # a partial report after every step
        print(f"{size:>10,} {step:<15} rc={m['rc']} wall {m['wall_s']:>7.1f}s step {m.get('seconds', '-')}s "
              f"rss {m['rss_peak_mb']:.0f} MB heap {m.get('jvm_heap_peak_mb', '-')} MB load {m['load_before'][0]}",
              flush=True)
        if m["rc"] != 0:
            print(f"  failed: see {home / (step + '.log')}", flush=True)
            if step in ("ingest", "features"):
                break
    return out


def main(args) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if args.master:
        env["LAKESCORE_MASTER"] = args.master
    started = datetime.now()
    report = {"when": started.isoformat(timespec="seconds"), "as_of": args.as_of, "seed": args.seed,
              "machine": {"cpus": os.cpu_count(), "master": args.master or "local[*]"}, "sizes": []}
    out_dir = ROOT / "benchmarks" / "results"
    stem = out_dir / f"scale-{started:%Y%m%d-%H%M%S}"
    def save(partial: dict | None = None) -> None:
        sizes = report["sizes"] + ([partial] if partial is not None else [])
        shown = {**report, "sizes": sizes}
        shown["ratios"] = ratios(shown)
        stem.with_suffix(".json").write_text(json.dumps(shown, indent=2) + "\n")
        stem.with_suffix(".md").write_text(markdown(shown))

    for size in [int(s) for s in args.sizes.split(",")]:
        report["sizes"].append(run_size(size, args, env, save))
        save()
    report["ratios"] = ratios(report)
    print(markdown(report))
    print(f"wrote {stem}.json and .md", file=sys.stderr)
