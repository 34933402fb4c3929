"""Ingest (`jobs/ingest.py`) and the commands beside it:

- `file_reader`: where a source's landing files are, which are new, reading a CSV as text
- `raw_landing`: landing new files into raw_<source>, one batch per file, the `landed_files` table
- `check`: the check phase: batches against the contract, nothing written (a `Plan`)
- `write`: the write phase: clean, quarantine, data_quality and alerts, reconciled
- `snapshot_merge`: a snapshot source's versions, one MERGE per export
- `replay`: `lakescore ingest replay`, re-checking processed batches against today's contract
- `contract_draft`: `lakescore contract infer`, a contract drafted from a CSV file or a raw table
- `starter_config`: `lakescore contract infer --starter`, a starter use-case file
"""

__all__ = ["check", "contract_draft", "file_reader", "raw_landing", "replay", "snapshot_merge", "starter_config",
           "write"]
