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

from ingest.fit_encode import encode_activity, semicircles
from pipelines import db
from pipelines.flows import run_flow, sync

PROJECT = Path(__file__).resolve().parent.parent


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
