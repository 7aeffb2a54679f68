"""weekly_progression through the real sync: run-walk FIT files with known running and walking
minutes (synth/runwalk.py) land in DuckDB and the mart adds them up per ISO week, against the
runner's own previous 4 weeks (SCIENCE.md s5 "Run-walk progression": nothing flagged).

The history (local dates, Europe/Berlin winter time; weeks start on Monday):
  W1 Mon 02 Mar: two sessions "1:1 x 5" (160 spm)      -> run 10, walk 10 min, bout 1 min
  W2 Mon 09 Mar: two sessions "2:1 x 5" (160 spm)      -> run 20, walk 10, bout 2
  W3 Mon 16 Mar: nothing (a zero week inside the history)
  W4 Mon 23 Mar: "3:1 x 4" at 160 spm and a continuous 4-min run at 172 spm
                                                        -> run 16, walk 4, bout 4; cadence
                                                           time-weighted (12 x 160 + 4 x 172) / 16 = 163
  W5 Mon 30 Mar: "5:1 x 3" at 170 spm, and a 20-min walk (sport walking: not a run, not counted)
                                                        -> run 15, walk 3, bout 5, cadence 170
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from synth.runwalk import RUN_GCT_MS, WALK_SPM, pattern, run_walk_fit

TODAY = date(2026, 4, 5)  # the Sunday that ends W5
TOL_MIN = 0.1  # minutes: the first record of a file covers no time (models/gait.py)

#: (UTC start, segments, sport, file name)
HISTORY = [
    (datetime(2026, 3, 2, 6, 0), pattern(1, 1, 5), "running"),
    (datetime(2026, 3, 4, 6, 0), pattern(1, 1, 5), "running"),
    (datetime(2026, 3, 9, 6, 0), pattern(2, 1, 5), "running"),
    (datetime(2026, 3, 12, 6, 0), pattern(2, 1, 5), "running"),
    (datetime(2026, 3, 23, 6, 0), pattern(3, 1, 4), "running"),
    (datetime(2026, 3, 26, 6, 0), [("run", 240, 172)], "running"),
    (datetime(2026, 3, 31, 6, 0), pattern(5, 1, 3, run_spm=170), "running"),
    (datetime(2026, 4, 2, 16, 0), [("walk", 1200, WALK_SPM)], "walking"),
]


def write_history(folder: Path, history=HISTORY) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for start, segments, sport in history:
        (folder / f"{start:%Y-%m-%d-%H-%M}.fit").write_bytes(run_walk_fit(start, segments, sport=sport))
    return folder


@pytest.fixture(scope="module")
def synced_db(prefect_harness, tmp_path_factory) -> Path:
    from pipelines.flows import run_flow, sync

    root = tmp_path_factory.mktemp("progression")
    export = write_history(root / "export")
    dbfile = root / "rw.duckdb"
    run_flow(sync, paths=[str(export)], db=str(dbfile), athlete="rw", today=TODAY.isoformat())
    return dbfile


def _weeks(dbfile: Path) -> dict[date, dict]:
    with duckdb.connect(str(dbfile), read_only=True) as con:
        df = con.sql("SELECT * FROM weekly_progression WHERE athlete_id = 'rw' ORDER BY week_start_date").pl()
    return {r["week_start_date"]: r for r in df.to_dicts()}


W1, W2, W3, W4, W5 = (date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16), date(2026, 3, 23),
                      date(2026, 3, 30))


def test_the_walk_is_not_a_run_and_every_run_has_its_gait(synced_db):
    with duckdb.connect(str(synced_db), read_only=True) as con:
        n_runs, n_gait = con.execute("SELECT count(*), count(*) FILTER (WHERE has_gait) FROM int_run_gait").fetchall()[0]
        walks = con.execute("SELECT count(*) FROM int_sessions WHERE NOT is_run").fetchall()[0][0]
    assert (n_runs, n_gait, walks) == (7, 7, 1)


def test_running_and_walking_minutes_per_week(synced_db):
    w = _weeks(synced_db)
    assert sorted(w) == [W1, W2, W3, W4, W5]  # the zero week W3 is a row, no week after today
    expected = {W1: (10, 10, 1), W2: (20, 10, 2), W3: (0, 0, 0), W4: (16, 4, 4), W5: (15, 3, 5)}
    for week, (run, walk, bout) in expected.items():
        row = w[week]
        assert row["running_min"] == pytest.approx(run, abs=TOL_MIN), week
        assert row["walking_min"] == pytest.approx(walk, abs=TOL_MIN), week  # the 20-min walk is not here
        assert row["longest_run_bout_min"] == pytest.approx(bout, abs=TOL_MIN), week
    assert w[W3]["n_runs"] == 0 and w[W3]["run_walk_ratio"] is None  # no walking: no ratio
    assert w[W1]["run_walk_ratio"] == pytest.approx(1.0, abs=0.02)
    assert w[W2]["run_walk_ratio"] == pytest.approx(2.0, abs=0.03)
    assert w[W5]["run_walk_ratio"] == pytest.approx(5.0, abs=0.2)


def test_cadence_and_contact_time_are_running_only_and_time_weighted(synced_db):
    w = _weeks(synced_db)
    # walk breaks at 110 spm would pull W1 down to ~135 if they were counted
    assert w[W1]["cadence_run_spm"] == pytest.approx(160, abs=0.5)
    # 12 min at 160 and 4 min at 172: 163 weighted by running time (the runs' plain mean: 166)
    assert w[W4]["cadence_run_spm"] == pytest.approx(163, abs=0.5)
    assert w[W3]["cadence_run_spm"] is None
    assert w[W5]["ground_contact_time_run_ms"] == pytest.approx(RUN_GCT_MS, abs=1)


def test_each_week_against_the_previous_four(synced_db):
    w = _weeks(synced_db)
    for week in (W1, W2, W3, W4):  # fewer than 4 weeks before: no baseline
        assert w[week]["running_min_prev4_mean"] is None, week
    row = w[W5]
    base = (10 + 20 + 0 + 16) / 4  # the zero week counts
    assert row["running_min_prev4_mean"] == pytest.approx(base, abs=TOL_MIN)
    assert row["running_min_change"] == pytest.approx(15 - base, abs=TOL_MIN)
    assert row["running_min_change_pct"] == pytest.approx((15 / base - 1) * 100, abs=1)
    assert row["walking_min_prev4_mean"] == pytest.approx((10 + 10 + 0 + 4) / 4, abs=TOL_MIN)
    assert row["longest_run_bout_min_prev4_mean"] == pytest.approx((1 + 2 + 0 + 4) / 4, abs=TOL_MIN)
    # cadence: the weeks with a value (W3 has none) -> mean(160, 160, 163) = 161; +9 steps/min
    assert row["cadence_run_spm_prev4_mean"] == pytest.approx(161, abs=0.5)
    assert row["cadence_run_spm_change"] == pytest.approx(9, abs=0.5)


def test_a_cadence_change_is_shown_never_flagged(synced_db):
    with duckdb.connect(str(synced_db), read_only=True) as con:
        rules = {r[0] for r in con.execute("SELECT DISTINCT rule FROM flags").fetchall()}
    assert not {r for r in rules if "cadence" in r or "progression" in r}


def test_the_data_test_finds_lost_minutes_and_missing_weeks(synced_db, tmp_path):
    import shutil

    from pipelines.sqlmodels import run_data_tests

    name = "assert_progression_and_plan_consistent"
    p = tmp_path / "copy.duckdb"
    shutil.copy(synced_db, p)
    con = duckdb.connect(str(p))
    try:
        assert run_data_tests(con)[name] == 0
        con.execute("UPDATE weekly_progression SET walking_min = walking_min + 1 WHERE week_start_date = ?", [W2])
        assert run_data_tests(con)[name] == 1
        con.execute("DELETE FROM weekly_progression WHERE week_start_date = ?", [W3])  # a zero week
        assert run_data_tests(con)[name] == 2
    finally:
        con.close()
