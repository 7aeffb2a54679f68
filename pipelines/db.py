"""The DuckDB edge: connect (with a bounded wait for another writer), migrate, land frames.

DuckDB locks the file per process: while the sync holds it for writing, readers in other
processes are refused, and a writer is refused while readers are open. So the sync decodes
first, opens the file only to land, and retries a refused open for a bounded time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import duckdb

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
SCHEMA_DIR = SQL_DIR / "00_schema"


class DatabaseBusy(RuntimeError):
    """Another process holds the DuckDB file and did not let go in time."""


def _is_lock_error(err: Exception) -> bool:
    msg = str(err).lower()
    return "lock" in msg and ("conflicting" in msg or "could not set" in msg)


def connect(
    path: str | Path,
    *,
    read_only: bool = False,
    wait_s: float = 30.0,
    poll_s: float = 0.5,
) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file, waiting up to ``wait_s`` seconds while another process holds it.

    Raises ``DatabaseBusy`` with a message that says what to do when the wait runs out.
    """
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + max(wait_s, 0.0)
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as err:
            if not _is_lock_error(err):
                raise
            if time.monotonic() >= deadline:
                raise DatabaseBusy(
                    f"{path} is held by another process (an analyst's open session or another "
                    f"sync) and was not released within {wait_s:.0f} s. Close the other "
                    f"connection, or open it read-only only while no sync runs, then try again. "
                    f"Nothing was changed. ({err})"
                ) from err
            time.sleep(poll_s)


@contextmanager
def connection(path: str | Path, **kw) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(path, **kw)
    try:
        yield con
    finally:
        con.close()


def schema_files() -> list[Path]:
    """Migration files ``NNN_name.sql`` in version order."""
    return sorted(SCHEMA_DIR.glob("[0-9][0-9][0-9]_*.sql"))


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the migrations in ``sql/00_schema`` not yet applied; return the versions applied.

    Each migration runs in its own transaction and is recorded in ``schema_migrations``.
    """
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
    )
    done = {r[0] for r in con.sql("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for f in schema_files():
        version = int(f.name[:3])
        if version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f.read_text())
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [version, f.stem, utcnow()],
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0])


def bump_data_generation(con: duckdb.DuckDBPyConnection) -> None:
    """Mark the models behind the data: call inside every transaction that changes what the models
    read (a landed batch, a journal change), so it commits with that change or not at all. The
    model build records the generation it was built from (``model_state``, migration 005)."""
    if con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'model_state'").fetchall()[0][0]:
        con.execute("UPDATE model_state SET data_generation = data_generation + 1 WHERE id = 1")


def utcnow() -> datetime:
    """Naive UTC now (footfall stores naive UTC timestamps)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.sql(f"DESCRIBE {quote_ident(table)}").fetchall()]


def quote_ident(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"bad identifier {name!r}")
    return name
