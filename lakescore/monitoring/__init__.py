"""Monitoring (`jobs/monitor.py`) and what people read of it:

- `window_inputs`: what monitor reads: the windows' serving models and runs, their training rows,
  the features as served
- `report_data`, `report_plots`, `html_report`: `lakescore report`: the aggregates (in Spark), the
  figures (shared with the notebooks), the HTML page and its MLflow artifact
- `prometheus`: `lakescore metrics`, the latest figures as Prometheus gauges
"""

__all__ = ["html_report", "prometheus", "report_data", "report_plots", "window_inputs"]
