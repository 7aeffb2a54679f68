"""``footfall export --parquet DIR``: every mart as one Parquet file, for other tools.

The marts are the relations built by ``sql/30_marts`` (``daily_load``, ``weekly_load``,
``acwr_daily``, ``session_spikes``, ``flags`` and, with the runner's log, ``journal_flags`` and
``shoe_mileage``) plus the per-activity ``activity_metrics``; a mart this database does not have
(an older build) is skipped. Each is written by DuckDB itself (``COPY (SELECT * FROM t) TO ...
(FORMAT parquet)``): the same columns and types, one file ``DIR/<name>.parquet`` per mart. The
database is opened read-only; each file is written under a temporary name and renamed, so a
reader of ``DIR`` never sees half a file.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from pipelines.db import connection, quote_ident, tables

#: Relations exported besides the sql/30_marts models.
EXTRA_RELATIONS = ("activity_metrics",)


class ExportError(RuntimeError):
    """Nothing to export (no database or no models); the message says what to run."""


def mart_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The marts present in this database, sorted: the ``sql/30_marts`` models + ``activity_metrics``."""
    from pipelines.sqlmodels import discover_models

    present = tables(con)
    marts = {m.name for m in discover_models() if m.layer == "30_marts"}
    return sorted(n for n in marts | set(EXTRA_RELATIONS) if n in present)


def _sql_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def copy_to_parquet(con: duckdb.DuckDBPyConnection, name: str, path: Path) -> int:
    """Write relation ``name`` to ``path`` (Parquet, zstd); return the rows written."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        rows = con.execute(
            f"COPY (SELECT * FROM {quote_ident(name)}) TO {_sql_string(str(tmp))} "
            "(FORMAT parquet, COMPRESSION zstd)"
        ).fetchall()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return int(rows[0][0])


def export_parquet(db_path: str | Path, out_dir: str | Path, *, lock_wait_s: float = 60.0) -> dict[str, int]:
    """Write every mart of ``db_path`` to ``out_dir/<name>.parquet``; return {name: rows}."""
    from pipelines.db import exists

    out_dir = Path(out_dir)
    if not exists(db_path):
        raise ExportError(f"{db_path} does not exist; run `footfall sync PATH` first")
    with connection(db_path, read_only=True, wait_s=lock_wait_s) as con:
        names = mart_names(con)
        if not any(n != "activity_metrics" for n in names):
            raise ExportError(f"{db_path} has no models yet; run `footfall sync PATH` or `footfall build` first")
        out_dir.mkdir(parents=True, exist_ok=True)
        return {name: copy_to_parquet(con, name, out_dir / f"{name}.parquet") for name in names}
