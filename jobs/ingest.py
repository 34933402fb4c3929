"""ingest: landing files -> raw_<source> -> clean_<source> + quarantine + data_quality + alerts.

Each raw row carries the batch it arrived in. When the config names a source's landing (a
file, a folder where each new file is a batch, or a glob), its new files are first landed
into raw_<source>, one batch per file (`lakescore.ingest.raw_landing`). A batch is processed once:
its clean rows, its quarantined rows, its alerts and its data_quality row are written with
replaceWhere/MERGE on the batch id, so re-running changes nothing and a run that died mid-way
is finished by the next one (data_quality is written last: it is what marks a batch as done).

The run has two phases. *Check* (`lakescore.ingest.check`): for every source, validate its
pending batches against the source's contract without writing anything; an anomaly whose
policy is `fail` stops the job here with a critical alert, and every other table stays at its
previous Delta version. *Write* (`lakescore.ingest.write`): clean and quarantined rows per
source, reconciled against the rows in (from the Delta commit metrics), then the alerts and the
data_quality rows of all sources.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lakescore.core.runtime import Context
from lakescore.core.stage_result import StageResult
from lakescore.ingest.check import FatalAnomaly, IngestError, Plan, batch_history, changed_columns, check_source, run_stale
from lakescore.ingest.file_reader import check_landings
from lakescore.ingest.raw_landing import land
from lakescore.ingest.write import write, write_fatal

log = logging.getLogger("lakescore.ingest")

__all__ = ["IngestError", "IngestResult", "run"]


@dataclass(frozen=True, eq=False)
class IngestResult(StageResult):
    """Per source: rows_in, rows_clean, rows_quarantined of the batches processed (read as
    `result["flights"]`), and `sources`, the same mapping."""

    sources: dict

    def figures(self) -> dict:
        return self.sources


def _replay_hint(ctx: Context, source: str) -> str:
    return f"lakescore ingest replay -c {ctx.config_path or '<config>'} --source {source}"


def run(ctx: Context) -> IngestResult:
    cfg, store = ctx.cfg, ctx.tables
    landed = land(ctx, cfg.sources)
    for source, src in cfg.sources.items():
        if src.landing is None and not store.exists(cfg.raw_table(source)):
            raise IngestError(f"table {store.display(cfg.raw_table(source))} does not exist and "
                              f"sources.{source}.landing is not set")
        changed = changed_columns(ctx, source, src)
        if changed:
            shown = ", ".join(f"{c} is {old} there, {new} in the contract" for c, (old, new) in changed.items())
            raise IngestError(f"table {store.display(cfg.clean_table(source))}: the contract changed its columns "
                              f"({shown}); nothing was written: re-check its batches under the contract with "
                              + _replay_hint(ctx, source))
    history = batch_history(ctx)
    for source, h in history.items():
        if h.other_contract and source in cfg.sources:
            log.warning("ingest: %d batch(es) of %s in data_quality were checked under another contract than "
                        "today's; `%s` re-checks them", h.other_contract, source, _replay_hint(ctx, source))
    plans: list[Plan] = []
    try:
        # Check every source before writing anything: a fatal anomaly leaves every table as it was.
        for source, src in cfg.sources.items():
            plans.append(check_source(ctx, source, src, history.get(source), blank=landed.get(source)))
        run_stale(ctx, plans)
        return IngestResult(write(ctx, plans))
    except FatalAnomaly as exc:
        write_fatal(ctx, exc)
        raise
    finally:
        for plan in plans:
            plan.release()


# checked before the session starts (lakescore.core.stage_runner.run_command): a landing that
# is not there is one line at once, not an error a minute in
run.preflight = check_landings  # type: ignore[attr-defined]


if __name__ == "__main__":
    from lakescore.core.stage_runner import stage_main

    stage_main("ingest", run)
