"""Monitoring (every stage's findings, monitor): rows of the shared alerts table."""
