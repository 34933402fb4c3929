"""lakescore's stages, CLI and the runtime they share (I/O and orchestration only)."""
