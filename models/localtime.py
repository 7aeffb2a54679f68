"""Local calendar dates for activities whose file carries no UTC offset (GPX, TCX, some FIT).

A FIT activity message gives the offset (local_timestamp - timestamp); GPX and TCX are UTC only.
For those, the runner's configured IANA time zone gives the offset at the start instant (so a
run at 23:30 local time counts on its local date). With no time zone configured, UTC is used and
``local_offset_s`` stays NULL so an analyst can tell the date is a UTC date.
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import polars as pl


def offset_seconds(started_at: datetime, tz: str) -> int:
    """UTC offset in seconds of time zone ``tz`` at naive-UTC instant ``started_at``."""
    try:
        aware = started_at.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(tz))
    except (OverflowError, ValueError):  # year 1 west of UTC, year 9999 east of it: no offset
        return 0
    off = aware.utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def fill_local_time(activities: pl.DataFrame, tz: str | None) -> pl.DataFrame:
    """Fill ``local_offset_s`` from ``tz`` where NULL, then recompute ``local_date``.

    ``local_date`` = date of (started_at + local_offset_s), offset 0 when still unknown.
    """
    if activities.height == 0:
        return activities
    if tz is not None:
        offsets = [
            off if off is not None else (offset_seconds(st, tz) if st is not None else None)
            for off, st in zip(activities["local_offset_s"], activities["started_at"])
        ]
        activities = activities.with_columns(pl.Series("local_offset_s", offsets, dtype=pl.Int32))
    # Series arithmetic, not ``with_columns`` over ``pl.col("started_at") + pl.duration(seconds=
    # pl.col("local_offset_s").fill_null(0))``: the same kernels (seconds * 10^6 as a Duration
    # in us, added, then the date), without planning a query for the one row a file has
    off_us = (activities.get_column("local_offset_s").fill_null(0).cast(pl.Int64) * 1_000_000)
    date = ((activities.get_column("started_at") + off_us.cast(pl.Duration("us"))).dt.date()
            .alias("local_date"))
    if "local_date" not in activities.columns:
        return activities.hstack([date])
    out = activities.clone()
    out.replace_column(activities.get_column_index("local_date"), date)
    return out
