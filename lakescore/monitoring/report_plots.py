"""The monitoring report's figures, drawn from the small frames of `lakescore.monitoring.report_data`: each
function takes one frame and returns a matplotlib Figure (built without pyplot, so it needs no
display and holds no global state). The HTML report and the notebooks draw with the same
functions.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from lakescore.transforms.columns import (
    AS_OF,
    COLUMN_NAME,
    MODEL_AGE_DAYS,
    MODEL_VERSION,
    NUM_LABELLED,
    SLICE_KEY,
    SLICE_VALUE,
)

WHOLE = "whole table"
DRIFTED = "#d62728"
MUTED = "#7f7f7f"
MAX_ANNOTATED_CELLS = 600      # a heatmap with more cells than this shows colours only


def _dates(values) -> list[str]:
    return [str(v)[:10] for v in values]


def _empty(message: str) -> Figure:
    fig = Figure(figsize=(8, 1.2))
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", color=MUTED)
    return fig


def _date_axis(ax, days: list[str]) -> None:
    step = max(1, math.ceil(len(days) / 16))
    ax.set_xticks(range(0, len(days), step))
    ax.set_xticklabels(days[::step], rotation=45, ha="right", fontsize=8)


def _metric_axis(ax, metric: str, title: str, days: list[str], legend_x: float) -> None:
    """A metric-per-window axis: label, title, one slot per window, grid, legend on the right."""
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=10)
    ax.set_xlim(-0.6, len(days) - 0.4)
    _date_axis(ax, days)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(legend_x, 1.0), frameon=False)


def quality_over_time(quality: pd.DataFrame, metric: str) -> Figure:
    """The metric per window for the whole table and each slice key's biggest slices (lines), and
    the labelled rows it was computed on (bars, right axis)."""
    if quality.empty or quality[metric].isna().all():
        return _empty(f"no {metric} yet: no window in the range has labelled rows")
    days = sorted(_dates(quality[AS_OF].unique()))
    index = {d: i for i, d in enumerate(days)}
    keys = [None, *sorted(k for k in quality[SLICE_KEY].dropna().unique())]
    fig = Figure(figsize=(11, 3.0 * len(keys)), layout="constrained")
    axes = fig.subplots(len(keys), 1, squeeze=False)[:, 0]
    for ax, key in zip(axes, keys):
        part = quality[quality[SLICE_KEY].isna()] if key is None else quality[quality[SLICE_KEY] == key]
        bars = ax.twinx()
        labelled = part.groupby(part[AS_OF].map(lambda v: str(v)[:10]))[NUM_LABELLED].sum()
        bars.bar([index[d] for d in labelled.index], labelled.values, color="#c7c7c7", width=0.6, zorder=0)
        bars.set_ylabel("labelled rows", color=MUTED, fontsize=8)
        bars.tick_params(axis="y", labelcolor=MUTED, labelsize=8)
        ax.set_zorder(bars.get_zorder() + 1)
        ax.patch.set_visible(False)
        values = [None] if key is None else list(dict.fromkeys(part[SLICE_VALUE]))
        for value in values:
            rows = part if value is None else part[part[SLICE_VALUE] == value]
            n = int(rows[NUM_LABELLED].sum())
            ax.plot([index[d] for d in _dates(rows[AS_OF])], rows[metric], marker="o", markersize=4,
                    label=f"{WHOLE if value is None else value} ({n:,} labelled)",
                    linewidth=2.2 if value is None else 1.4, color="black" if value is None else None)
        _metric_axis(ax, metric, f"{metric} per window: {WHOLE if key is None else f'by {key} (largest slices)'}",
                     days, 1.06)
    return fig


def estimated_vs_realized(est: pd.DataFrame, metric: str) -> Figure:
    """The metric estimated from the served scores per window (a line through every window) and
    the realized one where labels are known (points), the whole table."""
    if est.empty or est["estimated"].isna().all():
        return _empty(f"no estimated {metric}: the serving model has no calibration (a binary label's)")
    days = _dates(est[AS_OF])
    x = list(range(len(days)))
    fig = Figure(figsize=(11, 3.0), layout="constrained")
    ax = fig.subplots()
    ax.plot(x, est["estimated"], marker="o", markersize=4, linewidth=2, color="#1f77b4",
            label=f"estimated {metric} (served scores, no labels)")
    known = est["realized"].notna()
    ax.plot([i for i, k in zip(x, known) if k], est.loc[known, "realized"], marker="s", markersize=5,
            linestyle="--", color="black", label=f"realized {metric} (labelled rows)")
    _metric_axis(ax, metric, f"{metric} per window: estimated before the labels vs realized", days, 1.01)
    return fig


def score_distribution(scores: pd.DataFrame) -> Figure:
    """Per window: a box of the score (whiskers 5th-95th percentile, box quartiles, median line,
    mean dot) and the rows scored."""
    if scores.empty:
        return _empty("no predictions in the range")
    days = _dates(scores[AS_OF])
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    stats = [{"med": r.p50, "q1": r.p25, "q3": r.p75, "whislo": r.p05, "whishi": r.p95, "mean": r.mean,
              "fliers": [r.min, r.max], "label": d} for r, d in zip(scores.itertuples(), days)]
    top.bxp(stats, positions=range(len(days)), showmeans=True, widths=0.6,
            meanprops={"marker": "o", "markerfacecolor": "white", "markeredgecolor": "black", "markersize": 4},
            flierprops={"marker": "_", "markeredgecolor": MUTED})
    top.set_ylabel("score")
    top.set_title("score per window: box 25th-75th percentile, whiskers 5th-95th, ends min/max, dot mean", fontsize=10)
    top.grid(axis="y", alpha=0.3)
    bottom.bar(range(len(days)), scores["rows"], color="#9ecae1", width=0.6)
    bottom.set_ylabel("rows", fontsize=8)
    _date_axis(bottom, days)
    return fig


def drift_heatmap(drift: pd.DataFrame, drift_type: str, distance: str) -> Figure:
    """Feature x window coloured by `distance`; a red frame and x on the cells whose test found
    drift, an empty cell where the comparison has no figure."""
    part = drift[drift["drift_type"] == drift_type] if not drift.empty else drift
    if part.empty:
        return _empty(f"no {drift_type} comparisons in the range")
    part = part.assign(day=_dates(part[AS_OF]))
    values = part.pivot_table(index=COLUMN_NAME, columns="day", values="distance", aggfunc="max", dropna=False)
    flags = part.pivot_table(index=COLUMN_NAME, columns="day", values="drifted", aggfunc="max", dropna=False)
    features, days = list(values.index), list(values.columns)
    flags = flags.reindex(index=features, columns=days)
    fig = Figure(figsize=(min(4 + 0.55 * len(days), 16), 1.4 + 0.26 * len(features)), layout="constrained")
    ax = fig.subplots()
    grid = np.ma.masked_invalid(values.to_numpy(dtype=float))
    image = ax.imshow(grid, aspect="auto", cmap="YlOrBr", interpolation="nearest")
    image.cmap.set_bad("#f0f0f0")
    fig.colorbar(image, ax=ax, label=distance, shrink=0.8)
    annotate = grid.size <= MAX_ANNOTATED_CELLS and len(days) <= 20
    top = float(np.nanmax(values.to_numpy(dtype=float))) if grid.count() else 0.0
    for i, _ in enumerate(features):
        for j, _ in enumerate(days):
            flag = flags.iat[i, j]
            if flag == 1:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor=DRIFTED, linewidth=2))
            if annotate and not np.ma.is_masked(grid[i, j]):
                dark = top and grid[i, j] > 0.6 * top
                ax.text(j, i, f"{grid[i, j]:.2f}" + (" ×" if flag == 1 else ""), ha="center", va="center",
                        fontsize=6.5, color="white" if dark else "black",
                        fontweight="bold" if flag == 1 else "normal")
    ax.set_yticks(range(len(features)))
    ax.set_yticklabels(features, fontsize=8)
    ax.set_xticks(range(len(days)))
    ax.set_xticklabels(days, rotation=45, ha="right", fontsize=8)
    drifted = int((flags == 1).sum().sum())
    ax.set_title(f"{drift_type}: {distance} per feature and window; {drifted} drifted cell(s) framed in red "
                 f"(by each column's own test)", fontsize=10)
    return fig


def model_age_over_time(age: pd.DataFrame, promotions: pd.DataFrame, max_age_days: float) -> Figure:
    """The serving model's age per window, one colour per version, the staleness limit, and a
    vertical line at each promotion."""
    if age.empty:
        return _empty("no predictions in the range")
    days = sorted(set(_dates(age[AS_OF])) | set(_dates(promotions[AS_OF]) if not promotions.empty else []))
    index = {d: i for i, d in enumerate(days)}
    fig = Figure(figsize=(11, 3.4), layout="constrained")
    ax = fig.subplots()
    for version in sorted(age[MODEL_VERSION].unique(), key=lambda v: int(v) if str(v).isdigit() else 0):
        rows = age[age[MODEL_VERSION] == version]
        ax.plot([index[d] for d in _dates(rows[AS_OF])], rows[MODEL_AGE_DAYS], marker="o", markersize=5,
                label=f"version {version}")
    ax.axhline(max_age_days, color=DRIFTED, linestyle="--", linewidth=1)
    ax.text(len(days) - 0.5, max_age_days, f" stale above {max_age_days:g} days", color=DRIFTED, fontsize=8,
            va="bottom", ha="right")
    for row in promotions.itertuples():
        x = index[str(getattr(row, AS_OF))[:10]]
        ax.axvline(x, color="#2ca02c", linestyle=":", linewidth=1.5)
        ax.text(x, ax.get_ylim()[1] * 0.95, f" v{getattr(row, MODEL_VERSION)} promoted", color="#2ca02c",
                fontsize=8, rotation=90, va="top", ha="right")
    ax.set_ylabel("model age (days)")
    ax.set_ylim(bottom=0, top=max(max_age_days * 1.1, float(age[MODEL_AGE_DAYS].max()) * 1.1))
    ax.set_xlim(-0.6, len(days) - 0.4)
    _date_axis(ax, days)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title("serving model's age at each window (days since its training cutoff)", fontsize=10)
    return fig


def data_quality_history(dq: pd.DataFrame) -> Figure:
    """Per source and as-of: rows in (log scale) and the share quarantined."""
    if dq.empty:
        return _empty("no ingested batches in the range")
    days = sorted(set(_dates(dq[AS_OF])))
    sources = sorted(dq["source"].unique())
    width = 0.8 / len(sources)
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    rows_ax, share_ax = fig.subplots(2, 1, sharex=True)
    for k, source in enumerate(sources):
        part = dq[dq["source"] == source]
        x = np.array([days.index(d) for d in _dates(part[AS_OF])]) - 0.4 + width * (k + 0.5)
        rows_ax.bar(x, part["rows_in"], width=width, label=source)
        share = 100.0 * part["rows_quarantined"] / part["rows_in"].where(part["rows_in"] > 0)
        bars = share_ax.bar(x, share.fillna(0), width=width)
        for bar, q in zip(bars, part["rows_quarantined"]):
            share_ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{int(q):,}", ha="center",
                          va="bottom", fontsize=7)
    rows_ax.set_yscale("log")
    rows_ax.set_ylabel("rows in (log)")
    rows_ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    rows_ax.set_title("rows in per source and as-of", fontsize=10)
    share_ax.set_ylabel("quarantined (%)")
    share_ax.set_title("share of rows quarantined (labels: rows quarantined)", fontsize=10)
    share_ax.set_ylim(0, max(1.0, float(share_ax.get_ylim()[1]) * 1.2))
    share_ax.set_xticks(range(len(days)))
    share_ax.set_xticklabels(days, rotation=45, ha="right", fontsize=8)
    return fig


def alerts_over_time(counts: pd.DataFrame) -> Figure:
    """Alerts per window, stacked by kind."""
    if counts.empty:
        return _empty("no alerts in the range")
    table = counts.assign(day=_dates(counts[AS_OF])).pivot_table(index="day", columns="kind", values="alerts",
                                                                  aggfunc="sum", fill_value=0).sort_index()
    days = list(table.index)
    fig = Figure(figsize=(11, 3.4), layout="constrained")
    ax = fig.subplots()
    bottom = np.zeros(len(days))
    for kind in table.columns:
        ax.bar(range(len(days)), table[kind], bottom=bottom, label=kind, width=0.6)
        bottom += table[kind].to_numpy()
    ax.set_ylabel("alerts")
    _date_axis(ax, days)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title("alerts per as-of, by kind", fontsize=10)
    return fig
