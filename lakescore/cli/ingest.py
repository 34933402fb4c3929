"""`lakescore ingest ...`: what ingest has done to batches, after the fact (replay)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer

from lakescore.core.stage_runner import EXPECTED_ERRORS, ConfigOpt, SetOpt, TargetOpt, fail, make_context, setup_logging

ingest_app = typer.Typer(help="Ingest: re-check processed batches against today's contract.", no_args_is_help=True)


@ingest_app.command("replay")
def ingest_replay(
    config: ConfigOpt,
    source: Annotated[str, typer.Option("--source", "-s", help="the source whose batches to re-check")],
    batch: Annotated[list[str] | None, typer.Option(
        "--batch", "-b", help="a batch id (repeat for more); default: every processed batch")] = None,
    since: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="only batches processed for this as-of or later")] = None,
    force: Annotated[bool, typer.Option(
        help="also batches already checked under today's contract")] = False,
    target: TargetOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Re-check quarantined rows and whole batches against the current contract: rows that pass
    now move to clean_<source>, the rest stay quarantined with updated reasons, and data_quality
    records the new contract hash. Only batches checked under another contract are replayed
    (unless --force); a contract that changed a column's type rebuilds clean_<source>."""
    setup_logging()
    try:
        from lakescore.ingest.replay import replay

        ctx = make_context(config, date.today(), target, overrides=overrides)
        result = replay(ctx, source, batches=batch or None, since=since.date() if since else None, force=force)
    except EXPECTED_ERRORS as exc:
        fail(str(exc))
    if not result.batches:
        typer.echo(f"nothing to replay: the {result.processed} processed batch(es) of {source} selected were "
                   f"checked under contract {result.contract} (--force replays them anyway)")
        return
    if result.rebuilt:
        typer.echo(f"{ctx.tables.display(ctx.cfg.clean_table(source))} rebuilt with the contract's columns: "
                   + ", ".join(f"{c} {old} -> {new}" for c, (old, new) in result.rebuilt.items()))
    typer.echo(f"replayed {len(result.batches)} batch(es) of {source} under contract {result.contract}:")
    width = max(len("batch"), *(len(r.batch_id) for r in result.batches))
    typer.echo(f"{'batch':<{width}}  as_of       rows_in  clean            quarantined")
    for r in result.batches:
        typer.echo(f"{r.batch_id:<{width}}  {r.as_of}  {r.rows_in:>7}  {r.clean_before:>6} -> {r.clean_after:<6}  "
                   f"{r.quarantined_before:>6} -> {r.quarantined_after}")
    to_clean = sum(max(r.clean_after - r.clean_before, 0) for r in result.batches)
    to_quarantine = sum(max(r.quarantined_after - r.quarantined_before, 0) for r in result.batches)
    typer.echo(f"moved to clean: {to_clean} row(s); moved to quarantine: {to_quarantine} row(s)")
