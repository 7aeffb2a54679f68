"""Issue 14, returns after a break (SCIENCE.md s5, footfall choice): 14 or more days without
running make the next run a `return_after_break` flag (severity info); ACWR flags are suspended
until 28 days of data have refilled after it; a spike against the baseline emptied by the break
is 'no_baseline', as before.

Hand-worked histories as real FIT files through the real sync (tests/sql/flag_histories.py).
"""

from __future__ import annotations

import pytest

from models.thresholds import THRESHOLDS
from tests.sql.flag_histories import day, flags, rows, sync_runs

#: four weeks of 3 x 6 km, then a 6-week gap (42 days without running), then 3 x 5 km a week
BEFORE = [(w * 7 + d, 6) for w in range(4) for d in (0, 2, 4)]  # last run: day 25
RETURN_DAY = 25 + 43  # days 26..67 without running: 42 days
AFTER = [(RETURN_DAY + w * 7 + d, 5) for w in range(5) for d in (0, 2, 4)]


@pytest.fixture
def dbfile(tmp_path, prefect_harness, isolated_config):
    return tmp_path / "footfall.duckdb"


def test_a_six_week_gap_and_the_return(tmp_path, dbfile):
    today = day(RETURN_DAY + 34)
    sync_runs(tmp_path / "r", dbfile, BEFORE + AFTER, athlete="r", today=today)

    (f,) = flags(dbfile, "return_after_break", "r")
    t = THRESHOLDS["return_break_days"]
    assert (f["local_date"], f["severity"], f["comparison"]) == (day(RETURN_DAY), "info", ">=")
    assert (f["value"], f["threshold"], f["threshold_name"]) == (42, t.value, "return_break_days")
    assert f["source"] == "footfall choice"
    (first_run,) = rows(dbfile, "SELECT activity_id FROM session_spikes WHERE local_date = ?",
                        [day(RETURN_DAY)])
    assert f["activity_id"] == first_run["activity_id"]
    assert "42 days without running" in f["message"]

    # the return run has no baseline (its 30 days are empty), so no spike flag
    (s,) = rows(dbfile, "SELECT * FROM session_spikes WHERE local_date = ?", [day(RETURN_DAY)])
    assert s["band"] == "no_baseline"

    # ACWR after the return: computed and shown (high ratios on a refilling chronic load) ...
    acwr = rows(dbfile, "SELECT * FROM acwr_daily WHERE athlete_id = 'r' AND local_date >= ? "
                        "ORDER BY local_date", [day(RETURN_DAY)])
    suspended = [a for a in acwr if not a["is_flaggable"]]
    assert len(suspended) == 27  # days 1..27 of the 28 after the return
    assert max(a["acwr_uncoupled_distance"] or 0 for a in suspended) >= 1.5
    assert max(a["distance_acute_m"] for a in suspended) >= 10_000
    # ... and flagged nowhere while the chronic window refills
    assert flags(dbfile, "acwr_high", "r") == []
    (d,) = rows(dbfile, "SELECT * FROM daily_load WHERE athlete_id = 'r' AND local_date = ?", [today])
    assert (d["last_return_date"], d["load_history_days"]) == (day(RETURN_DAY), 35)


def test_the_suspension_is_what_keeps_acwr_quiet(tmp_path, dbfile):
    # the same history with the break rule off (a break must be 1000 days): the refilling ratio
    # raises acwr_high, which shows the suspension, not the floors, removed it above
    cfg = tmp_path / "footfall.toml"  # the config file isolated_config points FOOTFALL_CONFIG at
    cfg.write_text("[thresholds]\nreturn_break_days = 1000\n")
    sync_runs(tmp_path / "r", dbfile, BEFORE + AFTER, athlete="r", today=day(RETURN_DAY + 34))
    assert flags(dbfile, "return_after_break", "r") == []
    assert len(flags(dbfile, "acwr_high", "r")) >= 1


def test_near_miss_13_days_without_running_is_no_return(tmp_path, dbfile):
    runs = [(0, 5), (3, 5), (6, 5), (20, 5), (22, 5)]  # days 7..19 without running: 13 days
    sync_runs(tmp_path / "n", dbfile, runs, athlete="n", today=day(22))
    assert flags(dbfile, "return_after_break", "n") == []
    (d,) = rows(dbfile, "SELECT * FROM daily_load WHERE athlete_id = 'n' AND local_date = ?", [day(20)])
    assert (d["days_without_run_before"], d["is_return_after_break"]) == (13, False)
    # one more day makes it a return
    sync_runs(tmp_path / "m", dbfile, [(0, 5), (3, 5), (6, 5), (21, 5)], athlete="m", today=day(22))
    (f,) = flags(dbfile, "return_after_break", "m")
    assert (f["local_date"], f["value"]) == (day(21), 14)
