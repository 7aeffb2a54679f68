"""Landing into a real DuckDB file: idempotence, one transaction per batch, the same run twice."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest

from ingest import schema
from ingest.schema import Decoded
from pipelines import db
from pipelines.land import land_results
from pipelines.work import FileResult


def _decoded(file_id: str, fmt: str, start: datetime, minutes: int, columns: list[str]) -> Decoded:
    aid = schema.activity_id_for(file_id, 0)
    n = minutes * 6
    times = [start + timedelta(seconds=10 * i) for i in range(n)]
    rec = {"activity_id": [aid] * n, "record_index": list(range(n)), "recorded_at": times}
    for c in columns:
        rec[c] = [1.0 + i for i in range(n)]
    acts = pl.DataFrame({
        "activity_id": [aid], "file_id": [file_id], "session_index": [0], "source_format": [fmt],
        "sport": ["running"], "started_at": [start], "ended_at": [times[-1]],
        "n_records": [n], "local_date": [start.date()],
    })
    fs = pl.DataFrame({"activity_id": [aid] * len(columns), "column_name": columns,
                       "source": [f"{fmt}:{c}" for c in columns], "n_values": [n] * len(columns)})
    return Decoded(file_id=file_id, format=fmt, activities=schema.conform(acts, "activities"),
                   records=schema.conform(pl.DataFrame(rec), "records"),
                   field_sources=schema.conform(fs, "field_sources"))


def _result(dec: Decoded, path: str) -> FileResult:
    return FileResult(path=path, member=None, name=path, file_id=dec.file_id, status=dec.status,
                      format=dec.format, size_bytes=100, decoded=dec)


def _counts(con) -> dict[str, int]:
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("files", "activities", "records", "activity_duplicates")}


@pytest.fixture()
def con(tmp_path):
    c = db.connect(tmp_path / "land.duckdb")
    db.migrate(c)
    yield c
    c.close()


START = datetime(2026, 3, 1, 7, 0, 0)
RICH = ["heart_rate_bpm", "cadence_raw", "ground_contact_time_ms", "latitude_deg", "longitude_deg"]
POOR = ["heart_rate_bpm", "latitude_deg", "longitude_deg"]


def test_landing_twice_changes_nothing(con):
    r = _result(_decoded("a" * 64, "fit", START, 30, RICH), "run.fit")
    st = land_results(con, [r], athlete_id="ana")
    assert st.activities == 1 and st.records == 180
    before = _counts(con)
    st2 = land_results(con, [r], athlete_id="ana")
    assert st2.skipped_known == 1 and st2.activities == 0
    assert _counts(con) == before


def test_same_run_from_two_sources_keeps_the_richer(con):
    fit = _result(_decoded("f" * 64, "fit", START, 30, RICH), "garmin.fit")
    gpx = _result(_decoded("g" * 64, "gpx", START + timedelta(seconds=3), 30, POOR), "strava.gpx")
    land_results(con, [gpx, fit], athlete_id="ana")  # poorer first in the batch
    acts = con.execute("SELECT activity_id, source_format FROM activities").fetchall()
    assert acts == [(schema.activity_id_for("f" * 64, 0), "fit")]
    st, dup = con.execute("SELECT status, duplicate_of FROM files WHERE file_id = ?", ["g" * 64]).fetchone()
    assert st == "duplicate" and dup == schema.activity_id_for("f" * 64, 0)
    assert con.execute("SELECT count(*) FROM activity_duplicates").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM records").fetchone()[0] == 180


def test_richer_copy_arriving_later_replaces_the_landed_one(con):
    gpx = _result(_decoded("g" * 64, "gpx", START, 30, POOR), "strava.gpx")
    land_results(con, [gpx], athlete_id="ana")
    fit = _result(_decoded("f" * 64, "fit", START - timedelta(seconds=20), 30, RICH), "garmin.fit")
    land_results(con, [fit], athlete_id="ana")
    assert con.execute("SELECT file_id FROM activities").fetchall() == [("f" * 64,)]
    assert con.execute("SELECT status FROM files WHERE file_id = ?", ["g" * 64]).fetchone()[0] == "duplicate"
    # the poorer copy's records are gone, the richer one's landed; the drop is recorded
    assert con.execute("SELECT count(DISTINCT activity_id) FROM records").fetchone()[0] == 1
    assert con.execute("SELECT activity_id FROM activity_duplicates").fetchall() == [
        (schema.activity_id_for("g" * 64, 0),)]


def test_different_runs_and_different_athletes_are_not_duplicates(con):
    a = _result(_decoded("a" * 64, "fit", START, 30, RICH), "a.fit")
    b = _result(_decoded("b" * 64, "gpx", START + timedelta(hours=3), 30, POOR), "b.gpx")
    land_results(con, [a, b], athlete_id="ana")
    c = _result(_decoded("c" * 64, "gpx", START, 30, POOR), "c.gpx")
    land_results(con, [c], athlete_id="ben")  # same time, another runner
    assert con.execute("SELECT count(*) FROM activities").fetchone()[0] == 3
    assert con.execute("SELECT count(*) FROM activity_duplicates").fetchone()[0] == 0


def test_a_failing_batch_leaves_the_database_as_before(con):
    good = _result(_decoded("a" * 64, "fit", START, 30, RICH), "a.fit")
    land_results(con, [good], athlete_id="ana")
    before = _counts(con)
    bad_dec = _decoded("b" * 64, "fit", START + timedelta(days=1), 30, RICH)
    # a lap row DuckDB refuses (text in an INTEGER column) after activities and records were inserted
    bad_dec.laps = pl.DataFrame({"activity_id": [schema.activity_id_for("b" * 64, 0)],
                                 "lap_index": ["not a number"]})
    with pytest.raises(Exception):
        land_results(con, [_result(bad_dec, "b.fit")], athlete_id="ana")
    assert _counts(con) == before
