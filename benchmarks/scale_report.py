"""The ratios and the Markdown table of a scale benchmark's report (benchmarks/scale.py)."""

from __future__ import annotations

STAGES = ("ingest", "features", "train", "promote", "score", "monitor")
FLOORED = ("ingest", "features", "score", "monitor")


def _s(steps: dict, name: str) -> float | None:
    step = steps.get(name) or {}
    return step.get("seconds") if step.get("rc", 1) == 0 else None


def _div(a, b) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def rows_of(size: dict, step: str) -> int | None:
    """The rows a step handles: the input rows for ingest, the rows written for the others."""
    steps, m = size["steps"], size["manifest"]
    if step.endswith("ingest"):
        return m["flights"] + m["weather"] + m["planes"]
    if step == "baseline":
        return m["flights"]
    if step == "daily":
        return (steps.get("daily", {}).get("summary") or {}).get("batch_flights")
    if step in ("train", "promote"):
        return (steps.get("train", {}).get("summary") or {}).get("train_rows")
    floor = {"features": "floor_features", "score": "floor_score", "monitor": "floor_monitor"}.get(step, step)
    if step.endswith("monitor"):
        floor = "floor_score"                      # monitor judges the as-of's predictions
    return (steps.get(floor) or {}).get("rows_written")


def ratios(report: dict) -> dict:
    out: dict = {}
    for size in report["sizes"]:
        steps = size["steps"]
        stages = [_s(steps, s) for s in STAGES]
        end_to_end = sum(stages) if all(v is not None for v in stages) else None
        r = {f"{s}/floor": _div(_s(steps, s), _s(steps, "floor_" + s)) for s in FLOORED}
        r["monitor/score"] = _div(_s(steps, "monitor"), _s(steps, "score"))
        r["end_to_end_s"] = round(end_to_end, 1) if end_to_end else None
        r["end_to_end/baseline"] = _div(end_to_end, _s(steps, "baseline"))
        r["daily_flow_s"] = _s(steps, "daily")
        r["driver_rss_peak_mb"] = max((v.get("rss_peak_mb", 0) for k, v in steps.items() if k in STAGES), default=None)
        r["jvm_heap_peak_mb"] = max((v.get("jvm_heap_peak_mb", 0) for k, v in steps.items() if k in STAGES), default=None)
        out[str(size["size"])] = r
    sizes = sorted(out, key=int)
    if len(sizes) > 1:
        first, last = out[sizes[0]], out[sizes[-1]]
        out["driver_memory_growth"] = {
            "rss": _div(last["driver_rss_peak_mb"], first["driver_rss_peak_mb"]),
            "jvm_heap": _div(last["jvm_heap_peak_mb"], first["jvm_heap_peak_mb"]), "from": sizes[0], "to": sizes[-1]}
    return out


def _fmt(v, spec: str = ",.1f") -> str:
    return "-" if v is None else format(v, spec)


def markdown(report: dict) -> str:
    lines = [f"Scale benchmark of {report['when']} (as-of {report['as_of']}, seed {report['seed']}, "
             f"{report['machine']['cpus']} cores, master {report['machine']['master']})", ""]
    for size in report["sizes"]:
        lines += [f"### {size['size']:,} flights", "",
                  "| step | seconds | rows | rows/s | peak memory, driver + JVM + workers (PSS, MB) | peak JVM heap (MB) "
                  "| load avg before/after |",
                  "|---|---|---|---|---|---|---|"]
        for name, step in size["steps"].items():
            if "skipped" in step:
                lines.append(f"| {name} | skipped: {step['skipped']} | | | | | |")
                continue
            secs = step.get("seconds") if step.get("rc") == 0 else None
            rows = rows_of(size, name)
            lines.append(f"| {name} | {_fmt(secs)}{'' if step.get('rc') == 0 else ' (failed)'} | {_fmt(rows, ',d')} | "
                         f"{_fmt(rows / secs if rows and secs else None, ',.0f')} | "
                         f"{_fmt(step.get('rss_peak_mb'), ',.0f')} | "
                         f"{_fmt(step.get('jvm_heap_peak_mb'), ',.0f')} | "
                         f"{step['load_before'][0]:.1f} / {step['load_after'][0]:.1f} |")
        daily = (size["steps"].get("daily") or {}).get("summary")
        if daily and size["steps"]["daily"].get("rc") == 0:
            lines += ["", f"Daily flow for as-of {daily['as_of']} after the history (a new batch of "
                          f"{daily['batch_flights']:,} flights; no training): "
                      + ", ".join(f"{s} {daily[s + '_s']:.1f} s" for s in ("ingest", "features", "score", "monitor"))
                      + "."]
        lines.append("")
    lines += ["### Ratios", "", "| size | " + " | ".join(k for k in next(iter(report["ratios"].values()))) + " |",
              "|---|" + "---|" * len(next(iter(report["ratios"].values())))]
    for size, r in report["ratios"].items():
        if size.isdigit():
            lines.append(f"| {int(size):,} | " + " | ".join(_fmt(v, ",.2f") for v in r.values()) + " |")
    if "driver_memory_growth" in report["ratios"]:
        g = report["ratios"]["driver_memory_growth"]
        lines += ["", f"Driver memory from {int(g['from']):,} to {int(g['to']):,} flights: peak memory (PSS) x{g['rss']}, "
                      f"peak JVM heap x{g['jvm_heap']}."]
    lines.append("")
    lines.append("Seconds are each step's own work (the session start of its process excluded); wall time, "
                 "session start and the log of each step are in the JSON.")
    return "\n".join(lines) + "\n"
