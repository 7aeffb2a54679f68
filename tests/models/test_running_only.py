"""Running-only averages and the longest running bout (issue 13): walk breaks do not lower them."""

from __future__ import annotations

import pytest

from models.summary import derive_activity
from tests.models.test_models_summary import NO_LAPS, activities, activity, one, records


def run_walk(gct_walk=700.0):
    """4 x (4 min run at 85 strides/min, 3.0 m/s, 250 ms; 2 min walk at 55 strides/min,
    1.4 m/s, gct_walk ms): 1,440 s, 960 s of it running."""
    cadence, speed, gct = [], [], []
    for _ in range(4):
        cadence += [85] * 240 + [55] * 120
        speed += [3.0] * 240 + [1.4] * 120
        gct += [250.0] * 240 + [gct_walk] * 120
    return records(seconds=range(len(cadence)), speed=speed, cadence_raw=cadence,
                   ground_contact_time_ms=gct)


def test_run_walk_running_only_cadence_and_contact_time():
    _, m = derive_activity(activities(activity()), run_walk(), NO_LAPS)
    row = one(m)
    assert row["avg_cadence_run_spm"] == pytest.approx(170.0, abs=0.5)
    assert row["avg_cadence_spm"] < 160  # the whole-activity mean mixes in the walks
    assert row["avg_ground_contact_time_run_ms"] == pytest.approx(250.0, abs=1.0)
    assert row["avg_ground_contact_time_ms"] > 300
    # bouts: 240 s of running each (the first sample of the file has dt 0)
    assert row["longest_run_bout_s"] == pytest.approx(240.0, abs=1.0)


def test_all_walking_has_no_running_values_but_a_zero_bout():
    recs = records(speed=1.3, cadence_raw=55, ground_contact_time_ms=650.0)
    _, m = derive_activity(activities(activity()), recs, NO_LAPS)
    row = one(m)
    assert row["avg_cadence_run_spm"] is None and row["avg_ground_contact_time_run_ms"] is None
    assert row["longest_run_bout_s"] == 0.0


def test_a_ride_has_no_running_values():
    recs = records(speed=7.0, cadence_raw=85)
    _, m = derive_activity(activities(activity(sport="cycling", cadence_raw_unit="rpm")), recs, NO_LAPS)
    row = one(m)
    assert row["avg_cadence_run_spm"] is None and row["longest_run_bout_s"] is None
