"""Track cleaning: which GPS positions are real, and the distance they cover (issue 13).

CONTRACT (fixed; the implementation is being written): pure numpy, no polars frames needed.

``clean_track(seconds, lat_deg, lon_deg, *, max_speed_mps, overrides=None) -> TrackResult``
    ``seconds``: epoch seconds per record (NaN when untimed), in record order; lat/lon in
    degrees (NaN where a record has no position). Drops positions that are impossible for the
    activity: duplicate and out-of-order timestamps, steps faster than ``max_speed_mps`` (the
    sport's ceiling, from ``models/thresholds.py``), out-and-back jumps (a spike that returns),
    interleaved position streams. ``keep`` is aligned with the input (False for a dropped or
    unpositioned record). Distances are haversine sums (``ingest.geo.haversine_m``).

``cumulative_distance_m(distance_m) -> float | None``
    The distance a cumulative counter covered, robust to backwards jitter (a 2 Hz counter that
    steps back and forth must not add its jitter) and to a reset to 0 (nothing lost).

``speed_ceiling_mps(sport, overrides=None) -> float``
    The fastest plausible step speed for a sport (running/walking/hiking on foot; cycling;
    unknown), from models/thresholds.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ingest.geo import haversine_m


@dataclass(frozen=True)
class TrackResult:
    keep: np.ndarray  # bool per record: a position that is kept
    distance_raw_m: float | None  # haversine over every positioned record (record order)
    distance_clean_m: float | None  # haversine over the kept records
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> positions dropped
    max_step_speed_raw_mps: float | None = None  # fastest step before cleaning


def _haversine_sum(lat: np.ndarray, lon: np.ndarray) -> float | None:
    have = np.flatnonzero(~np.isnan(lat) & ~np.isnan(lon))
    if len(have) < 2:
        return None
    a, b = have[:-1], have[1:]
    return float(np.nansum(haversine_m(lat[a], lon[a], lat[b], lon[b])))


def clean_track(seconds, lat_deg, lon_deg, *, max_speed_mps: float, overrides=None) -> TrackResult:
    """STUB: keeps every position (the implementation replaces this)."""
    lat = np.asarray(lat_deg, dtype=float)
    lon = np.asarray(lon_deg, dtype=float)
    keep = ~np.isnan(lat) & ~np.isnan(lon)
    d = _haversine_sum(lat, lon)
    return TrackResult(keep=keep, distance_raw_m=d, distance_clean_m=d, dropped={})


def cumulative_distance_m(distance_m) -> float | None:
    """STUB: today's rule, the sum of the non-negative increments."""
    dist = np.asarray(distance_m, dtype=float)
    have = dist[~np.isnan(dist)]
    if have.size == 0:
        return None
    steps = np.diff(have)
    return float(np.sum(steps[steps > 0]))


def speed_ceiling_mps(sport: str | None, overrides=None) -> float:
    """STUB: one generous ceiling."""
    return 30.0
