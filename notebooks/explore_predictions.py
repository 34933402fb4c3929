# Databricks notebook source
# MAGIC %md
# MAGIC # Explore predictions and monitoring
# MAGIC
# MAGIC A data scientist's first look at a lakescore use case: how the scores are distributed per
# MAGIC as-of, whether they are calibrated against the labels that have arrived, how quality
# MAGIC differs across slices, and what the gate decided. Every aggregate is computed in Spark;
# MAGIC only the small results (tens of rows) come to the driver for plotting.
# MAGIC
# MAGIC Locally: run it as a script from the project root (`.venv/bin/python notebooks/explore_predictions.py`)
# MAGIC or open it in Jupyter/VS Code (the `# COMMAND` lines are cell breaks); the figures are
# MAGIC written to `notebooks/output/` (`LAKESCORE_NOTEBOOK_OUT`). On Databricks it is a notebook
# MAGIC in source format; set `LAKESCORE_CONFIG` to the use case's YAML.

# COMMAND ----------

import os
from pathlib import Path

import matplotlib

if "DATABRICKS_RUNTIME_VERSION" not in os.environ and not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from lakescore.config import load_config  # noqa: E402
from lakescore.core.runtime import get_spark, local_home, on_databricks  # noqa: E402
from lakescore.core.table_store import TableStore  # noqa: E402

CONFIG = os.environ.get("LAKESCORE_CONFIG", "conf/flights.yml")
OUT = Path(os.environ.get("LAKESCORE_NOTEBOOK_OUT", "notebooks/output"))
OUT.mkdir(parents=True, exist_ok=True)

cfg = load_config(CONFIG)
spark = get_spark(local_home(cfg))  # the platform's session on Databricks, else the local one
store = TableStore(spark, cfg, databricks=on_databricks())
binary = cfg.label.kind == "binary"
print(f"use case {cfg.name}: tables in {store.display_schema}")

# COMMAND ----------

# MAGIC %md ## Scores per as-of

# COMMAND ----------

predictions = spark.table(store.display(cfg.tables.predictions))
per_day = (predictions.groupBy("as_of")
           .agg(F.count(F.lit(1)).alias("entities"), F.avg("score").alias("mean_score"),
                F.expr("percentile_approx(score, array(0.1, 0.5, 0.9))").alias("q"))
           .orderBy("as_of").limit(366).toPandas())
print(per_day.to_string(index=False))

lo, hi = predictions.agg(F.min("score"), F.max("score")).first()
width = ((hi - lo) / 20) or 1.0
histogram = (predictions.withColumn("bucket", F.least(F.floor((F.col("score") - lo) / width), F.lit(19)))
             .groupBy("bucket").count().orderBy("bucket").toPandas())
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.bar(lo + histogram["bucket"] * width, histogram["count"], width=width * 0.9, align="edge")
ax.set_xlabel("score" if binary else "predicted value")
ax.set_ylabel("entities")
ax.set_title(f"{cfg.name}: distribution of scores, all as-ofs")
fig.tight_layout()
fig.savefig(OUT / "score_distribution.png", dpi=100)

# COMMAND ----------

# MAGIC %md ## Calibration: predicted against observed, where labels have arrived

# COMMAND ----------

entities = spark.table(store.display(cfg.clean_table(cfg.entity.source)))
labels = entities.select(*cfg.entity.key, F.expr(cfg.label.expr).cast("double").alias("label")) \
    .where(F.col("label").isNotNull())
labelled = predictions.join(labels, on=cfg.entity.key, how="inner")
calibration = (labelled.withColumn("bucket", F.least(F.floor((F.col("score") - lo) / width / 2), F.lit(9)))
               .groupBy("bucket").agg(F.count(F.lit(1)).alias("n"), F.avg("score").alias("predicted"),
                                      F.avg("label").alias("observed"))
               .orderBy("bucket").toPandas())
print(calibration.to_string(index=False))
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.plot(calibration["predicted"], calibration["observed"], marker="o")
edge = [min(calibration["predicted"].min(), calibration["observed"].min()),
        max(calibration["predicted"].max(), calibration["observed"].max())]
ax.plot(edge, edge, linestyle="--", color="grey")
ax.set_xlabel("mean prediction")
ax.set_ylabel("label rate" if binary else "mean label")
ax.set_title("calibration by score bucket")
fig.tight_layout()
fig.savefig(OUT / "calibration.png", dpi=100)

# COMMAND ----------

# MAGIC %md ## Quality by slice (newest monitored window; slices with at least 30 labelled rows)

# COMMAND ----------

metric = cfg.model.primary_metric
slices = spark.table(store.display(cfg.tables.slice_metrics))
newest = slices.agg(F.max("as_of")).first()[0]
MIN_LABELLED = 30
by_slice = (slices.where((F.col("as_of") == newest) & F.col("slice_key").isNotNull()
                         & (F.col("num_labelled") >= MIN_LABELLED))
            .select("slice_key", "slice_value", "count", "num_labelled", metric)
            .orderBy("slice_key", F.desc("count")).limit(200).toPandas())
overall = slices.where((F.col("as_of") == newest) & F.col("slice_key").isNull()).select(metric).first()
print(by_slice.to_string(index=False))
keys = list(dict.fromkeys(by_slice["slice_key"]))
fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2.6 * max(len(keys), 1)), squeeze=False)
for ax, key in zip(axes[:, 0], keys):
    part = by_slice[by_slice["slice_key"] == key]
    ax.bar(part["slice_value"].astype(str), part[metric])
    if overall and overall[0] is not None:
        ax.axhline(overall[0], color="grey", linestyle="--", label="whole table")
        ax.legend(loc="lower right")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by {key}, as-of {newest}")
fig.tight_layout()
fig.savefig(OUT / "slice_metrics.png", dpi=100)

# COMMAND ----------

# MAGIC %md ## Gate decisions

# COMMAND ----------

validations = (spark.table(store.display(cfg.tables.model_validations))
               .select("as_of", "model_version", "check", "passed", "value", "threshold", "decision")
               .orderBy(F.desc("validated_at")).limit(50).toPandas())
print(validations.to_string(index=False))
figures = sorted(p.name for p in OUT.glob("*.png"))
print(f"figures in {OUT}: {figures}")
