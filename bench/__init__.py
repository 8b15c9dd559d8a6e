"""Benchmarks of the CodexOS server; `python -m bench` runs them all (see README.md)."""
