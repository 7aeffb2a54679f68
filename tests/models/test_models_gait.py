"""Sample durations, speed, moving, run/walk gait, bouts and run-walk intervals."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from ingest import schema
from models import gait as gt

T0 = datetime(2024, 3, 1, 7, 0, 0)


def times(seconds) -> pl.Series:
    return pl.Series("recorded_at", [T0 + timedelta(seconds=float(s)) for s in seconds], dtype=pl.Datetime("us"))


def test_sample_durations_backward_with_pause():
    # 1-s samples, then a 60 s gap (pause > pause_gap_s 10 s), then 1-s samples, smart gap of 8 s
    dt = gt.sample_durations(times([0, 1, 2, 62, 63, 71]))
    assert dt.tolist() == [0.0, 1.0, 1.0, 0.0, 1.0, 8.0]


def test_sample_durations_null_timestamp_and_override():
    ts = pl.Series("recorded_at", [T0, None, T0 + timedelta(seconds=12)], dtype=pl.Datetime("us"))
    assert gt.sample_durations(ts).tolist() == [0.0, 0.0, 0.0]  # 12 s > 10 s: a pause
    assert gt.sample_durations(ts, overrides={"pause_gap_s": 15}).tolist() == [0.0, 0.0, 12.0]


def test_speed_from_distance_then_haversine():
    n = 4
    base = {"activity_id": ["a"] * n, "record_index": list(range(n)), "recorded_at": times(range(n))}
    with_dist = schema.conform(pl.DataFrame({**base, "distance_m": [0.0, 3.0, 6.0, 9.0]}), "records")
    dt = gt.sample_durations(with_dist["recorded_at"])
    assert gt.derive_speed(with_dist, dt).tolist() == pytest.approx([3.0, 3.0, 3.0, 3.0])  # first backfilled
    # 0.0001 deg of latitude = 11.13 m (ingest/geo.py's sphere, 6,378,137 m)
    lat = [50.0, 50.0001, 50.0002, 50.0003]
    with_pos = schema.conform(pl.DataFrame({**base, "latitude_deg": lat, "longitude_deg": [6.0] * n}), "records")
    assert gt.derive_speed(with_pos, dt) == pytest.approx([11.13] * 4, abs=0.01)
    # a given speed wins over the distance
    given = schema.conform(
        pl.DataFrame({**base, "distance_m": [0.0, 3.0, 6.0, 9.0], "speed_mps": [2.0, None, 2.5, 2.5]}), "records"
    )
    assert gt.derive_speed(given, dt).tolist() == pytest.approx([2.0, 3.0, 2.5, 2.5])


def test_moving_mask_speed_and_cadence_fallback():
    assert gt.moving_mask(np.array([0.0, 0.4, 0.6, 3.0]), np.full(4, np.nan)).tolist() == [0, 0, 1, 1]
    # no positive speed anywhere (treadmill without foot pod): cadence decides
    assert gt.moving_mask(np.array([0.0, 0.0, 0.0]), np.array([0.0, 85.0, np.nan])).tolist() == [0, 1, 0]
    assert np.isnan(gt.moving_mask(np.full(2, np.nan), np.full(2, np.nan))).all()


def test_classify_gait_cadence_then_speed():
    moving = np.array([1, 1, 1, 1, 0, np.nan])
    cad = np.array([170, 120, np.nan, 0, 170, 170], dtype=float)
    speed = np.array([3.0, 1.5, 2.5, 1.0, 0.0, 3.0])
    assert gt.classify_gait(moving, cad, speed) == ["run", "walk", "run", "walk", "stop", None]


def run_walk(segments):
    """1-s samples: [(gait, seconds), ...] -> (labels, dt)."""
    labels = [g for g, s in segments for _ in range(s)]
    dt = np.r_[0.0, np.ones(len(labels) - 1)]
    return labels, dt


def test_three_second_walk_break_inside_a_run_is_run():
    labels, dt = run_walk([("run", 300), ("walk", 3), ("run", 300)])
    smooth = gt.smooth_gait(labels, dt)
    assert set(smooth) == {"run"}
    bouts = gt.gait_bouts(smooth, dt)
    assert bouts.height == 1
    assert gt.run_walk_intervals(bouts) == 0
    # unsmoothed, it would have been one walk interval
    assert gt.run_walk_intervals(gt.gait_bouts(labels, dt)) == 1


def test_ten_min_run_two_min_walk_three_times():
    labels, dt = run_walk([("run", 600), ("walk", 120)] * 3)
    smooth = gt.smooth_gait(labels, dt)
    assert smooth == labels  # nothing short enough to merge
    bouts = gt.gait_bouts(smooth, dt)
    walks = bouts.filter(pl.col("gait") == "walk")
    assert walks.height == 3
    assert walks["duration_s"].to_list() == [120.0, 120.0, 120.0]
    # the last walk has no run after it (cool-down): 2 walk breaks between runs
    assert gt.run_walk_intervals(bouts) == 2
    labels4, dt4 = run_walk([("run", 600), ("walk", 120)] * 3 + [("run", 60)])
    assert gt.run_walk_intervals(gt.gait_bouts(gt.smooth_gait(labels4, dt4), dt4)) == 3


def test_stops_do_not_split_bouts():
    labels, dt = run_walk(
        [("run", 120), ("stop", 30), ("run", 120), ("walk", 60), ("stop", 20), ("walk", 40), ("run", 100)]
    )
    smooth = gt.smooth_gait(labels, dt)
    assert smooth.count("stop") == 50  # stops keep their label
    bouts = gt.gait_bouts(smooth, dt)
    assert bouts["gait"].to_list() == ["run", "walk", "run"]
    assert bouts["duration_s"].to_list() == [239.0, 100.0, 100.0]
    assert gt.run_walk_intervals(bouts) == 1


def test_short_bout_at_the_edge_and_shortest_first():
    labels, dt = run_walk([("walk", 4), ("run", 200), ("walk", 6), ("run", 8), ("walk", 100)])
    smooth = gt.smooth_gait(labels, dt)
    # bouts by dt: walk 3, run 200, walk 6, run 8, walk 100. Shortest first: the edge walk (3 s)
    # joins the run (203 s); then walk 6 s takes its neighbours' label: run 203+6+8 = 217 s.
    bouts = gt.gait_bouts(smooth, dt)
    assert bouts["gait"].to_list() == ["run", "walk"]
    assert bouts["duration_s"].to_list() == [217.0, 100.0]
    assert bouts["duration_s"].sum() == pytest.approx(float(dt.sum()))


def test_single_short_bout_left_alone():
    labels, dt = run_walk([("walk", 5)])
    assert gt.smooth_gait(labels, dt) == labels


def test_haversine_known_distance():
    # one degree of latitude on footfall's one sphere (ingest/geo.py: gpxpy's radius, 6,378,137 m)
    d = gt.haversine_m(np.array([0.0]), np.array([0.0]), np.array([1.0]), np.array([0.0]))
    assert d[0] == pytest.approx(111_319.5, abs=1)


def test_gps_speed_is_averaged_over_the_window():
    # a stuck fix (0 m) then a catch-up (6 m) every other second: point speeds 0, 6, 0, 6 ...
    n = 21
    dist = np.cumsum([0.0] + [0.0 if i % 2 == 0 else 6.0 for i in range(n - 1)])
    recs = schema.conform(
        pl.DataFrame(
            {"activity_id": ["a"] * n, "record_index": list(range(n)), "recorded_at": times(range(n)), "distance_m": dist}
        ),
        "records",
    )
    dt = gt.sample_durations(recs["recorded_at"])
    speed = gt.derive_speed(recs, dt)
    assert speed[5:16] == pytest.approx([3.0] * 11, abs=0.31)  # 10 s window: 30 m / 10 s, +-1 fix
    raw = gt.derive_speed(recs, dt, overrides={"speed_window_s": 0})
    assert sorted(set(np.round(raw[1:], 6))) == [0.0, 6.0]


def test_speed_window_does_not_span_a_pause():
    # 3 m/s, then a 60 s pause during which the GPS jumps 500 m, then 3 m/s again
    secs = list(range(10)) + list(range(70, 80))
    dist = [3.0 * i for i in range(10)] + [527.0 + 3.0 * i for i in range(10)]
    recs = schema.conform(
        pl.DataFrame(
            {"activity_id": ["a"] * 20, "record_index": list(range(20)), "recorded_at": times(secs), "distance_m": dist}
        ),
        "records",
    )
    dt = gt.sample_durations(recs["recorded_at"])
    assert gt.derive_speed(recs, dt) == pytest.approx([3.0] * 20)


def test_standing_at_zero_cadence_despite_gps_drift():
    speed = np.array([3.0, 0.8, 0.8, 3.0, 8.0])
    cad = np.array([85.0, 0.0, 60.0, 0.0, 0.0])
    # cadence 0 at 0.8 m/s: standing; cadence 0 at 3 m/s: sensor dropout, moving
    assert gt.moving_mask(speed, cad).tolist() == [1, 0, 1, 1, 1]
    # a bike coasting at cadence 0 is moving
    assert gt.moving_mask(speed, cad, on_foot=False).tolist() == [1, 1, 1, 1, 1]
