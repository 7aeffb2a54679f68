"""Issue 16, part A: analysts query while syncs run, on the embedded default.

The embedded default stays one DuckDB file that only footfall's writer opens; every command that
changes it ends by publishing an atomic read-only snapshot beside it (``pipelines/snapshot.py``,
``footfall.duckdb`` -> ``footfall.snapshot.duckdb``), which analysts open. These tests run the
real ``footfall`` command in subprocesses (a real Prefect flow run on the session's test server),
real DuckDB files, and analysts as real separate processes:

(a) an analyst holds the snapshot open (read-only, idle) for a whole sync: the sync succeeds and
    takes no more than a few seconds longer than the same sync without the analyst;
(b) a poller opens the snapshot every 0.5 s during a sync that lands several batches: it never
    errors and every observation is the state before the sync or the state after it;
(c) a publish that fails (the snapshot path is a folder, the disk is full, the folder is
    read-only) warns, the sync exits 0, the previous snapshot stays, no temp file is left;
(d) the snapshot has the same rows as the main file after a sync, a journal write and a build.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from pipelines import db
from pipelines import snapshot as snap
from pipelines.config import Settings, load_settings
from tests.conftest import user_cli_env
from tests.pipelines.test_lock_wait import Run
from tests.pipelines.test_reliability_db import _mount_tmpfs, _umount

#: files per landed batch in these tests' config: the second sync lands 30 files in 6 batches
BATCH_FILES = 5
#: what an idle analyst session may add to a sync's wall time (the issue: "a few seconds"); the
#: machine is shared by several test runs, so the two syncs compared are noisy
EXTRA_S_ALLOWED = 5.0
POLL_S = 0.5

#: what an analyst's poller reads: landed data, a mart and the sync log
COUNTS_SQL = ("SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM activities), "
              "(SELECT count(*) FROM records), (SELECT count(*) FROM weekly_load), "
              "(SELECT count(*) FROM flags), (SELECT count(*) FROM sync_runs)")

POLLER = r"""
import duckdb, json, os, sys, time
path, stop, sql, every = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
while not os.path.exists(stop):
    t = time.monotonic()
    try:
        con = duckdb.connect(path, read_only=True)
        try:
            row = con.execute(sql).fetchall()[0]
        finally:
            con.close()
        print(json.dumps({"t": time.time(), "ok": list(row)}), flush=True)
    except Exception as err:
        print(json.dumps({"t": time.time(), "err": f"{type(err).__name__}: {err}"}), flush=True)
    time.sleep(max(0.0, every - (time.monotonic() - t)))
"""

ANALYST = r"""
import duckdb, sys
con = duckdb.connect(sys.argv[1], read_only=True)
n = con.execute("SELECT count(*) FROM weekly_load").fetchall()[0][0]
print(f"open {n}", flush=True)
sys.stdin.readline()
con.close()
"""


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> tuple[Path, Path]:
    """A runner's 12 weeks (45 synthetic FIT/GPX/TCX files) in two folders: the first 15 files
    (the state analysts already see) and the 30 after them (what the sync under test lands)."""
    from synth.sample import make_sample_export

    root = tmp_path_factory.mktemp("snap-export")
    files = make_sample_export(weeks=12, end_date=datetime(2026, 11, 1).date())
    order = sorted(files, key=lambda rel: Path(rel).name)
    first, rest = root / "first", root / "rest"
    for i, rel in enumerate(order):
        p = (first if i < 15 else rest) / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(files[rel])
    return first, rest


@pytest.fixture()
def cli(prefect_harness, isolated_config):
    """``footfall`` as a user runs it, in a subprocess, with this test's config file."""
    env = user_cli_env(columns=100)
    (isolated_config / "footfall.toml").write_text(f"batch_files = {BATCH_FILES}\nlock_wait_s = 10\n")

    def run(*args: str) -> Run:
        return Run(list(args), env, isolated_config)

    return run


def ok(r: Run) -> Run:
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    return r


def counts(path: Path) -> tuple:
    with db.connection(path, read_only=True) as con:
        return tuple(db.first(con.execute(COUNTS_SQL)))


def table_sums(path: Path) -> dict[str, tuple]:
    """(rows, checksum) of every table (raw and marts): equal = the same data."""
    with db.connection(path, read_only=True) as con:
        names = sorted(db.tables(con, views=False))
        return {t: tuple(db.first(con.execute(f'SELECT count(*), coalesce(sum(hash(t)), 0) FROM "{t}" t')))
                for t in names}


def test_snapshot_path_is_beside_the_database_and_configurable(tmp_path, isolated_config):
    assert snap.snapshot_path(Path("footfall.duckdb")) == Path("footfall.snapshot.duckdb")
    assert snap.snapshot_path(tmp_path / "a" / "ana.duckdb") == tmp_path / "a" / "ana.snapshot.duckdb"
    (isolated_config / "footfall.toml").write_text(
        '[analysts]\nsnapshot_path = "shared/latest.duckdb"\n')
    s = load_settings()
    assert s.snapshot and s.snapshot_path == Path("shared/latest.duckdb")
    assert snap.snapshot_path(s.db, s) == Path("shared/latest.duckdb")
    (isolated_config / "footfall.toml").write_text("[analysts]\nsnapshot = false\n")
    assert load_settings().snapshot is False
    (isolated_config / "footfall.toml").write_text('[analysts]\nsnapshot = "yes"\n')
    with pytest.raises(Exception, match="snapshot must be true or false"):
        load_settings()


def test_publish_copies_a_checkpointed_file_atomically(tmp_path):
    """publish() with the writer's connection open: the snapshot opens read-only in another
    process with the committed rows; a reader holding the old snapshot keeps seeing it."""
    path = tmp_path / "f.duckdb"
    con = db.connect(path)
    con.execute("CREATE TABLE t AS SELECT range AS i FROM range(1000)")
    out = snap.publish(con, path, Settings(db=path))
    assert out == tmp_path / "f.snapshot.duckdb" and out.is_file()
    old = duckdb.connect(str(out), read_only=True)  # an analyst on the first snapshot
    con.execute("INSERT INTO t SELECT range FROM range(1000, 1500)")
    assert snap.publish(con, path, Settings(db=path)) == out
    con.close()
    assert old.execute("SELECT count(*) FROM t").fetchall()[0][0] == 1000  # its inode, unchanged
    old.close()
    r = subprocess.run([sys.executable, "-c", "import duckdb,sys; c=duckdb.connect(sys.argv[1], "
                        "read_only=True); print(c.execute('select count(*) from t').fetchall()[0][0])",
                        str(out)], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "1500", r.stderr
    assert not list(tmp_path.glob(".*tmp*")), list(tmp_path.iterdir())
    assert snap.publish(db.connect(path), path, Settings(db=path, snapshot=False)) is None


def _checkpointed_db(path: Path) -> Path:
    con = db.connect(path)
    con.execute("CREATE TABLE t AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(200000)")
    con.execute("CHECKPOINT")
    con.close()
    return path


def test_copy_file_copies_every_byte_the_cheapest_way(tmp_path):
    """copy_file (the snapshot's copy): the same bytes; on Linux through the kernel (a reflink
    where the filesystem shares blocks, else copy_file_range), never through Python's buffers."""
    src = _checkpointed_db(tmp_path / "f.duckdb")
    how = snap.copy_file(src, tmp_path / "copy.duckdb")
    assert (tmp_path / "copy.duckdb").read_bytes() == src.read_bytes()
    if sys.platform.startswith("linux"):
        assert how in ("reflink", "copy_file_range"), how
    else:
        assert how == "copyfile"


def test_copy_file_falls_back_when_the_kernel_cannot(tmp_path, monkeypatch):
    """No reflink (ext4: EOPNOTSUPP) and no copy_file_range (another filesystem, an old kernel:
    EXDEV/ENOSYS): shutil's copy, the same bytes; a real error (a full disk) is raised."""
    import errno
    import fcntl

    src = _checkpointed_db(tmp_path / "f.duckdb")

    def refuse(code):
        def f(*a, **k):
            raise OSError(code, os.strerror(code))
        return f

    monkeypatch.setattr(fcntl, "ioctl", refuse(errno.EOPNOTSUPP))
    monkeypatch.setattr(os, "copy_file_range", refuse(errno.EXDEV), raising=False)
    assert snap.copy_file(src, tmp_path / "a.duckdb") == "copyfile"
    assert (tmp_path / "a.duckdb").read_bytes() == src.read_bytes()
    monkeypatch.setattr(os, "copy_file_range", refuse(errno.ENOSPC))
    with pytest.raises(OSError) as info:
        snap.copy_file(src, tmp_path / "b.duckdb")
    assert info.value.errno == errno.ENOSPC


def test_publish_patches_the_spare_in_place_unless_a_reader_holds_it(tmp_path, monkeypatch):
    """From the third publish on, the spare (the snapshot before the last one) is patched into
    the database's bytes and swapped with the snapshot (no whole copy): the snapshot is then the
    database byte for byte, and the previous snapshot is the spare. An analyst holding the spare
    (who opened the snapshot before the swap) keeps it intact: the whole file is copied instead."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the in-place publish is Linux's (renameat2)")
    copies = []
    real_copy = snap.copy_file
    monkeypatch.setattr(snap, "copy_file", lambda a, b: copies.append(b) or real_copy(a, b))
    path = tmp_path / "f.duckdb"
    con = db.connect(path)
    con.execute("CREATE TABLE t AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(300000)")
    settings = Settings(db=path)
    out = snap.publish(con, path, settings)
    spare = snap.spare_path(out)
    assert not spare.exists() and len(copies) == 1
    con.execute("INSERT INTO t SELECT range, 'b' FROM range(300000, 300100)")
    assert snap.publish(con, path, settings) == out and len(copies) == 2  # no spare yet: a copy
    assert spare.is_file()  # the first snapshot, kept
    second = out.stat().st_ino
    for n, rows in ((3, 300200), (4, 300300)):
        con.execute(f"INSERT INTO t SELECT range, 'c' FROM range({rows - 100}, {rows})")
        assert snap.publish(con, path, settings) == out
        assert len(copies) == 2, f"publish {n} copied the whole file"
        assert out.read_bytes() == path.read_bytes()
        assert spare.stat().st_ino == second  # the snapshot it replaced, swapped out intact
        second = out.stat().st_ino
        assert duckdb.connect(str(out), read_only=True).execute("SELECT count(*) FROM t").fetchall()[0][0] == rows
    # an analyst opened the snapshot (the 4th): after the 5th publish it is the spare, held
    held = duckdb.connect(str(out), read_only=True)
    con.execute("INSERT INTO t SELECT range, 'd' FROM range(300300, 300400)")
    assert snap.publish(con, path, settings) == out and len(copies) == 2  # 5th: the 3rd patched
    con.execute("INSERT INTO t SELECT range, 'e' FROM range(300400, 300500)")
    assert snap.publish(con, path, settings) == out and len(copies) == 3  # 6th: the spare is held
    assert held.execute("SELECT count(*) FROM t").fetchall()[0][0] == 300300  # untouched
    held.close()
    con.close()
    assert duckdb.connect(str(out), read_only=True).execute("SELECT count(*) FROM t").fetchall()[0][0] == 300500
    assert out.read_bytes() == path.read_bytes()
    assert not list(tmp_path.glob(".*tmp*")) and not list(tmp_path.glob(".*keep*")), list(tmp_path.iterdir())
    assert (out.stat().st_mode & 0o777) == (path.stat().st_mode & 0o777)


def test_a_shared_folder_gets_a_copy_not_a_patched_spare(tmp_path, monkeypatch):
    """On a network or FUSE filesystem (readers on other machines, locks this machine may not
    see) the spare is never patched: every publish copies the whole file, as before."""
    copies = []
    real_copy = snap.copy_file
    monkeypatch.setattr(snap, "copy_file", lambda a, b: copies.append(b) or real_copy(a, b))
    monkeypatch.setattr(snap, "filesystem_type", lambda folder: "nfs4")
    path = tmp_path / "f.duckdb"
    con = db.connect(path)
    con.execute("CREATE TABLE t AS SELECT range AS i FROM range(1000)")
    for n in range(1, 5):
        con.execute(f"INSERT INTO t SELECT {n}")
        out = snap.publish(con, path, Settings(db=path))
        assert len(copies) == n
        assert out.read_bytes() == path.read_bytes()
    con.close()
    assert snap.filesystem_type(tmp_path) is not None or not sys.platform.startswith("linux")


@pytest.mark.parametrize("case", ["full-disk", "read-only"])
def test_a_failed_publish_warns_and_keeps_the_previous_snapshot(tmp_path, case, capsys):
    """The snapshot's folder fills up (a tmpfs of 1 MB) or is read-only: publish warns on stderr,
    raises nothing, leaves the previous snapshot as it was and no temp file behind."""
    folder = _mount_tmpfs(tmp_path / "snaps", "size=1m")
    try:
        target = folder / "latest.duckdb"
        path = tmp_path / "f.duckdb"
        con = db.connect(path)
        con.execute("CREATE TABLE t AS SELECT 1 AS i")
        settings = Settings(db=path, snapshot_path=target)
        assert snap.publish(con, path, settings) == target
        before = target.read_bytes()
        if case == "full-disk":  # random text does not compress: a file far over 1 MB
            con.execute("INSERT INTO t SELECT range FROM range(2)")
            con.execute("CREATE TABLE big AS SELECT md5(range::VARCHAR) || md5((range+1)::VARCHAR) AS s "
                        "FROM range(100000)")
        else:
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
            con.execute("INSERT INTO t SELECT 2")
        capsys.readouterr()
        assert snap.publish(con, path, settings) is None
        con.close()
        err = capsys.readouterr().err
        assert "warning: could not publish the analysts' snapshot" in err and str(target) in err, err
        assert "the data is saved" in err, err
        assert target.read_bytes() == before  # the previous snapshot, intact
        assert sorted(p.name for p in folder.iterdir()) == ["latest.duckdb"]
    finally:
        _umount(folder)


def _first_sync(cli, exports, dbfile: Path) -> tuple:
    ok(cli("sync", str(exports[0]), "--db", str(dbfile)))
    shot = snap.snapshot_path(dbfile)
    assert shot.is_file(), "the sync published no snapshot"
    assert table_sums(shot) == table_sums(dbfile)
    return counts(shot)


def test_an_analyst_holding_the_snapshot_never_makes_the_sync_wait(cli, exports, tmp_path):
    """(a) Before issue 16 an analyst had to open footfall.duckdb itself, and a sync waited
    lock_wait_s and failed. Now the analyst holds the snapshot open read-only for the whole sync."""
    base, held = tmp_path / "base" / "footfall.duckdb", tmp_path / "held" / "footfall.duckdb"
    _first_sync(cli, exports, base)
    before = _first_sync(cli, exports, held)
    plain = ok(cli("sync", str(exports[1]), "--db", str(base)))  # the same sync without analyst

    analyst = subprocess.Popen([sys.executable, "-c", ANALYST, str(snap.snapshot_path(held))],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert analyst.stdout.readline().startswith("open ")
        r = ok(cli("sync", str(exports[1]), "--db", str(held)))
        assert analyst.poll() is None  # still open all along
    finally:
        analyst.stdin.write("\n")
        analyst.stdin.flush()
        analyst.wait(timeout=30)
    print(f"\nsync without analyst {plain.seconds:.2f} s, with an analyst holding the snapshot "
          f"{r.seconds:.2f} s")
    assert "waiting for the database" not in r.stderr, r.stderr
    assert r.seconds <= plain.seconds + EXTRA_S_ALLOWED, (plain.seconds, r.seconds)
    after = counts(held)
    assert after[0] == before[0] + 30 and counts(snap.snapshot_path(held)) == after
    assert table_sums(snap.snapshot_path(held)) == table_sums(held)


def test_a_poller_sees_the_state_before_or_after_a_sync_never_half(cli, exports, tmp_path):
    """(b) A reader opening the snapshot every 0.5 s during a sync that lands 6 batches never
    errors and never sees a half-landed batch or data without its marts: each observation is the
    state before the sync or after it."""
    dbfile = tmp_path / "footfall.duckdb"
    before = _first_sync(cli, exports, dbfile)
    stop = tmp_path / "stop-polling"
    poller = subprocess.Popen([sys.executable, "-c", POLLER, str(snap.snapshot_path(dbfile)), str(stop),
                               COUNTS_SQL, str(POLL_S)], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        r = ok(cli("sync", str(exports[1]), "--db", str(dbfile)))
        time.sleep(1.5)
    finally:
        stop.touch()
        out, _ = poller.communicate(timeout=30)
    obs = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    after = counts(dbfile)
    assert after[0] == before[0] + 30 >= before[0] + 6 * BATCH_FILES  # six batches landed
    errors = [o["err"] for o in obs if "err" in o]
    assert not errors, errors
    seen = [tuple(o["ok"]) for o in obs]
    print(f"\n{len(seen)} observations over a {r.seconds:.1f} s sync: "
          f"{sum(s == before for s in seen)} before, {sum(s == after for s in seen)} after")
    assert len(seen) >= r.seconds / POLL_S / 2, len(seen)
    assert set(seen) <= {before, after}, sorted(set(seen) - {before, after})
    assert seen[0] == before and seen[-1] == after


def test_a_sync_whose_snapshot_cannot_be_written_still_succeeds(cli, exports, tmp_path, isolated_config):
    """(c) The configured snapshot path is a folder: the sync lands, warns once, exits 0."""
    (tmp_path / "taken").mkdir()
    cfg = isolated_config / "footfall.toml"
    cfg.write_text(cfg.read_text() + f'[analysts]\nsnapshot_path = "{tmp_path / "taken"}"\n')
    dbfile = tmp_path / "footfall.duckdb"
    r = ok(cli("sync", str(exports[0]), "--db", str(dbfile)))
    assert "warning: could not publish the analysts' snapshot" in r.stderr, r.stderr
    assert counts(dbfile)[0] == 15 and (tmp_path / "taken").is_dir()
    assert list((tmp_path / "taken").iterdir()) == []
    assert not [p for p in tmp_path.iterdir() if "tmp" in p.name]


def test_the_snapshot_follows_a_journal_write_and_a_build(cli, exports, tmp_path):
    """(d) After a sync, a journal write (`footfall log pain`) and `footfall build`, the snapshot
    holds the main file's rows, table by table."""
    dbfile = tmp_path / "footfall.duckdb"
    shot = snap.snapshot_path(dbfile)
    _first_sync(cli, exports, dbfile)
    synced = table_sums(shot)
    ok(cli("log", "pain", "6", "--when", "during", "--date", "2026-05-30", "--db", str(dbfile)))
    assert table_sums(shot) == table_sums(dbfile) != synced
    shot.unlink()
    ok(cli("build", "--db", str(dbfile)))
    assert table_sums(shot) == table_sums(dbfile)


def test_the_busy_message_names_the_snapshot(tmp_path):
    msg = db.busy_message(tmp_path / "ana.duckdb", "PID 1, duckdb", 60)
    assert str(tmp_path / "ana.snapshot.duckdb") in msg and "cp " not in msg
    assert "copy" in msg and "read-only" in msg  # what test_lock_wait asks of the message


def test_a_sync_with_nothing_to_do_publishes_a_missing_snapshot(cli, exports, tmp_path):
    """A database from before the snapshot (or whose snapshot was deleted): the next sync
    publishes it even when no file changed (it starts no flow run then)."""
    dbfile = tmp_path / "footfall.duckdb"
    shot = snap.snapshot_path(dbfile)
    _first_sync(cli, exports, dbfile)
    shot.unlink()
    r = ok(cli("sync", str(exports[0]), "--db", str(dbfile), "--json"))
    out = json.loads(r.stdout)
    assert out["files_new"] == 0 and not out["models_built"], out  # no flow ran
    assert table_sums(shot) == table_sums(dbfile)


def test_the_snapshot_keeps_the_databases_permissions(tmp_path):
    """A runner who made the database private (pain scores are health data) gets a private
    snapshot, not one readable by every user of the machine (the umask's 0644)."""
    path = tmp_path / "private.duckdb"
    con = db.connect(path)
    con.execute("CREATE TABLE t AS SELECT 1 AS i")
    con.execute("CHECKPOINT")
    path.chmod(0o600)
    out = snap.publish(con, path, Settings(db=path))
    con.close()
    assert out is not None and (out.stat().st_mode & 0o777) == 0o600
