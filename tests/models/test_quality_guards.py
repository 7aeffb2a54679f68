"""Guards on time and steps (issue 13, models/quality.py): moving <= timer <= elapsed; the device's
total_strides only when it agrees with cadence x time; the device's timer stops reach the gait model."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from ingest import schema
from ingest.decode import decode_bytes
from models import gait as gt
from models import quality as q
from models.summary import derive_activity, derive_file
from models.thresholds import reader_options
from models.thresholds import value as threshold
from synth.fit_encode import encode_activity

T0 = datetime(2024, 3, 1, 7, 0, 0)


def act(aid="f-0", **kw) -> dict:
    base = {"activity_id": aid, "file_id": "f", "session_index": 0, "source_format": "fit", "sport": "running",
            "sub_sport": "generic", "started_at": T0, "local_date": date(2024, 3, 1),
            "cadence_raw_unit": "strides_min"}
    base.update(kw)
    return base


def frame(*rows: dict) -> pl.DataFrame:
    return schema.conform(pl.DataFrame(list(rows)), "activities")


def recs(n: int, *, cadence_raw: float | None = 85.0, speed: float = 3.0, aid="f-0") -> pl.DataFrame:
    data = {"activity_id": [aid] * n, "record_index": list(range(n)),
            "recorded_at": [T0 + timedelta(seconds=i) for i in range(n)], "speed_mps": [speed] * n,
            "distance_m": [speed * i for i in range(n)]}
    if cadence_raw is not None:
        data["cadence_raw"] = [cadence_raw] * n
    return schema.conform(pl.DataFrame(data), "records")


def laps(aid: str, strides: list[int], distances: list[float]) -> pl.DataFrame:
    return schema.conform(pl.DataFrame([{"activity_id": aid, "lap_index": k, "total_strides": s, "distance_m": d}
                                        for k, (s, d) in enumerate(zip(strides, distances))]), "laps")


def checks(res, name: str) -> list[dict]:
    return [r for r in res.checks.to_dicts() if r["check_name"] == name]


# --- steps ---------------------------------------------------------------------------------------


def test_corrupt_device_total_strides_is_not_trusted():
    """The issue's watch: 1,986 strides for a run whose laps sum to 21,606 strides. Here 3,601 s at
    170 spm = 10,200 steps from the records, the device says 1,986 strides (3,972 steps)."""
    a = act(distance_m=10_800.0, timer_time_s=3600.0, elapsed_time_s=3600.0, device_total_strides=1986,
            device_avg_cadence_spm=170.0)
    res = derive_file(frame(a), recs(3601), laps("f-0", [2550, 2550, 2550, 2550], [2700.0] * 4), None)
    row = res.metrics.row(0, named=True)
    assert row["steps"] == pytest.approx(170.0 / 60 * 3600, rel=1e-6)
    assert row["steps_source"] == "derived"
    (c,) = checks(res, "steps_device_total")
    assert c["outcome"] == "disagree" and c["measured_value"] == 3972.0
    assert c["expected_low"] < 10_200 < c["expected_high"]
    assert c["effect"] == "device total_strides not used" and c["threshold_name"] == "steps_device_tolerance"
    # the device's cadence still stands (must not regress)
    assert row["avg_cadence_spm"] == 170.0 and row["cadence_source"] == "device"


def test_corrupt_strides_without_record_cadence_fall_back_to_the_laps():
    a = act(distance_m=34_700.0, timer_time_s=12_000.0, device_total_strides=1986, device_avg_cadence_spm=0.0)
    lap_strides = [2160] * 10 + [6]  # 21,606 strides
    res = derive_file(frame(a), recs(601, cadence_raw=None), laps("f-0", lap_strides, [3155.0] * 11), None)
    row = res.metrics.row(0, named=True)
    assert (row["steps"], row["steps_source"]) == (2 * 21_606.0, "laps")
    assert checks(res, "steps_device_total")[0]["outcome"] == "disagree"


def test_consistent_device_total_strides_are_used():
    a = act(distance_m=10_800.0, timer_time_s=3600.0, device_total_strides=5090)
    res = derive_file(frame(a), recs(3601), schema.empty("laps"), None)
    row = res.metrics.row(0, named=True)
    assert (row["steps"], row["steps_source"]) == (10_180.0, "device")
    assert checks(res, "steps_device_total")[0]["outcome"] == "pass"


def test_guard_steps_references_and_tolerance():
    tol = threshold("steps_device_tolerance")
    # 2 x 1000 strides against derived steps: the range is the derived value +- the tolerance
    use, c = q.guard_steps(1000, 2000 / (1 + tol) + 1)
    assert use and c[0]["outcome"] == "pass"
    use, c = q.guard_steps(1000, 2000 / (1 + tol) - 1)
    assert not use and c[0]["outcome"] == "disagree"
    use, c = q.guard_steps(1000, 2000 / (1 + tol) + 1, overrides={"steps_device_tolerance": tol / 2})
    assert not use
    # no record cadence, no laps: the device's average cadence x timer time
    use, c = q.guard_steps(1986, None, device_avg_cadence_spm=160.0, timer_s=9000.0)
    assert not use and "average cadence" in c[0]["detail"]
    # nothing to compare with: used, and the check says it was skipped
    use, c = q.guard_steps(1986, None)
    assert use and c[0]["outcome"] == "skipped"
    assert q.guard_steps(None, 2000) == (False, [])


# --- time ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("timer", "elapsed"), [(1992.78, 1992.51), (1808.0, 1807.0)])
def test_device_timer_longer_than_elapsed_is_clamped(timer, elapsed):
    """Corpus: runpandas basic.tcx (timer 1,992.78 s, elapsed 1,992.51 s), python-fitparse
    null_compressed_speed_dist.fit (1,808 s vs 1,807 s): moving time can not exceed elapsed time."""
    a = act(distance_m=1800.0, timer_time_s=timer, elapsed_time_s=elapsed)
    res = derive_file(frame(a), recs(601), schema.empty("laps"), None)
    row = res.metrics.row(0, named=True)
    assert row["moving_time_s"] == elapsed <= row["elapsed_time_s"]
    (c,) = checks(res, "time_order")
    assert c["outcome"] == "adjusted" and c["measured_value"] == timer and c["expected_high"] == elapsed
    assert c["effect"] == "moving time set to the elapsed time"


def test_moving_time_within_elapsed_passes():
    a = act(distance_m=1800.0, timer_time_s=590.0, elapsed_time_s=620.0)
    res = derive_file(frame(a), recs(601), schema.empty("laps"), None)
    assert res.metrics["moving_time_s"][0] == 590.0
    assert checks(res, "time_order")[0]["outcome"] == "pass"


def test_guard_times_limits():
    assert q.guard_times(100.0, 90.0, 120.0)[0] == 90.0  # over the timer
    assert q.guard_times(100.0, None, 95.0)[0] == 95.0  # over the elapsed time
    m, c = q.guard_times(4.924 + 1e-9, None, 4.924)  # float noise of a sum of durations
    assert m == 4.924 and c[0]["outcome"] == "pass"
    assert q.guard_times(None, 10.0, 20.0)[1][0]["outcome"] == "skipped"


# --- timer stops reach the gait model ----------------------------------------------------------


def _fit_with_pause() -> bytes:
    start = datetime(2024, 5, 2, 6, 0, 0)
    ts = [start + timedelta(seconds=i) for i in range(300)] + \
         [start + timedelta(seconds=i) for i in range(420, 720)]
    n = len(ts)
    return encode_activity(records={"timestamp": ts, "distance": [3.0 * i for i in range(n)],
                                    "enhanced_speed": [3.0] * n, "cadence": [85] * n},
                           pauses=[(start + timedelta(seconds=299), start + timedelta(seconds=420))])


def test_timer_stop_events_from_a_real_fit_file():
    dec = decode_bytes(_fit_with_pause(), "pause.fit", reader_options())
    stops = q.timer_stop_seconds(dec.events, dec.activities["activity_id"][0])
    want = (datetime(2024, 5, 2, 6, 4, 59) - datetime(1970, 1, 1)).total_seconds()
    assert want in stops.tolist()  # the pause's stop_all; the end-of-activity stop may follow
    assert q.timer_stop_seconds(dec.events, "another-activity")is None  # no timer event at all: nothing known
    assert q.timer_stop_seconds(None) is None


def test_derive_file_passes_stops_and_steps_to_sample_durations(monkeypatch):
    """sample_durations gets the device's timer stops and the metres since the previous sample
    (the gait model reads them; models/gait.py)."""
    dec = decode_bytes(_fit_with_pause(), "pause.fit", reader_options())
    seen = []
    real = gt.sample_durations

    def spy(recorded_at, **kw):
        seen.append(kw)
        return real(recorded_at, **kw)

    monkeypatch.setattr(gt, "sample_durations", spy)
    derive_file(dec.activities, dec.records, dec.laps, dec.events)
    assert seen
    kw = seen[-1]
    assert len(kw["stops_s"]) >= 1
    step = np.asarray(kw["step_m"])
    assert len(step) == dec.records.height
    assert np.nanmedian(step) == pytest.approx(3.0)
    # derive_activity has no events: nothing is known about stops (None, not "no stop")
    seen.clear()
    derive_activity(dec.activities, dec.records, dec.laps)
    assert seen[-1]["stops_s"] is None
