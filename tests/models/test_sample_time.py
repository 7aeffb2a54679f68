"""Time per sample (models/gait.sample_durations, issue 13): duplicate timestamps, sparse
loggers, real stops and timer stop events."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from models.gait import sample_durations

T0 = datetime(2024, 5, 1, 7, 0, tzinfo=timezone.utc)
EPOCH0 = T0.timestamp()


def stamps(seconds) -> pl.Series:
    return pl.Series("recorded_at", [None if s is None else T0 + timedelta(seconds=float(s)) for s in seconds],
                     dtype=pl.Datetime("us", "UTC"))


def test_2hz_with_whole_second_timestamps_gives_the_same_time_and_steps_as_1hz():
    one_hz = np.arange(600.0)
    two_hz = np.repeat(one_hz, 2)  # two records per second, both stamped with the second
    cadence_spm = 170.0
    dt1 = sample_durations(stamps(one_hz))
    dt2 = sample_durations(stamps(two_hz))
    assert dt1.sum() == pytest.approx(599.0)
    assert dt2.sum() == pytest.approx(dt1.sum())  # before: the second record of each second got 0
    steps1 = float(np.sum(cadence_spm / 60 * dt1))
    steps2 = float(np.sum(cadence_spm / 60 * dt2))
    assert steps2 == pytest.approx(steps1)  # before: -50%
    assert np.allclose(dt2[2:], 0.5)  # each interval shared by the two records ending it


def test_out_of_order_record_gets_zero_and_the_next_is_measured_from_the_latest():
    dt = sample_durations(stamps([0, 1, 2, 1.5, 3, 4]))
    assert dt.tolist() == [0.0, 1.0, 1.0, 0.0, 1.0, 1.0]


def test_sparse_logger_hike_is_moving_time_not_pause():
    # one point every 45 s for 2 hours at 1.2 m/s
    n = 161
    secs = 45.0 * np.arange(n)
    step = np.r_[np.nan, np.full(n - 1, 45 * 1.2)]
    before = sample_durations(stamps(secs))  # nothing known: today's rule, all pause
    assert before.sum() == 0.0
    dt = sample_durations(stamps(secs), step_m=step)
    assert dt.sum() == pytest.approx(secs[-1])  # moving time ~ elapsed, not minutes


def test_a_real_stop_without_distance_stays_a_pause():
    secs = np.r_[np.arange(0.0, 301.0), np.arange(360.0, 661.0)]  # a 60 s gap at 300 s
    step = np.r_[np.nan, np.full(len(secs) - 1, 3.0)]
    step[301] = 0.0  # no distance across the gap: standing
    dt = sample_durations(stamps(secs), step_m=step)
    assert dt[301] == 0.0
    assert dt.sum() == pytest.approx(660 - 60)


def test_a_timer_stop_event_makes_a_pause_even_when_the_position_moved():
    secs = np.r_[np.arange(0.0, 301.0), np.arange(360.0, 661.0)]
    step = np.r_[np.nan, np.full(len(secs) - 1, 3.0)]
    step[301] = 200.0  # GPS moved 200 m across the gap (walked to the car with the timer off)
    moved = sample_durations(stamps(secs), step_m=step, stops_s=np.array([]))
    assert moved[301] == 60.0  # the device says the timer ran: it is time
    stopped = sample_durations(stamps(secs), step_m=step, stops_s=np.array([EPOCH0 + 300.0]))
    assert stopped[301] == 0.0
    assert stopped.sum() == pytest.approx(600.0)
    # a stop event outside the gap changes nothing
    elsewhere = sample_durations(stamps(secs), step_m=step, stops_s=np.array([EPOCH0 + 500.0]))
    assert elsewhere[301] == 60.0


def test_stop_events_alone_decide_when_the_distance_is_unknown():
    secs = [0, 1, 2, 62, 63]
    assert sample_durations(stamps(secs), stops_s=np.array([EPOCH0 + 2])).tolist() == [0, 1, 1, 0, 1]
    assert sample_durations(stamps(secs), stops_s=np.array([])).tolist() == [0, 1, 1, 60, 1]
    assert sample_durations(stamps(secs)).tolist() == [0, 1, 1, 0, 1]  # neither known: pause


def test_a_gap_longer_than_the_moving_maximum_is_a_pause():
    secs = [0, 10, 20, 920]
    step = np.array([np.nan, 12, 12, 1500.0])  # moved 1.5 km in 15 min: the logger was off
    assert sample_durations(stamps(secs), step_m=step).tolist() == [0, 10, 10, 0]


def test_null_timestamps_and_old_calls_still_work():
    dt = sample_durations(stamps([0, None, 2, 3]))
    assert dt.tolist() == [0.0, 0.0, 2.0, 1.0]
    with pytest.raises(ValueError):
        sample_durations(stamps([0, 1]), step_m=np.zeros(3))


def test_a_timer_stop_inside_a_short_gap_is_a_pause_too():
    # stop at 5 s, start at 12 s: a 7 s gap, shorter than pause_gap_s, but the timer was off
    secs = [0, 1, 2, 3, 4, 5, 12, 13]
    step = np.array([np.nan, 3, 3, 3, 3, 3, 20, 3])
    dt = sample_durations(stamps(secs), step_m=step, stops_s=np.array([EPOCH0 + 5]))
    assert dt.tolist() == [0, 1, 1, 1, 1, 1, 0, 1]
    assert sample_durations(stamps(secs), step_m=step).tolist() == [0, 1, 1, 1, 1, 1, 7, 1]
