"""The SQL models (sql/10_staging .. 30_marts) on hand-worked histories, in real DuckDB files.

Each history is written straight into the raw tables (``activities`` and ``activity_metrics``)
after ``db.migrate``; ``pipelines.sqlmodels.run_models`` builds the models and every build is
checked with the data tests of ``sql/tests`` (each must return no rows).
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
import statistics
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from ingest import schema
from models.thresholds import THRESHOLDS
from pipelines import db
from pipelines.sqlmodels import (
    ModelError,
    ModelsNotBuilt,
    discover_models,
    query_flags,
    run_data_tests,
    run_models,
    threshold_values,
)

MONDAY = date(2024, 3, 4)  # an ISO week starts here
_seq = itertools.count()


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "footfall.duckdb"


@pytest.fixture
def con(db_path):
    c = db.connect(db_path)
    db.migrate(c)
    yield c
    c.close()


def at(day: date, hh: int = 7, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm)


def add_activity(
    con,
    start_utc: datetime,
    distance_m: float | None,
    *,
    athlete: str = "runner",
    offset_s: int = 0,
    sport: str = "running",
    is_run: bool | None = None,
    moving_time_s: float | None = None,
    steps: float | None = None,
    trimp_au: float | None = None,
    metrics: bool = True,
) -> str:
    """One activity in ``activities`` (and ``activity_metrics`` unless ``metrics=False``).

    ``local_date`` is computed as the landing does: the date of started_at + local offset.
    """
    file_id = hashlib.sha256(f"test-file-{next(_seq)}".encode()).hexdigest()
    aid = schema.activity_id_for(file_id, 0)
    local_date = (start_utc + timedelta(seconds=offset_s)).date()
    moving = moving_time_s if moving_time_s is not None else (distance_m or 0) * 0.33  # 5:30/km
    con.execute(
        "INSERT INTO activities (athlete_id, activity_id, file_id, session_index, source_format, "
        "sport, started_at, ended_at, local_offset_s, local_date, elapsed_time_s, timer_time_s, "
        "distance_m) VALUES (?, ?, ?, 0, 'fit', ?, ?, ?, ?, ?, ?, ?, ?)",
        [athlete, aid, file_id, sport, start_utc, start_utc + timedelta(seconds=moving), offset_s,
         local_date, moving, moving, distance_m],
    )
    if metrics:
        con.execute(
            "INSERT INTO activity_metrics (activity_id, athlete_id, sport, is_run, started_at, "
            "local_date, distance_m, moving_time_s, elapsed_time_s, steps, trimp_au) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [aid, athlete, sport, sport == "running" if is_run is None else is_run, start_utc,
             local_date, distance_m, moving, moving, steps, trimp_au],
        )
    return aid


def cover_history(con, first_day: date, athlete: str = "runner") -> str:
    """A 3 km walk on ``first_day``: the runner's data starts there (issue 14: a spike is flagged
    only when the runner's data covers the 30 days before the run, a ramp only after two complete
    weeks). A walk adds no running distance, so no running baseline changes."""
    return add_activity(con, at(first_day, 12), 3_000, athlete=athlete, sport="walking")


def build(con, today: date, **overrides) -> list[str]:
    """Build the models and check that every data test returns no rows."""
    built = run_models(con, today=today, overrides=overrides or None)
    failures = {k: v for k, v in run_data_tests(con).items() if v}
    assert failures == {}, f"data tests returned rows: {failures}"
    return built


def rows(con, sql: str, params=None) -> list[dict]:
    return con.sql(sql, params=params).pl().to_dicts()


def flags_of(con, rule: str | None = None) -> list[dict]:
    q = "SELECT * FROM flags" + (" WHERE rule = ?" if rule else "") + " ORDER BY local_date, flag_id"
    return rows(con, q, [rule] if rule else None)


def spike_of(con, activity_id: str) -> dict:
    (r,) = rows(con, "SELECT * FROM session_spikes WHERE activity_id = ?", [activity_id])
    return r


# --------------------------------------------------------------------------- single-session spike


#: (distance of the test run, band, severity, threshold name, percentage in the message)
SPIKE_CASES = [
    (10_500, "reference", None, None, None),
    (11_000, "reference", None, None, None),  # exactly +10% is not >10%
    (12_000, "small", "caution", "spike_caution_ratio", "20%"),
    (13_000, "small", "caution", "spike_caution_ratio", "30%"),  # exactly +30%
    (16_000, "moderate", "warning", "spike_warning_ratio", "60%"),
    (20_000, "moderate", "warning", "spike_warning_ratio", "100%"),  # exactly +100%
    (25_000, "large", "alert", "spike_alert_ratio", "150%"),
]


def test_spike_bands_and_flags_against_the_30_day_longest_run(con):
    # one athlete per case, so that the histories (and baselines) never mix; in each, a 15 km run
    # 35 days before the test run is outside the window, and inside it the longest run is 10 km
    d = MONDAY
    test_runs = {}
    for distance_m, *_ in SPIKE_CASES:
        who = f"runner-{distance_m}"
        add_activity(con, at(d - timedelta(days=23)), 15_000, athlete=who)
        add_activity(con, at(d), 8_000, athlete=who)
        add_activity(con, at(d + timedelta(days=3)), 10_000, athlete=who)
        add_activity(con, at(d + timedelta(days=6)), 6_000, athlete=who)
        test_runs[distance_m] = add_activity(con, at(d + timedelta(days=12)), distance_m, athlete=who)
    build(con, today=d + timedelta(days=20))

    for distance_m, band, severity, threshold_name, pct_text in SPIKE_CASES:
        run = test_runs[distance_m]
        s = spike_of(con, run)
        assert s["baseline_distance_m"] == 10_000, distance_m
        assert s["n_runs_lookback"] == 3, distance_m
        assert s["spike_ratio"] == pytest.approx(distance_m / 10_000 - 1, abs=1e-9)
        assert s["band"] == band, distance_m

        spikes = rows(con, "SELECT * FROM flags WHERE rule = 'single_session_spike' "
                           "AND athlete_id = ?", [f"runner-{distance_m}"])
        if severity is None:
            assert spikes == [], distance_m
            continue
        assert len(spikes) == 1, distance_m
        (f,) = spikes
        t = THRESHOLDS[threshold_name]
        assert f["activity_id"] == run
        assert f["local_date"] == d + timedelta(days=12)
        assert f["severity"] == severity, distance_m
        assert f["value"] == pytest.approx(distance_m / 10_000 - 1, abs=1e-9)
        assert (f["threshold"], f["threshold_name"], f["unit"]) == (t.value, threshold_name, t.unit)
        assert (f["source"], f["note"]) == ("Frandsen et al. 2025", t.note)
        assert f["comparison"] == ">"
        assert f"({distance_m / 1000:.1f} km)" in f["message"]
        assert f"was {pct_text} longer" in f["message"]
        assert "previous 30 days (10.0 km)" in f["message"]


def test_earlier_run_on_the_same_day_is_the_baseline(con):
    cover_history(con, MONDAY - timedelta(days=30))  # issue 14: a full 30-day window
    morning = add_activity(con, at(MONDAY, 7), 5_000)
    evening = add_activity(con, at(MONDAY, 18), 10_000)
    build(con, today=MONDAY)
    assert spike_of(con, morning)["band"] == "no_baseline"
    ev = spike_of(con, evening)
    assert (ev["baseline_distance_m"], ev["baseline_activity_id"]) == (5_000, morning)
    assert (ev["spike_ratio"], ev["band"]) == (1.0, "moderate")
    (f,) = flags_of(con, "single_session_spike")
    assert (f["activity_id"], f["severity"]) == (evening, "warning")  # +100% is not > 100%


def test_runs_starting_at_the_same_instant_are_not_each_others_baseline(con):
    add_activity(con, at(MONDAY), 10_000)
    a = add_activity(con, at(MONDAY + timedelta(days=1)), 8_000)
    b = add_activity(con, at(MONDAY + timedelta(days=1)), 12_000)
    build(con, today=MONDAY + timedelta(days=1))
    assert spike_of(con, a)["baseline_distance_m"] == 10_000
    assert spike_of(con, b)["baseline_distance_m"] == 10_000


def test_lookback_includes_exactly_30_days_back_and_no_more(con):
    t0 = at(MONDAY, 8)
    add_activity(con, t0, 20_000, athlete="a")
    inside = add_activity(con, t0 + timedelta(days=30), 12_000, athlete="a")
    add_activity(con, t0, 20_000, athlete="b")
    outside = add_activity(con, t0 + timedelta(days=30, minutes=1), 12_000, athlete="b")
    build(con, today=MONDAY + timedelta(days=31))
    s_in = spike_of(con, inside)
    assert (s_in["baseline_distance_m"], s_in["band"]) == (20_000, "reference")
    assert s_in["spike_ratio"] == pytest.approx(-0.4, abs=1e-9)
    s_out = spike_of(con, outside)
    assert (s_out["baseline_distance_m"], s_out["spike_ratio"], s_out["band"]) == (
        None, None, "no_baseline")


def test_a_40_day_gap_gives_no_baseline_and_no_flag(con):
    add_activity(con, at(MONDAY), 10_000)
    comeback = add_activity(con, at(MONDAY + timedelta(days=40)), 25_000)
    build(con, today=MONDAY + timedelta(days=41))
    s = spike_of(con, comeback)
    assert (s["spike_ratio"], s["baseline_distance_m"], s["n_runs_lookback"], s["band"]) == (
        None, None, 0, "no_baseline")
    assert flags_of(con, "single_session_spike") == []


def test_runs_without_distance_are_not_baselines(con):
    add_activity(con, at(MONDAY), 10_000)
    treadmill = add_activity(con, at(MONDAY + timedelta(days=1)), None, moving_time_s=1800)
    after = add_activity(con, at(MONDAY + timedelta(days=2)), 12_000)
    build(con, today=MONDAY + timedelta(days=2))
    assert spike_of(con, treadmill)["band"] == "no_distance"
    assert spike_of(con, after)["baseline_distance_m"] == 10_000


# --------------------------------------------------------------------------- weekly ramp


def test_weekly_ramp_30_to_40_km_is_flagged_30_to_38_is_not(con):
    cases = {40: True, 38: False, 39: False}  # 39 km is exactly +30%: not >30%
    for km in cases:  # one athlete per case
        for day in (0, 2, 4):  # week 1: 3 x 10 km
            add_activity(con, at(MONDAY + timedelta(days=day)), 10_000, athlete=f"w{km}")
        cover_history(con, MONDAY - timedelta(days=7), athlete=f"w{km}")  # issue 14: 2 full weeks
        for day in (7, 9, 11):  # week 2: 3 x 10 km and a Sunday run making up the rest
            add_activity(con, at(MONDAY + timedelta(days=day)), 10_000, athlete=f"w{km}")
        add_activity(con, at(MONDAY + timedelta(days=13)), (km - 30) * 1000, athlete=f"w{km}")
    build(con, today=MONDAY + timedelta(days=13))

    for km, flagged in cases.items():
        weeks = rows(con, "SELECT * FROM weekly_load WHERE athlete_id = ? AND week_start_date >= ? "
                          "ORDER BY week_start_date", [f"w{km}", MONDAY])
        assert [w["week_start_date"] for w in weeks] == [MONDAY, MONDAY + timedelta(days=7)]
        assert [w["running_distance_m"] for w in weeks] == [30_000, km * 1000]
        assert [w["n_runs"] for w in weeks] == [3, 4]
        assert [w["longest_run_m"] for w in weeks] == [10_000, 10_000]
        assert weeks[0]["distance_change_pct"] is None  # no week before the first
        assert weeks[1]["distance_change_pct"] == pytest.approx((km / 30 - 1) * 100, abs=1e-9)
        ramps = rows(con, "SELECT * FROM flags WHERE rule = 'weekly_ramp' AND athlete_id = ?",
                     [f"w{km}"])
        assert len(ramps) == (1 if flagged else 0), km

    (f,) = rows(con, "SELECT * FROM flags WHERE rule = 'weekly_ramp'")
    t = THRESHOLDS["weekly_ramp_pct"]
    assert f["athlete_id"] == "w40"
    assert f["local_date"] == MONDAY + timedelta(days=13)  # the Sunday run passed +30%
    assert (f["activity_id"], f["severity"], f["comparison"]) == (None, "caution", ">")
    assert f["value"] == pytest.approx(100 / 3, abs=1e-8)
    assert (f["threshold"], f["source"], f["note"]) == (30, "Nielsen et al. 2014", t.note)
    assert "not significant" in f["note"]
    assert "40.0 km of running, 33% more than the week before (30.0 km)" in f["message"]


def test_weekly_ramp_is_dated_on_the_day_the_week_passed_the_threshold(con):
    cover_history(con, MONDAY - timedelta(days=7))  # issue 14: two complete weeks before week 2
    for day in (0, 2, 4):
        add_activity(con, at(MONDAY + timedelta(days=day)), 10_000)
    add_activity(con, at(MONDAY + timedelta(days=8)), 20_000)  # Tue: 20 km so far
    add_activity(con, at(MONDAY + timedelta(days=10)), 20_000)  # Thu: 40 km > 39 km
    add_activity(con, at(MONDAY + timedelta(days=12)), 5_000)  # Sat: 45 km
    build(con, today=MONDAY + timedelta(days=13))
    (f,) = flags_of(con, "weekly_ramp")
    assert f["local_date"] == MONDAY + timedelta(days=10)
    assert f["value"] == pytest.approx(50.0, abs=1e-9)  # the whole week: 45 vs 30 km


def test_a_partial_first_week_is_not_a_baseline_for_the_ramp(con):
    add_activity(con, at(MONDAY - timedelta(days=1)), 5_000)  # a lone Sunday run
    for day in (0, 2, 4):
        add_activity(con, at(MONDAY + timedelta(days=day)), 10_000)
    for day in (7, 9, 11, 13):
        add_activity(con, at(MONDAY + timedelta(days=day)), 10_000)
    build(con, today=MONDAY + timedelta(days=13))
    weeks = rows(con, "SELECT * FROM weekly_load ORDER BY week_start_date")
    assert [(w["n_days"], w["is_complete_week"]) for w in weeks] == [(1, False), (7, True), (7, True)]
    assert weeks[1]["distance_change_pct"] is None  # 30 km after a 1-day week of 5 km: unknown
    assert weeks[2]["distance_change_pct"] == pytest.approx(100 / 3, abs=1e-9)
    # issue 14: only one complete week before week 3, so the change is shown, not flagged ...
    assert flags_of(con, "weekly_ramp") == []
    # ... and with one complete week enough, the partial first week still serves as no base
    build(con, today=MONDAY + timedelta(days=13), ramp_history_weeks=1)
    assert [f["local_date"] for f in flags_of(con, "weekly_ramp")] == [MONDAY + timedelta(days=13)]


# --------------------------------------------------------------------------- calendar and dates


def test_runs_count_on_their_local_date_not_the_utc_date(con):
    # Berlin winter (+1 h): 22:30 UTC is 23:30 local the same day; 23:30 UTC is 00:30 local next day
    late = add_activity(con, datetime(2024, 3, 6, 22, 30), 10_000, offset_s=3600)
    after_midnight = add_activity(con, datetime(2024, 3, 7, 23, 30), 8_000, offset_s=3600)
    # New York (-4 h): Sunday 23:30 local is Monday 03:30 UTC, and stays in the Sunday's ISO week
    sunday_night = add_activity(con, datetime(2024, 3, 11, 3, 30), 6_000, offset_s=-4 * 3600)
    build(con, today=date(2024, 3, 12))

    local = dict(con.execute("SELECT activity_id, local_date FROM int_sessions").fetchall())
    assert local == {late: date(2024, 3, 6), after_midnight: date(2024, 3, 8),
                     sunday_night: date(2024, 3, 10)}
    daily = dict(con.execute(
        "SELECT local_date, running_distance_m FROM daily_load WHERE athlete_id = 'runner'"
    ).fetchall())
    assert daily[date(2024, 3, 6)] == 10_000
    assert daily[date(2024, 3, 7)] == 0  # the UTC date of the second run
    assert daily[date(2024, 3, 8)] == 8_000
    assert daily[date(2024, 3, 10)] == 6_000
    assert daily[date(2024, 3, 11)] == 0  # the UTC date of the Sunday-night run
    weeks = dict(con.execute("SELECT week_start_date, running_distance_m FROM weekly_load").fetchall())
    assert weeks == {date(2024, 3, 4): 24_000, date(2024, 3, 11): 0}


def test_rest_days_are_zero_rows_and_unknowns_stay_null(con):
    add_activity(con, at(MONDAY), 10_000, steps=9_000, trimp_au=80, athlete="hr")
    add_activity(con, at(MONDAY + timedelta(days=5)), 12_000, steps=10_500, trimp_au=95, athlete="hr")
    # the same day, a ride without TRIMP: the day's TRIMP is unknown, not 95
    add_activity(con, at(MONDAY + timedelta(days=5), 17), 30_000, sport="cycling",
                 moving_time_s=3600, athlete="hr")
    add_activity(con, at(MONDAY), 10_000, athlete="gpx")  # no TRIMP ever, no steps
    build(con, today=MONDAY + timedelta(days=9))

    hr = rows(con, "SELECT * FROM daily_load WHERE athlete_id = 'hr' ORDER BY local_date")
    assert [r["local_date"] for r in hr] == [MONDAY + timedelta(days=i) for i in range(10)]
    assert [r["day_index"] for r in hr] == list(range(1, 11))
    assert [r["running_distance_m"] for r in hr] == [10_000, 0, 0, 0, 0, 12_000, 0, 0, 0, 0]
    assert [r["n_runs"] for r in hr] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    assert [r["steps"] for r in hr] == [9_000, 0, 0, 0, 0, 10_500, 0, 0, 0, 0]
    assert [r["trimp_au"] for r in hr] == [80, 0, 0, 0, 0, None, 0, 0, 0, 0]
    assert [r["longest_run_m"] for r in hr] == [10_000] + [None] * 4 + [12_000] + [None] * 4
    assert hr[5]["duration_s"] == pytest.approx(12_000 * 0.33 + 3600)
    assert hr[5]["running_moving_time_s"] == pytest.approx(12_000 * 0.33)
    assert hr[5]["n_activities"] == 2
    assert {r["srpe_load_au"] for r in hr} == {None}  # no RPE logged (stg_session_rpe is empty)

    gpx = rows(con, "SELECT * FROM daily_load WHERE athlete_id = 'gpx' ORDER BY local_date")
    assert len(gpx) == 10
    assert {r["trimp_au"] for r in gpx} == {None}
    assert gpx[0]["n_runs_without_steps"] == 1

    w, rest_week = rows(con, "SELECT * FROM weekly_load WHERE athlete_id = 'hr' ORDER BY 2")
    assert (w["running_distance_m"], w["n_runs"], w["duration_s"], w["trimp_au"]) == (
        22_000, 2, pytest.approx(22_000 * 0.33 + 3600), None)
    assert (rest_week["running_distance_m"], rest_week["n_days"], rest_week["trimp_au"]) == (0, 3, 0)


def test_cross_training_counts_in_duration_only_and_missing_metrics_fall_back(con):
    add_activity(con, at(MONDAY), 30_000, sport="cycling", moving_time_s=3600, steps=None)
    # a run landed before its metrics were computed: the activity summary stands in
    add_activity(con, at(MONDAY + timedelta(days=1)), 8_000, moving_time_s=2700, metrics=False)
    build(con, today=MONDAY + timedelta(days=1))
    d = rows(con, "SELECT * FROM daily_load ORDER BY local_date")
    assert [(r["running_distance_m"], r["duration_s"], r["n_runs"]) for r in d] == [
        (0, 3600, 0), (8_000, 2700, 1)]
    assert con.execute("SELECT count(*) FROM session_spikes").fetchall() == [(1,)]


def test_calendar_reaches_the_last_activity_when_today_is_earlier(con):
    add_activity(con, at(MONDAY), 5_000)
    add_activity(con, at(MONDAY + timedelta(days=3)), 5_000)
    build(con, today=MONDAY + timedelta(days=1))
    assert con.execute("SELECT max(local_date) FROM daily_load").fetchall() == [
        (MONDAY + timedelta(days=3),)]


# --------------------------------------------------------------------------- ACWR


def _ewma(xs: list[float], n: int) -> list[float]:
    lam = 2 / (n + 1)
    out = [xs[0]]  # seeded with the first day's load
    for x in xs[1:]:
        out.append(lam * x + (1 - lam) * out[-1])
    return out


def test_acwr_ewma_and_rolling_ratios_equal_a_hand_computation(con):
    rng = random.Random(4)
    first = MONDAY
    n_days = 75
    dist = [0.0] * n_days
    dur = [0.0] * n_days
    steps = [0.0] * n_days
    add_activity(con, at(first), 20_000, sport="cycling", moving_time_s=3000)  # day 1: no running
    dur[0] += 3000
    for i in range(1, n_days):
        for hh in (7, 18) if i % 9 == 0 else (7,):  # some double days
            if rng.random() < 0.6:
                d = rng.randrange(3_000, 22_000)
                mt = d * rng.uniform(0.28, 0.4)
                st = d * rng.uniform(1.3, 1.6)
                add_activity(con, at(first + timedelta(days=i), hh), d, moving_time_s=mt, steps=st)
                dist[i] += d
                dur[i] += mt
                steps[i] += st
    build(con, today=first + timedelta(days=n_days - 1))

    got = rows(con, "SELECT * FROM acwr_daily ORDER BY local_date")
    assert len(got) == n_days
    for unit, xs, suffix in (("distance", dist, "_m"), ("duration", dur, "_s"), ("steps", steps, "")):
        e7, e28 = _ewma(xs, 7), _ewma(xs, 28)
        for i, r in enumerate(got):
            assert abs(r[f"{unit}_ewma_acute{suffix}"] - e7[i]) <= 1e-9
            assert abs(r[f"{unit}_ewma_chronic{suffix}"] - e28[i]) <= 1e-9
            acute = sum(xs[max(0, i - 6): i + 1])
            assert r[f"{unit}_acute{suffix}"] == pytest.approx(acute, rel=1e-12, abs=1e-9)
            if i < 27:  # the first 27 days: no ratio
                assert r[f"acwr_ewma_{unit}"] is None
                assert r[f"acwr_coupled_{unit}"] is None
                assert r[f"acwr_uncoupled_{unit}"] is None
                continue
            chronic_coupled = sum(xs[i - 27: i + 1]) / 4
            chronic_uncoupled = sum(xs[i - 27: i - 6]) / 3
            assert abs(r[f"acwr_ewma_{unit}"] - e7[i] / e28[i]) <= 1e-9
            assert r[f"acwr_coupled_{unit}"] == pytest.approx(acute / chronic_coupled, rel=1e-12)
            assert r[f"acwr_uncoupled_{unit}"] == pytest.approx(acute / chronic_uncoupled, rel=1e-12)
    assert got[0]["distance_ewma_acute_m"] == 0.0  # seeded with day 1's (zero) running distance
    assert got[0]["duration_ewma_chronic_s"] == 3000.0


def test_acwr_high_is_flagged_once_per_episode_at_or_above_1_5(con):
    # weeks 1-3: 20 km a week; week 4: 30 km -> on day 28 the uncoupled ratio is 30 / 20 = 1.5
    for week in range(3):
        for day in (0, 3):
            add_activity(con, at(MONDAY + timedelta(days=7 * week + day)), 10_000)
    for day in (21, 24, 27, 28, 30):
        add_activity(con, at(MONDAY + timedelta(days=day)), 10_000)
    build(con, today=MONDAY + timedelta(days=34))

    high = [r["local_date"] for r in rows(
        con, "SELECT local_date FROM acwr_daily WHERE acwr_uncoupled_distance >= 1.5 ORDER BY 1")]
    assert high[0] == MONDAY + timedelta(days=27) and len(high) >= 3
    (f,) = flags_of(con, "acwr_high")
    t = THRESHOLDS["acwr_caution"]
    assert f["local_date"] == MONDAY + timedelta(days=27)
    assert (f["value"], f["comparison"], f["threshold"], f["severity"]) == (1.5, ">=", 1.5, "caution")
    assert (f["source"], f["note"]) == ("Gabbett 2016", t.note)
    assert "Impellizzeri" in f["note"]
    assert "30.0 km" in f["message"] and "20.0 km" in f["message"]
    assert "not a risk score" in f["message"]


# --------------------------------------------------------------------------- monotony


def test_monotony_flag_once_per_complete_week_and_null_when_sd_is_zero(con):
    for day in range(6):  # week 1: Mon-Sat 10 km, Sunday rest
        add_activity(con, at(MONDAY + timedelta(days=day)), 10_000)
    for day in range(7, 14):  # week 2: 10 km every day: SD 0
        add_activity(con, at(MONDAY + timedelta(days=day)), 10_000)
    add_activity(con, at(MONDAY + timedelta(days=14)), 10_000)  # week 3 (partial)
    build(con, today=MONDAY + timedelta(days=16))

    week1 = [10_000.0] * 6 + [0.0]
    monotony = statistics.mean(week1) / statistics.stdev(week1)
    weeks = rows(con, "SELECT * FROM weekly_load ORDER BY week_start_date")
    assert weeks[0]["monotony"] == pytest.approx(monotony, rel=1e-12)
    assert weeks[0]["strain_m"] == pytest.approx(60_000 * monotony, rel=1e-12)
    assert weeks[1]["sd_daily_distance_m"] == 0 and weeks[1]["monotony"] is None
    assert weeks[2]["monotony"] is None  # partial week
    (f,) = flags_of(con, "monotony")
    assert f["local_date"] == MONDAY + timedelta(days=6)
    assert f["value"] == pytest.approx(monotony, abs=1e-9)
    assert f["threshold"] == 2.0 and f["source"] == "Foster 1998"
    assert "secondary sources" in f["note"]
    assert f"monotony {monotony:.2f}" in f["message"] and "strain" in f["message"]


# --------------------------------------------------------------------------- runner


def test_an_empty_database_builds_empty_models(con):
    built = build(con, today=MONDAY)
    assert built == [m.name for m in discover_models()]
    for name in ("daily_load", "weekly_load", "acwr_daily", "session_spikes", "flags"):
        assert con.execute(f"SELECT count(*) FROM {name}").fetchall() == [(0,)], name
    assert query_flags(con).height == 0


def test_models_run_in_dependency_order_with_tables_for_what_reads_variables():
    models = discover_models()
    names = [m.name for m in models]
    assert names[:3] == ["stg_activities", "stg_activity_checks", "stg_activity_metrics"]
    assert [m.layer for m in models] == sorted(m.layer for m in models)  # staging, int_, marts
    # flags is built after every mart that raises flags (the load marts, journal_flags, plan_flags);
    # a mart nothing reads (weekly_progression) may sort after it
    flag_sources = {"session_spikes", "weekly_load", "acwr_daily", "journal_flags", "plan_flags"}
    assert all(names.index(n) < names.index("flags") for n in flag_sources)
    for m in models:
        for ref in m.refs:
            assert names.index(ref) < names.index(m.name), (m.name, ref)
        if "getvariable" in re.sub(r"--[^\n]*", "", m.sql):
            assert m.kind == "table", m.name
    kinds = {m.name: m.kind for m in models}
    assert {n for n, k in kinds.items() if k == "table"} == {
        "daily_load", "weekly_load", "acwr_daily", "session_spikes", "flags",
        "shoe_mileage", "journal_flags", "weekly_progression", "plan_vs_actual", "plan_flags"}


def test_every_model_file_documents_grain_and_units():
    for m in discover_models():
        header = m.sql.split("create or replace")[0]
        assert "grain:" in header and "units:" in header, m.path
        assert "variables:" in header, m.path


def test_runner_rejects_malformed_model_files(tmp_path):
    def write(layer, name, sql):
        p = tmp_path / layer / f"{name}.sql"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(sql)

    write("10_staging", "stg_x", "create or replace view stg_x as select getvariable('today') as d")
    with pytest.raises(ModelError, match="must not read getvariable"):
        discover_models(tmp_path)
    write("10_staging", "stg_x", "create or replace view stg_y as select 1 as a")
    with pytest.raises(ModelError, match="named after its relation"):
        discover_models(tmp_path)
    write("10_staging", "stg_x", "create or replace view stg_x as select * from mart_z")
    write("30_marts", "mart_z", "create or replace table mart_z as select 1 as a")
    with pytest.raises(ModelError, match="later layer"):
        discover_models(tmp_path)


def test_overrides_reach_sql_and_the_thresholds_table(con):
    cover_history(con, MONDAY - timedelta(days=30))  # issue 14: a full 30-day window
    add_activity(con, at(MONDAY), 10_000)
    add_activity(con, at(MONDAY + timedelta(days=2)), 12_000)  # +20%
    build(con, today=MONDAY + timedelta(days=2))
    assert [f["severity"] for f in flags_of(con, "single_session_spike")] == ["caution"]
    build(con, today=MONDAY + timedelta(days=2), spike_caution_ratio=0.25)
    assert flags_of(con, "single_session_spike") == []
    assert spike_of(con, rows(con, "SELECT activity_id FROM session_spikes "
                                   "WHERE distance_m = 12000")[0]["activity_id"])["band"] == "reference"
    (t,) = rows(con, "SELECT * FROM thresholds WHERE name = 'spike_caution_ratio'")
    assert (t["value"], t["default_value"], t["is_override"]) == (0.25, 0.10, True)
    assert t["source"] == "Frandsen et al. 2025"
    assert con.execute("SELECT count(*) FROM thresholds").fetchall() == [(len(THRESHOLDS),)]
    with pytest.raises(KeyError, match="unknown thresholds"):
        run_models(con, overrides={"spike_caution": 0.2})
    with pytest.raises(ValueError, match="multiple"):
        threshold_values({"acwr_chronic_days": 30})


def test_rebuilds_keep_flag_ids_and_only_new_flags_are_new(con):
    cover_history(con, MONDAY - timedelta(days=30))  # issue 14: a full 30-day window
    add_activity(con, at(MONDAY), 10_000)
    add_activity(con, at(MONDAY + timedelta(days=2)), 16_000)
    build(con, today=MONDAY + timedelta(days=2))
    first = flags_of(con)
    build(con, today=MONDAY + timedelta(days=2))
    again = flags_of(con)
    assert [(f["flag_id"], f["first_raised_at"]) for f in again] == [
        (f["flag_id"], f["first_raised_at"]) for f in first]
    add_activity(con, at(MONDAY + timedelta(days=4)), 25_000)
    build(con, today=MONDAY + timedelta(days=4))
    later = flags_of(con)
    new = [f for f in later if f["flag_id"] not in {g["flag_id"] for g in first}]
    assert [f["severity"] for f in new] == ["warning"]  # 25 vs 16 km: +56%
    assert new[0]["first_raised_at"] > first[0]["first_raised_at"]
    assert con.execute("SELECT count(*) FROM flag_log").fetchall() == [(len(later),)]


def test_a_failed_build_leaves_the_previous_build_untouched(con):
    add_activity(con, at(MONDAY), 10_000)
    add_activity(con, at(MONDAY + timedelta(days=2)), 16_000)
    build(con, today=MONDAY + timedelta(days=2))
    before = flags_of(con)
    n_daily = con.execute("SELECT count(*) FROM daily_load").fetchall()
    con.execute("DROP TABLE activity_metrics")
    with pytest.raises(ModelError, match="stg_activity_metrics"):
        run_models(con, today=MONDAY + timedelta(days=30))
    assert flags_of(con) == before
    assert con.execute("SELECT count(*) FROM daily_load").fetchall() == n_daily


def test_data_tests_find_broken_rows(con):
    cover_history(con, MONDAY - timedelta(days=30))  # issue 14: a full 30-day window
    add_activity(con, at(MONDAY), 10_000)
    add_activity(con, at(MONDAY + timedelta(days=2)), 16_000)
    build(con, today=MONDAY + timedelta(days=30))
    con.execute("INSERT INTO daily_load SELECT * FROM daily_load WHERE day_index = 33")
    con.execute("UPDATE acwr_daily SET acwr_uncoupled_distance = 1.0 WHERE day_index = 2")
    con.execute("UPDATE flags SET value = threshold / 2")
    con.execute("UPDATE flags SET source = NULL")
    con.execute("UPDATE weekly_load SET steps = -1 WHERE week_start_date = ?", [MONDAY])
    counts = run_data_tests(con)
    n_flags = con.execute("SELECT count(*) FROM flags").fetchall()[0][0]
    assert n_flags >= 1
    assert counts["assert_daily_load_one_row_per_athlete_day"] == 2  # a duplicate, so a bad span
    assert counts["assert_acwr_null_before_full_history"] == 1
    assert counts["assert_flags_beyond_threshold"] == n_flags
    assert counts["assert_flags_complete"] == n_flags
    assert counts["assert_no_negative_loads"] == 1
    assert counts["assert_load_conserved"] == 1  # the duplicated day counts a run twice
    assert counts["assert_weekly_load_one_row_per_athlete_week"] == 0
    assert counts["assert_session_spikes_consistent"] == 0


def test_query_flags_filters_and_reads_a_read_only_file(con, db_path):
    with pytest.raises(ModelsNotBuilt):
        query_flags(con)
    for who in ("ann", "bob"):
        cover_history(con, MONDAY - timedelta(days=30), athlete=who)  # issue 14: full window
        add_activity(con, at(MONDAY), 10_000, athlete=who)
        add_activity(con, at(MONDAY + timedelta(days=2)), 12_000, athlete=who)
        add_activity(con, at(MONDAY + timedelta(days=9)), 16_000, athlete=who)
    build(con, today=MONDAY + timedelta(days=9))
    con.close()
    with db.connection(db_path, read_only=True) as ro:
        every = query_flags(ro)
        assert isinstance(every, pl.DataFrame)
        spikes = every.filter(pl.col("rule") == "single_session_spike")
        assert spikes.height == 4
        ann = query_flags(ro, athlete="ann", since=MONDAY + timedelta(days=3))
        assert set(ann["athlete_id"]) == {"ann"}
        assert ann["local_date"].min() >= MONDAY + timedelta(days=3)
        assert query_flags(ro, since="2030-01-01").height == 0
        assert set(run_data_tests(ro).values()) == {0}
