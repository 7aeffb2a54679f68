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

from models.frames import put_columns


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
        activities = put_columns(activities, [pl.Series("local_offset_s", offsets, dtype=pl.Int32)])
    date = _local_dates(activities)
    if date is None:
        return activities.with_columns(
            (pl.col("started_at") + pl.duration(seconds=pl.col("local_offset_s").fill_null(0)))
            .dt.date()
            .alias("local_date")
        )
    return put_columns(activities, [date])


#: microseconds in a day; the bounds of a Date (days in an Int32) and of a Datetime (us in an Int64)
_US_PER_DAY = 86_400_000_000
_DAYS_MAX = 2**31 - 1
_US_MAX = 2**63 - 1


def _local_dates(activities: pl.DataFrame) -> pl.Series | None:
    """The ``local_date`` column that ``(started_at + duration(seconds=local_offset_s or 0))
    .dt.date()`` gives, in Python ints over the file's few activities (that expression's
    query was ~0.6 ms of a decode worker's ~17 ms per file): the date of a naive datetime is
    its epoch microseconds floor-divided by a day's. None (the caller asks polars) for another
    column type or a value past what an Int64 datetime or a Date holds."""
    st, off = activities.get_column("started_at"), activities.get_column("local_offset_s")
    if st.dtype != pl.Datetime("us") or not off.dtype.is_integer():
        return None
    days = []
    for us, o in zip(st.cast(pl.Int64).to_list(), off.cast(pl.Int64).to_list()):
        if us is None:
            days.append(None)
            continue
        at = us + (o or 0) * 1_000_000
        if not -_US_MAX <= at <= _US_MAX:
            return None
        d = at // _US_PER_DAY
        if not -_DAYS_MAX <= d <= _DAYS_MAX:
            return None
        days.append(d)
    return pl.Series("local_date", days, dtype=pl.Int32).cast(pl.Date)
