"""Synthetic and test data, never read by ``ingest/``: footfall's FIT writer (``synth.fit_encode``),
the demo export (``synth.sample``) and seeded mutators of watch files (``synth.mutate``).

Pure functions (no prefect, no duckdb): the demo, the benches, the fuzz harness (``bench/fuzz.py``)
and the tests use them.
"""
