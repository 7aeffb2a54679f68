"""Issue 14, enough history (SCIENCE.md s5, footfall choice): a spike is flagged only when the
runner's data covers the whole 30 days before the run; a weekly ramp only after two complete
weeks. Before that the values are computed and shown, flagged nowhere.

Hand-worked histories as real FIT files through the real sync (tests/sql/flag_histories.py).
"""

from __future__ import annotations

import pytest

from tests.sql.flag_histories import day, flags, rows, sync_runs


@pytest.fixture
def dbfile(tmp_path, prefect_harness, isolated_config):
    return tmp_path / "footfall.duckdb"


def test_spike_is_flagged_only_when_the_data_covers_the_30_days_before_it(tmp_path, dbfile):
    # full: first run on day 0, the 12 km run on day 30 (30 days later): +50% over 8 km -> warning
    sync_runs(tmp_path / "full", dbfile, [(0, 8), (15, 8), (30, 12)], athlete="full", today=day(30))
    # near miss: the same runs, but the first is on day 1: 29 days of data before the 12 km run
    sync_runs(tmp_path / "short", dbfile, [(1, 8), (15, 8), (30, 12)], athlete="short", today=day(30))

    spikes = {r["athlete_id"]: r for r in rows(
        dbfile, "SELECT * FROM session_spikes WHERE local_date = ?", [day(30)])}
    for who in ("full", "short"):  # the ratio is computed and shown either way
        assert spikes[who]["baseline_distance_m"] == pytest.approx(8000, abs=20)
        assert spikes[who]["spike_ratio"] == pytest.approx(0.5, abs=0.01)
        assert spikes[who]["band"] == "moderate"
    assert spikes["full"]["has_full_window"] is True
    assert spikes["short"]["has_full_window"] is False

    (f,) = flags(dbfile, "single_session_spike", "full")
    assert (f["local_date"], f["severity"]) == (day(30), "warning")
    assert f["activity_id"] == spikes["full"]["activity_id"]
    assert flags(dbfile, "single_session_spike", "short") == []


def test_day_total_spike_needs_the_full_window_too(tmp_path, dbfile):
    # a double day (6 + 6 km) against a 9 km longest day: +33% -> warning, only with the window
    sync_runs(tmp_path / "full", dbfile, [(0, 9), (15, 9), (30, 6, 7), (30, 6, 18)],
              athlete="full", today=day(30))
    sync_runs(tmp_path / "short", dbfile, [(1, 9), (15, 9), (30, 6, 7), (30, 6, 18)],
              athlete="short", today=day(30))
    days = {r["athlete_id"]: r for r in rows(
        dbfile, "SELECT * FROM daily_load WHERE local_date = ?", [day(30)])}
    for who in ("full", "short"):
        assert days[who]["day_spike_ratio"] == pytest.approx(12 / 9 - 1, abs=0.01)
        assert days[who]["day_band"] == "moderate"
    assert (days["full"]["has_spike_window"], days["short"]["has_spike_window"]) == (True, False)
    (f,) = flags(dbfile, "day_total_spike", "full")
    assert (f["local_date"], f["severity"]) == (day(30), "warning")
    assert flags(dbfile, "day_total_spike", "short") == []


def test_weekly_ramp_waits_for_two_complete_weeks(tmp_path, dbfile):
    # weeks from Monday day 0: 12 km, 12 km, then 20 km (+67%, +8 km, base >= 10 km)
    full = [(0, 6), (2, 6), (7, 6), (9, 6), (14, 10), (16, 10)]
    sync_runs(tmp_path / "full", dbfile, full, athlete="full", today=day(20))
    # near miss: the first week starts on Tuesday (partial): only one complete week before
    short = [(1, 6), (3, 6), (7, 6), (9, 6), (14, 10), (16, 10)]
    sync_runs(tmp_path / "short", dbfile, short, athlete="short", today=day(20))

    weeks = {r["athlete_id"]: r for r in rows(
        dbfile, "SELECT * FROM weekly_load WHERE week_start_date = ?", [day(14)])}
    for who in ("full", "short"):  # the change is shown either way
        assert weeks[who]["distance_change_pct"] == pytest.approx(200 / 3, abs=1)
    assert (weeks["full"]["has_ramp_history"], weeks["short"]["has_ramp_history"]) == (True, False)
    (f,) = flags(dbfile, "weekly_ramp", "full")
    assert f["local_date"] == day(16)  # Monday 10 km vs 12 km: not yet; Wednesday 20 km: +67%
    assert flags(dbfile, "weekly_ramp", "short") == []
