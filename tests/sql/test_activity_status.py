"""int_activity_status: one decision per activity, with its reason; the runner's latest word wins.

Activities are written straight into the raw tables of a migrated DuckDB file (no sync), the models
are built with ``run_models`` and checked with the data tests of ``sql/tests``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from pipelines import db
from pipelines.sqlmodels import run_data_tests, run_models

from tests.conftest import TODAY

DAY = date(2026, 5, 4)


@pytest.fixture
def con(tmp_path):
    c = db.connect(tmp_path / "ff.duckdb")
    db.migrate(c)
    yield c
    c.close()


def add(con, n: int, sport: str | None, *, is_run: bool | None, reason: str | None = None,
        confidence: float | None = None, km: float = 8.0, metrics: bool = True) -> str:
    aid = f"{n:016x}-0"
    start = datetime(DAY.year, DAY.month, DAY.day, 7) + timedelta(days=n)
    con.execute(
        "INSERT INTO activities (athlete_id, activity_id, file_id, session_index, source_format, sport, "
        "started_at, ended_at, local_offset_s, local_date, elapsed_time_s, timer_time_s, distance_m) "
        "VALUES ('ana', ?, ?, 0, 'gpx', ?, ?, ?, 0, ?, 2880, 2880, ?)",
        [aid, f"{n:064x}", sport, start, start + timedelta(minutes=48), start.date(), km * 1000])
    con.execute("INSERT INTO files (file_id, path, athlete_id, status, n_activities, landed_at) "
                "VALUES (?, ?, 'ana', 'landed', 1, ?)", [f"{n:064x}", f"/exp/{n}.gpx", start])
    if metrics:
        con.execute(
            "INSERT INTO activity_metrics (activity_id, athlete_id, sport, sport_source, sport_confidence, "
            "sport_reason, is_run, started_at, local_date, distance_m, moving_time_s, elapsed_time_s, steps) "
            "VALUES (?, 'ana', ?, 'file', ?, ?, ?, ?, ?, ?, 2880, 2880, 8000)",
            [aid, sport, confidence, reason, is_run, start, start.date(), km * 1000])
    return aid


def say(con, oid: str, aid: str, kind: str, *, sport=None, reason=None, minute: int = 0) -> None:
    con.execute("INSERT INTO activity_overrides VALUES (?, 'ana', ?, ?, ?, ?, ?)",
                [oid, aid, kind, sport, reason, datetime(2026, 5, 20, 10, minute)])


def status(con) -> dict[str, tuple]:
    run_models(con, today=TODAY)
    failing = {k: v for k, v in run_data_tests(con).items() if v}
    assert not failing, failing
    return {r[0]: r[1:] for r in con.execute(
        "SELECT activity_id, final_sport, counts_as_running_load, running_load_reason "
        "FROM int_activity_status").fetchall()}


def test_the_models_decision_and_its_reason(con):
    run = add(con, 1, "running", is_run=True, reason="the file's label, plausible", confidence=0.95)
    ride = add(con, 2, "cycling", is_run=False, confidence=0.9,
               reason="inferred: moving speed 6.8 m/s for 40 min, cadence 80 rpm")
    bare = add(con, 3, "running", is_run=None, metrics=False)
    s = status(con)
    assert s[run] == ("running", True, "running: the file's label, plausible (confidence 0.95)")
    assert s[ride] == ("cycling", False,
                       "not a run: inferred: moving speed 6.8 m/s for 40 min, cadence 80 rpm (confidence 0.90)")
    assert s[bare] == ("running", True, "running: the file's label running (no metrics derived)")
    sessions = dict(con.execute("SELECT activity_id, running_distance_m FROM int_sessions").fetchall())
    assert sessions == {run: 8000.0, ride: None, bare: 8000.0}


def test_the_runners_latest_statement_wins(con):
    a = add(con, 1, "running", is_run=True, reason="label", confidence=1.0)
    b = add(con, 2, "hiking", is_run=False, reason="inferred: slow", confidence=0.6)
    c = add(con, 3, "running", is_run=True, reason="label", confidence=1.0)
    say(con, "00000001", a, "exclude", reason="knee", minute=1)
    say(con, "00000002", a, "include", minute=2)
    say(con, "00000003", a, "sport", sport="cycling", reason="was the bike", minute=3)
    say(con, "00000004", b, "include", reason="a slow trail run", minute=1)
    say(con, "00000005", c, "sport", sport="walking", minute=1)
    say(con, "00000006", c, "exclude", minute=2)
    s = status(con)
    assert s[a] == ("cycling", False, "sport set to cycling by the runner: was the bike")
    assert s[b] == ("hiking", True, "included by the runner: a slow trail run")
    assert s[c] == ("walking", False, "excluded by the runner: no reason given")
    load = dict(con.execute("SELECT local_date, running_distance_m FROM daily_load "
                            "WHERE athlete_id = 'ana' AND running_distance_m > 0").fetchall())
    assert load == {DAY + timedelta(days=2): 8000.0}  # only the hike the runner included
    audit = con.execute("SELECT check_name, outcome, effect FROM activity_audit WHERE activity_id = ? "
                        "ORDER BY row_order", [a]).fetchall()
    assert audit == [("running_load", "excluded", "excluded from running load"),
                     ("runner_override", "adjusted", "sport set to cycling by the runner")]


def test_a_statement_about_a_dropped_copy_follows_the_copy_kept(con):
    kept = add(con, 1, "running", is_run=True, reason="label", confidence=1.0)
    con.execute("INSERT INTO activity_duplicates (activity_id, file_id, athlete_id, duplicate_of, reason, "
                "detected_at) VALUES ('dropped-0', 'f', 'ana', ?, 'same run', TIMESTAMP '2026-05-20 09:00:00')",
                [kept])
    say(con, "00000001", "dropped-0", "exclude", reason="knee")
    assert status(con)[kept] == ("running", False, "excluded by the runner: knee")
