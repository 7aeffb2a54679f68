"""The one reading of the calendar: today's local date.

Code below the command line takes ``today`` as a parameter (``run_models(con, today=...)``, the
sync flow's ``today``, the journal functions); when none is given it comes from here. Setting
``FOOTFALL_TODAY=YYYY-MM-DD`` fixes it: the tests run on a fixed day (tests/conftest.py), and the
models can be rebuilt as they stood on a past day.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from zoneinfo import ZoneInfo


def local_today(tz: str | None = None) -> date:
    """Today's local date: ``FOOTFALL_TODAY`` if set, else in ``tz`` (the config's IANA time
    zone) or the machine's."""
    fixed = os.environ.get("FOOTFALL_TODAY")
    if fixed:
        return date.fromisoformat(fixed)
    if tz:
        return datetime.now(ZoneInfo(tz)).date()
    return date.today()
