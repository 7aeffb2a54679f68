"""Issue 14, day_total_spike (SCIENCE.md s5, footfall choice after Frandsen et al. 2025): a day's
total running distance against the longest running DAY of the previous 30 days, with the single-
session bands. A double day raises ONE spike flag: on a day with two or more runs the day flag and
that day's session flags are compared and only the most severe is kept (a tie goes to the day);
single-run days are judged by the session rule alone.

Hand-worked histories as real FIT files through the real sync (tests/sql/flag_histories.py).
"""

from __future__ import annotations

import pytest

from tests.sql.flag_histories import day, flags, rows, sync_runs

#: every history starts on day 0, so a run on day 31 has a full 30-day window
BASE = [(0, 8), (10, 9.7), (20, 8)]


@pytest.fixture
def dbfile(tmp_path, prefect_harness, isolated_config):
    return tmp_path / "footfall.duckdb"


def spike_flags(dbfile, who):
    return rows(dbfile, "SELECT * FROM flags WHERE athlete_id = ? AND rule IN "
                        "('single_session_spike', 'day_total_spike') ORDER BY local_date", [who])


def test_a_25_km_double_day_raises_one_day_flag(tmp_path, dbfile):
    # the example: 12.5 + 12.5 km against a 9.7 km longest run (and longest day)
    sync_runs(tmp_path / "d", dbfile, BASE + [(31, 12.5, 7), (31, 12.5, 18)], athlete="d",
              today=day(31))
    (d,) = rows(dbfile, "SELECT * FROM daily_load WHERE athlete_id = 'd' AND local_date = ?", [day(31)])
    assert d["n_runs"] == 2
    assert d["baseline_day_m"] == pytest.approx(9700, abs=30)
    assert d["day_spike_ratio"] == pytest.approx(25 / 9.7 - 1, abs=0.01)
    assert d["day_band"] == "large"
    bands = [r["band"] for r in rows(dbfile, "SELECT band FROM session_spikes WHERE athlete_id = 'd' "
                                             "AND local_date = ? ORDER BY started_at", [day(31)])]
    assert bands == ["small", "reference"]  # the morning run alone is a caution-band spike
    (f,) = spike_flags(dbfile, "d")  # one flag, not a session flag and a day flag
    assert (f["rule"], f["severity"], f["activity_id"]) == ("day_total_spike", "alert", None)
    assert f["threshold_name"] == "spike_alert_ratio" and f["value"] > 1.0
    assert "25.0 km in 2 runs" in f["message"] and "(9.7 km)" in f["message"]
    assert "single runs are not flagged again" in f["message"]


def test_two_runs_each_below_the_bands_but_a_spike_together(tmp_path, dbfile):
    # 6 + 6 km: each run is below 9.7 km; the day (12 km) is +24% over the longest day
    sync_runs(tmp_path / "e", dbfile, BASE + [(31, 6, 7), (31, 6, 18)], athlete="e", today=day(31))
    (f,) = spike_flags(dbfile, "e")
    assert (f["rule"], f["severity"], f["local_date"]) == ("day_total_spike", "caution", day(31))
    assert f["value"] == pytest.approx(12 / 9.7 - 1, abs=0.01)


def test_near_misses_single_run_day_and_a_small_double_day(tmp_path, dbfile):
    # day 31: one 12 km run -> the session rule alone (caution), no day flag;
    # day 40: 5 + 5 km = 10 km against a 12 km longest day -> nothing
    sync_runs(tmp_path / "n", dbfile, BASE + [(31, 12), (40, 5, 7), (40, 5, 18)], athlete="n",
              today=day(40))
    (f,) = spike_flags(dbfile, "n")
    assert (f["rule"], f["severity"], f["local_date"]) == ("single_session_spike", "caution", day(31))
    (d40,) = rows(dbfile, "SELECT * FROM daily_load WHERE athlete_id = 'n' AND local_date = ?", [day(40)])
    assert d40["day_band"] == "reference"


def test_a_session_spike_larger_than_the_day_spike_is_the_one_flag(tmp_path, dbfile):
    # a 20 km double day (10 + 10) on day 5 makes the longest day 20 km; day 31: 25 + 1 km:
    # the 25 km run is +150% over the 10 km longest run (alert); the day is 26 / 20 - 1 = +30%
    # (the 'small' band, caution). One flag: the more severe, the session's alert
    base = [(0, 10), (5, 10, 7), (5, 10, 18), (20, 8)]
    sync_runs(tmp_path / "s", dbfile, base + [(31, 25, 7), (31, 1, 18)], athlete="s", today=day(31))
    (d,) = rows(dbfile, "SELECT * FROM daily_load WHERE athlete_id = 's' AND local_date = ?", [day(31)])
    assert d["day_band"] == "small"  # a day spike exists ...
    (f,) = spike_flags(dbfile, "s")  # ... but only the larger session spike is raised
    assert (f["rule"], f["severity"]) == ("single_session_spike", "alert")
    assert "not flagged again" in f["message"]


def test_the_data_test_catches_a_session_flag_beside_a_day_flag(tmp_path, dbfile):
    from pipelines import db
    from pipelines.sqlmodels import run_data_tests

    sync_runs(tmp_path / "t", dbfile, BASE + [(31, 6, 7), (31, 6, 18)], athlete="t", today=day(31))
    name = "assert_one_spike_flag_per_day_excess"
    with db.connection(dbfile) as con:
        assert run_data_tests(con)[name] == 0
        con.execute("INSERT INTO flags SELECT * REPLACE ('single_session_spike' AS rule, "
                    "'f0f0f0f0f0f0f0f0' AS flag_id) FROM flags WHERE rule = 'day_total_spike'")
        assert run_data_tests(con)[name] == 1
