"""Issue 14, floors (SCIENCE.md s5, footfall choice, configurable): a weekly ramp is flagged only
when the previous week had at least 10 km of running (ramp_min_prev_week_m) and the increase is
at least 5 km (ramp_min_increase_m); an ACWR flag only when the acute 7-day distance is at least
10 km (acwr_min_acute_m). Tiny bases are shown, not flagged.

Hand-worked histories as real FIT files through the real sync (tests/sql/flag_histories.py).
"""

from __future__ import annotations

import pytest

from models.thresholds import THRESHOLDS
from tests.sql.flag_histories import day, flags, rows, sync_runs


@pytest.fixture
def dbfile(tmp_path, prefect_harness, isolated_config):
    return tmp_path / "footfall.duckdb"


def test_floor_thresholds_are_configurable_footfall_choices():
    for name, v in (("ramp_min_prev_week_m", 10_000), ("ramp_min_increase_m", 5_000),
                    ("acwr_min_acute_m", 10_000)):
        assert (THRESHOLDS[name].value, THRESHOLDS[name].unit) == (v, "m")
        assert THRESHOLDS[name].source == "footfall choice"


def test_weekly_ramp_needs_a_10_km_base_and_a_5_km_increase(tmp_path, dbfile):
    # weeks from Monday day 0 (complete): two base weeks, then the judged week (day 14..)
    cases = {
        "flagged": ([6, 6], [9, 9]),  # 12 -> 18 km: +50%, +6 km, base 12 km
        "tiny": ([1.55, 1.55], [3, 3]),  # 3.1 -> 6.0 km: +94%, but base < 10 km
        "small": ([6, 6], [8, 8]),  # 12 -> 16 km: +33%, but +4 km < 5 km
    }
    for who, (base, judged) in cases.items():
        runs = [(0, base[0]), (2, base[1]), (7, base[0]), (9, base[1]),
                (14, judged[0]), (16, judged[1])]
        sync_runs(tmp_path / who, dbfile, runs, athlete=who, today=day(20))
    weeks = {r["athlete_id"]: r for r in rows(
        dbfile, "SELECT * FROM weekly_load WHERE week_start_date = ?", [day(14)])}
    assert weeks["flagged"]["distance_change_pct"] == pytest.approx(50, abs=1)
    assert weeks["tiny"]["distance_change_pct"] == pytest.approx(6 / 3.1 * 100 - 100, abs=1)
    assert weeks["small"]["distance_change_pct"] == pytest.approx(100 / 3, abs=1)
    assert weeks["small"]["distance_change_m"] == pytest.approx(4000, abs=30)
    assert all(w["has_ramp_history"] for w in weeks.values())

    (f,) = flags(dbfile, "weekly_ramp")
    assert (f["athlete_id"], f["local_date"], f["severity"]) == ("flagged", day(16), "caution")
    assert "Nielsen et al. 2014" in f["message"] and "weak evidence" in f["message"]


def test_acwr_flag_needs_10_km_in_the_acute_week(tmp_path, dbfile):
    # four weeks of a steady base, then a week of 1.75x (big) or 2x (tiny, acute < 10 km)
    big = [(d, 4) for d in (0, 3, 7, 10, 14, 17, 21, 24)] + [(28, 4.5), (30, 4.5), (32, 5)]
    tiny = [(d, 1.5) for d in (0, 3, 7, 10, 14, 17, 21, 24)] + [(28, 2), (30, 2), (32, 2)]
    sync_runs(tmp_path / "big", dbfile, big, athlete="big", today=day(34))
    sync_runs(tmp_path / "tiny", dbfile, tiny, athlete="tiny", today=day(34))

    peak = {r["athlete_id"]: r for r in rows(
        dbfile, "SELECT athlete_id, max(acwr_uncoupled_distance) AS acwr, "
                "max(distance_acute_m) AS acute_m FROM acwr_daily WHERE is_flaggable "
                "GROUP BY athlete_id")}
    assert peak["big"]["acwr"] >= 1.5 and peak["big"]["acute_m"] >= 10_000
    assert peak["tiny"]["acwr"] >= 1.5 and peak["tiny"]["acute_m"] < 10_000  # shown ...
    assert flags(dbfile, "acwr_high", "tiny") == []  # ... not flagged
    (f,) = flags(dbfile, "acwr_high", "big")
    # day 30: 4 + 4.5 + 4.5 = 13 km over days 24..30 vs 24 km / 3 = 8 km/week (days 3..23): 1.63
    assert f["local_date"] == day(30)
    assert f["value"] >= 1.5
