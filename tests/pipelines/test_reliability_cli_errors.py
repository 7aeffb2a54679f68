"""Issue 11, point 7: every failure of a CLI command ends with ONE ``error: <cause>`` line on
stderr and exit code 1, without a traceback unless ``--debug`` (or FOOTFALL_DEBUG=1).

The real ``footfall`` entry point (``pipelines.cli:main``, the console script of pyproject.toml)
in a subprocess. The syncs report to the test session's Prefect server (PREFECT_API_URL), so no
temporary server starts per command.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import user_cli_env
from tests.pipelines.test_reliability_db import (  # noqa: E402 - tests/ is a package (pytest rootdir on sys.path)
    _corrupt_a_block_of,
    _migrated,
    _mount_tmpfs,
    _sample_export,
    _sqlite_file,
    _umount,
    run_sync,
)

FOOTFALL = Path(sys.executable).parent / "footfall"


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    return _sample_export(tmp_path_factory.mktemp("cli-export"), weeks=4)


@pytest.fixture()
def cli(prefect_harness, isolated_config):
    env = user_cli_env(columns=80)

    def run(*args: str, extra_env: dict | None = None, prefix: list[str] = ()) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, str(FOOTFALL), *args], capture_output=True, text=True,
                              env={**env, **(extra_env or {})}, cwd=isolated_config, timeout=300)

    return run


def assert_one_error_line(r: subprocess.CompletedProcess, cause: str) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert len(lines) < 5, r.stderr
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], r.stderr
    assert cause in errors[0], errors[0]
    return errors[0]


def test_a_newer_schema(cli, export, tmp_path):
    dbfile = _migrated(tmp_path / "newer.duckdb", 999)
    r = cli("sync", str(export), "--db", str(dbfile))
    assert_one_error_line(r, "schema version 999, newer than this footfall knows")


def test_a_sqlite_file_as_db_reaches_no_network(cli, export, tmp_path):
    dbfile = _sqlite_file(tmp_path / "runs.sqlite")
    r = cli("sync", str(export), "--db", str(dbfile))
    assert_one_error_line(r, "is a SQLite database, not a DuckDB database file")
    if shutil.which("strace") is None:
        pytest.skip("strace not installed: the no-network half is not checked")
    trace = tmp_path / "strace.txt"
    for args in (["sync", str(export)], ["flags"], ["query", "SELECT 1"]):
        r = cli(*args, "--db", str(dbfile), prefix=["strace", "-f", "-qq", "-e", "trace=connect", "-o", str(trace)])
        assert r.returncode == 1, r.stderr
        inet = [ln for ln in trace.read_text().splitlines()
                if "AF_INET" in ln and "127.0.0.1" not in ln and "::1" not in ln]
        assert inet == [], inet  # before: DuckDB looked up its extension server to fetch sqlite


def test_a_folder_in_place_of_the_db(cli, export, tmp_path):
    (tmp_path / "db").mkdir()
    r = cli("sync", str(export), "--db", str(tmp_path / "db"))
    assert_one_error_line(r, "is a folder, not a DuckDB database file")


def test_a_read_only_file_system(cli, export, tmp_path):
    ro = _mount_tmpfs(tmp_path / "ro", "ro,size=1m")
    try:
        r = cli("sync", str(export), "--db", str(ro / "footfall.duckdb"))
    finally:
        _umount(ro)
    assert_one_error_line(r, "Read-only file system")


def test_a_full_disk(cli, export, tmp_path):
    full = _mount_tmpfs(tmp_path / "full", "size=3m")
    try:
        r = cli("sync", str(export), "--db", str(full / "footfall.duckdb"))
    finally:
        _umount(full)
    line = assert_one_error_line(r, "No space left on device")
    assert "no transaction is active" not in r.stderr, line


def test_debug_shows_the_traceback(cli, export, tmp_path):
    dbfile = _migrated(tmp_path / "newer.duckdb", 999)
    for how in ({"args": ["--debug"]}, {"args": [], "extra_env": {"FOOTFALL_DEBUG": "1"}}):
        r = cli("sync", str(export), "--db", str(dbfile), *how["args"], extra_env=how.get("extra_env"))
        assert r.returncode == 1
        assert "Traceback (most recent call last)" in r.stderr
        assert "SchemaTooNew" in r.stderr
        # with --debug Prefect's own warnings are not silenced and may follow the error line
        assert any(line.startswith("error: ") for line in r.stderr.splitlines()[-5:])


def test_check_names_the_damaged_table(cli, prefect_harness, export, tmp_path):
    good = tmp_path / "good.duckdb"
    run_sync([export], good, athlete="demo")
    r = cli("check", "--db", str(good))
    assert r.returncode == 0, r.stderr
    assert "no damaged block" in r.stdout
    bad = tmp_path / "bad.duckdb"
    _corrupt_a_block_of(good, bad, "records")
    r = cli("check", "--db", str(bad))
    assert_one_error_line(r, "cannot be read (records)")
    assert "DAMAGED  records" in r.stdout
    r = cli("query", "SELECT sum(hash(r)) FROM records r", "--db", str(bad))
    assert_one_error_line(r, "is damaged (")
    # a damaged main header: DuckDB refuses to open the file; any command says so in one line
    head = tmp_path / "head.duckdb"
    shutil.copyfile(good, head)
    with open(head, "r+b") as fh:
        fh.seek(20)
        fh.write(b"\xa5" * 64)
    r = cli("flags", "--db", str(head))
    assert_one_error_line(r, f"{head} is damaged (")
