"""The DuckDB edge: connect (with a bounded wait for another writer), migrate, land frames.

DuckDB locks the file per process: while the sync holds it for writing, readers in other
processes are refused, and a writer is refused while readers are open. So the sync decodes
first, opens the file at its first landing (and keeps it until its last batch has landed:
``sync.landing_connection``), and retries a refused open for a bounded time: ``lock_wait_s``
in total for one command (``wait_budget``), saying whom it waits for (``progress.notice``).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from pipelines import progress
from pipelines.schema_docs import apply_comments

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
SCHEMA_DIR = SQL_DIR / "00_schema"


class DatabaseBusy(RuntimeError):
    """Another process holds the DuckDB file and did not let go in time. ``pid``: the holder's
    process id when DuckDB named it; ``holder``: "PID N, name" (or "another process")."""

    def __init__(self, msg: str, *, pid: int | None = None, holder: str | None = None):
        super().__init__(msg)
        self.pid = pid
        self.holder = holder


class DatabaseError(RuntimeError):
    """The database file cannot be used: not a DuckDB file, written by a newer footfall, damaged,
    or not writable. The message says what is wrong and what to do; nothing was changed."""


class LakeUnavailable(DatabaseError):
    """Team mode cannot start (``pipelines.lake.LakeError``): no team extra, no data path for a
    new lake, an unreachable catalog; the message says what to do."""


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
    if is_lake(path):
        return  # a DuckLake target (pipelines/lake.py): its catalog is checked when attached
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


def holder_pid(err: BaseException) -> int | None:
    """The process DuckDB names in its lock error ("Conflicting lock is held in ... (PID N)")."""
    m = re.search(r"\(PID (\d+)\)", str(err))
    return int(m.group(1)) if m else None


def describe_holder(pid: int | None) -> str:
    """"PID N, name" for the holder of the lock (its name from psutil when it can be read)."""
    if pid is None:
        return "another process"
    try:
        import psutil

        return f"PID {pid}, {psutil.Process(pid).name()}"
    except Exception:  # noqa: BLE001 - gone, not ours to read, or no psutil: the PID says enough
        return f"PID {pid}"


class WaitBudget:
    """The seconds one command may spend waiting for the file, over all its opens (a sync opens
    it to plan, to migrate, once per batch, to build): ``lock_wait_s`` is the total, not a wait
    per open nor per retry. Thread-safe (a batch lands in a Prefect worker thread)."""

    def __init__(self, total_s: float):
        self.total_s = max(float(total_s), 0.0)
        self.spent_s = 0.0
        self._lock = threading.Lock()

    def remaining(self) -> float:
        with self._lock:
            return max(self.total_s - self.spent_s, 0.0)

    def charge(self, seconds: float) -> None:
        with self._lock:
            self.spent_s += max(seconds, 0.0)


_budget: WaitBudget | None = None  # a module global, not a contextvar: Prefect tasks run in threads


@contextmanager
def wait_budget(total_s: float) -> Iterator[WaitBudget]:
    """``with wait_budget(s.lock_wait_s):`` every ``connect`` inside (in any thread) waits at most
    what is left of ``total_s``. Inside an active budget (the CLI's, around the flow's) the outer
    one stays: the whole command shares it."""
    global _budget
    if _budget is not None:
        yield _budget
        return
    _budget = WaitBudget(total_s)
    try:
        yield _budget
    finally:
        _budget = None


#: The analysts' read-only snapshot beside the database: <stem> + this (footfall.duckdb ->
#: footfall.snapshot.duckdb); ``pipelines/snapshot.py`` publishes it (the config may move it).
SNAPSHOT_SUFFIX = ".snapshot.duckdb"


def default_snapshot_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.stem + SNAPSHOT_SUFFIX)


def busy_message(path: str | Path, holder: str, wait_s: float) -> str:
    """What a refused open says: who holds the file and what to do (the one error line)."""
    return (f"{path} is held by another process ({holder}) and was not released within "
            f"{wait_s:.0f} s; nothing was changed. Close that program's connection to the file (or "
            f"let it end) and run the command again; to wait longer, raise lock_wait_s in the config "
            f"(or FOOTFALL_LOCK_WAIT_S). DuckDB lets no writer in while any other process has the "
            f"file open, even read-only: to query while syncs run, open the read-only copy footfall "
            f"publishes after each sync instead (duckdb -readonly {default_snapshot_path(path)}).")


def waiting_text(holder: str, wait_s: float) -> str:
    return f"waiting for the database: held by another process ({holder}); up to {wait_s:.0f} s"


def connect(
    path: str | Path,
    *,
    read_only: bool = False,
    wait_s: float = 30.0,
    poll_s: float = 0.5,
) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file, waiting up to ``wait_s`` seconds while another process holds it
    (inside ``wait_budget``: at most what is left of the budget).

    While it waits it says so once (``progress.notice("waiting", "waiting for the database: held
    by another process (PID N, name)...")``, then ``notice("waiting", None)`` when the file opens).
    Raises ``NotADuckDBFile`` for a path holding anything else (checked before DuckDB reads it),
    ``DatabaseBusy`` naming the holder and what to do when the wait runs out.

    A DuckLake target (``ducklake:postgres:...``, ``pipelines/lake.py``) is attached in a new
    in-memory connection instead: no file lock, so no wait.
    """
    if is_lake(path):
        from pipelines import lake

        try:
            return lake.connect(path, read_only=read_only, config=CONNECT_CONFIG)
        except lake.LakeError as err:
            raise LakeUnavailable(str(err)) from err
    path = Path(path)
    check_file(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    budget = _budget
    total = max(wait_s, 0.0) if budget is None else min(max(wait_s, 0.0), budget.total_s)
    allowed = total if budget is None else min(total, budget.remaining())
    started = time.monotonic()
    said: str | None = None
    try:
        while True:
            try:
                con = duckdb.connect(str(path), read_only=read_only, config=dict(CONNECT_CONFIG))
                if said is not None:
                    progress.notice("waiting", None)
                return con
            except duckdb.IOException as err:
                if not _is_lock_error(err):
                    raise
                pid = holder_pid(err)
                holder = describe_holder(pid)
                waited = time.monotonic() - started
                if waited >= allowed:
                    if said is not None:
                        progress.notice("waiting", None)
                    raise DatabaseBusy(busy_message(path, holder, total), pid=pid, holder=holder) from err
                text = waiting_text(holder, total)
                if text != said:
                    progress.notice("waiting", text)
                    said = text
                time.sleep(min(poll_s, allowed - waited))
    finally:
        if budget is not None:
            budget.charge(time.monotonic() - started if said is not None else 0.0)


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
    ddl = _ddl_for(con)
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
        con.execute(ddl(SCHEMA_MIGRATIONS_DDL))
    applied = []
    for f in files:
        version = int(f.name[:3])
        if version in done:
            continue
        with transaction(con):
            if first(con.execute("SELECT count(*) FROM schema_migrations WHERE version = ?", [version]))[0]:
                continue  # another writer to a lake applied it since (a file's lock rules it out)
            con.execute(ddl(f.read_text()))
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


@contextmanager
def tracked_transaction(con: duckdb.DuckDBPyConnection, fingerprint) -> Iterator[duckdb.DuckDBPyConnection]:
    """``transaction`` for the runner's own writes (journal, plan): ``fingerprint(con)`` is read
    after BEGIN and again before COMMIT, and when it changed the data generation is bumped in the
    same transaction (the models are behind the change until rebuilt); a write that changed
    nothing (a re-import) leaves the models current."""
    with transaction(con):
        before = fingerprint(con)
        yield con
        if fingerprint(con) != before:
            bump_data_generation(con)


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
    """The file behind a connection (for messages; a lake: its ``ducklake:...`` target)."""
    try:
        row = first(con.execute("SELECT path, type FROM duckdb_databases() WHERE database_name = current_database()"))
        if row and row[1] == "ducklake":
            return f"ducklake:{row[0]}"
        return str(row[0]) if row and row[0] else "the database"
    except duckdb.Error:
        return "the database"


def open_for_writing(path: str | Path, *, wait_s: float = 30.0) -> list[int]:
    """Open the file for writing and migrate it, then close it: a sync calls this before it
    reads or decodes anything, so a database it could not write (not a DuckDB file, a newer
    schema, a read-only folder, a full disk) fails the sync at once. Returns the versions applied.
    A lake's migrations are retried when another writer's commit conflicts (``retry_conflicts``).
    """
    path = path if is_lake(path) else Path(path)

    def _migrate() -> list[int]:
        with connection(path, wait_s=wait_s) as con:
            return migrate(con)

    try:
        return retry_conflicts(path, "migrating the lake", _migrate)
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


# --------------------------------------------------------------------------- DuckLake (team mode)


def is_lake(target) -> bool:
    """Is ``--db`` a DuckLake target (``ducklake:postgres:...``, ``pipelines/lake.py``)?"""
    return str(target).startswith("ducklake:")


def exists(target) -> bool:
    """Is there a database at ``target`` yet (a file; for a lake: a catalog holding a lake)?"""
    if is_lake(target):
        from pipelines import lake

        try:
            return lake.exists(target)
        except lake.LakeError as err:
            raise LakeUnavailable(str(err)) from err
    return Path(target).exists()


def _ddl_for(con: duckdb.DuckDBPyConnection):
    """``ddl(sql)``: the DDL as this connection's engine takes it (``lake.lake_ddl`` on a lake)."""
    from pipelines import lake

    if lake.is_lake_connection(con):
        return lake.lake_ddl
    return lambda sql: sql


def ddl(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """``con.execute(ddl(con, CREATE_TABLE_SQL))``: keys and checks dropped on a lake."""
    return _ddl_for(con)(sql)


def retry_conflicts(target, what: str, fn):
    """``fn()``; on a lake, run again (up to ``lake.COMMIT_ATTEMPTS`` tries, a jittered wait
    between) while its commit conflicts with another writer's; each retry says so (the log, and
    the sync's notice line). ``fn`` must open its own connection and transaction. A DuckDB file
    runs ``fn`` once (its lock already serialises writers)."""
    if not is_lake(target):
        return fn()
    import logging

    from pipelines import lake

    log = logging.getLogger("footfall.lake")
    for attempt in range(1, lake.COMMIT_ATTEMPTS + 1):
        try:
            result = fn()
        except duckdb.Error as err:
            if not lake.is_conflict(err) or attempt == lake.COMMIT_ATTEMPTS:
                raise
            delay = lake.retry_delay_s(attempt)
            text = (f"{what}: another writer committed first ({one_line(err)[:160]}); "
                    f"try {attempt + 1} of {lake.COMMIT_ATTEMPTS} in {delay:.1f} s")
            log.warning(text)
            progress.notice("waiting", text)
            time.sleep(delay)
            continue
        if attempt > 1:
            progress.notice("waiting", None)
        return result
