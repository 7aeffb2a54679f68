"""Issue 11 point 1: one odd file must not stop every future sync.

Each test runs the real ``footfall sync`` command (typer's CliRunner, the Prefect test harness,
a real DuckDB file) on a batch holding the odd file next to good ones: the sync exits 0, the good
files land, the odd one ends with a ``files`` row (quarantined, with a reason), and a second
sync exits 0 too.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from synth.fit_encode import encode_activity, semicircles
from pipelines import db
from pipelines.cli import app

from tests.conftest import TODAY

NEEDS_BYTES_NAMES = pytest.mark.skipif(
    os.name != "posix" or os.uname().sysname == "Darwin",
    reason="needs a file system that accepts any bytes in names (Linux)")


def gpx(times: list[str], lat0: float = 46.0) -> bytes:
    pts = "\n".join(
        f'<trkpt lat="{lat0 + i * 1e-4:.6f}" lon="{14 + i * 1e-4:.6f}"><time>{t}</time></trkpt>'
        for i, t in enumerate(times))
    return (f'<?xml version="1.0"?>\n<gpx version="1.1" creator="test" '
            f'xmlns="http://www.topografix.com/GPX/1/1"><trk><type>running</type><trkseg>\n'
            f'{pts}\n</trkseg></trk></gpx>\n').encode()


def good_gpx(day: int) -> bytes:
    t0 = datetime(2026, 1, day, 8, 0)
    return gpx([(t0 + timedelta(seconds=10 * i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(30)])


def good_fit(day: int) -> bytes:
    t0 = datetime(2026, 2, day, 7, 0, tzinfo=timezone.utc)
    recs = [{"timestamp": t0 + timedelta(seconds=i), "position_lat": semicircles(46 + i * 1e-5),
             "position_long": semicircles(14.0), "distance": float(i * 3), "enhanced_speed": 3.0,
             "heart_rate": 150} for i in range(120)]
    return encode_activity(records=recs)


def sync(args: list[str]):
    res = CliRunner().invoke(app, ["sync", *args])
    return res


def files_rows(dbfile) -> dict[str, tuple]:
    with db.connection(dbfile, read_only=True) as con:
        return {r[0]: r[1:] for r in con.execute(
            "SELECT path, status, reason, error_class FROM files").fetchall()}


@pytest.mark.parametrize("tz", [None, "America/New_York", "Pacific/Kiritimati"])
def test_extreme_dates_are_quarantined_and_the_batch_lands(prefect_harness, isolated_config, tz):
    """Year 1 (reported: OverflowError at land.py, earlier in models/localtime.py with a time
    zone), year 9999, year 1 with a positive offset (overflows in the reader) and a FIT dated
    near 0xFFFFFFFF (2126): each quarantined with its reason; the good files land; exit 0 twice."""
    if tz:
        (isolated_config / "footfall.toml").write_text(f'timezone = "{tz}"\n')
    src = isolated_config / "watch"
    src.mkdir()
    (src / "year1.gpx").write_bytes(gpx(["0001-01-01T00:00:00Z", "0001-01-01T00:00:10Z"]))
    (src / "year9999.gpx").write_bytes(gpx(["9999-12-31T23:59:40Z", "9999-12-31T23:59:59Z"]))
    (src / "year1_plus1h.gpx").write_bytes(gpx(["0001-01-01T00:10:00+01:00", "0001-01-01T00:20:00+01:00"]))
    far = [{"timestamp": 0xFFFFFF00 + i, "heart_rate": 150, "distance": float(i)} for i in range(10)]
    (src / "fit_2126.fit").write_bytes(encode_activity(records=far))
    (src / "good1.gpx").write_bytes(good_gpx(5))
    (src / "good2.fit").write_bytes(good_fit(6))
    dbfile = isolated_config / "f.duckdb"
    res = sync([str(src), "--db", str(dbfile), "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["by_status"] == {"landed": 2, "quarantined": 4}, s["by_status"]
    rows = {os.path.basename(p): v for p, v in files_rows(dbfile).items()}
    assert rows["good1.gpx"][0] == "landed" and rows["good2.fit"][0] == "landed"
    for name in ("year1.gpx", "year9999.gpx", "year1_plus1h.gpx", "fit_2126.fit"):
        status, reason, cls = rows[name]
        assert status == "quarantined" and cls == "ImplausibleData", (name, rows[name])
        assert reason, name
    assert "before 1989-12-31" in rows["year1.gpx"][1]
    assert "after now + 1 day" in rows["fit_2126.fit"][1]
    with db.connection(dbfile, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM activities").fetchone()[0] == 2
        lo, hi = con.execute("SELECT min(local_date), max(local_date) FROM daily_load").fetchone()
        assert lo.year == 2026 and hi == TODAY  # FOOTFALL_TODAY (tests/conftest.py)
        refused = con.execute("SELECT count(*) FROM value_checks WHERE action = 'activity_refused'").fetchone()[0]
        assert refused >= 3  # the year-1, year-9999 and 2126 activities (year 1 +01:00 fails in the reader)
    again = sync([str(src), "--db", str(dbfile), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["files_new"] == 0
    forced = sync([str(src), "--db", str(dbfile), "--json", "--always-run"])
    assert forced.exit_code == 0, forced.output


@NEEDS_BYTES_NAMES
def test_a_file_name_that_is_not_utf8_syncs_and_resyncs_unchanged(prefect_harness, isolated_config):
    """Reported: UnicodeEncodeError 'surrogates not allowed' at land.py for b'run\\xff.gpx'."""
    src = isolated_config / "watch"
    src.mkdir()
    bad = os.fsencode(src) + b"/run\xff.gpx"
    with open(bad, "wb") as fh:
        fh.write(good_gpx(7))
    (src / "good.gpx").write_bytes(good_gpx(8))
    dbfile = isolated_config / "f.duckdb"
    res = sync([str(src), "--db", str(dbfile)])
    assert res.exit_code == 0, res.output
    rows = files_rows(dbfile)
    want = str(src) + "/run\\xff.gpx"  # the byte, written as an escape: valid text, deterministic
    assert want in rows and rows[want][0] == "landed", rows
    with db.connection(dbfile, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM sync_sources WHERE path = ?", [want]).fetchone()[0] == 1
    again = sync([str(src), "--db", str(dbfile), "--json"])
    assert again.exit_code == 0, again.output
    s2 = json.loads(again.output)
    assert s2["sources_unchanged"] == 2 and s2["files_new"] == 0, s2


def test_zip_member_names_cp437_and_invalid_utf8(prefect_harness, isolated_config):
    """A cp437 member name (no UTF-8 flag) lands; a zip whose name bytes are not UTF-8 although
    it sets the UTF-8 flag cannot be listed by Python's zipfile: quarantined with that reason."""
    src = isolated_config / "watch"
    src.mkdir()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("runQ.gpx", good_gpx(9))
    raw = bytearray(buf.getvalue().replace(b"runQ.gpx", b"run\x81.gpx"))  # cp437 'ü', no flag
    (src / "cp437.zip").write_bytes(bytes(raw))
    raw2 = bytearray(raw.replace(good_gpx(9), good_gpx(9)))
    raw2 = bytearray(bytes(raw2).replace(b"run\x81.gpx", b"run\xff.gpx"))
    for sig, flag_at in ((b"PK\x03\x04", 7), (b"PK\x01\x02", 9)):  # set the UTF-8 name flag
        i = raw2.find(sig)
        raw2[i + flag_at] |= 0x08
    (src / "badname.zip").write_bytes(bytes(raw2))
    (src / "good.gpx").write_bytes(good_gpx(10))
    dbfile = isolated_config / "f.duckdb"
    res = sync([str(src), "--db", str(dbfile), "--json"])
    assert res.exit_code == 0, res.output
    with db.connection(dbfile, read_only=True) as con:
        rows = con.execute("SELECT path, member, status, reason FROM files ORDER BY path").fetchall()
    by = {(os.path.basename(p), m): (st, why) for p, m, st, why in rows}
    assert by[("cp437.zip", "runü.gpx")][0] == "landed", by
    assert by[("good.gpx", None)][0] == "landed"
    st, why = by[("badname.zip", None)]
    assert st == "quarantined" and "not valid UTF-8" in why, by


def test_markup_in_a_quarantined_path_is_printed_as_is(prefect_harness, isolated_config):
    """Reported: rich MarkupError on '[/]' in a quarantined file's path, after the data landed."""
    src = isolated_config / "watch"
    (src / "run[").mkdir(parents=True)
    (src / "run[" / "].gpx").write_bytes(b"not a gpx [/] at all")
    (src / "[bold]x.gpx").write_bytes(b"<gpx [red]")
    (src / "good.gpx").write_bytes(good_gpx(11))
    dbfile = isolated_config / "f.duckdb"
    from pipelines import cli

    old = cli.console.width
    cli.console.width = 400  # one line per table row: the paths are not folded
    try:
        res = sync([str(src), "--db", str(dbfile)])
    finally:
        cli.console.width = old
    assert res.exit_code == 0, res.output
    assert "run[/].gpx" in res.output
    assert "[bold]x.gpx" in res.output
    rows = files_rows(dbfile)
    assert rows[str(src / "run[" / "].gpx")][0] == "quarantined"
    assert rows[str(src / "good.gpx")][0] == "landed"
