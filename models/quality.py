"""Data quality of one activity: one distance chosen with a reason, and guards on time and steps.

Pure functions on plain values (no frames needed); ``models/summary.py`` calls them for every
activity and turns their ``checks`` into ``schema.ACTIVITY_CHECKS`` rows (one row per check run,
passed or not, so an audit is complete). Tolerances: ``models/thresholds.py`` (block "data
quality").

**One distance** (``choose_distance``; footfall choice). Candidates:

- ``session``: the FIT session's ``total_distance`` (only a FIT activity with a session summary);
- ``laps``: the sum of the laps' distances (TCX: the device's ``DistanceMeters`` per lap; FIT
  laps); GPX laps are the reader's segments, so a GPX has no laps candidate;
- ``records``: the cumulative record distance (``models.track.cumulative_distance_m``): the
  device's own counter in FIT and TCX, the reader's haversine in GPX;
- ``track``: the haversine length of the GPS positions, raw and after ``models.track.clean_track``.

The rule, in order:

1. a device session distance > 0 is kept (``device``), whatever the others say: the watch
   filtered its own distance (and a real run keeps the value the runner saw); the others are
   compared with it;
2. else the laps sum > 0 (``laps``), unless the laps are short: the record counter and the
   cleaned track both exist, agree with each other within ``distance_agree_tolerance``, and the
   laps are shorter than both by more than it: then the records (``records``);
3. else, for FIT and TCX, the record counter (``records``); for GPX the cleaned track first
   (``track``: the reader's records distance is the raw positions), then the records;
4. else the cleaned track (``track``);
5. else the file's own activity total (``device``: a treadmill file with no records distance or
   positions; for a FIT without session, the reader's largest record distance: ``records``),
   else a session that says 0 (``device``), else nothing (``none``).

Every other candidate present is compared with the chosen one: beyond ``distance_agree_tolerance``
of it (and at least ``distance_agree_min_m`` apart), a ``disagree`` check (never silent), else
``pass``. A GPX track is cleaned segment by segment (its laps): the jump between two segments is
no distance, as in the GPX reader.

**Time guards** (``guard_times``): moving time <= timer time <= elapsed time; a moving time over
either is clamped to it (``adjusted``).

**Step guard** (``guard_steps``): 2 x the device's ``total_strides`` is used only when it is
within ``steps_device_tolerance`` of the steps from cadence x time (from the records; else the
laps' own strides; else the device's average cadence x timer time); with no reference at all it
is used as is (``skipped``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ingest import schema
from ingest.fit_messages import frame, new_series
from models.thresholds import value as threshold

__all__ = [
    "DistanceCandidates",
    "DistanceChoice",
    "check_row",
    "checks_frame",
    "choose_distance",
    "guard_steps",
    "guard_times",
    "timer_stop_seconds",
]

#: FIT event_type values of the ``timer`` event that stop the timer (names, and numbers as a
#: reader without the profile would write them: stop 1, stop_all 4, stop_disable 8,
#: stop_disable_all 9; FIT SDK profile, Event / EventType).
TIMER_STOP_TYPES = frozenset({"stop", "stop_all", "stop_disable", "stop_disable_all", "1", "4", "8", "9"})
TIMER_EVENTS = frozenset({"timer", "0"})

_NAMES = {"session": "device session", "laps": "laps sum", "records": "record distance",
          "track": "cleaned GPS track", "track_raw": "raw GPS track"}


def _ok(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _pos(v: Any) -> bool:
    return _ok(v) and float(v) > 0


def check_row(
    check_name: str,
    outcome: str,
    *,
    measured_value: float | None = None,
    expected_low: float | None = None,
    expected_high: float | None = None,
    unit: str | None = None,
    effect: str = "none",
    detail: str = "",
    threshold_name: str | None = None,
) -> dict[str, Any]:
    """One ``schema.ACTIVITY_CHECKS`` row without ``activity_id``."""
    return {
        "check_name": check_name,
        "outcome": outcome,
        "measured_value": None if measured_value is None else float(measured_value),
        "expected_low": None if expected_low is None else float(expected_low),
        "expected_high": None if expected_high is None else float(expected_high),
        "unit": unit,
        "effect": effect,
        "detail": detail,
        "threshold_name": threshold_name,
    }


def checks_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows (with ``activity_id``) conformed to ``schema.ACTIVITY_CHECKS``."""
    if not rows:
        return schema.empty("activity_checks")
    # each column through the constructor ``pl.DataFrame(data, schema=cols)`` calls for it
    # (``pl.Series(name, values, dtype=dtype, strict=True)``), without the frame's front end
    return frame([new_series(c, [r.get(c) for r in rows], dtype) for c, dtype in schema.ACTIVITY_CHECKS.items()])


# --------------------------------------------------------------------------------------------
# distance
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DistanceCandidates:
    source_format: str | None
    session_m: float | None = None  # FIT session total_distance (files with a session summary)
    laps_m: float | None = None  # sum of laps' distance_m (every lap has one); NULL for GPX
    records_m: float | None = None  # cumulative record distance (track.cumulative_distance_m)
    track_raw_m: float | None = None
    track_clean_m: float | None = None
    file_total_m: float | None = None  # activities.distance_m when it is not a session summary


@dataclass(frozen=True)
class DistanceChoice:
    distance_m: float | None
    source: str  # device | laps | records | track | none
    reason: str
    checks: list[dict[str, Any]] = field(default_factory=list)


def _rel(a: float, b: float) -> float:
    """|a - b| relative to b (b > 0)."""
    return abs(a - b) / b


def _m(v: float | None) -> str:
    return "none" if v is None else f"{v:,.0f} m"


def choose_distance(c: DistanceCandidates, overrides: dict[str, float] | None = None) -> DistanceChoice:
    """The activity's distance, its source and reason, and one agreement check per candidate."""
    tol = threshold("distance_agree_tolerance", overrides)
    floor = threshold("distance_agree_min_m", overrides)
    gpx = c.source_format == "gpx"
    chosen: tuple[float | None, str, str, str | None] | None = None  # (value, source, reason, key)
    extra: list[dict[str, Any]] = []

    if _pos(c.session_m):
        chosen = (c.session_m, "device", "the device's session distance (the watch's own total)", "session")
    elif _pos(c.laps_m):
        rec, trk = c.records_m, c.track_clean_m
        short = (_pos(rec) and _pos(trk) and _rel(rec, trk) <= tol
                 and c.laps_m < (1 - tol) * min(rec, trk))
        if short:
            chosen = (rec, "records",
                      f"the laps sum {_m(c.laps_m)} is short of the record distance {_m(rec)} and the "
                      f"cleaned GPS track {_m(trk)}, which agree within {tol:.0%}", "records")
            extra.append(check_row(
                "distance_laps_short", "adjusted", measured_value=c.laps_m,
                expected_low=(1 - tol) * min(rec, trk), unit="m", effect="distance from records",
                detail=f"laps sum {_m(c.laps_m)} vs records {_m(rec)} and cleaned track {_m(trk)}: "
                       "the laps do not cover the whole activity",
                threshold_name="distance_agree_tolerance"))
        else:
            chosen = (c.laps_m, "laps", "the sum of the device's laps", "laps")
    elif not gpx and _pos(c.records_m):
        chosen = (c.records_m, "records", "the device's cumulative record distance (no session summary)",
                  "records")
    elif _pos(c.track_clean_m):
        chosen = (c.track_clean_m, "track", "the cleaned GPS track (the file has no device distance)", "track")
    elif _pos(c.records_m):
        chosen = (c.records_m, "records", "the cumulative record distance (no positions)", "records")
    elif _pos(c.file_total_m) and c.source_format == "fit":
        chosen = (c.file_total_m, "records", "the largest record distance (the FIT reader's activity total; "
                  "the record counter does not grow in record order)", None)
    elif _pos(c.file_total_m):
        chosen = (c.file_total_m, "device", "the file's own activity total (no records distance or positions)",
                  None)
    elif _ok(c.session_m):
        chosen = (float(c.session_m), "device", "the device's session distance is 0 and nothing else moved",
                  "session")
    elif _ok(c.track_clean_m) or _ok(c.records_m) or _ok(c.laps_m):
        val = next(float(v) for v in (c.track_clean_m, c.records_m, c.laps_m) if _ok(v))
        chosen = (val, "track" if _ok(c.track_clean_m) else ("records" if _ok(c.records_m) else "laps"),
                  "every candidate is 0", None)

    if chosen is None:
        return DistanceChoice(None, "none", "no distance: no session, laps, record distance or positions",
                              [check_row("distance_choice", "skipped", unit="m", effect="no distance",
                                         detail="the file carries no distance and no positions")])
    value, source, reason, key = chosen
    value = float(value)
    checks = [check_row("distance_choice", "adjusted" if extra else "pass", measured_value=value, unit="m",
                        effect=f"distance from {source}", detail=reason)]
    checks += extra
    if value > 0:
        others = {"session": c.session_m, "laps": c.laps_m, "records": c.records_m, "track": c.track_clean_m}
        for k, v in others.items():
            if k == key or not _ok(v):
                continue
            v = float(v)
            agree = _rel(v, value) <= tol or abs(v - value) < floor
            checks.append(check_row(
                f"distance_agreement_{k}", "pass" if agree else "disagree", measured_value=v,
                expected_low=value * (1 - tol), expected_high=value * (1 + tol), unit="m",
                effect="none" if agree else f"none: the distance from {source} is kept",
                detail=f"{_NAMES[k]} {_m(v)} vs chosen {_m(value)} ({source}): "
                       f"{(v - value) / value:+.1%}",
                threshold_name="distance_agree_tolerance"))
    return DistanceChoice(value, source, reason, checks)


# --------------------------------------------------------------------------------------------
# timer stops, time and step guards
# --------------------------------------------------------------------------------------------


def timer_stop_seconds(events: pl.DataFrame | None, activity_id: Any = None) -> np.ndarray | None:
    """Epoch seconds of the FIT timer stop events (``event`` 'timer', ``event_type`` stop,
    stop_all, stop_disable, stop_disable_all) of one activity (all when ``activity_id`` is None).

    None when the activity has no timer event at all (GPX/TCX, a FIT written without them): then
    nothing is known about stops and ``sample_durations`` keeps its rule for unknown gaps; an
    empty array when the device wrote timer events and none was a stop."""
    if events is None or events.height == 0 or "event" not in events.columns:
        return None
    fast = _timer_stops_in_python(events, activity_id)
    if fast is not _ASK_POLARS:
        return fast
    # one pass over the events: which are this activity's timer events, which of those stop
    timer = _TIMER_EVENT
    if activity_id is not None and "activity_id" in events.columns:
        timer = (pl.col("activity_id") == activity_id) & timer
    m = events.select(timer.fill_null(False).alias("timer"), _TIMER_STOP.fill_null(False).alias("stop"),
                      _EPOCH_US.alias("us"))
    is_timer = m.get_column("timer").to_numpy()
    if not is_timer.any():
        return None
    stop = is_timer & m.get_column("stop").to_numpy()
    if not stop.any():
        return np.zeros(0)
    return np.sort(m.get_column("us").to_numpy()[stop] / 1e6)


_ASK_POLARS = object()
#: above this many events the polars query below is cheaper than a Python loop over them
_PY_EVENTS_MAX = 2000


def _timer_stops_in_python(events: pl.DataFrame, activity_id: Any):
    """``timer_stop_seconds`` over the events' Python values, without a query (a file's few
    events; the select and its collect were ~0.5 ms of a decode worker's ~17 ms per file):
    the same Kleene logic (a NULL is never a timer event nor a stop), ``str.lower`` for
    ``str.to_lowercase`` on ASCII text, the epoch microseconds as float64 (polars' Int64 ->
    Float64 cast is numpy's). ``_ASK_POLARS`` for what it does not cover (non-ASCII text,
    columns of other types, many events)."""
    cols = events.schema
    if (events.height > _PY_EVENTS_MAX or cols.get("event") != pl.Utf8 or "event_type" not in cols
            or cols["event_type"] != pl.Utf8 or cols.get("recorded_at") != pl.Datetime("us")):
        return _ASK_POLARS
    by_act = activity_id is not None and "activity_id" in cols
    if by_act and (cols["activity_id"] != pl.Utf8 or not isinstance(activity_id, str)):
        return _ASK_POLARS
    ev, et = events.get_column("event").to_list(), events.get_column("event_type").to_list()
    if any(v is not None and not v.isascii() for v in ev + et):
        return _ASK_POLARS
    aids = events.get_column("activity_id").to_list() if by_act else None
    us = events.get_column("recorded_at").cast(pl.Int64).to_list()
    is_timer = [e is not None and e.lower() in TIMER_EVENTS for e in ev]
    if by_act:
        is_timer = [t and a is not None and a == activity_id for t, a in zip(is_timer, aids)]
    if not any(is_timer):
        return None
    stops = [u for t, s, u in zip(is_timer, et, us)
             if t and s is not None and u is not None and s.lower() in TIMER_STOP_TYPES]
    if not stops:
        return np.zeros(0)
    return np.sort(np.array(stops, dtype=np.int64).astype(np.float64) / 1e6)


_TIMER_EVENT = pl.col("event").cast(pl.Utf8).str.to_lowercase().is_in(list(TIMER_EVENTS))
_TIMER_STOP = (pl.col("event_type").cast(pl.Utf8).str.to_lowercase().is_in(list(TIMER_STOP_TYPES))
               & pl.col("recorded_at").is_not_null())
_EPOCH_US = pl.col("recorded_at").cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64)


def guard_times(
    moving_s: float | None, timer_s: float | None, elapsed_s: float | None
) -> tuple[float | None, list[dict[str, Any]]]:
    """(moving time, checks): moving <= timer (when the timer is known) and <= elapsed."""
    if not _ok(moving_s):
        return moving_s, [check_row("time_order", "skipped", unit="s", detail="no moving time")]
    moving = float(moving_s)
    limits = [(float(v), name) for v, name in ((timer_s, "timer time"), (elapsed_s, "elapsed time"))
              if _ok(v)]
    if not limits:
        return moving, [check_row("time_order", "skipped", measured_value=moving, unit="s",
                                  detail="no timer or elapsed time to compare with")]
    cap, name = min(limits)
    if moving <= cap + 1e-3:  # float noise of a sum of sample durations is not an excess
        moving = min(moving, cap)
        return moving, [check_row("time_order", "pass", measured_value=moving, expected_low=0.0,
                                  expected_high=cap, unit="s",
                                  detail=f"moving time {moving:.0f} s <= {name} {cap:.0f} s")]
    return cap, [check_row(
        "time_order", "adjusted", measured_value=moving, expected_low=0.0, expected_high=cap, unit="s",
        effect=f"moving time set to the {name}",
        detail=f"moving time {moving:.1f} s is longer than the {name} {cap:.1f} s, which is impossible")]


def guard_steps(
    device_strides: float | None,
    derived_steps: float | None,
    *,
    laps_strides: float | None = None,
    device_avg_cadence_spm: float | None = None,
    timer_s: float | None = None,
    overrides: dict[str, float] | None = None,
) -> tuple[bool, list[dict[str, Any]]]:
    """(use the device's 2 x total_strides?, checks). See the module docstring."""
    if not _pos(device_strides):
        return False, []
    dev = 2.0 * float(device_strides)
    tol = threshold("steps_device_tolerance", overrides)
    if _pos(derived_steps):
        ref, what = float(derived_steps), "steps from the records' cadence x time"
    elif _pos(laps_strides):
        ref, what = 2.0 * float(laps_strides), "2 x the laps' strides"
    elif _pos(device_avg_cadence_spm) and _pos(timer_s):
        ref, what = float(device_avg_cadence_spm) * float(timer_s) / 60.0, \
            "the device's average cadence x timer time"
    else:
        return True, [check_row("steps_device_total", "skipped", measured_value=dev, unit="steps",
                                effect="steps from the device's total_strides",
                                detail="no cadence to compare the device's total with")]
    lo, hi = ref * (1 - tol), ref * (1 + tol)
    if lo <= dev <= hi:
        return True, [check_row("steps_device_total", "pass", measured_value=dev, expected_low=lo,
                                expected_high=hi, unit="steps", effect="steps from the device's total_strides",
                                detail=f"2 x total_strides {dev:,.0f} agrees with {what} {ref:,.0f}",
                                threshold_name="steps_device_tolerance")]
    return False, [check_row(
        "steps_device_total", "disagree", measured_value=dev, expected_low=lo, expected_high=hi, unit="steps",
        effect="device total_strides not used",
        detail=f"2 x total_strides {dev:,.0f} is {(dev - ref) / ref:+.0%} off {what} {ref:,.0f}",
        threshold_name="steps_device_tolerance")]
