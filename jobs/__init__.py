"""What a scheduler runs (shipped as `lakescore.jobs`): one module per stage, each with
`run(ctx)` and a `python -m lakescore.jobs.<stage>` entry point, and `pipeline`, their order."""

__all__ = ["features", "ingest", "monitor", "pipeline", "promote", "score", "train"]
