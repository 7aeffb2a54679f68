"""Hand-worked run histories as real FIT files, landed by the real sync flow (issue 14 tests).

Each run is a FIT activity written by ``synth.fit_encode.encode_activity``: a straight track north
at 3 m/s (10.8 km/h), a record every 5 s with distance, position, heart rate and a running
cadence (170 steps/min), UTC offset 0 (so the local date is the UTC date). The sync (``pipelines.flows.sync``,
a real Prefect flow run) decodes, lands and builds the SQL models; the tests read the marts.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from pipelines import db
from pipelines.flows import run_flow, sync
from synth.fit_encode import encode_activity, semicircles

SPEED_MPS = 3.0
STEP_S = 5
#: a Monday, so that ISO weeks are easy to read in the tests
DAY0 = date(2025, 3, 3)


def day(n: int) -> date:
    return DAY0 + timedelta(days=n)


def run_fit(start: datetime, km: float, lat0: float = 46.05) -> bytes:
    """One run of ``km`` kilometres starting at ``start`` (UTC, offset 0) from latitude ``lat0``."""
    n = int(round(km * 1000 / (SPEED_MPS * STEP_S))) + 1
    ts = [start + timedelta(seconds=STEP_S * i) for i in range(n)]
    dist = [SPEED_MPS * STEP_S * i for i in range(n)]
    lat = [semicircles(lat0 + d / 111_320.0) for d in dist]
    lon = [semicircles(14.50)] * n
    return encode_activity(
        records={"timestamp": ts, "position_lat": lat, "position_long": lon, "distance": dist,
                 "enhanced_speed": [SPEED_MPS] * n, "enhanced_altitude": [300.0] * n,
                 "heart_rate": [140 + i % 7 for i in range(n)], "cadence": [85] * n,
                 "fractional_cadence": [0.0] * n},
        start=start, sport="running", local_offset_s=0)


def sync_runs(folder: Path, dbfile: Path, runs: list[tuple[int, float] | tuple[int, float, int]],
              *, athlete: str, today: date) -> dict:
    """Write ``runs`` ((day number from DAY0, km[, hour])) as FIT files into ``folder`` and sync
    them into ``dbfile`` as ``athlete``, with ``today`` as the models' last calendar day."""
    folder.mkdir(parents=True, exist_ok=True)
    # each athlete runs elsewhere and a few minutes apart, so that two athletes' runs on the same
    # day are never the same file or a duplicate of each other
    k = sum(map(ord, athlete)) % 40
    for r in runs:
        n, km = r[0], r[1]
        hh = r[2] if len(r) > 2 else 7
        d = day(n)
        start = datetime(d.year, d.month, d.day, hh, k, 0)
        (folder / f"{athlete}-{start:%Y%m%d-%H%M}.fit").write_bytes(run_fit(start, km, 46.0 + k / 100))
    return run_flow(sync, paths=[str(folder)], db=str(dbfile), athlete=athlete,
                    today=today.isoformat())


def rows(dbfile: Path, sql: str, params=None) -> list[dict]:
    with db.connection(dbfile, read_only=True) as con:
        return con.sql(sql, params=params).pl().to_dicts()


def flags(dbfile: Path, rule: str, athlete: str | None = None) -> list[dict]:
    q = "SELECT * FROM flags WHERE rule = ?" + (" AND athlete_id = ?" if athlete else "")
    return rows(dbfile, q + " ORDER BY local_date, activity_id", [rule] + ([athlete] if athlete else []))
