"""derive_activity end to end on hand-built canonical frames: device vs derived, per-record columns."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from ingest import schema
from models.summary import AthleteProfile, derive_activity, derive_from_records, elevation_gain_loss

T0 = datetime(2024, 3, 1, 7, 0, 0)
NO_LAPS = schema.empty("laps")


def activity(aid="f-0", **kw) -> dict:
    base = {
        "activity_id": aid,
        "file_id": "f",
        "session_index": 0,
        "source_format": "fit",
        "sport": "running",
        "sub_sport": "generic",
        "started_at": T0,
        "local_date": date(2024, 3, 1),
        "cadence_raw_unit": "strides_min",
    }
    base.update(kw)
    return base


def activities(*rows: dict, athlete_id: str | None = None) -> pl.DataFrame:
    df = schema.conform(pl.DataFrame(list(rows)), "activities")
    if athlete_id is not None:
        df = df.with_columns(pl.lit(athlete_id).alias("athlete_id"))
    return df


def records(aid="f-0", seconds=None, speed=3.0, **cols) -> pl.DataFrame:
    """1-s records (or at ``seconds``), constant speed unless given, extra columns as lists/scalars."""
    secs = list(range(600)) if seconds is None else list(seconds)
    n = len(secs)
    data = {
        "activity_id": [aid] * n,
        "record_index": list(range(n)),
        "recorded_at": [T0 + timedelta(seconds=s) for s in secs],
    }
    if speed is not None:
        data["speed_mps"] = [speed] * n if np.isscalar(speed) else list(speed)
    for k, v in cols.items():
        data[k] = [v] * n if np.isscalar(v) or v is None else list(v)
    return schema.conform(pl.DataFrame(data), "records")


def one(metrics: pl.DataFrame) -> dict:
    assert metrics.height == 1
    return metrics.row(0, named=True)


def test_fit_cadence_per_record_and_derived_average():
    recs = records(cadence_raw=79.5)  # cadence 79 + fractional 0.5
    out, m = derive_activity(activities(activity()), recs, NO_LAPS)
    assert out["cadence_spm"].unique().to_list() == [159.0]
    assert out["cadence_raw"].unique().to_list() == [79.5]  # raw kept
    row = one(m)
    assert row["avg_cadence_spm"] == pytest.approx(159.0)
    assert (row["cadence_unit"], row["cadence_source"]) == ("strides_min", "derived")
    assert row["steps"] == pytest.approx(159.0 / 60 * 599)
    assert row["steps_source"] == "derived"
    assert row["is_run"] is True and row["sport"] == "running"
    assert row["local_date"] == date(2024, 3, 1) and row["started_at"] == T0


def test_device_summary_reported_as_is():
    act = activity(
        distance_m=1805.0,
        timer_time_s=600.0,
        elapsed_time_s=620.0,
        device_avg_cadence_spm=161.3,
        device_total_strides=800,
        device_avg_ground_contact_time_ms=251.0,
        device_avg_vertical_oscillation_mm=88.0,
        device_avg_heart_rate_bpm=150.0,
        device_total_ascent_m=12.0,
        device_total_descent_m=11.0,
    )
    recs = records(cadence_raw=80.0, distance_m=[3.0 * i for i in range(600)], ground_contact_time_ms=260.0)
    _, m = derive_activity(activities(act), recs, NO_LAPS)
    row = one(m)
    assert row["avg_cadence_spm"] == 161.3 and row["cadence_source"] == "device"
    assert row["distance_m"] == 1805.0 and row["distance_source"] == "device"
    assert row["moving_time_s"] == 600.0 and row["moving_time_source"] == "device"
    assert row["elapsed_time_s"] == 620.0
    assert row["steps"] == 1600.0 and row["steps_source"] == "device"
    assert row["avg_ground_contact_time_ms"] == 251.0 and row["gct_source"] == "device"
    assert row["avg_vertical_oscillation_mm"] == 88.0
    assert row["avg_heart_rate_bpm"] == 150.0
    assert (row["elevation_gain_m"], row["elevation_loss_m"]) == (12.0, 11.0)
    # ... while the records-only view of the same activity is derived
    d = derive_from_records(act, recs)
    assert d["avg_cadence_spm"] == pytest.approx(160.0)
    assert d["distance_m"] == pytest.approx(1797.0) and d["distance_source"] == "records"
    assert d["avg_ground_contact_time_ms"] == pytest.approx(260.0) and d["gct_source"] == "derived"


def test_gpx_cadence_units_end_to_end():
    gpx = activity(source_format="gpx", cadence_raw_unit="unknown")
    _, m = derive_activity(activities(gpx), records(cadence_raw=86.0), NO_LAPS)
    assert one(m)["avg_cadence_spm"] == pytest.approx(172.0) and one(m)["cadence_unit"] == "strides_min"
    out, m = derive_activity(activities(gpx), records(cadence_raw=172.0), NO_LAPS)
    assert one(m)["avg_cadence_spm"] == pytest.approx(172.0) and one(m)["cadence_unit"] == "steps_min"
    assert out["cadence_spm"].unique().to_list() == [172.0]


def test_gpx_distance_and_moving_time_are_derived_not_device():
    # the GPX reader computes activities.distance_m itself: that is not a device summary
    gpx = activity(source_format="gpx", cadence_raw_unit="unknown", distance_m=5000.0, timer_time_s=999.0)
    _, m = derive_activity(activities(gpx), records(distance_m=[3.0 * i for i in range(600)]), NO_LAPS)
    row = one(m)
    assert row["distance_m"] == pytest.approx(1797.0) and row["distance_source"] == "records"
    assert row["moving_time_s"] == pytest.approx(599.0) and row["moving_time_source"] == "derived"


def test_cycling_cadence_is_not_steps():
    ride = activity(sport="cycling", sub_sport="road", cadence_raw_unit="rpm", device_avg_cadence_rpm=90.0)
    out, m = derive_activity(activities(ride), records(speed=8.0, cadence_raw=90.0), NO_LAPS)
    assert out["cadence_spm"].null_count() == out.height
    assert out["gait"].null_count() == out.height
    assert out["is_moving"].all()
    row = one(m)
    assert row["avg_cadence_spm"] is None and row["steps"] is None
    assert row["cadence_unit"] == "rpm" and row["cadence_source"] == "none"
    assert row["run_time_s"] is None and row["run_walk_intervals"] is None
    assert row["is_run"] is False


def test_pause_not_counted_in_moving_time():
    # 100 s running, a 60 s gap (pause), 100 s running
    secs = list(range(100)) + list(range(160, 260))
    _, m = derive_activity(activities(activity()), records(seconds=secs, cadence_raw=85.0), NO_LAPS)
    row = one(m)
    assert row["moving_time_s"] == pytest.approx(198.0)  # 99 + 99: the first sample and the pause count 0
    assert row["elapsed_time_s"] == pytest.approx(259.0)
    assert row["run_time_s"] == pytest.approx(198.0)


def test_stopped_samples_are_not_moving():
    speed = [3.0] * 100 + [0.2] * 50 + [3.0] * 100
    recs = records(seconds=range(250), speed=speed, cadence_raw=85.0)
    out, m = derive_activity(activities(activity()), recs, NO_LAPS)
    assert out["is_moving"].sum() == 200
    assert out["gait"].to_list().count("stop") == 50
    assert one(m)["moving_time_s"] == pytest.approx(199.0)  # 99 + 100 (the sample after the stop counts 1 s)


def test_three_second_walk_break_end_to_end():
    cadence = [85.0] * 300 + [60.0] * 3 + [85.0] * 300  # 170 spm, 3 s at 120 spm, 170 spm
    out, m = derive_activity(activities(activity()), records(seconds=range(603), cadence_raw=cadence), NO_LAPS)
    row = one(m)
    assert row["run_walk_intervals"] == 0
    assert row["walk_time_s"] == 0.0 and row["run_time_s"] == pytest.approx(602.0)
    assert set(out["gait"].to_list()) == {"run"}
    assert out["cadence_spm"][301] == 120.0  # the raw cadence itself is not smoothed


def test_run_walk_ten_two_times_three_end_to_end():
    cadence = ([85.0] * 600 + [55.0] * 120) * 3
    speed = ([3.0] * 600 + [1.4] * 120) * 3
    recs = records(seconds=range(2160), speed=speed, cadence_raw=cadence)
    _, m = derive_activity(activities(activity()), recs, NO_LAPS)
    row = one(m)
    assert row["run_walk_intervals"] == 2  # the third walk is a cool-down
    assert row["walk_time_s"] == pytest.approx(360.0)
    assert row["run_time_s"] == pytest.approx(1799.0)
    assert row["moving_time_s"] == pytest.approx(2159.0)


def test_gait_from_speed_without_cadence():
    speed = [3.0] * 300 + [1.3] * 120
    out, m = derive_activity(activities(activity()), records(seconds=range(420), speed=speed), NO_LAPS)
    row = one(m)
    assert row["cadence_unit"] == "none" and row["avg_cadence_spm"] is None and row["steps"] is None
    assert row["run_time_s"] == pytest.approx(299.0) and row["walk_time_s"] == pytest.approx(120.0)


def test_contact_time_cleaning_end_to_end():
    gct = [250.0] * 598 + [0.0, 400.0]
    recs = records(cadence_raw=90.0, ground_contact_time_ms=gct, dev_ground_contact_time_ms=240.0)
    out, m = derive_activity(activities(activity()), recs, NO_LAPS)
    assert out["ground_contact_time_ms"].null_count() == 2
    assert out["dev_ground_contact_time_ms"].null_count() == 0  # developer value kept beside native
    row = one(m)
    assert row["avg_ground_contact_time_ms"] == pytest.approx(250.0) and row["gct_source"] == "derived"
    d = derive_from_records(activity(), records(cadence_raw=90.0, ground_contact_time_ms=gct))
    assert d["rejected_values"]["ground_contact_time_ms"] == 2


def test_developer_gct_and_cadence_when_native_absent():
    recs = records(dev_cadence_raw=91.0, dev_ground_contact_time_ms=230.0)
    out, m = derive_activity(activities(activity()), recs, NO_LAPS)
    row = one(m)
    assert row["avg_cadence_spm"] == pytest.approx(182.0) and row["cadence_source"] == "developer"
    assert row["avg_ground_contact_time_ms"] == pytest.approx(230.0) and row["gct_source"] == "developer"
    assert out["ground_contact_time_ms"].null_count() == out.height  # never filled from the dev field


def test_steps_from_device_strides():
    # 850 strides = 1,700 steps, consistent with 170 spm x 599 s (issue 13: the device's total is
    # used only when it agrees with cadence x time; tests/models/test_quality_guards.py)
    _, m = derive_activity(activities(activity(device_total_strides=850)), records(cadence_raw=85.0), NO_LAPS)
    assert one(m)["steps"] == 1700.0 and one(m)["steps_source"] == "device"


def test_elevation_simple_up_down():
    up = list(np.arange(0, 101, 1.0))
    profile = up + up[::-1][1:]  # 0 -> 100 -> 0 m in 1 m steps
    assert elevation_gain_loss(np.array(profile)) == (100.0, 100.0)
    # noise under the 3 m hysteresis adds nothing
    assert elevation_gain_loss(np.array([10, 12, 10, 11.5, 10, 12.5])) == (0.0, 0.0)
    # a 2 m dip inside a climb is ignored; the climb continues from its high
    assert elevation_gain_loss(np.array([0, 10, 8, 20])) == (20.0, 0.0)
    assert elevation_gain_loss(np.array([np.nan])) == (None, None)
    _, m = derive_activity(activities(activity()), records(seconds=range(len(profile)), altitude_m=profile), NO_LAPS)
    assert (one(m)["elevation_gain_m"], one(m)["elevation_loss_m"]) == (100.0, 100.0)


def test_treadmill_without_gps_keeps_file_distance():
    tread = activity(sub_sport="treadmill", is_indoor=True, distance_m=5000.0, source_format="gpx")
    recs = records(speed=None, cadence_raw=85.0)  # no speed, no distance, no position
    out, m = derive_activity(activities(tread), recs, NO_LAPS)
    row = one(m)
    assert row["distance_m"] == 5000.0
    assert row["moving_time_s"] == pytest.approx(599.0)  # moving from cadence when no speed at all
    assert out["is_moving"].all()
    assert row["run_time_s"] == pytest.approx(599.0)


def test_distance_from_positions_when_no_distance_column():
    lat = [50.0 + 0.0001 * i for i in range(11)]  # 10 steps of 11.13 m (ingest/geo.py's sphere)
    recs = records(seconds=range(11), speed=None, latitude_deg=lat, longitude_deg=6.0)
    _, m = derive_activity(activities(activity(source_format="gpx", cadence_raw_unit="unknown")), recs, NO_LAPS)
    assert one(m)["distance_m"] == pytest.approx(111.3, abs=0.1)


def test_trimp_needs_profile():
    recs = records(seconds=range(3601), heart_rate_bpm=150.0)
    _, m = derive_activity(activities(activity()), recs, NO_LAPS)
    assert one(m)["trimp_au"] is None
    prof = AthleteProfile(athlete_id="ath", hr_rest_bpm=50, hr_max_bpm=190, sex="male")
    _, m = derive_activity(activities(activity()), recs, NO_LAPS, athlete=prof)
    assert one(m)["trimp_au"] == pytest.approx(108.10, abs=0.01)
    assert one(m)["athlete_id"] == "ath"  # no athlete_id column: from the profile
    _, m = derive_activity(activities(activity(), athlete_id="col"), recs, NO_LAPS, athlete=prof)
    assert one(m)["athlete_id"] == "col"  # the pipeline's column wins


def test_multisport_file_keeps_record_order_and_one_row_per_activity():
    run1 = records("f-0", seconds=range(0, 300), cadence_raw=85.0)
    ride = records("f-1", seconds=range(300, 600), speed=8.0, cadence_raw=90.0)
    run2 = records("f-2", seconds=range(600, 900), cadence_raw=80.0)
    recs = pl.concat([run2, run1, ride])  # any order in, same order out
    acts = activities(
        activity("f-0"),
        activity("f-1", session_index=1, sport="cycling", cadence_raw_unit="rpm"),
        activity("f-2", session_index=2),
    )
    out, m = derive_activity(acts, recs, NO_LAPS)
    assert out.columns == list(schema.RECORDS)
    assert out.select("activity_id", "record_index").equals(recs.select("activity_id", "record_index"))
    assert m["activity_id"].to_list() == ["f-0", "f-1", "f-2"]
    assert m["avg_cadence_spm"].to_list()[0] == pytest.approx(170.0)
    assert m["avg_cadence_spm"].to_list()[1] is None
    assert m["avg_cadence_spm"].to_list()[2] == pytest.approx(160.0)
    assert m.schema == pl.Schema(schema.ACTIVITY_METRICS)


def test_empty_inputs():
    out, m = derive_activity(schema.empty("activities"), schema.empty("records"), NO_LAPS)
    assert out.height == 0 and m.height == 0
    assert m.columns == list(schema.ACTIVITY_METRICS)
    # an activity without records still gets a row (from its summary)
    _, m = derive_activity(activities(activity(distance_m=100.0, timer_time_s=40.0)), schema.empty("records"), NO_LAPS)
    row = one(m)
    assert row["distance_m"] == 100.0 and row["moving_time_s"] == 40.0 and row["cadence_unit"] == "none"


def test_distance_counter_reset_and_multisport_offset():
    # a leg whose cumulative distance starts at 5000 m (earlier legs) and resets to 0 once
    dist = [5000.0 + 3 * i for i in range(100)] + [3.0 * i for i in range(100)]
    d = derive_from_records(activity(), records(seconds=range(200), distance_m=dist))
    assert d["distance_m"] == pytest.approx(99 * 3 + 99 * 3)


def test_grade_hand_worked():
    import numpy as np

    from models.summary import grade_pct
    from models.thresholds import value

    w = value("grade_window_m")
    dist = np.arange(0.0, 10 * w, w / 4)  # a sample every quarter window
    alt = 100.0 + 0.05 * dist  # a steady 5% climb
    g = grade_pct(alt, dist)
    assert np.all(np.isnan(g[:4]))  # less than one window covered yet
    assert np.allclose(g[4:], 5.0)
    flat = grade_pct(np.full(5, 3.0), np.full(5, np.nan))
    assert np.all(np.isnan(flat))  # no distance (treadmill): no grade
    down = grade_pct(200.0 - 0.1 * dist, dist)
    assert np.allclose(down[4:], -10.0)


def test_device_zeros_are_no_data_and_the_derived_value_stands():
    """Watches write 0 in a session summary for a sensor they did not have (corpus: batt.fit and
    suunto-weight.fit carry avg_stance_time 0): not a 0 ms contact time."""
    act = activity(device_avg_cadence_spm=0.0, device_total_strides=0, device_avg_ground_contact_time_ms=0.0,
                   device_avg_vertical_oscillation_mm=0.0, device_avg_heart_rate_bpm=0.0,
                   device_total_ascent_m=0.0)
    recs = records(cadence_raw=80.0, ground_contact_time_ms=260.0)
    row = one(derive_activity(activities(act), recs, NO_LAPS)[1])
    assert row["avg_cadence_spm"] == pytest.approx(160.0) and row["cadence_source"] == "derived"
    assert row["steps_source"] == "derived" and row["steps"] > 0
    assert row["avg_ground_contact_time_ms"] == pytest.approx(260.0) and row["gct_source"] == "derived"
    assert row["avg_vertical_oscillation_mm"] is None  # no records value either: NULL, not 0
    assert row["avg_heart_rate_bpm"] is None
    assert row["elevation_gain_m"] == 0.0  # a flat run's 0 m ascent is a measurement
    # and with no records value at all, the contact time is NULL with source 'none'
    row = one(derive_activity(activities(act), records(cadence_raw=80.0), NO_LAPS)[1])
    assert row["avg_ground_contact_time_ms"] is None and row["gct_source"] == "none"
