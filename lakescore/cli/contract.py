"""`lakescore contract ...`: data contracts (sources.<name> in the config)."""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated

import typer

from lakescore.stage import EXPECTED_ERRORS, ConfigOpt, TargetOpt, fail, make_context, setup_logging

contract_app = typer.Typer(
    help="Data contracts: the schema and rules a source's raw data must satisfy (sources.<name> in "
    "the config).", no_args_is_help=True)


@contract_app.command("infer")
def contract_infer(
    config: ConfigOpt,
    source: Annotated[str, typer.Option("--source", "-s", help="source name: reads raw_<source>, or its landing file")],
    sample_rows: Annotated[int, typer.Option(help="infer from a random sample of this many rows (0: all)")] = 0,
    max_domain_size: Annotated[int, typer.Option(help="largest number of distinct strings given a domain")] = 50,
    target: TargetOpt = None,
) -> None:
    """Print a draft contract inferred from a source's raw data, to review and paste under
    sources.<source> (types, required columns, domains, ranges). Writes nothing."""
    setup_logging(logging.WARNING)
    try:
        from lakescore.contract_infer import infer

        ctx = make_context(config, date.today(), target)
        text = infer(ctx, source, sample_rows=sample_rows, max_domain_size=max_domain_size)
    except (*EXPECTED_ERRORS, ValueError) as exc:
        fail(str(exc))
    typer.echo(text, nl=False)
