"""Issue 11, the DuckDB edge: a richer copy arriving in a later sync, refused databases (newer
schema, not a DuckDB file, unwritable), corrupt blocks, a full disk, file modes under a umask.

Real DuckDB files and real Prefect flow runs (the session harness); the CLI side (one
``error:`` line, no traceback) is in ``test_reliability_cli_errors.py``.
"""

from __future__ import annotations

import ast
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from synth.fit_encode import encode_activity, semicircles
from pipelines import db
from pipelines.flows import run_flow, sync

PROJECT = Path(__file__).resolve().parents[2]


def run_sync(paths, dbfile, athlete="t") -> dict:
    return run_flow(sync, paths=[str(p) for p in paths], db=str(dbfile), athlete=athlete)


def _track(start: datetime, minutes: int, lat0: float = 46.05):
    n = minutes * 60
    ts = [start + timedelta(seconds=i) for i in range(n)]
    lat = [lat0 + 0.00002 * i for i in range(n)]
    lon = [14.50 + 0.00001 * i for i in range(n)]
    return ts, lat, lon


def garmin_fit(start: datetime, minutes: int = 30) -> bytes:
    """A Garmin-style FIT of one run: 1 s records with heart rate, cadence and running dynamics."""
    ts, lat, lon = _track(start, minutes)
    n = len(ts)
    return encode_activity(
        records={"timestamp": ts, "position_lat": [semicircles(x) for x in lat],
                 "position_long": [semicircles(x) for x in lon],
                 "distance": [3.0 * i for i in range(n)], "enhanced_speed": [3.0] * n,
                 "enhanced_altitude": [300.0] * n, "heart_rate": [140 + i % 10 for i in range(n)],
                 "cadence": [85] * n, "fractional_cadence": [0.0] * n,
                 "stance_time": [250.0] * n, "vertical_oscillation": [80.0] * n},
        start=start, sport="running")


def strava_gpx(*runs: tuple[datetime, int]) -> bytes:
    """A Strava-style GPX: one track per run, a point every 2 s (from the 3rd second), positions only."""
    trks = []
    for start, minutes in runs:
        ts, lat, lon = _track(start, minutes)
        pts = "".join(f'<trkpt lat="{la:.7f}" lon="{lo:.7f}"><time>{t:%Y-%m-%dT%H:%M:%SZ}</time></trkpt>'
                      for la, lo, t in list(zip(lat, lon, ts))[2::2])
        trks.append(f"<trk><type>running</type><trkseg>{pts}</trkseg></trk>")
    return ('<?xml version="1.0" encoding="UTF-8"?><gpx version="1.1" creator="StravaGPX" '
            'xmlns="http://www.topografix.com/GPX/1/1">' + "".join(trks) + "</gpx>").encode()


MORNING = datetime(2026, 3, 1, 7, 0, 0)
EVENING = datetime(2026, 3, 1, 18, 0, 0)


def _rows(dbfile: Path, sql: str) -> list[tuple]:
    with db.connection(dbfile, read_only=True) as con:
        return con.execute(sql).fetchall()


# --------------------------------------------------------------------------- point 2


@pytest.mark.parametrize("runs_in_gpx", [1, 2], ids=["one-run-gpx", "two-runs-gpx"])
def test_garmin_fit_arriving_after_its_strava_gpx_replaces_it(
        prefect_harness, isolated_config, tmp_path, runs_in_gpx):
    """Sync 1 lands the Strava GPX; sync 2 brings the Garmin FIT of the same run (richer): the
    FIT's activity replaces the GPX's, and a third sync still works. With duckdb 2.0.1 a
    ``.fetchone()`` result left open before ``con.register`` made sync 2 (and every later one)
    fail with ResourceInUseException when the GPX kept another run (it is not demoted)."""
    runs = [(MORNING, 30), (EVENING, 20)][:runs_in_gpx]
    (tmp_path / "strava").mkdir()
    (tmp_path / "garmin").mkdir()
    (tmp_path / "strava" / "123.gpx").write_bytes(strava_gpx(*runs))
    (tmp_path / "garmin" / "2026-03-01-07-00-00.fit").write_bytes(garmin_fit(MORNING))
    dbfile = tmp_path / "pair.duckdb"

    s1 = run_sync([tmp_path / "strava"], dbfile)
    assert s1["activities"] == runs_in_gpx
    s2 = run_sync([tmp_path / "strava", tmp_path / "garmin"], dbfile)
    assert s2["by_status"].get("landed") == 1
    acts = _rows(dbfile, "SELECT source_format, started_at FROM activities ORDER BY started_at")
    assert acts[0] == ("fit", MORNING)
    assert [a[0] for a in acts[1:]] == ["gpx"] * (runs_in_gpx - 1)
    dup = _rows(dbfile, "SELECT d.source_format, d.duplicate_of = a.activity_id "
                        "FROM activity_duplicates d, activities a WHERE a.source_format = 'fit'")
    assert dup == [("gpx", True)]
    gpx_status = _rows(dbfile, "SELECT status FROM files WHERE format = 'gpx'")[0][0]
    assert gpx_status == ("duplicate" if runs_in_gpx == 1 else "landed")

    (tmp_path / "later").mkdir()
    (tmp_path / "later" / "next.gpx").write_bytes(strava_gpx((MORNING + timedelta(days=2), 25)))
    s3 = run_sync([tmp_path / "strava", tmp_path / "garmin", tmp_path / "later"], dbfile)
    assert s3["activities"] == 1
    assert _rows(dbfile, "SELECT count(*) FROM activities")[0][0] == runs_in_gpx + 1


def test_no_result_is_left_unfinished_in_pipelines():
    """duckdb 2.0 refuses any other work on a connection (register, sql) while a result of
    ``con.execute()`` is not fetched to the end: ``.fetchone()`` on it is the usual way to
    leave one open. Every read in pipelines/ fetches everything (``fetchall``)."""
    offenders = []
    for f in sorted((PROJECT / "pipelines").glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Attribute) and node.attr in ("fetchone", "fetchmany"):
                offenders.append(f"{f.name}:{node.lineno}")
    assert offenders == []


# --------------------------------------------------------------------------- point 7: refused files


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _migrated(path: Path, version: int | None = None) -> Path:
    con = db.connect(path)
    db.migrate(con)
    if version is not None:
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, f"{version}_future"])
    con.close()
    return path


def test_a_newer_schema_is_refused_and_nothing_is_written(tmp_path):
    path = _migrated(tmp_path / "newer.duckdb", 999)
    before = _digest(path)
    con = db.connect(path)
    try:
        with pytest.raises(db.SchemaTooNew, match="schema version 999, newer than this footfall knows"):
            db.migrate(con)
    finally:
        con.close()
    assert _digest(path) == before
    assert db.first(duckdb_ro(path).execute("SELECT max(version) FROM schema_migrations"))[0] == 999


def duckdb_ro(path: Path):
    return db.connect(path, read_only=True)


def _sqlite_file(path: Path) -> Path:
    import sqlite3

    c = sqlite3.connect(path)
    c.execute("CREATE TABLE runs (day TEXT)")
    c.commit()
    c.close()
    return path


@pytest.mark.parametrize("kind", ["sqlite", "text", "empty", "folder"])
def test_a_path_that_is_not_a_duckdb_file_is_refused_before_duckdb_opens_it(tmp_path, kind):
    path = tmp_path / "footfall.duckdb"
    if kind == "sqlite":
        _sqlite_file(path)
    elif kind == "text":
        path.write_text("day,km\n2026-03-01,10\n")
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        path.mkdir()
    before = None if kind == "folder" else _digest(path)
    for read_only in (True, False):
        with pytest.raises(db.NotADuckDBFile, match="not a DuckDB database"):
            db.connect(path, read_only=read_only)
    if before is not None:
        assert _digest(path) == before
    assert not list(tmp_path.glob("*.wal"))


def test_footfall_connections_never_autoload_or_autoinstall_extensions(tmp_path):
    with db.connection(tmp_path / "x.duckdb") as con:
        got = con.execute("SELECT current_setting('autoinstall_known_extensions'), "
                          "current_setting('autoload_known_extensions')").fetchall()
    assert got == [(False, False)]


# --------------------------------------------------------------------------- point 7: fail fast


def _sample_export(root: Path, weeks: int = 12) -> Path:
    from synth.sample import make_sample_export

    export = root / "export"
    for rel, data in make_sample_export(weeks=weeks, end_date=datetime(2026, 11, 1).date()).items():
        p = export / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return export


@pytest.fixture(scope="module")
def sample_export(tmp_path_factory) -> Path:
    return _sample_export(tmp_path_factory.mktemp("sample"))


@pytest.fixture()
def readonly_dir(tmp_path):
    """A read-only file system (we may run as root, for whom a chmod 555 folder is writable)."""
    d = _mount_tmpfs(tmp_path / "ro", "ro,size=1m")
    yield d
    _umount(d)


def _mount_tmpfs(d: Path, options: str) -> Path:
    import subprocess

    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(d)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or r.returncode}); needs root")
    return d


def _umount(d: Path) -> None:
    import subprocess

    subprocess.run(["umount", str(d)], check=False)


@pytest.mark.parametrize("case", ["folder", "sqlite", "newer-schema", "read-only"])
def test_a_sync_that_cannot_write_the_database_fails_before_decoding(
        prefect_harness, isolated_config, tmp_path, sample_export, request, case):
    """The database is opened (and migrated) for writing first: nothing is read or decoded
    when it cannot be written. Before, a sync decoded the whole export and then failed at its
    first landing (or, for a newer schema, wrote into the file)."""
    import time

    from pipelines import progress

    if case == "folder":
        dbfile = tmp_path / "db.duckdb"
        dbfile.mkdir()
        expect = (db.NotADuckDBFile, "is a folder")
    elif case == "sqlite":
        dbfile = _sqlite_file(tmp_path / "db.duckdb")
        expect = (db.NotADuckDBFile, "SQLite")
    elif case == "newer-schema":
        dbfile = _migrated(tmp_path / "db.duckdb", 999)
        expect = (db.SchemaTooNew, "newer than this footfall knows")
    else:
        dbfile = request.getfixturevalue("readonly_dir") / "db.duckdb"
        expect = (db.DatabaseError, "Read-only file system")
    before = None if case in ("folder", "read-only") else _digest(dbfile)
    stages: list[str] = []
    progress.set_hook(lambda stage, advance, total: stages.append(stage))
    t0 = time.perf_counter()
    try:
        with pytest.raises(expect[0], match=expect[1]):
            run_sync([sample_export], dbfile)
    finally:
        progress.set_hook(None)
    took = time.perf_counter() - t0
    print(f"{case}: failed after {took:.2f} s (decoding never started)")
    assert stages == []  # no source read, no file decoded
    if before is not None:
        assert _digest(dbfile) == before


# --------------------------------------------------------------------------- point 7: full disk


def test_a_full_disk_names_no_space_left_on_device(prefect_harness, isolated_config, tmp_path,
                                                   sample_export):
    """A 3 MB file system: the landing's COMMIT fails with ENOSPC. The error that ends the sync
    names it; before, the ROLLBACK after the failed COMMIT raised "no transaction is active"
    and masked it."""
    full = _mount_tmpfs(tmp_path / "full", "size=3m")
    try:
        with pytest.raises(Exception) as info:
            run_sync([sample_export], full / "db.duckdb")
        assert "No space left on device" in str(info.value)
        assert "no transaction is active" not in str(info.value)
    finally:
        _umount(full)


# --------------------------------------------------------------------------- corrupt blocks, umask


@pytest.fixture(scope="module")
def synced_sample(prefect_harness, sample_export, tmp_path_factory) -> Path:
    dbfile = tmp_path_factory.mktemp("synced") / "sample.duckdb"
    run_sync([sample_export], dbfile, athlete="demo")
    return dbfile


def _corrupt_a_block_of(src: Path, dst: Path, table: str) -> int:
    """Copy ``src`` to ``dst`` with 4 KiB of a block that ``table``'s data uses overwritten."""
    import shutil

    with db.connection(src, read_only=True) as con:
        block_size = db.first(con.execute("SELECT block_size FROM pragma_database_size()"))[0]
        block = db.first(con.execute(
            f"SELECT max(block_id) FROM pragma_storage_info('{table}') WHERE block_id >= 0"))[0]
    assert block is not None, f"{table} has no persistent block"
    # the file: three 4 KiB headers, then the blocks (each starts with its 8-byte checksum)
    where = 3 * 4096 + int(block) * int(block_size) + 64
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as fh:
        fh.seek(where)
        fh.write(b"\xa5" * 4096)
    return where


def test_a_corrupt_block_is_reported_by_check_and_by_a_read(synced_sample, tmp_path):
    """DuckDB 2.0.1 opens a file with a damaged data block and syncs into it without a word
    (the block is not read); reading it raises "Corrupt database file: computed checksum ...
    does not match". ``check_database`` reads every table in full and names the damaged one."""
    bad = tmp_path / "bad.duckdb"
    _corrupt_a_block_of(synced_sample, bad, "records")
    assert all(err is None for _, _, err in db.check_database(synced_sample))
    rows = {t: (n, err) for t, n, err in db.check_database(bad)}
    assert rows["records"][0] is None and "checksum" in rows["records"][1]
    assert rows["files"][1] is None  # the other tables read fine
    with db.connection(bad, read_only=True) as con, pytest.raises(Exception) as info:
        con.execute("SELECT sum(hash(r)) FROM records r").fetchall()
    assert db.is_corruption(info.value)


@pytest.mark.parametrize("umask,mode", [(0o077, 0o600), (0o022, 0o644), (0o027, 0o640)],
                         ids=["umask077", "umask022", "umask027"])
def test_report_and_export_files_respect_the_umask(synced_sample, tmp_path, umask, mode):
    import os
    import stat

    from pipelines.export import export_parquet
    from pipelines.report import write_report

    old = os.umask(umask)
    try:
        write_report(synced_sample, tmp_path / "report.html", athlete="demo")
        export_parquet(synced_sample, tmp_path / "marts")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == mode
    parquet = sorted((tmp_path / "marts").glob("*.parquet"))
    assert parquet and {stat.S_IMODE(p.stat().st_mode) for p in parquet} == {mode}
