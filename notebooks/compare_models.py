# Databricks notebook source
# MAGIC %md
# MAGIC # Compare two model versions
# MAGIC
# MAGIC Before promoting (or after a surprise), put two versions side by side: their recorded metrics,
# MAGIC both scored on the **same held-out rows** (the test split of the training window before the
# MAGIC as-of: no version trained on them, the split is a hash of the entity) with the quality per slice
# MAGIC and its deltas, their feature reports side by side, and how far their scores agree row by row.
# MAGIC Scoring, metrics and agreement are computed in Spark; only per-slice and per-bucket rows come
# MAGIC to the driver.
# MAGIC
# MAGIC Settings: `LAKESCORE_CONFIG`; `LAKESCORE_MODEL_A` (default `@champion`) and `LAKESCORE_MODEL_B`
# MAGIC (default `@previous`, else the newest other version), each `version`, `@alias`, `name/version`
# MAGIC or `name@alias`; `LAKESCORE_AS_OF` (default the newer version's training as-of). Figures go to
# MAGIC `notebooks/output/` (`LAKESCORE_NOTEBOOK_OUT`).

# COMMAND ----------

import os
from datetime import date
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from pyspark.sql import functions as F

from lakescore import notebook
from lakescore.models import flavors, registry
from lakescore.models.training_rows import training_frame
from lakescore.transforms.columns import AS_OF, PREDICTION, SCORE, SLICE_KEY, SLICE_VALUE, SPLIT, TEST
from lakescore.transforms.modeling.metrics import explode_slices, quality_metrics
from lakescore.transforms.sqltext import eq

CONFIG = os.environ.get("LAKESCORE_CONFIG", "conf/flights.yml")
OUT = Path(os.environ.get("LAKESCORE_NOTEBOOK_OUT", "notebooks/output"))
OUT.mkdir(parents=True, exist_ok=True)

ctx = notebook.use_case(CONFIG, date.today())
cfg, client = ctx.cfg, MlflowClient()
default_name = registry.model_name(ctx)


def resolve(spec: str):
    """`version`, `@alias`, `name/version` or `name@alias` -> the model version."""
    name, _, rest = spec.rpartition("@") if "@" in spec else spec.rpartition("/")
    name = name or default_name
    if "@" in spec:
        return client.get_model_version_by_alias(name, rest)
    return client.get_model_version(name, rest)


def newest_other(version) -> str:
    others = [v for v in client.search_model_versions(eq("name", version.name)) if v.version != version.version]
    if not others:
        raise LookupError(f"model {version.name} has one version: set LAKESCORE_MODEL_B to another model's version")
    return f"{version.name}/{max(int(v.version) for v in others)}"


a = resolve(os.environ.get("LAKESCORE_MODEL_A", "@champion"))
try:
    b = resolve(os.environ.get("LAKESCORE_MODEL_B", "@previous"))
except MlflowException:
    b = resolve(newest_other(a))
runs = {m: client.get_run(v.run_id) for m, v in (("A", a), ("B", b))}
trained_for = [r.data.params.get("as_of") for r in runs.values()]
AS_OF_ROWS = date.fromisoformat(os.environ.get("LAKESCORE_AS_OF") or max(d for d in trained_for if d))
label = {"A": f"A {a.name}/{a.version}", "B": f"B {b.name}/{b.version}"}
print(f"use case {cfg.name}: comparing {label['A']} (trained for {trained_for[0]}) with {label['B']} "
      f"(trained for {trained_for[1]}) on the held-out rows before {AS_OF_ROWS}")

# COMMAND ----------

# MAGIC %md ## Recorded metrics (each version's own training run)

# COMMAND ----------

recorded = pd.DataFrame({label[m]: {k: v for k, v in r.data.metrics.items() if k.startswith(("test_", "oot_"))}
                         for m, r in runs.items()})
recorded["delta B-A"] = recorded[label["B"]] - recorded[label["A"]]
print(recorded.round(4).to_string())

# COMMAND ----------

# MAGIC %md ## Both versions on the same rows: quality per slice and its deltas

# COMMAND ----------

key = cfg.entity.key
rows = training_frame(ctx, AS_OF_ROWS).where(F.col(SPLIT) == TEST).cache()
scored = {}
for m, version in (("A", a), ("B", b)):
    out = flavors.scorer(ctx, f"models:/{version.name}/{version.version}")(rows)
    scored[m] = out.select(*key, AS_OF, F.col(SCORE).alias(f"score_{m}"), F.col(PREDICTION).alias(f"prediction_{m}"))
both = (rows.select(*key, AS_OF, cfg.label.name, *cfg.slices)
        .join(scored["A"], on=[*key, AS_OF]).join(scored["B"], on=[*key, AS_OF]).cache())
sliced = both.transform(explode_slices(cfg.slices))
per_model = []
for m in ("A", "B"):
    q = quality_metrics(sliced, [SLICE_KEY, SLICE_VALUE], cfg.label.kind, cfg.label.name, f"score_{m}", f"prediction_{m}")
    per_model.append(q.withColumn("model", F.lit(m)))
metric = cfg.model.primary_metric
quality = per_model[0].unionByName(per_model[1]).toPandas()  # one row per slice value and model
quality["slice"] = (quality[SLICE_KEY] + "=" + quality[SLICE_VALUE].fillna("NULL")).fillna("all")
deltas = quality.pivot_table(index="slice", columns="model", values=metric)
counts = quality[quality["model"] == "A"].set_index("slice")["num_labelled"]
deltas = deltas.assign(rows=counts, delta=deltas["B"] - deltas["A"]).sort_values("delta")
print(deltas.round(4).to_string())
whole = deltas.loc["all"]
print(f"{metric} on the same {int(whole['rows']):,} held-out rows: A {whole['A']:.4f}, B {whole['B']:.4f} "
      f"(B - A {whole['delta']:+.4f})")

fig = Figure(figsize=(8, 0.28 * len(deltas) + 1.5), layout="constrained")
ax = fig.subplots()
ax.barh(deltas.index, deltas["delta"], color=["#d62728" if d < 0 else "#2ca02c" for d in deltas["delta"]])
ax.axvline(0, color="black", linewidth=0.8)
ax.set_xlabel(f"{metric}: B - A")
ax.set_title(f"{metric} per slice on the same rows: {label['B']} minus {label['A']}", fontsize=10)
fig.savefig(OUT / "compare_slices.png", dpi=100)

# COMMAND ----------

# MAGIC %md ## Feature reports side by side

# COMMAND ----------

reports = ctx.tables.read(cfg.tables.feature_reports, count=False) if ctx.tables.exists(cfg.tables.feature_reports) else None
columns = ["single_feature_power", "permutation_importance", "ablation_delta", "verdict"]
sides = []
for m, version in (("A", a), ("B", b)):
    part = (reports.where(F.col("run_id") == version.run_id).select("feature", *columns).toPandas()
            if reports is not None else pd.DataFrame(columns=["feature", *columns]))
    sides.append(part.set_index("feature").add_suffix(f" {m}"))
features = sides[0].join(sides[1], how="outer").reindex(
    [f.name for f in cfg.model_features] + sorted(set(sides[0].index) | set(sides[1].index)
                                                  - {f.name for f in cfg.model_features}))
print(features.round(4).to_string())
print(f"feature reports: A has {len(sides[0])} features, B {len(sides[1])} (a model registered from elsewhere has none)")

fig = Figure(figsize=(8, 0.3 * len(features) + 1.5), layout="constrained")
ax = fig.subplots()
y = range(len(features))
for offset, m in ((-0.2, "A"), (0.2, "B")):
    ax.barh([i + offset for i in y], features[f"permutation_importance {m}"].astype(float).fillna(0), height=0.4,
            label=label[m])
ax.set_yticks(list(y))
ax.set_yticklabels(features.index, fontsize=8)
ax.invert_yaxis()
ax.legend(fontsize=8)
ax.set_title("permutation importance by version (training-time feature report)", fontsize=10)
fig.savefig(OUT / "compare_features.png", dpi=100)

# COMMAND ----------

# MAGIC %md ## Score agreement on the same rows

# COMMAND ----------

diff = F.abs(F.col("score_A") - F.col("score_B"))
agreement = both.agg(F.count(F.lit(1)).alias("rows"), F.corr("score_A", "score_B").alias("pearson"),
                     F.avg(diff).alias("mean_abs_diff"), F.max(diff).alias("max_abs_diff"),
                     F.avg((F.col("prediction_A") == F.col("prediction_B")).cast("double")).alias("same_prediction"),
                     F.min(F.least("score_A", "score_B")).alias("lo"), F.max(F.greatest("score_A", "score_B")).alias("hi")
                     ).first().asDict()
print({k: round(v, 6) if isinstance(v, float) else v for k, v in agreement.items()})
print(f"score agreement on {agreement['rows']:,} rows: Pearson r {agreement['pearson']:.4f}, mean |A - B| "
      f"{agreement['mean_abs_diff']:.4f}, same prediction on {100 * agreement['same_prediction']:.1f}% of rows")
BUCKETS = 20
lo, hi = agreement["lo"], agreement["hi"]
width = ((hi - lo) / BUCKETS) or 1.0


def bucket(column: str):
    return F.least(F.floor((F.col(column) - F.lit(lo)) / F.lit(width)), F.lit(BUCKETS - 1)).cast("int")


joint = both.groupBy(bucket("score_A").alias("a"), bucket("score_B").alias("b")).count().toPandas()
grid = joint.pivot_table(index="b", columns="a", values="count", fill_value=0).reindex(
    index=range(BUCKETS), columns=range(BUCKETS), fill_value=0)
fig = Figure(figsize=(5.5, 5), layout="constrained")
ax = fig.subplots()
image = ax.imshow(grid.to_numpy(), origin="lower", cmap="Blues", extent=(lo, hi, lo, hi), aspect="auto")
ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=0.8)
fig.colorbar(image, ax=ax, label="rows")
ax.set_xlabel(f"score {label['A']}")
ax.set_ylabel(f"score {label['B']}")
ax.set_title("the same rows scored by both versions", fontsize=10)
fig.savefig(OUT / "compare_scores.png", dpi=100)
both.unpersist()
rows.unpersist()
figures = sorted(p.name for p in OUT.glob("compare_*.png"))
print(f"figures in {OUT}: {figures}")
