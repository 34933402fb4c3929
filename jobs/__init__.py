"""What a scheduler runs: one module per stage (`run(ctx)`), and `pipeline`, their order."""
