"""Team mode (issue 16): a DuckLake on a REAL PostgreSQL catalog as --db, written by several
``footfall sync`` processes at once.

Needs the team extra (duckdb 1.5.5 with duckdb-extension-ducklake/-postgres 1.5.5: the only
DuckDB whose DuckLake loads offline) and Debian's postgresql (initdb, pg_ctl): without either the
tests skip and say which. The session fixture starts a PostgreSQL server on a free loopback port
(tests/pg.py) and stops it after. Every sync is the real ``footfall`` command in its own process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TODAY
from tests.pg import PostgresServer, pg_bindir

pytestmark = pytest.mark.team

#: tables compared between a lake and a DuckDB file, with the key columns hashed (content)
KEYED = {
    "files": "file_id, athlete_id, status, n_activities, n_records",
    "activities": "activity_id, athlete_id, file_id, started_at, distance_m, n_records",
    "laps": "activity_id, lap_index, distance_m",
    "records": "activity_id, record_index, recorded_at, heart_rate_bpm, cadence_raw",
    "activity_metrics": "activity_id, distance_m, avg_cadence_spm, trimp_au",
    "activity_duplicates": "activity_id, duplicate_of",
    "sync_sources": "path, size_bytes, athlete_id, n_files",
    "flags": "flag_id, athlete_id, rule, local_date",
    "flag_log": "flag_id",
    "daily_load": "athlete_id, local_date",
    "weekly_load": "athlete_id",
}


def _team_ready() -> str | None:
    """Why team mode cannot run here (None: it can)."""
    try:
        from pipelines.lake import LakeError, extension_paths
    except ImportError as err:  # pragma: no cover - the project itself is broken
        return f"pipelines.lake: {err}"
    try:
        extension_paths("postgres")
    except LakeError as err:
        return str(err)
    if pg_bindir() is None:
        return "PostgreSQL's initdb/pg_ctl not found (Debian: apt-get install postgresql)"
    return None


@pytest.fixture(scope="session")
def pg():
    why = _team_ready()
    if why:
        pytest.skip(f"team mode unavailable: {why}")
    server = PostgresServer()
    try:
        server.start()
    except Exception as err:  # noqa: BLE001 - say why the server did not start
        server.stop()
        pytest.fail(f"PostgreSQL did not start: {err}")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def exports(tmp_path_factory, corpus_dir):
    """Two runners' folders: ana (a synthetic 8-week export plus a real device folder of the
    corpus), ben (another synthetic export)."""
    from synth.sample import make_sample_export

    root = tmp_path_factory.mktemp("exports")
    for athlete, seed in (("ana", 7), ("ben", 23)):
        for rel, data in make_sample_export(seed=seed, weeks=8, end_date=TODAY).items():
            p = root / athlete / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
    real = corpus_dir / "OpenTracksApp+OpenTracks"
    return {"ana": [root / "ana", real], "ben": [root / "ben"]}


def footfall(*args: str, home: Path, env_extra: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """The ``footfall`` command in its own process, with its own Prefect home and no config."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "footfall.toml").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOOTFALL_", "PREFECT_"))}
    env.update(FOOTFALL_CONFIG=str(home / "footfall.toml"), FOOTFALL_TODAY=TODAY.isoformat(),
               PREFECT_HOME=str(home / "prefect"), PREFECT_LOGGING_LEVEL="WARNING",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", FOOTFALL_WORKERS="1")
    env.update(env_extra or {})
    cmd = [sys.executable, "-m", "pipelines.cli", *args]
    out = subprocess.run(cmd, env=env, cwd=home, capture_output=True, text=True, timeout=900)
    if check:
        assert out.returncode == 0, f"{' '.join(args[:1])} failed ({out.returncode}):\n{out.stderr[-3000:]}"
    return out


def start_sync(paths, db: str, athlete: str, home: Path, data_path: Path) -> subprocess.Popen:
    home.mkdir(parents=True, exist_ok=True)
    (home / "footfall.toml").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOOTFALL_", "PREFECT_"))}
    env.update(FOOTFALL_CONFIG=str(home / "footfall.toml"), FOOTFALL_TODAY=TODAY.isoformat(),
               PREFECT_HOME=str(home / "prefect"), PREFECT_LOGGING_LEVEL="WARNING",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", FOOTFALL_WORKERS="1")
    cmd = [sys.executable, "-m", "pipelines.cli", "sync", *map(str, paths), "--db", db,
           "--athlete", athlete, "--data-path", str(data_path), "--json"]
    return subprocess.Popen(cmd, env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def sync(paths, db: str, athlete: str, home: Path, data_path: Path | None = None) -> dict:
    extra = ["--data-path", str(data_path)] if data_path else []
    out = footfall("sync", *map(str, paths), "--db", db, "--athlete", athlete, *extra, "--json",
                   home=home)
    return json.loads(out.stdout)


def lake_db(pg, name: str) -> str:
    return "ducklake:postgres:" + pg.createdb(name)


def digest(db: str) -> dict[str, tuple[int, int]]:
    """Per table: (rows, order-independent hash of the key columns)."""
    from pipelines import db as dbm

    with dbm.connection(db, read_only=True) as con:
        return {t: tuple(con.execute(f"SELECT count(*), coalesce(sum(hash({cols})), 0) FROM {t}").fetchall()[0])
                for t, cols in KEYED.items()}


def counts(db: str) -> dict[str, int]:
    """Rows of every base table (sync_runs and build_info hold times: their counts only)."""
    from pipelines import db as dbm

    with dbm.connection(db, read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                for t in sorted(dbm.tables(con, views=False))}


def snapshots(db: str) -> int:
    """The lake's snapshot count (each commit makes one)."""
    from pipelines import db as dbm

    with dbm.connection(db, read_only=True) as con:
        return con.execute("SELECT count(*) FROM ducklake_snapshots('lake')").fetchall()[0][0]


def test_a_lake_lands_what_a_duckdb_file_lands(pg, exports, tmp_path):
    lake = lake_db(pg, "footfall_a")
    s_lake = sync(exports["ana"], lake, "ana", tmp_path / "p1", data_path=tmp_path / "lake-a")
    s_file = sync(exports["ana"], str(tmp_path / "ana.duckdb"), "ana", tmp_path / "p2")
    assert s_lake["by_status"]["landed"] > 20 and s_lake["records"] > 10_000
    a, b = digest(lake), digest(str(tmp_path / "ana.duckdb"))
    assert a == b
    assert a["flags"][0] > 0  # the spike of the synthetic story is flagged on both
    assert counts(lake) == counts(str(tmp_path / "ana.duckdb"))
    # the data files are Parquet under the data path, the catalog in PostgreSQL
    assert list((tmp_path / "lake-a").rglob("*.parquet"))


def test_b_two_concurrent_syncs_equal_two_sequential(pg, exports, tmp_path):
    both, seq = lake_db(pg, "footfall_both"), lake_db(pg, "footfall_seq")
    procs = {a: start_sync(exports[a], both, a, tmp_path / f"c-{a}", tmp_path / "lake-both")
             for a in ("ana", "ben")}
    outs = {a: p.communicate(timeout=900) for a, p in procs.items()}
    for a, p in procs.items():
        assert p.returncode == 0, f"{a}: {outs[a][1][-3000:]}"
        retries = [ln for ln in outs[a][1].splitlines() if "another writer committed first" in ln]
        print(f"\n{a}: {len(retries)} conflicting commits retried", *retries[:5], sep="\n  ")
    for a in ("ana", "ben"):
        sync(exports[a], seq, a, tmp_path / f"s-{a}", data_path=tmp_path / "lake-seq")
    got, want = counts(both), counts(seq)
    assert got == want
    assert digest(both) == digest(seq)
    from pipelines import db as dbm

    with dbm.connection(both, read_only=True) as con:
        dup = con.execute("SELECT count(*) - count(DISTINCT file_id) FROM files").fetchall()[0][0]
        per = dict(con.execute("SELECT athlete_id, count(*) FROM activities GROUP BY 1").fetchall())
    assert dup == 0 and set(per) == {"ana", "ben"}
    # the marts were built after both landed: each runner's flags are there, readable by the CLI
    for a in ("ana", "ben"):
        out = footfall("flags", "--db", both, "--athlete", a, "--json", home=tmp_path / f"f-{a}")
        flags = json.loads(out.stdout)
        assert flags and all(f["athlete_id"] == a for f in flags)
    # (c) the same syncs again change nothing: no file landed, no commit made
    before = snapshots(both)
    for a in ("ana", "ben"):
        again = sync(exports[a], both, a, tmp_path / f"r-{a}")
        assert again["files_new"] == 0 and again["sources_unchanged"] == again["sources_seen"]
    assert snapshots(both) == before
    assert counts(both) == got


def test_a_new_lake_without_a_data_path_is_one_error_line(pg, exports, tmp_path):
    lake = lake_db(pg, "footfall_nodata")
    out = footfall("sync", str(exports["ben"][0]), "--db", lake, "--athlete", "ben",
                   home=tmp_path / "n", check=False)
    assert out.returncode == 1
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and "data_path" in err[0] and "Traceback" not in out.stderr, out.stderr


def test_without_the_team_extra_a_lake_is_one_error_line(tmp_path):
    """In an environment without team mode (duckdb 2.0, or no extension packages), a lake --db
    says what to install, on one line, exit 1 (this test needs no PostgreSQL)."""
    if _team_ready() is None:
        pytest.skip("team mode is available here: the error is for environments without it")
    out = footfall("flags", "--db", "ducklake:postgres:dbname=x host=127.0.0.1", "--athlete", "a",
                   home=tmp_path, check=False)
    err = out.stderr.strip().splitlines()
    assert out.returncode == 1 and len(err) == 1, out.stderr
    assert "pip install -e '.[team]'" in err[0] and "Traceback" not in out.stderr


def test_lake_ddl_drops_keys_and_checks_and_keeps_the_rest():
    """Every migration, translated for a lake, still runs (here on an in-memory DuckDB, any
    version) and holds no key, unique or check constraint; NOT NULL and DEFAULT stay."""
    import duckdb

    from pipelines.db import SCHEMA_MIGRATIONS_DDL, schema_files
    from pipelines.lake import lake_ddl
    from pipelines.sqlmodels import BUILD_INFO_DDL, FLAG_LOG_DDL, THRESHOLDS_DDL

    con = duckdb.connect()
    for sql in (SCHEMA_MIGRATIONS_DDL, *(f.read_text() for f in schema_files()), FLAG_LOG_DDL,
                THRESHOLDS_DDL, BUILD_INFO_DDL):
        out = lake_ddl(sql)
        code = "\n".join(line.split("--")[0] for line in out.splitlines()).upper()
        assert not re.search(r"PRIMARY\s+KEY|\bUNIQUE\b|\bCHECK\s*\(", code), code
        assert "INSERT OR" not in code
        assert code.count("NOT NULL") == "\n".join(
            line.split("--")[0] for line in sql.splitlines()).upper().count("NOT NULL")
        con.execute(out)
    assert con.execute("SELECT count(*) FROM duckdb_constraints() WHERE constraint_type "
                       "IN ('PRIMARY KEY', 'UNIQUE', 'CHECK')").fetchall()[0][0] == 0
    assert con.execute("SELECT column_default FROM duckdb_columns() WHERE table_name = 'shoes' "
                       "AND column_name = 'is_default'").fetchall()[0][0] is not None
