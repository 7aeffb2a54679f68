"""What a reader is told by its caller: the few settings that change how a file is read.

The values are not written here: every threshold and bound lives once in ``models/thresholds.py``
(``models.thresholds.reader_options(overrides)`` builds these options from it, with the user's
``[thresholds]`` overrides), and ``ingest/`` imports neither ``models/`` nor ``pipelines/``. The sync
(``pipelines/work.py``) builds them once per run and passes them to ``decode_bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReaderOptions:
    """Settings for ``ingest.decode.decode_bytes`` and the readers it calls (picklable)."""

    #: GPX: segments further apart in time than this (s), or going back in time, are separate
    #: activities (``gpx_activity_split_gap_s``)
    gpx_activity_split_gap_s: float
    #: (lower, upper) latitude in degrees: a position outside it is no position, adds no distance
    latitude_range_deg: tuple[float, float]
    #: (lower, upper) longitude in degrees, likewise
    longitude_range_deg: tuple[float, float]
