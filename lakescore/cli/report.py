"""`lakescore report`: the monitoring report of a use case as one self-contained HTML page."""

from __future__ import annotations

import logging
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from lakescore.core.stage_runner import EXPECTED_ERRORS, ConfigOpt, SetOpt, TargetOpt, fail, make_context, setup_logging
from lakescore.monitoring.report_data import DEFAULT_DISTANCE, DISTANCES

Distance = Enum("Distance", {d: d for d in DISTANCES}, type=str)  # type: ignore[misc]
DayOpt = datetime | None


def report(
    config: ConfigOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="the HTML file to write")] = Path("report.html"),
    start: Annotated[DayOpt, typer.Option("--start", formats=["%Y-%m-%d"],
                                          help="first as-of (default: 29 days before --end)")] = None,
    end: Annotated[DayOpt, typer.Option("--end", formats=["%Y-%m-%d"],
                                        help="last as-of (default: the newest scored as-of)")] = None,
    distance: Annotated[Distance, typer.Option(help="what colours the drift heatmaps (a drift_metrics column; "
                                                    "value: each row's own test)")] = Distance(DEFAULT_DISTANCE),
    target: TargetOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Write the monitoring report: quality per slice over time, score distribution per window, drift
    heatmaps, model age and promotions, the gate's decisions, data quality per source, alerts.
    One HTML page with inline figures: it opens offline, mails and archives as one file."""
    from lakescore.monitoring.html_report import build

    setup_logging(logging.INFO)
    first, last = (d.date() if d else None for d in (start, end))
    try:
        ctx = make_context(config, last or date.today(), target, overrides=overrides)
        data, seconds = build(ctx, out, first, last, distance.value)
    except (*EXPECTED_ERRORS, ValueError) as exc:
        fail(str(exc).strip().splitlines()[0])
    typer.echo(f"wrote {out}: {data.use_case}, as-ofs {data.start}..{data.end}, {len(data.scores)} scored window(s), "
               f"{len(data.alerts)} newest alert(s) listed, in {seconds:.1f}s")
