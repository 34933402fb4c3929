"""`lakescore contract ...`: data contracts (sources.<name> in the config)."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from lakescore.core.stage_runner import EXPECTED_ERRORS, SetOpt, TargetOpt, fail, setup_logging

contract_app = typer.Typer(
    help="Data contracts: the schema and rules a source's raw data must satisfy (sources.<name> in "
    "the config).", no_args_is_help=True)


def _name(file: Path) -> str:
    """A source name from a file name: `daily-orders.csv` -> `daily_orders`."""
    stem = re.sub(r"(\.csv)?(\.gz|\.zip)?$", "", file.name, flags=re.IGNORECASE)
    name = re.sub(r"[^A-Za-z0-9_]+", "_", stem).strip("_").lower() or "source"
    return f"s_{name}" if name[0].isdigit() else name


@contract_app.command("infer")
def contract_infer(
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="config with the source (only `sources:` is needed); omit with --file")] = None,
    source: Annotated[str | None, typer.Option(
        "--source", "-s", help="source name: reads raw_<source>, or its landing files")] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", help="a CSV file, folder or glob to infer from (no config needed)")] = None,
    sample_rows: Annotated[int, typer.Option(help="infer from a random sample of this many rows (0: all)")] = 0,
    max_domain_size: Annotated[int, typer.Option(help="largest number of distinct strings given a domain")] = 50,
    starter: Annotated[bool, typer.Option(
        "--starter", help="print a whole starter use-case file around the drafted contract")] = False,
    target: TargetOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Print a draft contract inferred from a source's raw data, to review and paste under
    sources.<source> (types, required columns, null markers, domains, ranges). Writes nothing.

    \b
    lakescore contract infer --file data/orders.csv                 # no config yet
    lakescore contract infer --file data/orders.csv --starter > conf/orders.yml
    lakescore contract infer -c conf/orders.yml -s orders           # raw_orders, or its landing
    """
    setup_logging(logging.WARNING)
    if file is None and (config is None or source is None):
        fail("give --file PATH, or --config FILE and --source NAME")
    try:
        from lakescore.config import load_sources
        from lakescore.config.overrides import overrides_mapping
        from lakescore.core.runtime import get_spark, local_home
        from lakescore.ingest.contract_draft import infer, read_source

        sources = load_sources(config, target=target, overrides=overrides_mapping(overrides)) if config is not None else None
        name = source or _name(file)
        if sources is not None and file is None and name not in sources.sources and sources.storage is None:
            fail(f"{config}: sources.{name} is not in the config: give --file PATH")
        home = local_home(sources if sources is not None and sources.storage is not None else None)  # type: ignore[arg-type]
        spark = get_spark(home)
        df, origin = read_source(spark, home, name, sources, file)
        src = sources.sources.get(name) if sources is not None else None
        landing = str(Path(file).expanduser().absolute()) if file is not None else None
        draft = infer(spark, df, name, origin, src, sample_rows=sample_rows, max_domain_size=max_domain_size,
                      landing=landing)
        text = draft.text
        if starter:
            from lakescore.config import ConfigError, parse_config
            from lakescore.ingest.starter_config import starter as starter_text

            text = starter_text(draft, origin)
            try:
                import yaml

                parse_config(yaml.safe_load(text), source="starter")
            except ConfigError as exc:  # still worth printing: the reviewer fixes the TODOs
                print(f"lakescore: note: the starter does not validate yet: {exc}", file=sys.stderr)
    except (*EXPECTED_ERRORS, ValueError) as exc:
        fail(str(exc))
    typer.echo(text, nl=False)
