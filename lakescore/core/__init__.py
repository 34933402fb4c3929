"""What every stage stands on:

- `runtime`: where it runs, the Spark session, the stage `Context`
- `table_store`: the data catalog: `TableStore`, logged and idempotent Delta I/O, schemas checked on write
- `errors`: `StageError` and the one-line reason of an unexpected error
- `stage_runner`: running stages in order in one session, the entry point of a stage module
- `stage_runs`: the `stage_runs` table (how each stage last ran for an as-of)
- `alerts`: the shared `alerts` table
- `backfill`: the stages for every as-of of a range, resumable
- `warehouse_catalog`: the local catalog (the warehouse folders; its Java class, compiled once)
- `endpoint`: `lakescore serve`'s warm SQL endpoint (Spark Connect) on a local home
- `table_page`: docs/tables.md from the documented schemas; `stage_result`: what a stage returns
"""

__all__ = ["alerts", "backfill", "endpoint", "errors", "runtime", "stage_result", "stage_runner", "stage_runs",
           "table_page", "table_store", "warehouse_catalog"]
