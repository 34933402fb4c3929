"""The monitoring report: one self-contained HTML page (inline SVG figures, inline CSS, no script,
nothing fetched when it is opened) of a use case's windows in a date range: quality per slice
over time, the score distribution per window, drift heatmaps, the serving model's age with its
promotions, the gate's decisions, the data-quality history and the alerts.

`lakescore report -c F [--start D1 --end D2] --out report.html` writes it; with
`monitor.report: true` the monitor stage logs it to MLflow (`log_to_mlflow`). The figures come from
`lakescore.monitoring.report_plots`, the aggregates from `lakescore.monitoring.report_data` (computed in Spark).
"""

from __future__ import annotations

import html
import io
import logging
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import matplotlib
import pandas as pd

from lakescore.core.runtime import Context
from lakescore.monitoring import report_plots as plots
from lakescore.monitoring.report_data import DEFAULT_DAYS, DEFAULT_DISTANCE, TOP_SLICES, ReportData, collect
from lakescore.transforms.columns import AS_OF, BASELINE, CONSECUTIVE, NUM_LABELLED, SLICE_KEY

log = logging.getLogger("lakescore.report")

ARTIFACT = "monitoring_report.html"
__all__ = ["ARTIFACT", "DEFAULT_DAYS", "build", "collect", "log_to_mlflow", "render", "svg"]
SECTIONS = {  # id -> title, in page order
    "quality": "Quality per slice over time",
    "scores": "Score distribution per window",
    "drift": "Drift heatmaps",
    "model-age": "Model age and promotions",
    "gate": "The gate's decisions",
    "data-quality": "Data quality per source",
    "alerts": "Alerts",
}

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1180px;color:#222}
h1{margin-bottom:4px} .meta{color:#666;font-size:13px} nav a{margin-right:14px;font-size:14px}
section{border-top:1px solid #ddd;margin-top:28px;padding-top:8px} svg{max-width:100%;height:auto}
table{border-collapse:collapse;font-size:12px;margin:8px 0} th,td{border:1px solid #ddd;padding:3px 7px;text-align:left}
th{background:#f5f5f5} td:first-child,th:first-child{text-align:left} .note{color:#555;font-size:13px}
.fail{color:#b00020;font-weight:600} .pass{color:#2a7d2a} .empty{color:#888;font-style:italic}
"""


def svg(fig) -> str:
    """A figure as inline SVG (text kept as text)."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _table(df: pd.DataFrame, columns: list[str] | None = None, digits: int = 4) -> str:
    if df.empty:
        return '<p class="empty">no rows</p>'
    shown = df[columns] if columns else df
    shown = shown.copy()
    for c in shown.columns:
        if pd.api.types.is_float_dtype(shown[c]):
            shown[c] = shown[c].round(digits)
    return shown.to_html(index=False, na_rep="", border=0, escape=True)


def _section(key: str, rows: int, note: str, *parts: str) -> str:
    return (f'<section id="{key}" data-rows="{rows}"><h2>{html.escape(SECTIONS[key])}</h2>'
            f'<p class="note">{note}</p>' + "".join(parts) + "</section>")


def _gate_summary(gate: pd.DataFrame) -> pd.DataFrame:
    """One row per candidate: decision and the checks that failed."""
    if gate.empty:
        return gate
    rows = []
    for (as_of, name, version), part in gate.groupby([AS_OF, "model_name", "model_version"], sort=False):
        failed = part[part["passed"] == False]  # noqa: E712 - NULL (no decision) is not a failure
        rows.append({"as_of": as_of, "model": f"{name}/{version}", "decision": part["decision"].iloc[0],
                     "checks": len(part), "passed": int((part["passed"] == True).sum()),  # noqa: E712
                     "failed": ", ".join(failed["check"]) or "-",
                     "why": "; ".join(r for r in failed["reason"].dropna().head(3))})
    return pd.DataFrame(rows)


def _estimate_note(est: pd.DataFrame, metric: str) -> str:
    """What the estimate is, and how far it was from the realized metric where both exist."""
    how = ("the served inputs and predictions and the serving model's loss model fitted on its held-out rows' "
           "errors (direct loss estimation)" if metric in ("mae", "rmse") else
           "the served scores and the serving model's calibration on its held-out rows (CBPE)")
    said = (f"{html.escape(metric)} estimated per window from {how}, before any label is known; it cannot see "
            "a change in how the label follows the inputs.")
    both = est.dropna(subset=["estimated", "realized"]) if not est.empty else est
    if both.empty:
        return said + " No window has both an estimate and a realized value yet."
    return said + (f" Over the {len(both)} window(s) with both, mean absolute error {both['error'].abs().mean():.4f}, "
                   f"largest {both['error'].abs().max():.4f}.")


def render(data: ReportData) -> str:
    """The page of a ReportData."""
    q, metric = data.quality, data.metric
    whole = q[q[SLICE_KEY].isna()] if not q.empty else q
    drift_parts = [svg(plots.drift_heatmap(data.drift, t, data.distance)) for t in (BASELINE, CONSECUTIVE)]
    drifted = data.drift[data.drift["drifted"] == 1] if not data.drift.empty else data.drift
    worst = (drifted.groupby(["drift_type", "column_name"]).agg(windows=("as_of", "count"), worst=("value", "max"),
                                                                metric=("metric", "first"), threshold=("threshold", "max"))
             .reset_index().sort_values(["windows", "worst"], ascending=False) if not drifted.empty else drifted)
    versions = data.model_age.groupby("model_version")["model_age_days"].agg(["min", "max"]) \
        if not data.model_age.empty else pd.DataFrame()
    labelled = int(whole[NUM_LABELLED].sum()) if not whole.empty else 0
    alert_total = int(data.alert_counts["alerts"].sum()) if not data.alert_counts.empty else 0
    sections = [
        _section("quality", len(q), f"{html.escape(metric)} per window on the labels known by the latest monitor run "
                 f"(out of sample); {labelled:,} labelled rows in the range. "
                 f"Slices: the {TOP_SLICES} largest values of each key.",
                 svg(plots.quality_over_time(q, metric)),
                 _table(whole, [AS_OF, "count", NUM_LABELLED, metric]) if not whole.empty else "",
                 "<h3>Estimated before the labels</h3>", f"<p>{_estimate_note(data.estimated, metric)}</p>",
                 svg(plots.estimated_vs_realized(data.estimated, metric)),
                 _table(data.estimated) if not data.estimated.empty else ""),
        _section("scores", len(data.scores), f"{int(data.scores['rows'].sum()) if not data.scores.empty else 0:,} "
                 "predictions; quantiles computed in Spark (approximate).",
                 svg(plots.score_distribution(data.scores)), _table(data.scores)),
        _section("drift", len(data.drift), f"Colour: <b>{html.escape(data.distance)}</b>. BASELINE compares each window "
                 "with the serving model's training rows (skew), CONSECUTIVE with the day before. A red frame (and "
                 "×) marks a drifted cell: the column's own test (metric, threshold) decided it.",
                 *drift_parts, "<h3>Drifted features</h3>", _table(worst),
                 "<h3>What moved the score</h3><p>Windows whose score drifted against the training rows (BASELINE) "
                 "or the day before (CONSECUTIVE), with each feature's share of the shift: the part of it that "
                 "disappears when that feature alone is drawn from the reference's distribution again (a sample of "
                 "the window's rows re-scored).</p>",
                 _table(data.explained) if not data.explained.empty else "<p>No score drift in the range.</p>"),
        _section("model-age", len(data.model_age), f"{len(versions)} version(s) served in the range; "
                 f"{len(data.promotions)} promotion(s) in it.",
                 svg(plots.model_age_over_time(data.model_age, data.promotions, data.max_model_age_days)),
                 _table(data.model_age)),
        _section("gate", len(data.gate), "One row per candidate, then every check (newest first).",
                 _table(_gate_summary(data.gate)), "<details><summary>every check</summary>",
                 _table(data.gate.drop(columns=["validated_at"], errors="ignore")), "</details>"),
        _section("data-quality", len(data.data_quality), "Batches ingested per as-of (rows in = clean + quarantined).",
                 svg(plots.data_quality_history(data.data_quality)), _table(data.data_quality)),
        _section("alerts", len(data.alerts), f"{alert_total:,} alert(s) in the range; the {len(data.alerts)} newest listed.",
                 svg(plots.alerts_over_time(data.alert_counts)), _table(data.alerts, digits=3)),
    ]
    nav = "".join(f'<a href="#{k}">{html.escape(t)}</a>' for k, t in SECTIONS.items())
    timing = f"; aggregated in Spark in {sum(data.seconds.values()):.1f}s" if data.seconds else ""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>lakescore report: '
            f'{html.escape(data.use_case)} {data.start}..{data.end}</title><style>{CSS}</style></head><body>'
            f"<h1>{html.escape(data.use_case)}: monitoring report</h1>"
            f'<p class="meta">tables {html.escape(data.schema)}, as-ofs {data.start} to {data.end}; generated {stamp}'
            f"{timing}</p><nav>{nav}</nav>" + "".join(sections) + "</body></html>")


def build(ctx: Context, out: Path, start: date | None = None, end: date | None = None,
          distance: str = DEFAULT_DISTANCE) -> tuple[ReportData, float]:
    """Aggregate, draw and write the page to `out`; returns the data and the seconds it took."""
    started = time.perf_counter()
    data = collect(ctx, start, end, distance)
    aggregated = time.perf_counter() - started
    page = render(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    seconds = time.perf_counter() - started
    log.info("report: wrote %s (%d KB) in %.1fs (aggregates %.1fs, figures %.1fs)", out, out.stat().st_size // 1024,
             seconds, aggregated, seconds - aggregated)
    return data, seconds


def log_to_mlflow(ctx: Context, work: Path, days: int) -> str:
    """The monitor stage's report: the `days` windows up to the as-of, logged as the artifact
    ARTIFACT of an MLflow run `<use case>-<as-of>-monitor` in the use case's experiment."""
    import mlflow

    from lakescore.models import registry

    out = work / ARTIFACT
    _, seconds = build(ctx, out, ctx.as_of - timedelta(days=days - 1), ctx.as_of)
    registry.configure(ctx)
    with mlflow.start_run(run_name=f"{ctx.cfg.name}-{ctx.as_of}-monitor", nested=mlflow.active_run() is not None) as run:
        mlflow.set_tags({"lakescore.stage": "monitor", "lakescore.as_of": str(ctx.as_of)})
        mlflow.log_metric("report_seconds", seconds)
        mlflow.log_artifact(str(out))
    log.info("report: logged %s to MLflow run %s", ARTIFACT, run.info.run_id)
    return run.info.run_id
