"""Synthetic and test data: seeded mutators of watch files (``synth.mutate``).

Pure functions (no prefect, no duckdb): the fuzz harness (``bench/fuzz.py``) and the tests use them.
"""
