"""Paths as footfall stores them (no polars, no DuckDB: the sync's planning and the decode
workers both use it)."""

from __future__ import annotations

import os


def path_text(p) -> str:
    """A path (or any text from the file system) as valid UTF-8 text, the same on every sync.

    Names that are not UTF-8 reach Python with lone surrogates (``b'run\\xff.gpx'`` becomes
    ``'run\\udcff.gpx'``), which neither DuckDB nor a terminal accepts: their bytes are written
    as ``\\xff`` escapes instead (``run\\xff.gpx``). UTF-8 names are unchanged. ``files.path``,
    ``sync_sources.path`` and the re-sync's lookup all go through this one function.
    """
    if p is None:
        return p
    try:
        raw = os.fsencode(p)
    except UnicodeEncodeError:  # surrogates that surrogateescape did not make
        raw = os.fspath(p).encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "backslashreplace")
