"""`lakescore features ...`: the feature definitions' generated documentation page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lakescore.config import ConfigError, load_config
from lakescore.config.overrides import overrides_mapping
from lakescore.core.stage_runner import SetOpt
from lakescore.features.feature_page import render

features_app = typer.Typer(help="Feature definitions: the generated documentation page.",
                           no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@features_app.command("docs")
def docs(
    config: Annotated[Path, typer.Option("--config", "-c", help="use-case YAML, e.g. conf/flights.yml")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write the page here (default: print it)")] = None,
    check: Annotated[bool, typer.Option("--check", help="fail if --output is not current instead of writing it")] = False,
    overrides: SetOpt = None,
) -> None:
    """Write the feature page (name, meaning, source, known-at, computation, model preparation)."""
    try:
        page = render(load_config(config, overrides=overrides_mapping(overrides)), str(config))
    except ConfigError as exc:
        typer.echo(f"lakescore: error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    write_page(page, output, check, f"lakescore features docs -c {config} -o {output}")


def write_page(page: str, output: Path | None, check: bool, command: str) -> None:
    """Print a generated page, write it to `output`, or (`check`) fail when `output` is not current."""
    if output is None:
        typer.echo(page, nl=False)
        return
    if check:
        current = output.read_text() if output.exists() else ""
        if current != page:
            typer.echo(f"lakescore: error: {output} is not current: run {command}", err=True)
            raise typer.Exit(code=1)
        typer.echo(f"{output} is current")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page)
    typer.echo(f"wrote {output}")
