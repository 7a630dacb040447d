"""Benchmarks for affbot's tracking server (run from the repository root: python -m bench)."""
