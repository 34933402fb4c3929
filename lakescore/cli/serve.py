"""`lakescore serve`: a warm SQL endpoint on the local home (Spark Connect; see
lakescore.core.endpoint). Runs in the foreground until Ctrl-C or SIGTERM; `lakescore sql`, a
notebook (`SparkSession.builder.remote(...)`) or any Spark Connect client reaches it."""

from __future__ import annotations

from typing import Annotated

import typer

from lakescore.core.stage_runner import EXPECTED_ERRORS, ConfigOpt, SetOpt, TargetOpt, fail, setup_logging


def serve(
    config: ConfigOpt,
    port: Annotated[int, typer.Option(help="the endpoint's port on localhost")] = 15002,
    target: TargetOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Serve the local home's tables over Spark Connect (sc://localhost:PORT) until stopped:
    queries skip the JVM's and the catalog's start. `lakescore sql` uses it while it runs."""
    from lakescore.config import load_config
    from lakescore.config.overrides import overrides_mapping
    from lakescore.core import endpoint
    from lakescore.core.runtime import local_home, on_databricks

    setup_logging()
    if on_databricks():
        fail("lakescore serve is for a local home: on Databricks query a SQL warehouse")
    try:
        home = local_home(load_config(config, target=target, overrides=overrides_mapping(overrides)))
        endpoint.serve(home, port, ready=lambda e: typer.echo(
            f"serving {home} at {e.url} (pid {e.pid}); Ctrl-C stops it", err=True))
    except EXPECTED_ERRORS as exc:
        fail(str(exc))
    except RuntimeError as exc:
        fail(str(exc))
