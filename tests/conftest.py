"""Shared fixtures: the corpus folder (skip with a reason when absent) and temp paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent


def corpus_path() -> Path:
    return Path(os.environ.get("FOOTFALL_CORPUS", PROJECT.parent / "shared" / "corpus"))


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    p = corpus_path()
    if not (p / "CATALOG.tsv").is_file():
        pytest.skip(f"corpus not found at {p} (set FOOTFALL_CORPUS to the shared corpus folder)")
    return p


@pytest.fixture(scope="session")
def catalog(corpus_dir):
    """CATALOG.tsv rows as dicts, keyed by relative path."""
    import csv

    with open(corpus_dir / "CATALOG.tsv", newline="") as fh:
        return {row["path"]: row for row in csv.DictReader(fh, delimiter="\t")}
