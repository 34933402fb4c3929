# Databricks notebook source
# MAGIC %md
# MAGIC # Monitoring over time
# MAGIC
# MAGIC How a use case's model has been doing, window by window: quality per slice with the labels
# MAGIC each window had, where the served data drifted from the training rows (a feature x window
# MAGIC heatmap), and how old the serving model was, with its promotions. The aggregates are computed
# MAGIC in Spark by the same code as `lakescore report` (`lakescore.monitoring.report_data`) and drawn by the
# MAGIC report's plotting functions (`lakescore.monitoring.report_plots`); only per-window rows reach the driver.
# MAGIC
# MAGIC Locally: run it as a script from the project root (`.venv/bin/python notebooks/monitoring_over_time.py`)
# MAGIC or open it in Jupyter/VS Code; figures go to `notebooks/output/` (`LAKESCORE_NOTEBOOK_OUT`).
# MAGIC Settings: `LAKESCORE_CONFIG` (the use case's YAML), `LAKESCORE_START`, `LAKESCORE_END`
# MAGIC (as-ofs; default the 30 days up to the newest scored one), `LAKESCORE_DISTANCE` (what colours
# MAGIC the heatmap, default `js_distance`).

# COMMAND ----------

import os
from datetime import date
from pathlib import Path

from lakescore import notebook
from lakescore.monitoring import report_plots as plots
from lakescore.monitoring.report_data import DEFAULT_DISTANCE, collect
from lakescore.transforms.columns import BASELINE, CONSECUTIVE

CONFIG = os.environ.get("LAKESCORE_CONFIG", "conf/flights.yml")
OUT = Path(os.environ.get("LAKESCORE_NOTEBOOK_OUT", "notebooks/output"))
OUT.mkdir(parents=True, exist_ok=True)
START, END = (date.fromisoformat(os.environ[k]) if os.environ.get(k) else None for k in ("LAKESCORE_START", "LAKESCORE_END"))
DISTANCE = os.environ.get("LAKESCORE_DISTANCE", DEFAULT_DISTANCE)

ctx = notebook.use_case(CONFIG, END or date.today())
data = collect(ctx, START, END, DISTANCE)
metric = data.metric
print(f"use case {data.use_case}: tables in {data.schema}, as-ofs {data.start}..{data.end}, "
      f"aggregated in {sum(data.seconds.values()):.1f}s")


def save(fig, name: str) -> None:
    fig.savefig(OUT / name, dpi=100, bbox_inches="tight")


# COMMAND ----------

# MAGIC %md ## Quality per slice, with the labelled rows behind each figure

# COMMAND ----------

quality = data.quality
whole = quality[quality["slice_key"].isna()]
print(whole[["as_of", "count", "num_labelled", metric]].to_string(index=False))
labelled = whole.dropna(subset=[metric])
if len(labelled):
    mean = (labelled[metric] * labelled["num_labelled"]).sum() / labelled["num_labelled"].sum()
    print(f"{metric} over {len(labelled)} labelled window(s), weighted by labelled rows: {mean:.4f}")
by_slice = (quality.dropna(subset=["slice_key"]).groupby(["slice_key", "slice_value"])
            .apply(lambda g: (g[metric] * g["num_labelled"]).sum() / max(g["num_labelled"].sum(), 1), include_groups=False)
            .rename(metric).reset_index())
print(by_slice.to_string(index=False))
save(plots.quality_over_time(quality, metric), "quality_over_time.png")

# COMMAND ----------

# MAGIC %md ## Drift heatmap: feature x window

# COMMAND ----------

drift = data.drift
drifted = drift[drift["drifted"] == 1]
print(f"{len(drift)} feature x window cells, {len(drifted)} drifted")
if len(drifted):
    print(drifted.groupby(["drift_type", "column_name"]).size().rename("windows").sort_values(ascending=False)
          .to_string())
save(plots.drift_heatmap(drift, BASELINE, DISTANCE), "drift_baseline.png")
save(plots.drift_heatmap(drift, CONSECUTIVE, DISTANCE), "drift_consecutive.png")

# COMMAND ----------

# MAGIC %md ## Model age and promotions

# COMMAND ----------

age = data.model_age
print(age.to_string(index=False))
promoted = zip(data.promotions.get("model_version", []), data.promotions.get("as_of", []))
print(f"promotions in the range: {', '.join(f'v{v} on {d}' for v, d in promoted) or 'none'}")
if len(age):
    print(f"oldest serving model: {age['model_age_days'].max():.1f} days (stale above {data.max_model_age_days:g})")
save(plots.model_age_over_time(age, data.promotions, data.max_model_age_days), "model_age.png")
figures = sorted(p.name for p in OUT.glob("*.png"))
print(f"figures in {OUT}: {figures}")
