"""Generated bad raw batches through the ingest code path (tests/reliability/raw_batches.py): a
small run here; `make reliability` runs 10,000 (tests/reliability/test_raw_volume.py)."""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.reliability.raw_batches import land_and_ingest, report


def test_generated_bad_batches_lose_no_line_and_no_row(spark, lakescore_home, tmp_path_factory):
    seen = []

    @settings(max_examples=1, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],  # no shrinking
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(rng=st.randoms(use_true_random=True))
    def check(rng):
        n = len(seen)
        figures = land_and_ingest(spark, lakescore_home, tmp_path_factory.mktemp("raw_batches"), rng, 150,
                                  "test_raw_batches", prefix=f"x{n}-")
        seen.append(figures)
        assert figures.batches + figures.files_refused == 150 and figures.lost == 0

    check()
    print("\n" + report(seen[-1]))
    assert seen and seen[-1].rows_in > 0 and seen[-1].quarantined > 0 and seen[-1].clean > 0
