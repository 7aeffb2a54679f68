"""Geometry on the sphere, once for all of footfall: haversine distances between degree positions.

The earth radius is the one gpxpy uses (``gpxpy.geo.EARTH_RADIUS``, 6,378,137 m, the WGS 84
equatorial radius), so a GPX distance is the same as gpxpy's own ``haversine_distance``.
Pure numpy; distances in metres, positions in degrees.
"""

from __future__ import annotations

import numpy as np

#: metres; the radius of the sphere every haversine in footfall uses (see the module docstring):
#: gpxpy's ``gpxpy.geo.EARTH_RADIUS`` (tests/ingest/test_gpx.py checks they are equal), written
#: out so that a FIT-only decode worker does not import gpxpy (and the http/ssl/email modules
#: gpxpy.gpx pulls in: ~22 ms of its start-up)
EARTH_RADIUS_M: float = 6378137.0


def haversine_m(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres between degree coordinates (NaN where any is NaN)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    return haversine_radians_m(p1, np.radians(lon1), np.cos(p1), p2, np.radians(lon2), np.cos(p2))


def haversine_radians_m(p1: np.ndarray, l1: np.ndarray, cos_p1: np.ndarray,
                        p2: np.ndarray, l2: np.ndarray, cos_p2: np.ndarray) -> np.ndarray:
    """``haversine_m`` from each point's latitude and longitude in radians and the cosine of
    its latitude, for a caller that has them per point already (``models.track.Steps``)."""
    dp = p2 - p1
    dl = l2 - l1
    a = np.sin(dp / 2) ** 2 + cos_p1 * cos_p2 * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def haversine_steps_m(lat: np.ndarray, lon: np.ndarray, starts: np.ndarray,
                      latitude_range_deg: tuple[float, float],
                      longitude_range_deg: tuple[float, float]) -> np.ndarray:
    """Distance in metres from each point to the previous one (haversine).

    ``starts`` marks the first point of each segment: its step is 0, so the jump between two
    segments is never counted. Steps from or to a point without a position are 0, and so are
    those from or to a position outside ``latitude_range_deg``/``longitude_range_deg``
    (``(lower, upper)`` in degrees; the readers take them from ``ReaderOptions``).
    """
    n = len(lat)
    steps = np.zeros(n, dtype=np.float64)
    if n < 2:
        return steps
    lat = lat.astype(np.float64)
    lon = lon.astype(np.float64)
    # a position outside the globe (or NaN/inf) is no position: it must not add distance
    # (models/plausibility.py sets it NULL afterwards; bounds in models/thresholds.py)
    (lat_lo, lat_hi), (lon_lo, lon_hi) = latitude_range_deg, longitude_range_deg
    with np.errstate(invalid="ignore"):
        bad = ~((lat >= lat_lo) & (lat <= lat_hi) & (lon >= lon_lo) & (lon <= lon_hi))
    if bad.any():
        lat = np.where(bad, np.nan, lat)
        lon = np.where(bad, np.nan, lon)
    d = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
    steps[1:] = np.nan_to_num(d, nan=0.0)
    steps[starts.astype(bool)] = 0.0
    return steps
