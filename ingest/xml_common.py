"""Helpers the XML readers share (``ingest/gpx.py``, ``ingest/tcx.py``): tag names without their
namespace, times to naive UTC, GPX/TCX sport names to FIT's, and ``field_sources`` rows.

Pure functions on strings, datetimes and counts; no reader imports another reader.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

#: GPX ``<type>`` / TCX ``Sport`` (lower case, spaces and dashes as ``_``) -> (sport, sub_sport).
#: Numeric codes are Strava's activity types in its GPX export (1 Ride, 4 Hike, 9 Run, 10 Walk,
#: 16 Swim, 17 VirtualRide).
SPORTS: dict[str, tuple[str, str | None]] = {
    "running": ("running", None),
    "run": ("running", None),
    "jogging": ("running", None),
    "9": ("running", None),
    "trail_running": ("running", "trail"),
    "trailrun": ("running", "trail"),
    "treadmill_running": ("running", "treadmill"),
    "treadmill": ("running", "treadmill"),
    "cycling": ("cycling", None),
    "biking": ("cycling", None),
    "bike": ("cycling", None),
    "ride": ("cycling", None),
    "1": ("cycling", None),
    "road_biking": ("cycling", "road"),
    "road_cycling": ("cycling", "road"),
    "mountain_biking": ("cycling", "mountain"),
    "mountainbikeride": ("cycling", "mountain"),
    "gravel_cycling": ("cycling", "gravel_cycling"),
    "virtualride": ("cycling", "virtual_activity"),
    "17": ("cycling", "virtual_activity"),
    "walking": ("walking", None),
    "walk": ("walking", None),
    "10": ("walking", None),
    "hiking": ("hiking", None),
    "hike": ("hiking", None),
    "4": ("hiking", None),
    "swimming": ("swimming", None),
    "swim": ("swimming", None),
    "16": ("swimming", None),
    "open_water_swimming": ("swimming", "open_water"),
    "lap_swimming": ("swimming", "lap_swimming"),
    "generic": ("generic", None),
    "other": ("generic", None),
}


def local_name(tag: str) -> str:
    """An XML tag without its ``{namespace}``, lower case."""
    return tag.rsplit("}", 1)[-1].lower()


def utc_naive(dt: datetime | None) -> tuple[datetime | None, int | None]:
    """(naive UTC datetime, stated UTC offset in seconds or None) of a gpxpy/ISO datetime.

    A naive datetime is taken to be UTC already (offset None).
    """
    if dt is None:
        return None, None
    try:
        off = dt.utcoffset()
    except ValueError:  # gpxpy keeps offsets like +99:99 that datetime refuses: no readable time
        return None, None
    if off is None:
        return dt, None
    return dt.replace(tzinfo=None) - off, int(off.total_seconds())


def map_sport(raw: str | None) -> tuple[str | None, str | None]:
    """(sport, sub_sport) in FIT names for a GPX type / TCX Sport string.

    None or blank -> (None, None); a value footfall does not know -> ('generic', None).
    """
    if raw is None or not raw.strip():
        return None, None
    key = re.sub(r"[\s\-]+", "_", raw.strip().lower())
    return SPORTS.get(key, ("generic", None))


def field_source_rows(activity_id: str, counts: dict[str, Counter]) -> list[dict]:
    """Rows for ``field_sources``: one per column, sources joined with '+' (most frequent first)."""
    rows = []
    for column, by_source in counts.items():
        n = sum(by_source.values())
        if n <= 0:
            continue
        source = "+".join(s for s, _ in by_source.most_common())
        rows.append({"activity_id": activity_id, "column_name": column, "source": source,
                     "n_values": n})
    return rows
