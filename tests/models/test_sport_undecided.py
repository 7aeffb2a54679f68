"""Two evidence rules added at integration (issue 13), each with its near miss:

- an untyped sparse logger (a point every 15-60 s) without cadence at running speed could be a
  run, a hike or a mountain-bike ride (the corpus's blue_hills.gpx is a mountain-bike route by its
  own description, at ~2.6-3.1 m/s moving): it is not counted as running load, and says so;
- an untyped activity without cadence whose contact-time sensor reads walking stances (the
  corpus's fenix2 multisport session: median 734 ms) is a walk, whatever its speed-based gait.
"""

from __future__ import annotations

from models.sport import decide_sport
from tests.models.test_sport_decision import assert_checks_well_formed, ev


def test_sparse_logger_without_cadence_at_running_speed_is_undecided():
    d = decide_sport(ev(source_format="gpx", median_sample_interval_s=17.0, sparse_logger=True,
                        moving_time_s=6000.0, distance_m=15_400.0, median_moving_speed_mps=2.6))
    assert_checks_well_formed(d)
    assert (d.sport, d.is_run, d.source) == (None, False, "inferred")
    assert "footfall activity sport" in d.reason and "17 s" in d.reason
    assert any(c["outcome"] == "excluded" and c["effect"] == "excluded from running load" for c in d.checks)


def test_sparse_logger_with_running_cadence_is_a_run():
    d = decide_sport(ev(source_format="gpx", median_sample_interval_s=17.0, sparse_logger=True,
                        moving_time_s=3000.0, distance_m=8_000.0, median_moving_speed_mps=2.7,
                        median_cadence_raw=82.0, cadence_raw_unit="strides_min", median_cadence_spm=164.0))
    assert d.is_run


def test_sparse_logger_at_walking_speed_is_still_a_walk():
    d = decide_sport(ev(source_format="gpx", median_sample_interval_s=40.0, sparse_logger=True,
                        moving_time_s=9000.0, distance_m=10_000.0, median_moving_speed_mps=1.1))
    assert (d.sport, d.is_run) == ("walking", False)


def test_untyped_walking_contact_times_are_a_walk():
    d = decide_sport(ev(moving_time_s=11_700.0, distance_m=25_000.0, median_moving_speed_mps=2.14,
                        p90_moving_speed_mps=2.6, median_gct_ms=734.0, run_time_s=9000.0, walk_time_s=2700.0))
    assert_checks_well_formed(d)
    assert (d.sport, d.is_run, d.source) == ("walking", False, "inferred")
    assert "734 ms" in d.reason


def test_untyped_running_contact_times_keep_the_gait_rule():
    d = decide_sport(ev(moving_time_s=3000.0, distance_m=8_000.0, median_moving_speed_mps=2.7,
                        p90_moving_speed_mps=3.0, median_gct_ms=280.0, run_time_s=2800.0, walk_time_s=200.0))
    assert (d.sport, d.is_run) == ("running", True)
