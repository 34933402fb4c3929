"""`lakescore tables ...`: the generated table reference (docs/tables.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lakescore.cli.features import write_page
from lakescore.config import ConfigError, load_config
from lakescore.config.overrides import overrides_mapping
from lakescore.core.stage_runner import SetOpt
from lakescore.core.table_page import render

tables_app = typer.Typer(help="The tables lakescore writes: the generated reference page.",
                         no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@tables_app.command("docs")
def docs(
    config: Annotated[Path, typer.Option("--config", "-c", help="use-case YAML, e.g. conf/flights.yml")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write the page here (default: print it)")] = None,
    check: Annotated[bool, typer.Option("--check", help="fail if --output is not current instead of writing it")] = False,
    overrides: SetOpt = None,
) -> None:
    """Write the table reference: every table's grain, writer and columns with their types."""
    try:
        page = render(load_config(config, overrides=overrides_mapping(overrides)), str(config))
    except ConfigError as exc:
        typer.echo(f"lakescore: error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    write_page(page, output, check, f"lakescore tables docs -c {config} -o {output}")
