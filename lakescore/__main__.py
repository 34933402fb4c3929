"""`python -m lakescore ...` is the `lakescore` command."""

from lakescore.cli import main

main()
