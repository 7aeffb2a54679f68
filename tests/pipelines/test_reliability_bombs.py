"""Memory and time bombs under the per-member cap (issue 11, point 4): size budgets per file,
per batch, per archive and per sync, each refusal a quarantined ``files`` row naming its budget.

Every hostile file is built here, small and fast: a raw deflate stream is ``start + block * n +
tail`` where each part ends with a full flush (which resets the compressor), so the compressed
1 MiB zero block is the same bytes every time; the CRC-32 of ``prefix + zeros`` is computed once
and a distinct suffix per member is folded in, so 12 members of 500 MiB cost ~1 s and ~6 MB,
and their decompressed bytes all differ (no dedupe by hash). Zips are written by hand.

The syncs run as subprocesses (``footfall sync`` against the session's Prefect test server),
their peak memory read from ``wait4``'s ``ru_maxrss``; a watchdog kills a sync whose process
tree passes ``HARD_LIMIT`` so a regression fails the test instead of swapping the machine.
"""

from __future__ import annotations

import io
import os
import signal
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from datetime import date
from functools import lru_cache
from pathlib import Path

import pytest

from pipelines import db

MiB = 1024 * 1024
_BLOCK = bytes(MiB)


@lru_cache(maxsize=None)
def _zero_block() -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    c.compress(b"x")
    c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(_BLOCK) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(_BLOCK) + c.flush(zlib.Z_FULL_FLUSH)
    assert block == again
    return block


@lru_cache(maxsize=None)
def _crc_of_prefix_and_zeros(prefix: bytes, n_mib: int) -> int:
    crc = zlib.crc32(prefix)
    for _ in range(n_mib):
        crc = zlib.crc32(_BLOCK, crc)
    return crc


def deflated(prefix: bytes, n_mib: int, suffix: bytes) -> tuple[bytes, int, int]:
    """(raw deflate of prefix + n_mib MiB of zeros + suffix, its CRC-32, its size)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    c2 = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = c2.compress(suffix) + c2.flush()
    data = start + _zero_block() * n_mib + tail
    crc = zlib.crc32(suffix, _crc_of_prefix_and_zeros(prefix, n_mib))
    return data, crc, len(prefix) + n_mib * MiB + len(suffix)


def fit_header(data_size: int) -> bytes:
    """A 14-byte FIT file header declaring ``data_size`` bytes of records (header CRC 0: none)."""
    return struct.pack("<BBHI4sH", 14, 0x20, 2132, data_size & 0xFFFFFFFF, b".FIT", 0)


GPX_HEAD = b'<?xml version="1.0"?><gpx version="1.1" creator="bomb"><trk><trkseg>'


def gzip_member(prefix: bytes, n_mib: int, suffix: bytes) -> bytes:
    """A .gz file expanding to prefix + n_mib MiB of zeros + suffix."""
    body, crc, size = deflated(prefix, n_mib, suffix)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + body + struct.pack("<II", crc, size & 0xFFFFFFFF)


def write_zip(out: io.RawIOBase | io.BufferedIOBase, members: list[tuple[str, bytes, int, int]]) -> None:
    """A zip of already-deflated members: (name, raw deflate, crc, uncompressed size < 4 GiB)."""
    central = []
    offset = 0
    for name, data, crc, size in members:
        n = name.encode()
        local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size, len(n), 0)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc,
                                   len(data), size, len(n), 0, 0, 0, 0, 0o100644 << 16, offset) + n)
        out.write(local + n)
        out.write(data)
        offset += len(local) + len(n) + len(data)
    cd = b"".join(central)
    out.write(cd)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(cd), offset, 0))


def zip_bytes(members: list[tuple[str, bytes, int, int]]) -> bytes:
    buf = io.BytesIO()
    write_zip(buf, members)
    return buf.getvalue()


def distinct_members(n: int, n_mib: int, name: str = "bomb{i:02d}.fit",
                     prefix: bytes | None = None) -> list[tuple[str, bytes, int, int]]:
    """``n`` members of ~n_mib MiB each, all different (a distinct suffix each)."""
    head = fit_header(n_mib * MiB) if prefix is None else prefix
    out = []
    for i in range(n):
        data, crc, size = deflated(head, n_mib, f"member {i}".encode())
        out.append((name.format(i=i), data, crc, size))
    return out


def nested_zip(levels: int, fanout: int, leaf_mib: int, *, distinct: bool = False,
               prefix: bytes | None = None) -> bytes:
    """42.zip-style: ``levels`` zips deep, ``fanout`` zips per level, ``fanout`` leaves of
    ``leaf_mib`` MiB in each innermost zip. ``distinct=False``: every copy is the same bytes
    (what keeps 42.zip at 42 KB); ``distinct=True``: every zip and leaf differs (bigger file)."""
    counter = iter(range(10**9))

    def innermost() -> bytes:
        tag = next(counter) if distinct else 0
        return zip_bytes([(f"leaf{i:02d}.fit", *deflated(
            fit_header(leaf_mib * MiB) if prefix is None else prefix, leaf_mib,
            f"zip {tag} leaf {i}".encode())) for i in range(fanout)])

    def level(k: int) -> bytes:
        if k == levels - 1:
            return innermost()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            same = None if distinct else level(k + 1)
            for i in range(fanout):
                z.writestr(f"l{k}_{i:02d}.zip", same if same is not None else level(k + 1))
        return buf.getvalue()

    return level(0)


def deflate_file(name: str, data: bytes) -> tuple[str, bytes, int, int]:
    """A real (small) file as a member for ``write_zip``."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return name, c.compress(data) + c.flush(), zlib.crc32(data), len(data)


# --------------------------------------------------------------------------------------------
# running a sync as a subprocess, memory measured and bounded

HARD_LIMIT = 3 * 1024**3  # process-tree RSS at which the watchdog kills a sync (machine safety)


def _tree(pid: int) -> list[int]:
    out = [pid]
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                for child in fh.read().split():
                    out += _tree(int(child))
    except OSError:
        pass
    return out


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def footfall_sync(paths: list[Path], dbfile: Path, workdir: Path, config: str = "",
                  timeout_s: float = 120) -> dict:
    """``footfall sync --json`` in a subprocess on the session's Prefect test server.

    Returns rc, the parsed summary (or None), stderr, ``maxrss`` (bytes: the largest process
    of the sync's tree, from ``wait4``), ``tree_peak`` (bytes: the tree's summed RSS, sampled
    every 50 ms), ``killed`` (the watchdog or the timeout killed it) and ``seconds``.
    """
    import json

    from prefect.settings import PREFECT_API_URL

    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "footfall.toml"
    cfg.write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}
    env.update(FOOTFALL_CONFIG=str(cfg), PREFECT_API_URL=str(PREFECT_API_URL.value()))
    cmd = [sys.executable, "-c", "from pipelines.cli import main; main()", "sync",
           *map(str, paths), "--db", str(dbfile), "--json"]
    out_path, err_path = workdir / "stdout", workdir / "stderr"
    t0 = time.monotonic()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=out, stderr=err,
                                start_new_session=True)
    peak, killed = 0, False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, sum(_rss(p) for p in _tree(proc.pid)))
        if not killed and (peak > HARD_LIMIT or time.monotonic() - t0 > timeout_s):
            os.killpg(proc.pid, signal.SIGKILL)  # the sync's own process group
            killed = True
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = out_path.read_text()
    try:
        summary = json.loads(text)
    except ValueError:
        summary = None
    return {"rc": proc.returncode, "summary": summary, "stdout": text,
            "stderr": err_path.read_text()[-3000:], "maxrss": usage.ru_maxrss * 1024,
            "tree_peak": peak, "killed": killed, "seconds": time.monotonic() - t0}


def gib(n: int) -> str:
    return f"{n / 1024**3:.2f} GiB"


def files_rows(dbfile: Path) -> dict[tuple[str, str | None], tuple[str, str | None, str | None]]:
    """(file name on disk, member) -> (status, error_class, reason)."""
    with db.connection(dbfile, read_only=True) as con:
        return {(Path(p).name, m): (s, c, r) for p, m, s, c, r in con.execute(
            "SELECT path, member, status, error_class, reason FROM files").fetchall()}


def synced_sources(dbfile: Path) -> set[str]:
    with db.connection(dbfile, read_only=True) as con:
        return {Path(r[0]).name for r in con.execute("SELECT path FROM sync_sources").fetchall()}


@pytest.fixture(scope="module")
def sample_fits() -> list[bytes]:
    """Seven real, distinct FIT runs (the demo's generator: no corpus needed)."""
    from synth.sample import make_sample_export

    export = make_sample_export(weeks=2, end_date=date(2026, 11, 1))
    return [data for name, data in sorted(export.items()) if name.endswith(".fit")]


def assert_ran(res: dict) -> dict:
    assert not res["killed"], (f"sync killed by the watchdog (tree peak {gib(res['tree_peak'])},"
                               f" {res['seconds']:.0f} s)")
    assert res["rc"] == 0, res["stderr"]
    assert res["summary"] is not None, res["stdout"][-2000:]
    return res["summary"]


# --------------------------------------------------------------------------------------------
# the realistic case: default budgets


def test_bombs_under_the_member_cap_are_refused_in_bounded_memory(
        prefect_harness, sample_fits, tmp_path):
    """The issue's bombs with the default budgets: a 6 MB zip of 12 distinct 500 MiB members
    (peaked at 6.6 GiB, OOM-killed under 4 GB, nothing recorded), 12 small .fit.gz files
    expanding to 500 MiB each, a 200 MB GPX (gpxpy: ~13x in memory). Each is a quarantined
    row naming its budget; the real runs beside them (in the same zip, and on disk) land; the
    sync exits 0 with its largest process under 2 GB."""
    export = tmp_path / "export"
    export.mkdir()
    with open(export / "a_bomb12.zip", "wb") as fh:
        write_zip(fh, [deflate_file("good/run0.fit", sample_fits[0]),
                       *distinct_members(12, 500)])
    for i in range(12):  # no FIT header: sniffed by name, so read until max_fit_bytes
        (export / f"b_bomb{i:02d}.fit.gz").write_bytes(gzip_member(b"", 500, f"gz {i}".encode()))
    point = (b'<trkpt lat="46.0" lon="14.0"><ele>300.0</ele>'
             b'<time>2026-10-01T06:00:00Z</time></trkpt>\n')
    with open(export / "c_huge.gpx", "wb") as fh:  # a real, valid GPX of ~200 MB
        fh.write(GPX_HEAD)
        chunk = point * (MiB // len(point))
        for _ in range(200):
            fh.write(chunk)
        fh.write(b"</trkseg></trk></gpx>\n")
    (export / "d_good.fit").write_bytes(sample_fits[1])
    dbfile = tmp_path / "f.duckdb"

    res = footfall_sync([export], dbfile, tmp_path / "run")
    print(f"\ndefault budgets: largest process {gib(res['maxrss'])}, tree peak"
          f" {gib(res['tree_peak'])}, {res['seconds']:.1f} s, rc {res['rc']}")
    summary = assert_ran(res)
    rows = files_rows(dbfile)
    assert rows[("a_bomb12.zip", "good/run0.fit")][0] == "landed"
    assert rows[("d_good.fit", None)][0] == "landed"
    for i in range(12):
        status, cls, reason = rows[("a_bomb12.zip", f"bomb{i:02d}.fit")]
        assert (status, cls) == ("quarantined", "FileTooLarge")
        assert "max_fit_bytes" in reason and "footfall.toml" in reason
        status, cls, reason = rows[(f"b_bomb{i:02d}.fit.gz", None)]
        assert (status, cls) == ("quarantined", "FileTooLarge")
        assert "max_fit_bytes" in reason
    status, cls, reason = rows[("c_huge.gpx", None)]
    assert (status, cls) == ("quarantined", "FileTooLarge") and "max_xml_bytes" in reason
    assert summary["by_status"]["quarantined"] == 25
    assert res["maxrss"] < 2 * 1024**3
    assert res["seconds"] < 90
    # a source that hit a budget is read again next time (so raising the budget takes effect)
    assert "d_good.fit" in synced_sources(dbfile)
    assert "a_bomb12.zip" not in synced_sources(dbfile)


# --------------------------------------------------------------------------------------------
# each budget, configured small to show the mechanism


def test_a_batch_flushes_when_its_bytes_budget_is_reached(prefect_harness, sample_fits, tmp_path):
    """max_batch_bytes: 12 distinct 48 MiB files (under every per-file budget) and two real runs
    in one zip. Nothing is refused: the batches end early (six of two files) instead of one
    batch holding all 576 MiB (batch_files is 60)."""
    export = tmp_path / "export"
    export.mkdir()
    with open(export / "big.zip", "wb") as fh:
        write_zip(fh, [deflate_file("a_run0.fit", sample_fits[0]),
                       deflate_file("a_run1.fit", sample_fits[1]),
                       *distinct_members(12, 48, name="junk{i:02d}.fit", prefix=b"")])
    dbfile = tmp_path / "f.duckdb"
    res = footfall_sync([export], dbfile, tmp_path / "run",
                        config=f"max_batch_bytes = {64 * MiB}\n")
    print(f"\nmax_batch_bytes 64 MiB: largest process {gib(res['maxrss'])}, {res['seconds']:.1f} s")
    assert_ran(res)
    rows = files_rows(dbfile)
    assert rows[("big.zip", "a_run0.fit")][0] == "landed"
    assert rows[("big.zip", "a_run1.fit")][0] == "landed"
    junk = [v for (_, m), v in rows.items() if m.startswith("junk")]
    assert len(junk) == 12
    assert all(s == "quarantined" and c == "BadHeader" for s, c, _ in junk)  # decoded, not refused
    with db.connection(dbfile, read_only=True) as con:
        batches = con.execute("SELECT count(DISTINCT landed_at) FROM files").fetchone()[0]
    assert batches >= 6
    assert "big.zip" in synced_sources(dbfile)
    assert res["maxrss"] < 1024**3


def test_the_sync_budget_stops_reading_and_the_next_sync_goes_on(
        prefect_harness, sample_fits, tmp_path):
    """max_sync_bytes: past it, the member being read is refused, the rest of its archive and
    every later archive or .gz wait for the next sync (each a row saying so); plain files on
    disk still land. The next sync, with the budget raised, reads what was left."""
    export = tmp_path / "export"
    export.mkdir()
    with open(export / "a.zip", "wb") as fh:
        write_zip(fh, [deflate_file("a_run0.fit", sample_fits[0]),
                       *distinct_members(3, 40, name="junk{i}.fit", prefix=b"")])
    (export / "b_run1.fit.gz").write_bytes(gzip_member(sample_fits[1], 0, b""))
    (export / "c_run2.fit").write_bytes(sample_fits[2])
    dbfile = tmp_path / "f.duckdb"
    res = footfall_sync([export], dbfile, tmp_path / "run1", config=f"max_sync_bytes = {100 * MiB}\n")
    assert_ran(res)
    rows = files_rows(dbfile)
    assert rows[("a.zip", "a_run0.fit")][0] == "landed"
    assert rows[("a.zip", "junk0.fit")][1] == "BadHeader"  # read and decoded
    assert rows[("a.zip", "junk1.fit")][1] == "BadHeader"
    status, cls, reason = rows[("a.zip", "junk2.fit")]
    assert (status, cls) == ("quarantined", "SyncBudgetExceeded")
    assert "max_sync_bytes" in reason and "next sync" in reason
    status, cls, reason = rows[("b_run1.fit.gz", None)]
    assert (status, cls) == ("quarantined", "SyncBudgetExceeded") and "not read" in reason
    assert rows[("c_run2.fit", None)][0] == "landed"
    assert synced_sources(dbfile) == {"c_run2.fit"}

    res = footfall_sync([export], dbfile, tmp_path / "run2")  # default budget
    assert_ran(res)
    rows = files_rows(dbfile)
    landed = {k for k, v in rows.items() if v[0] == "landed"}
    assert {("a.zip", "a_run0.fit"), ("b_run1.fit.gz", None), ("c_run2.fit", None)} <= landed
    with db.connection(dbfile, read_only=True) as con:
        junk2 = {r[0] for r in con.execute(
            "SELECT error_class FROM files WHERE member = 'junk2.fit'").fetchall()}
    # read and decoded now; the first sync's refusal row is replaced by what it is
    assert junk2 == {"BadHeader"}
    assert synced_sources(dbfile) == {"a.zip", "b_run1.fit.gz", "c_run2.fit"}


def test_an_archive_over_its_member_budget_is_not_opened(prefect_harness, sample_fits, tmp_path):
    """max_archive_members: a nested zip whose end record declares more entries than the
    budget left is refused before zipfile loads its directory (a ZipInfo per entry); the
    archive's other members land."""
    inner = zip_bytes([deflate_file(f"x/{i:04d}.json", b"{}") for i in range(300)])
    export = tmp_path / "export"
    export.mkdir()
    with zipfile.ZipFile(export / "garmin.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a_run0.fit", sample_fits[0])
        z.writestr("b_inner.zip", inner)
        z.writestr("c_run1.fit", sample_fits[1])
    dbfile = tmp_path / "f.duckdb"
    res = footfall_sync([export], dbfile, tmp_path / "run", config="max_archive_members = 100\n")
    assert_ran(res)
    rows = files_rows(dbfile)
    assert rows[("garmin.zip", "a_run0.fit")][0] == "landed"
    assert rows[("garmin.zip", "c_run1.fit")][0] == "landed"
    status, cls, reason = rows[("garmin.zip", "b_inner.zip")]
    assert (status, cls) == ("quarantined", "ArchiveTooLarge")
    assert "300 entries" in reason and "max_archive_members" in reason


def test_a_42_zip_nest_is_read_once_per_level(prefect_harness, sample_fits, tmp_path):
    """The issue's 42.zip-style nest (4 zip levels of 16 identical copies, 16 leaves of 500 MiB
    in each innermost zip: 1M leaves, ~6 h of CPU before) with the default budgets: identical
    nested zips are read once, so the sync sees 16 leaves (each refused by max_fit_bytes) and
    takes seconds; a real run beside it lands."""
    export = tmp_path / "export"
    export.mkdir()
    (export / "42.zip").write_bytes(nested_zip(levels=4, fanout=16, leaf_mib=500, prefix=b""))
    (export / "run.fit").write_bytes(sample_fits[0])
    assert (export / "42.zip").stat().st_size < 100_000
    dbfile = tmp_path / "f.duckdb"
    res = footfall_sync([export], dbfile, tmp_path / "run", timeout_s=90)
    print(f"\n42.zip nest, default budgets: largest process {gib(res['maxrss'])},"
          f" {res['seconds']:.1f} s")
    assert_ran(res)
    rows = files_rows(dbfile)
    assert rows[("run.fit", None)][0] == "landed"
    nest = [v for (p, _), v in rows.items() if p == "42.zip"]
    assert len(nest) == 16
    assert all(c == "FileTooLarge" and "max_fit_bytes" in r for _, c, r in nest)
    assert res["maxrss"] < 1024**3


def test_a_nest_of_distinct_zips_stops_at_the_archive_work_budget(
        prefect_harness, sample_fits, tmp_path):
    """max_archive_read_bytes: a nest whose zips all differ (3 levels of 8, 16 MiB leaves under
    every per-file budget: 8 GiB of leaves) stops once the bytes decompressed from it, all
    levels counted, pass the budget: one row names it; a real run beside the nest lands; the
    sync takes seconds."""
    export = tmp_path / "export"
    export.mkdir()
    (export / "42.zip").write_bytes(nested_zip(levels=3, fanout=8, leaf_mib=16, distinct=True))
    (export / "run.fit").write_bytes(sample_fits[0])
    dbfile = tmp_path / "f.duckdb"
    res = footfall_sync([export], dbfile, tmp_path / "run", timeout_s=90,
                        config=f"max_archive_read_bytes = {256 * MiB}\n")
    print(f"\n42.zip nest, max_archive_read_bytes 256 MiB: largest process {gib(res['maxrss'])},"
          f" {res['seconds']:.1f} s")
    assert_ran(res)
    rows = files_rows(dbfile)
    assert rows[("run.fit", None)][0] == "landed"
    stopped = [(m, r) for (p, m), (s, c, r) in rows.items() if c == "ArchiveTooLarge"]
    assert len(stopped) == 1, stopped
    member, reason = stopped[0]
    assert member.count("!") == 2  # at a leaf, three zips deep
    assert "max_archive_read_bytes" in reason and "the rest of it was not read" in reason
    assert len([k for k in rows if k[0] == "42.zip"]) < 40  # a few leaves, not 512
    assert "42.zip" not in synced_sources(dbfile)
    assert res["maxrss"] < 1024**3


# --------------------------------------------------------------------------------------------
# the mechanisms, in process (no sync)


def _source(path: Path):
    from ingest.discover import list_sources

    (src,) = list_sources(path)
    return src


def test_a_fit_header_declaring_too_much_is_refused_after_the_first_chunk(tmp_path):
    from ingest.discover import Limits, Problem, SyncMeter, iter_source

    (tmp_path / "liar.fit.gz").write_bytes(gzip_member(fit_header(2000 * MiB), 100, b"end"))
    meter = SyncMeter()
    (item,) = list(iter_source(_source(tmp_path / "liar.fit.gz"), limits=Limits(), meter=meter))
    assert isinstance(item, Problem) and item.error_class == "FileTooLarge"
    assert "declares in its header" in item.reason and "max_fit_bytes" in item.reason
    assert meter.read_bytes <= MiB  # one chunk decompressed, not 64 MiB


def test_a_huge_gpx_on_disk_is_refused_unread(tmp_path):
    """An on-disk GPX over max_xml_bytes is refused from its size after the first chunk (the
    DOM parsers would need ~12x its size); nothing of it counts against the sync's budget."""
    from ingest.discover import Limits, Problem, SyncMeter, iter_source

    path = tmp_path / "huge.gpx"
    with open(path, "wb") as fh:  # 1 GiB, sparse: costs no disk
        fh.write(GPX_HEAD)
        fh.truncate(1024 * MiB)
    meter = SyncMeter()
    t0 = time.monotonic()
    (item,) = list(iter_source(_source(path), limits=Limits(), meter=meter))
    assert time.monotonic() - t0 < 1
    assert isinstance(item, Problem) and item.error_class == "FileTooLarge"
    assert "a GPX file" in item.reason and "max_xml_bytes" in item.reason
    assert meter.read_bytes == 0
    # the same file under a raised budget is delivered whole
    (found,) = list(iter_source(_source(path), limits=Limits(max_xml_bytes=1024 * MiB,
                                                             max_member_bytes=1024 * MiB)))
    assert found.size_bytes == 1024 * MiB


def test_a_zip_declaring_too_many_entries_is_refused_before_its_directory_is_loaded(tmp_path):
    """The end record is read first: a zip whose end record declares more entries than
    max_archive_members is refused unopened (zipfile would build a ZipInfo per entry: a nested
    zip of millions of entries is gigabytes of them). Forged here: the record declares 50,000
    entries over a directory of one, so only the precheck can see the count."""
    from ingest.discover import Limits, iter_source

    body = zip_bytes([deflate_file("a.fit", b"x" * 100)])
    end = body.rindex(struct.pack("<I", 0x06054B50))
    forged = body[:end + 8] + struct.pack("<HH", 50000, 50000) + body[end + 12:]
    (tmp_path / "many.zip").write_bytes(forged)
    (item,) = list(iter_source(_source(tmp_path / "many.zip"), limits=Limits(max_archive_members=40000)))
    assert item.error_class == "ArchiveTooLarge"
    assert "50000 entries" in item.reason and "max_archive_members" in item.reason


def test_batches_hold_at_most_the_bytes_budget_plus_one_file(tmp_path):
    from pipelines.sync import Plan, iter_batches

    export = tmp_path / "export"
    export.mkdir()
    with open(export / "files.zip", "wb") as fh:
        write_zip(fh, distinct_members(10, 3, name="f{i:02d}.fit", prefix=b""))
    from ingest.discover import list_sources

    plan = Plan(sources=list_sources(export), unchanged=0, known_ids=set())
    held = [sum(len(it[3]) for it in b.items)
            for b in iter_batches(plan, batch_files=60, max_batch_bytes=7 * MiB)]
    assert sum(held) == 10 * (3 * MiB + len("member 0"))
    assert len(held) == 4  # 3 + 3 + 3 + 1 files
    assert max(held) < 7 * MiB + 3 * MiB + 100


def test_budgets_are_read_from_the_config(tmp_path):
    from ingest.discover import DEFAULT_MAX_FIT_BYTES
    from pipelines.config import ConfigError, load_settings

    cfg = tmp_path / "footfall.toml"
    cfg.write_text("max_xml_bytes = 1000\nmax_sync_bytes = 2000\nmax_batch_bytes = 3000\n"
                   "max_archive_members = 4\nmax_archive_read_bytes = 5000\n")
    s = load_settings(cfg)
    assert (s.max_xml_bytes, s.max_sync_bytes, s.max_batch_bytes) == (1000, 2000, 3000)
    limits = s.read_limits()
    assert (limits.max_xml_bytes, limits.max_archive_members, limits.max_archive_read_bytes,
            limits.max_fit_bytes) == (1000, 4, 5000, DEFAULT_MAX_FIT_BYTES)
    cfg.write_text('max_sync_bytes = "lots"\n')
    with pytest.raises(ConfigError, match="max_sync_bytes must be an integer"):
        load_settings(cfg)
