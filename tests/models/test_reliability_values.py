"""Issue 11 point 6: absurd values do not land, and none of them stops a sync.

Bounds come from models/thresholds.py (BOUNDS and the plausible_* / activity_max_* thresholds);
models/plausibility.py applies them in the decode workers, before any metric is derived:
impossible time spans refuse the activity, samples with impossible times are dropped, values out
of range (and NaN/inf) become NULL, and each of these leaves a ``value_checks`` row.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from ingest import schema
from ingest.decode import decode_bytes
from synth.fit_encode import encode_activity, semicircles
from ingest.schema import Decoded
from models.localtime import fill_local_time
from models.plausibility import check_decoded
from models.thresholds import BOUNDS, THRESHOLDS, reader_options
from pipelines import db
from pipelines.flows import run_flow, sync

READ = reader_options()  # the readers' settings: models/thresholds.py, no overrides

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)


def run_sync(paths, dbfile, athlete="t") -> dict:
    return run_flow(sync, paths=[str(p) for p in paths], db=str(dbfile), athlete=athlete)


def absurd_gpx() -> bytes:
    """lat 91 with HR 300, a NaN/inf position, an altitude of 20 km; the rest ordinary."""
    pts = []
    for i in range(40):
        lat, lon, hr, ele = f"{46 + i * 1e-4:.6f}", f"{14 + i * 1e-4:.6f}", 140, 300
        if i == 5:
            lat, hr = "91.0", 300
        if i == 6:
            lat, lon = "NaN", "inf"
        if i == 7:
            ele = 20000
        t = (T0 + timedelta(seconds=5 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        pts.append(f'<trkpt lat="{lat}" lon="{lon}"><ele>{ele}</ele><time>{t}</time><extensions>'
                   f'<gpxtpx:TrackPointExtension><gpxtpx:hr>{hr}</gpxtpx:hr>'
                   f'</gpxtpx:TrackPointExtension></extensions></trkpt>')
    return ('<?xml version="1.0"?>\n<gpx version="1.1" creator="test" '
            'xmlns="http://www.topografix.com/GPX/1/1" '
            'xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1">'
            '<trk><type>running</type><trkseg>\n' + "\n".join(pts) + '\n</trkseg></trk></gpx>\n').encode()


def absurd_fit() -> bytes:
    """A plausible run with lat 91, HR 254, and two samples dated 2126 after the timer stop."""
    t0 = T0 + timedelta(days=1)
    recs = [{"timestamp": t0 + timedelta(seconds=i), "position_lat": semicircles(46 + i * 1e-5),
             "position_long": semicircles(14.0), "distance": float(i * 3), "enhanced_speed": 3.0,
             "heart_rate": 150} for i in range(120)]
    recs[10]["position_lat"] = semicircles(91.0)
    recs[11]["heart_rate"] = 254
    recs += [{"timestamp": 0xFFFFFF00 + i, "heart_rate": 150, "distance": 360.0} for i in range(2)]
    return encode_activity(records=recs, end=t0 + timedelta(seconds=119))


def forty_day_fit() -> bytes:
    t0 = T0 - timedelta(days=60)
    recs = [{"timestamp": t0 + timedelta(days=d), "heart_rate": 120, "distance": float(d * 1000)}
            for d in range(41)]
    return encode_activity(records=recs)


def test_bounds_are_declared_once_with_unit_and_source():
    for b in BOUNDS.values():
        assert b.lower < b.upper and b.unit and b.source, b
    for name in ("plausible_earliest_unix_s", "plausible_future_slack_s",
                 "activity_max_duration_s", "activity_max_distance_m"):
        assert THRESHOLDS[name].source and THRESHOLDS[name].unit
    assert datetime.fromtimestamp(THRESHOLDS["plausible_earliest_unix_s"].value, timezone.utc) == \
        datetime(1989, 12, 31, tzinfo=timezone.utc)


def test_absurd_values_become_null_and_are_noted():
    dec = decode_bytes(absurd_gpx(), "absurd.gpx", READ)
    assert dec.status == "landed"
    assert dec.activities["distance_m"][0] < 5_000  # lat 91 added no 5,000 km of haversine
    check_decoded(dec)
    r = dec.records
    assert r["latitude_deg"].max() <= 90 and r["heart_rate_bpm"].max() <= 250
    assert r["altitude_m"].max() <= 9000
    assert r[5, "latitude_deg"] is None and r[5, "longitude_deg"] is None  # both: a pair
    assert r[6, "latitude_deg"] is None and r[6, "longitude_deg"] is None
    assert not r.select(pl.col(pl.Float64).is_nan().any() | pl.col(pl.Float64).is_infinite().any()) \
        .to_series(0).any()
    vc = {(row["table_name"], row["column_name"]): row for row in dec.value_checks.to_dicts()}
    assert vc[("records", "heart_rate_bpm")]["max_seen"] == 300
    assert vc[("records", "heart_rate_bpm")]["upper_bound"] == BOUNDS["heart_rate_bpm"].upper
    assert vc[("records", "latitude_deg")]["n_rejected"] == 2  # 91 and NaN
    assert vc[("records", "altitude_m")]["max_seen"] == 20000
    assert all(row["action"] == "set_null" for row in vc.values())


def test_two_activities_one_impossible_lands_the_other_with_a_note():
    """Built by hand: a file with a plausible activity and one of 40 days."""
    fid = "f" * 64
    acts = schema.conform(pl.DataFrame({
        "activity_id": ["a-0", "a-1"], "file_id": [fid, fid], "session_index": [0, 1],
        "started_at": [datetime(2026, 1, 1, 8), datetime(2026, 1, 2, 8)],
        "ended_at": [datetime(2026, 1, 1, 9), datetime(2026, 2, 11, 8)],
        "elapsed_time_s": [3600.0, 40 * 86400.0], "n_records": [2, 1]}), "activities")
    recs = schema.conform(pl.DataFrame({
        "activity_id": ["a-0", "a-0", "a-1"], "record_index": [0, 1, 0],
        "recorded_at": [datetime(2026, 1, 1, 8), datetime(2150, 1, 1), datetime(2026, 1, 2, 8)],
        "heart_rate_bpm": [120.0, 121.0, 130.0]}), "records")
    dec = Decoded(file_id=fid, format="fit", activities=acts, records=recs)
    check_decoded(dec, now=datetime(2026, 6, 1, tzinfo=timezone.utc))
    assert dec.status == "landed"
    assert dec.activities["activity_id"].to_list() == ["a-0"]
    assert dec.activities["n_records"].to_list() == [1]
    assert dec.records["recorded_at"].to_list() == [datetime(2026, 1, 1, 8)]
    assert "refused 1 of 2 activities" in dec.reason and "activity_max_duration_s" in dec.reason
    assert "dropped 1 records" in dec.reason
    actions = dict(zip(dec.value_checks["action"], dec.value_checks["activity_id"]))
    assert actions == {"activity_refused": "a-1", "row_dropped": "a-0"}


def _dated_file() -> Decoded:
    """Built by hand: an activity refused for starting in 1980, and in another one a lap ending
    in 2150 and a record dated 2150 among ordinary ones."""
    fid = "d" * 64
    acts = schema.conform(pl.DataFrame({
        "activity_id": ["a-0", "a-1"], "file_id": [fid, fid], "session_index": [0, 1],
        "started_at": [datetime(1980, 1, 1, 8), datetime(2026, 1, 2, 8)],
        "ended_at": [datetime(1980, 1, 1, 9), datetime(2026, 1, 2, 9)],
        "elapsed_time_s": [3600.0, 3600.0], "n_records": [1, 3]}), "activities")
    laps = schema.conform(pl.DataFrame({
        "activity_id": ["a-1"], "lap_index": [0], "started_at": [datetime(2026, 1, 2, 8)],
        "ended_at": [datetime(2150, 1, 1)]}), "laps")
    recs = schema.conform(pl.DataFrame({
        "activity_id": ["a-0", "a-1", "a-1", "a-1"], "record_index": [0, 0, 1, 2],
        "recorded_at": [datetime(1980, 1, 1, 8), datetime(2026, 1, 2, 8), datetime(2150, 1, 1),
                        datetime(2026, 1, 2, 9)],
        "heart_rate_bpm": [120.0, 121.0, 123.0, 124.0]}), "records")
    return Decoded(file_id=fid, format="fit", activities=acts, laps=laps, records=recs)


def test_the_same_file_checked_at_two_times_gives_the_same_value_checks():
    """Determinism: two syncs of the same bytes land the same rows. The future is still refused
    (the 2150 record is dropped, the 2150 lap end set NULL), but the end of the plausible window
    (the checking clock + plausible_future_slack_s) is not stored as a number: the rows name it
    (bound_name, reason) and keep upper_bound NULL, so they do not depend on when the check ran."""
    first, second = _dated_file(), _dated_file()
    check_decoded(first, now=datetime(2026, 6, 1, tzinfo=timezone.utc))
    check_decoded(second, now=datetime(2031, 2, 3, 4, 5, 6, tzinfo=timezone.utc))
    assert first.value_checks.equals(second.value_checks, null_equal=True)
    vc = {(r["table_name"], r["column_name"], r["bound_name"]): r
          for r in first.value_checks.iter_rows(named=True)}
    assert set(vc) == {("activities", "started_at", "plausible_earliest_unix_s"),
                       ("records", "recorded_at", "plausible_future_slack_s"),
                       ("laps", "ended_at", "plausible_future_slack_s")}
    for row in vc.values():
        assert row["lower_bound"] == THRESHOLDS["plausible_earliest_unix_s"].value
        assert row["upper_bound"] is None
    assert first.records["recorded_at"].to_list() == [datetime(2026, 1, 2, 8), datetime(2026, 1, 2, 9)]
    assert first.laps["ended_at"].to_list() == [None]
    assert first.activities["activity_id"].to_list() == ["a-1"]


def test_local_time_and_land_do_not_overflow_at_the_ends_of_the_calendar():
    """Defence in depth behind the bounds: year 1 west of UTC and year 9999 east of it."""
    acts = schema.conform(pl.DataFrame({
        "activity_id": ["a", "b"], "started_at": [datetime(1, 1, 1), datetime(9999, 12, 31, 23)]}),
        "activities")
    out = fill_local_time(acts, "America/New_York")
    assert out["local_date"].to_list()[0].year == 1
    fill_local_time(acts, "Pacific/Kiritimati")
    from pipelines.land import _shift

    assert _shift(datetime(1, 1, 1), -1) == datetime.min
    assert _shift(datetime(9999, 12, 31), 1) == datetime.max


def test_absurd_files_through_a_real_sync(prefect_harness, tmp_path):
    """NULLs and value_checks rows land with the file; a 40-day activity is quarantined; the
    marts see neither the refused values nor the refused activity."""
    src = tmp_path / "watch"
    src.mkdir()
    (src / "absurd.gpx").write_bytes(absurd_gpx())
    (src / "absurd.fit").write_bytes(absurd_fit())
    (src / "forty_days.fit").write_bytes(forty_day_fit())
    dbfile = tmp_path / "f.duckdb"
    s = run_sync([src], dbfile)
    assert s["by_status"] == {"landed": 2, "quarantined": 1}, s
    with db.connection(dbfile, read_only=True) as con:
        q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        st = dict((os.path.basename(p), (a, b)) for p, a, b in q("SELECT path, status, reason FROM files"))
        assert st["forty_days.fit"][0] == "quarantined"
        assert "more than 30 (activity_max_duration_s)" in st["forty_days.fit"][1]
        assert "dropped 2 records" in st["absurd.fit"][1]
        assert q("""SELECT count(*) FROM records WHERE abs(latitude_deg) > 90 OR abs(longitude_deg) > 180
                    OR heart_rate_bpm > 250 OR isnan(latitude_deg) OR isinf(longitude_deg)
                    OR altitude_m > 9000 OR recorded_at > now()::TIMESTAMP + INTERVAL 1 DAY""") == [(0,)]
        assert q("SELECT max(heart_rate_bpm) FROM records")[0][0] <= 250
        checks = q("""SELECT f.path, v.table_name, v.column_name, v.action, v.n_rejected
                      FROM value_checks v JOIN files f USING (file_id)""")
        got = {(os.path.basename(p), t, c, a): n for p, t, c, a, n in checks}
        assert got[("absurd.gpx", "records", "heart_rate_bpm", "set_null")] == 1
        assert got[("absurd.gpx", "records", "latitude_deg", "set_null")] == 2
        assert got[("absurd.fit", "records", "latitude_deg", "set_null")] == 1
        assert got[("absurd.fit", "records", "heart_rate_bpm", "set_null")] == 1
        assert got[("absurd.fit", "records", "recorded_at", "row_dropped")] == 2
        assert got[("forty_days.fit", "activities", "ended_at", "activity_refused")] == 1
        # derived metrics and marts: from the cleaned records only
        assert q("SELECT max(avg_heart_rate_bpm) <= 250, max(distance_m) < 5000 FROM activity_metrics") == [(True, True)]
        assert q("SELECT count(*) FROM activities") == [(2,)]
        lo, = q("SELECT min(local_date) FROM daily_load")[0]
        assert lo.year == 2026
        from pipelines.sqlmodels import run_data_tests

        assert set(run_data_tests(con).values()) == {0}


def test_mojstrovka_1901_never_reaches_daily_load(corpus_dir, prefect_harness, tmp_path):
    """The corpus's Mojstrovka.gpx starts in 1901: it used to give daily_load 125 years of rows."""
    moj = corpus_dir / "tkrajina+gpxpy/test_files/Mojstrovka.gpx"
    if not moj.is_file():
        pytest.skip(f"{moj} not in the corpus")
    src = tmp_path / "watch"
    src.mkdir()
    (src / "Mojstrovka.gpx").write_bytes(moj.read_bytes())
    (src / "absurd.fit").write_bytes(absurd_fit())
    dbfile = tmp_path / "f.duckdb"
    run_sync([src], dbfile)
    with db.connection(dbfile, read_only=True) as con:
        status, reason = con.execute(
            "SELECT status, reason FROM files WHERE path LIKE '%Mojstrovka.gpx'").fetchone()
        assert status == "quarantined" and "1901-12-13" in reason and "1989-12-31" in reason
        assert con.execute("SELECT count(*) FROM daily_load WHERE local_date < DATE '1990-01-01'").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM daily_load").fetchone()[0] < 400


def test_distance_spikes_and_impossible_speeds_never_reach_the_metrics():
    """A one-sample spike of 4,000 km and a lasting 2,000 km step in the cumulative distance of a
    2-minute run, with a session total of 9,000 km: none of them reaches activity_metrics."""
    from pipelines.work import DeriveContext, decode_one

    t0 = T0 + timedelta(days=2)
    recs = [{"timestamp": t0 + timedelta(seconds=i), "heart_rate": 150, "distance": float(i * 3)}
            for i in range(120)]
    recs[50]["distance"] = 4_000_000.0
    for r in recs[80:]:
        r["distance"] += 2_000_000.0
    slow = {"avg_speed": 3.0, "max_speed": 3.0, "enhanced_avg_speed": 3.0, "enhanced_max_speed": 3.0}
    data = encode_activity(records=recs, laps=[{"timestamp": t0 + timedelta(seconds=119), **slow}],
                           session={"total_distance": 9_000_000.0, **slow})
    dec, metrics = decode_one(data, "spiky.fit", DeriveContext(athlete_id="a"))
    assert dec.status == "landed"
    assert dec.records[50, "distance_m"] is None and dec.records[80, "distance_m"] is None
    assert dec.activities["distance_m"].to_list() == [None]
    assert metrics["distance_m"].to_list() == [None]
    got = {(r["table_name"], r["column_name"]): r["n_rejected"] for r in dec.value_checks.to_dicts()}
    assert got == {("records", "distance_m"): 2, ("activities", "distance_m"): 1,
                   ("activity_metrics", "distance_m"): 1}


def test_data_test_names_implausible_activities_landed_before_the_checks(tmp_path):
    """sql/tests/assert_activities_in_plausible_window.sql: a 1901 activity (as an older
    footfall landed Mojstrovka.gpx) is named; the ordinary one is not."""
    from pipelines.sqlmodels import run_data_tests, run_models

    con = db.connect(tmp_path / "old.duckdb")
    try:
        db.migrate(con)
        for aid, start in (("old-0", datetime(1901, 12, 13, 20, 45)), ("new-0", datetime(2026, 1, 5, 8))):
            con.execute("INSERT INTO activities (athlete_id, activity_id, file_id, session_index, "
                        "source_format, sport, started_at, ended_at, local_date, distance_m, "
                        "elapsed_time_s, timer_time_s) VALUES ('t', ?, ?, 0, 'gpx', 'running', ?, ?, ?, "
                        "5000, 1800, 1800)",
                        [aid, aid, start, start + timedelta(minutes=30), start.date()])
        run_models(con, today=datetime(2026, 1, 10).date())
        assert run_data_tests(con)["assert_activities_in_plausible_window"] == 1
        con.execute("DELETE FROM activities WHERE activity_id = 'old-0'")
        run_models(con, today=datetime(2026, 1, 10).date())
        assert run_data_tests(con)["assert_activities_in_plausible_window"] == 0
    finally:
        con.close()
