"""Raw input at volume: 10,000 generated bad batches (two hypothesis examples of 5,000 files)
landed and ingested as tests/reliability/raw_batches.py describes; prints the batches and rows
tried and the rows lost (0)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.reliability.raw_batches import Figures, land_and_ingest, report

pytestmark = pytest.mark.reliability
EXAMPLES, PER_EXAMPLE = 2, 5000


def test_ten_thousand_bad_batches_lose_no_row(spark, lakescore_home, tmp_path_factory):
    seen: list[Figures] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],  # no shrinking
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(rng=st.randoms(use_true_random=True))
    def check(rng):
        figures = land_and_ingest(spark, lakescore_home, tmp_path_factory.mktemp("raw_volume"), rng, PER_EXAMPLE,
                                  "test_raw_volume", prefix=f"v{len(seen)}-")
        seen.append(figures)
        print("\n" + report(figures))

    check()
    tried = sum(f.batches + f.files_refused for f in seen)
    rows = sum(f.rows_in for f in seen)
    print(f"\nraw input at volume: {tried} batches tried, {sum(f.rows_written for f in seen)} records written, "
          f"{rows} rows in, {sum(f.clean for f in seen)} clean + {sum(f.quarantined for f in seen)} quarantined, "
          f"{sum(f.lost for f in seen)} lost")
    assert tried >= 10_000 and sum(f.lost for f in seen) == 0
