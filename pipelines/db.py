"""The DuckDB edge: connect (with a bounded wait for another writer), migrate, land frames.

DuckDB locks the file per process: while the sync holds it for writing, readers in other
processes are refused, and a writer is refused while readers are open. So the sync decodes
first, opens the file only to land, and retries a refused open for a bounded time.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from pipelines.schema_docs import apply_comments

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
SCHEMA_DIR = SQL_DIR / "00_schema"


class DatabaseBusy(RuntimeError):
    """Another process holds the DuckDB file and did not let go in time."""


class DatabaseError(RuntimeError):
    """The database file cannot be used: not a DuckDB file, written by a newer footfall, damaged,
    or not writable. The message says what is wrong and what to do; nothing was changed."""


class NotADuckDBFile(DatabaseError):
    """The path holds something else than a DuckDB database (a SQLite file, a folder, text)."""


class SchemaTooNew(DatabaseError):
    """The file was migrated by a newer footfall: this one must not write into it."""


class DatabaseDamaged(DatabaseError):
    """DuckDB found a block whose checksum does not match (the file is corrupt)."""


#: DuckDB's main header: the 8-byte checksum, then the magic bytes "DUCK" (storage format docs).
DUCKDB_MAGIC = b"DUCK"
DUCKDB_MAGIC_OFFSET = 8

#: Every connection footfall opens: never install or load an extension behind the user's back
#: (DuckDB would download one, e.g. sqlite_scanner for a SQLite file given as --db).
CONNECT_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def check_file(path: str | Path) -> None:
    """Refuse a path that exists and is not a DuckDB database, before DuckDB opens it."""
    path = Path(path)
    if str(path) == ":memory:" or not os.path.lexists(path):
        return
    if path.is_dir():
        raise NotADuckDBFile(f"{path} is a folder, not a DuckDB database file; give --db a file "
                             "path (it is created on the first sync). Nothing was changed.")
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as err:
        raise DatabaseError(f"cannot read {path}: {err.strerror or err}. Nothing was changed.") from err
    if head[DUCKDB_MAGIC_OFFSET:DUCKDB_MAGIC_OFFSET + len(DUCKDB_MAGIC)] != DUCKDB_MAGIC:
        what = "is empty" if not head else (
            "is a SQLite database" if head.startswith(b"SQLite format 3") else "has no DuckDB header")
        raise NotADuckDBFile(
            f"{path} {what}, not a DuckDB database file: footfall will not open or change it. "
            "Give --db a new path (it is created on the first sync) or a footfall database.")


def is_corruption(err: BaseException) -> bool:
    """Is this DuckDB's report of a damaged block (checksum mismatch)?"""
    msg = str(err).lower()
    return "corrupt database file" in msg or ("checksum" in msg and "does not match" in msg)


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

    Raises ``NotADuckDBFile`` for a path holding anything else (checked before DuckDB reads it),
    ``DatabaseBusy`` with a message that says what to do when the wait runs out.
    """
    path = Path(path)
    check_file(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + max(wait_s, 0.0)
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=dict(CONNECT_CONFIG))
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


#: The migrations applied (its comments become the table's: pipelines/schema_docs.py).
SCHEMA_MIGRATIONS_DDL = """
-- the migrations of sql/00_schema applied to this file; grain: one row per migration; key: version
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,      -- NNN of sql/00_schema/NNN_name.sql
    name VARCHAR,                     -- the file's stem (NNN_name)
    applied_at TIMESTAMP              -- UTC time it was applied
)
"""


def schema_files() -> list[Path]:
    """Migration files ``NNN_name.sql`` in version order."""
    return sorted(SCHEMA_DIR.glob("[0-9][0-9][0-9]_*.sql"))


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the migrations in ``sql/00_schema`` not yet applied; return the versions applied.

    Each migration runs in its own transaction and is recorded in ``schema_migrations``. A file
    that a newer footfall migrated (a version above this one's last) is refused with
    ``SchemaTooNew`` before anything is written.
    """
    files = schema_files()
    known = max((int(f.name[:3]) for f in files), default=0)
    done: set[int] = set()
    if "schema_migrations" in tables(con):
        done = {r[0] for r in con.sql("SELECT version FROM schema_migrations").fetchall()}
        newer = sorted(v for v in done if v > known)
        if newer:
            raise SchemaTooNew(
                f"{database_path(con)} has schema version {newer[-1]}, newer than this footfall knows "
                f"(up to {known}): it was written by a newer footfall. Upgrade footfall to sync into "
                "it; nothing was written.")
    else:
        con.execute(SCHEMA_MIGRATIONS_DDL)
    applied = []
    for f in files:
        version = int(f.name[:3])
        if version in done:
            continue
        with transaction(con):
            con.execute(f.read_text())
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [version, f.stem, utcnow()],
            )
        applied.append(version)
    with transaction(con):  # COMMENT ON the raw tables, from the migrations' own comments
        apply_comments(con, extra_ddl=(SCHEMA_MIGRATIONS_DDL,))
    return applied


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """``with transaction(con):`` BEGIN, then COMMIT when the block ends; on any error (Ctrl-C
    included) ROLLBACK and re-raise the first error (``rollback``: a failed COMMIT has already
    ended the transaction)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise


def tables(con: duckdb.DuckDBPyConnection, *, views: bool = True) -> set[str]:
    """The names of the tables (and views, unless ``views=False``) of the open database."""
    kind = "" if views else " AND table_type = 'BASE TABLE'"
    return {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables "
        f"WHERE table_schema = current_schema(){kind}").fetchall()}


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """ROLLBACK after a failure, without masking it: when the failure was the COMMIT itself
    (a full disk), DuckDB has already ended the transaction and ROLLBACK raises "no transaction
    is active"; the caller re-raises the first error, which names the cause."""
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass


def database_path(con: duckdb.DuckDBPyConnection) -> str:
    """The file behind a connection (for messages)."""
    try:
        row = first(con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()"))
        return str(row[0]) if row and row[0] else "the database"
    except duckdb.Error:
        return "the database"


def open_for_writing(path: str | Path, *, wait_s: float = 30.0) -> list[int]:
    """Open the file for writing and migrate it, then close it: a sync calls this before it
    reads or decodes anything, so a database it could not write (not a DuckDB file, a newer
    schema, a read-only folder, a full disk) fails the sync at once. Returns the versions applied.
    """
    path = Path(path)
    try:
        with connection(path, wait_s=wait_s) as con:
            return migrate(con)
    except (DatabaseError, DatabaseBusy):
        raise
    except (OSError, duckdb.Error) as err:
        if is_corruption(err):
            raise DatabaseDamaged(damaged_message(path, err)) from err
        raise DatabaseError(f"cannot write the database {path}: {one_line(err)}") from err


def damaged_message(path: str | Path | None, err: BaseException) -> str:
    what, db = (f"{path}", f" --db {path}") if path else ("the database file", "")
    return (f"{what} is damaged ({one_line(err)}). Run `footfall check{db}` to see which "
            "tables; restore it from a backup, or sync the exports again into a new file.")


def one_line(err: BaseException) -> str:
    """An error's message on one line (DuckDB's carry a type prefix and sometimes hints)."""
    return " ".join(str(err).split()) or type(err).__name__


def check_database(path: str | Path, *, wait_s: float = 30.0) -> list[tuple[str, int | None, str | None]]:
    """Read every row of every table (a hash of each whole row, so every column's blocks are read
    and their checksums verified): (table, rows, None) or (table, None, DuckDB's error)."""
    out = []
    with connection(path, read_only=True, wait_s=wait_s) as con:
        for t in sorted(tables(con, views=False)):
            try:
                n = first(con.execute(f'SELECT count(*), sum(hash(t)) FROM "{t}" t'))[0]
                out.append((t, int(n), None))
            except duckdb.Error as err:
                out.append((t, None, one_line(err)))
    return out


def first(result) -> tuple | None:
    """The first row of a ``con.execute(...)`` result, or None; the result is fetched to its end.

    duckdb 2 refuses any other work on the connection (``register``, ``sql``) while a result of
    ``execute()`` is unfinished, which ``.fetchone()`` leaves it: use this instead.
    """
    rows = result.fetchall()
    return rows[0] if rows else None


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    row = first(con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations"))
    return int(row[0])


def bump_data_generation(con: duckdb.DuckDBPyConnection) -> None:
    """Mark the models behind the data: call inside every transaction that changes what the models
    read (a landed batch, a journal change), so it commits with that change or not at all. The
    model build records the generation it was built from (``model_state``, migration 005)."""
    if "model_state" in tables(con, views=False):
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
