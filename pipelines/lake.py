"""Team mode: a DuckLake on a PostgreSQL catalog as ``--db`` (issue 16).

``--db 'ducklake:postgres:dbname=footfall host=db.example port=5432 user=coach'`` (or ``db`` in the
config, or FOOTFALL_DB) names a DuckLake whose catalog is that PostgreSQL database (libpq
conninfo) and whose data files (Parquet) live under the data path: ``[team] data_path`` in the
config, ``--data-path`` on ``footfall sync`` or FOOTFALL_DATA_PATH, needed once, when the first
sync creates the lake (the catalog remembers it). Several ``footfall sync`` processes, on one
machine or many, may write to one lake at once: DuckLake commits optimistically, and a commit that
conflicts with another's fails; ``pipelines.db.retry_conflicts`` runs such a transaction again.

The extensions come from pip (the ``team`` extra: duckdb 1.5.5 with ``duckdb-extension-ducklake``
and ``duckdb-extension-postgres`` of the same version) and are loaded by path: footfall never
runs INSTALL (it needs the network) and connects with autoinstall/autoload off. The PostgreSQL
extension's file is shipped as ``postgres.duckdb_extension``, but DuckDB derives the entry point
from the file name and the extension is ``postgres_scanner``: footfall links it under that name
in a cache folder (``extension_paths``).

This module is the only one that knows a lake; ``pipelines.db`` dispatches to it (and this
module imports nothing of footfall's: no import cycle).
"""

from __future__ import annotations

import importlib.util
import os
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

PREFIX = "ducklake:"
#: the catalogs footfall knows how to reach (the extension each needs)
CATALOGS = {"postgres": "postgres_scanner"}
#: the duckdb release whose DuckLake/PostgreSQL extensions ship as pip packages
TEAM_DUCKDB = "1.5.5"
#: the name the lake is attached as (``USE lake``)
ALIAS = "lake"

#: how many times one transaction (a landed batch, the migrations, the model build) is tried when
#: its commit conflicts with another writer's, and the jitter between tries: a random wait in
#: [0, RETRY_BASE_S * 2**try], at most RETRY_MAX_S (footfall choice: enough for a handful of
#: writers committing batches of seconds each; a retry lands the whole batch again).
COMMIT_ATTEMPTS = 8
RETRY_BASE_S = 0.25
RETRY_MAX_S = 8.0


class LakeError(RuntimeError):
    """Team mode cannot start: no team extra, an unknown catalog, no data path for a new lake,
    an unreachable catalog. The message says what to do (one line); ``pipelines.db`` raises it
    as ``LakeUnavailable`` (a ``DatabaseError``: the CLI's one error line)."""


def is_lake(target) -> bool:
    return str(target).startswith(PREFIX)


@dataclass(frozen=True)
class LakeTarget:
    """A ``ducklake:<catalog>:<conninfo>`` target and its data path (None: the one the catalog
    recorded when the lake was created). ``str()`` is the target as typed; ``exists()`` says
    whether the catalog holds a lake yet (it connects)."""

    target: str
    data_path: str | None = None

    def __post_init__(self):
        kind, _ = split(self.target)
        if kind not in CATALOGS:
            raise LakeError(f"{self.target!r}: footfall's team mode knows a DuckLake on PostgreSQL "
                            "only: give --db 'ducklake:postgres:dbname=NAME host=HOST port=PORT "
                            "user=USER'")
        if self.data_path:
            _DATA_PATHS[self.target] = self.data_path

    def __str__(self) -> str:
        return self.target

    def __fspath__(self) -> str:
        return self.target

    def exists(self) -> bool:
        return exists(self)

    @property
    def name(self) -> str:
        return describe(self)


#: data paths seen this process, by target (a ``Path(settings.db)`` keeps the target, not its
#: data path: the first ``LakeTarget`` made from the settings records it here)
_DATA_PATHS: dict[str, str] = {}


def split(target) -> tuple[str, str]:
    """("postgres", "dbname=... host=...") of ``ducklake:postgres:dbname=...``."""
    rest = str(target)[len(PREFIX):]
    kind, _, conninfo = rest.partition(":")
    return kind, conninfo


def as_target(target, data_path: str | None = None) -> LakeTarget:
    if isinstance(target, LakeTarget) and (data_path is None or data_path == target.data_path):
        return target
    s = str(target)
    return LakeTarget(s, data_path or getattr(target, "data_path", None) or _DATA_PATHS.get(s)
                      or os.environ.get("FOOTFALL_DATA_PATH") or None)


def describe(target) -> str:
    """"DuckLake on PostgreSQL (dbname=footfall host=...)" for messages."""
    kind, conninfo = split(target)
    return f"DuckLake on {'PostgreSQL' if kind == 'postgres' else kind} ({conninfo})"


# --------------------------------------------------------------------------- extensions


def _package_file(package: str, filename: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        found = sorted(Path(root).glob(f"extensions/*/{filename}"))
        if found:
            return found[-1]
    return None


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "footfall" / "duckdb-extensions"


def extension_paths(kind: str = "postgres") -> list[Path]:
    """The extension files to LOAD, DuckLake first; raises ``LakeError`` (what to install)
    without the team extra."""
    import duckdb

    install = ("team mode needs the team extra: pip install -e '.[team]' (duckdb "
               f"{TEAM_DUCKDB} with its DuckLake and PostgreSQL extensions)")
    if duckdb.__version__ != TEAM_DUCKDB:
        raise LakeError(f"{install}; this environment has duckdb {duckdb.__version__}, whose "
                        "DuckLake extension cannot be loaded offline")
    lake = _package_file("duckdb_extension_ducklake", "ducklake.duckdb_extension")
    cat = _package_file(f"duckdb_extension_{kind}", f"{kind}.duckdb_extension")
    if lake is None or cat is None:
        raise LakeError(f"{install}; duckdb-extension-ducklake or duckdb-extension-{kind} is missing")
    wanted = CATALOGS[kind]  # DuckDB calls <file stem>_duckdb_cpp_init: link it by its real name
    if cat.stem != wanted:
        link = _cache_dir() / f"v{TEAM_DUCKDB}" / f"{wanted}.duckdb_extension"
        try:
            link.parent.mkdir(parents=True, exist_ok=True)
            if not (link.is_symlink() and os.readlink(link) == str(cat)):
                tmp = link.with_name(f".{link.name}.{os.getpid()}")
                tmp.unlink(missing_ok=True)
                tmp.symlink_to(cat)
                os.replace(tmp, link)  # atomic: another sync may be linking it too
        except OSError as err:
            raise LakeError(f"cannot link the PostgreSQL extension under {link}: {err}") from err
        cat = link
    return [lake, cat]


def _sql_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def attach(con, target, *, read_only: bool = False) -> None:
    """LOAD the extensions, ATTACH the lake as ``lake`` and ``USE lake``. A lake not created yet
    needs a data path (``LakeError`` says where to set it); read-only, it must exist."""
    import duckdb

    t = as_target(target)
    kind, conninfo = split(t.target)
    for path in extension_paths(kind):
        con.execute(f"LOAD {_sql_string(str(path))}")
    opts = []
    if read_only:
        opts.append("READ_ONLY")
    elif t.data_path:
        if "://" not in t.data_path:  # a local or mounted folder: make it (object storage: not)
            Path(t.data_path).mkdir(parents=True, exist_ok=True)
        opts.append(f"DATA_PATH {_sql_string(t.data_path)}")
    sql = f"ATTACH {_sql_string(PREFIX + kind + ':' + conninfo)} AS {ALIAS}"
    try:
        con.execute(sql + (f" ({', '.join(opts)})" if opts else ""))
    except duckdb.Error as err:
        msg = str(err)
        if "data_path is not set" in msg:
            raise LakeError(f"{describe(t)} holds no lake yet and no data path was given: set "
                            "[team] data_path in the config (or --data-path, or "
                            "FOOTFALL_DATA_PATH) to the shared folder of the lake's files") from err
        if "does not exist" in msg and "creating a new DuckLake is explicitly disabled" in msg:
            raise LakeError(f"{describe(t)} holds no lake yet: run `footfall sync` into it "
                            "first") from err
        raise LakeError(f"cannot attach {describe(t)}: {' '.join(msg.split())}") from err
    con.execute(f"USE {ALIAS}")


def connect(target, *, read_only: bool = False, config: dict | None = None):
    """A new DuckDB connection (in memory; ``config``: ``pipelines.db.CONNECT_CONFIG``, i.e.
    autoinstall/autoload off) with the lake attached."""
    import duckdb

    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        con = duckdb.connect(config=dict(config or {"autoinstall_known_extensions": False,
                                                     "autoload_known_extensions": False}))
        try:
            attach(con, target, read_only=read_only)
            return con
        except LakeError as err:
            con.close()
            # two first syncs creating the same lake at once: one creates the catalog's tables,
            # the other's ATTACH fails on them; attached again, it finds the lake
            if attempt == COMMIT_ATTEMPTS or not _creating_race(err):
                raise
        except BaseException:
            con.close()
            raise
        time.sleep(retry_delay_s(attempt))
    raise AssertionError("unreachable")


def _creating_race(err: BaseException) -> bool:
    msg = str(err).lower()
    return ("already exists" in msg or "duplicate key" in msg or "conflict" in msg
            or "could not serialize" in msg)


def exists(target) -> bool:
    """Does the catalog hold a lake (a first sync has created it)?"""
    try:
        connect(target, read_only=True).close()
        return True
    except LakeError as err:
        if "holds no lake yet" in str(err):
            return False
        raise


# --------------------------------------------------------------------------- SQL


def is_lake_connection(con) -> bool:
    try:
        rows = con.execute("SELECT type FROM duckdb_databases() "
                           "WHERE database_name = current_database()").fetchall()
    except Exception:  # noqa: BLE001 - a closed connection is no lake
        return False
    return bool(rows) and rows[0][0] == "ducklake"


def lake_ddl(sql: str) -> str:
    """The DDL of a migration (or a model's own table) as a DuckLake takes it: DuckLake has no
    PRIMARY KEY, UNIQUE or CHECK constraints and no indexes (NOT NULL and DEFAULT stay), and no
    INSERT OR IGNORE/REPLACE (the migrations' only one seeds a new one-row table: plain INSERT).
    Keys are kept by footfall's writers (delete, then insert)."""
    out = _strip_checks(sql)
    out = _TABLE_KEY.sub("", out)
    out = _COLUMN_KEY.sub("", out)
    out = _INSERT_OR.sub("INSERT INTO", out)
    return out


_TABLE_KEY = re.compile(r",(\s*(?:--[^\n]*)?\s*)(?:PRIMARY\s+KEY|UNIQUE)\s*\([^)]*\)", re.IGNORECASE)
_COLUMN_KEY = re.compile(r"\s+(?:PRIMARY\s+KEY|UNIQUE)\b", re.IGNORECASE)
_INSERT_OR = re.compile(r"\bINSERT\s+OR\s+(?:IGNORE|REPLACE)\s+INTO\b", re.IGNORECASE)
_CHECK = re.compile(r"\s+CHECK\s*\(", re.IGNORECASE)


def _strip_checks(sql: str) -> str:
    """Remove every ``CHECK (...)`` (balanced parentheses; comments after it stay)."""
    out, pos = [], 0
    while True:
        m = _CHECK.search(sql, pos)
        if m is None:
            out.append(sql[pos:])
            return "".join(out)
        out.append(sql[pos:m.start()])
        depth, i = 1, m.end()
        while depth and i < len(sql):
            depth += {"(": 1, ")": -1}.get(sql[i], 0)
            i += 1
        pos = i


# --------------------------------------------------------------------------- conflicts


def is_conflict(err: BaseException) -> bool:
    """A commit refused because another writer committed first (DuckLake's optimistic
    concurrency), or the catalog's own serialization failure: the transaction may run again."""
    msg = str(err).lower()
    return ("transaction conflict" in msg or "could not serialize access" in msg
            or ("duplicate key value violates unique constraint" in msg and "ducklake" in msg))


def retry_delay_s(attempt: int) -> float:
    """The jittered wait before try ``attempt + 1`` (full jitter, capped)."""
    return random.uniform(0.0, min(RETRY_MAX_S, RETRY_BASE_S * 2 ** attempt))


def analyst_sql(target: str = "ducklake:postgres:dbname=footfall host=HOST user=USER") -> str:
    """The lines an analyst types in a DuckDB 1.5.5 shell to open the lake read-only."""
    kind, conninfo = split(target)
    loads = "\n".join(f"LOAD {_sql_string(str(p))};" for p in extension_paths(kind))
    return (f"{loads}\nATTACH {_sql_string(PREFIX + kind + ':' + conninfo)} AS {ALIAS} (READ_ONLY);\n"
            f"USE {ALIAS};")


if __name__ == "__main__":  # python -m pipelines.lake ['ducklake:postgres:...']: the analyst's lines
    import sys

    try:
        print(analyst_sql(*sys.argv[1:2]))
    except LakeError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
