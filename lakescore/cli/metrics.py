"""`lakescore metrics`: the use case's latest figures as a Prometheus text file, for the node
exporter's textfile collector (`--collector.textfile.directory`)."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from lakescore.core.stage_runner import EXPECTED_ERRORS, ConfigOpt, SetOpt, TargetOpt, fail, make_context, setup_logging


def metrics(
    config: ConfigOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="the .prom file to write, e.g. "
                                      "/var/lib/node_exporter/textfile/lakescore_flights.prom")],
    target: TargetOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Write the latest figures of the use case's tables in the Prometheus text format: model age,
    predictions of the newest as-of, quality per slice, drifted features, quarantine rate per
    source, open alerts, stage durations and last successes (the file is replaced atomically)."""
    from lakescore.monitoring import prometheus

    setup_logging()
    started = time.perf_counter()
    try:
        ctx = make_context(config, date.today(), target, overrides=overrides)
        samples = prometheus.write(ctx, out)
    except EXPECTED_ERRORS as exc:
        fail(str(exc))
        return
    typer.echo(f"wrote {out}: {samples} samples in {time.perf_counter() - started:.1f}s")
