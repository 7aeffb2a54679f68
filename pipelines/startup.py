"""What one ``footfall`` process carries from ``main`` to its command, with no imports beyond
the standard library (the nothing-to-do sync reads it before typer is imported): when the
process started, and a sync plan made before typer ran (``pipelines/cli/fast.py``)."""

from __future__ import annotations

import os
import time

def debug_on() -> bool:
    """--debug or FOOTFALL_DEBUG=1: tracebacks and Prefect's logs on a failure."""
    return os.environ.get("FOOTFALL_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


_PLANNED: list = []  # [(paths, settings, SyncPlan)], at most one


def process_age_s() -> float:
    """Seconds since this process started (interpreter start and imports included), 0 if unknown:
    from ``/proc`` (Linux), else psutil."""
    try:
        with open("/proc/self/stat", "rb") as fh:
            start_ticks = int(fh.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/uptime", "rb") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return max(0.0, time.time() - psutil.Process().create_time())
    except Exception:  # noqa: BLE001 - a wall time is worth no failure
        return 0.0


def put_plan(paths: list[str], settings, planned) -> None:
    _PLANNED[:] = [(list(paths), settings, planned)]


def plan_has_work() -> bool:
    """A plan made before typer ran has sources to read (a flow run will follow)."""
    return bool(_PLANNED and _PLANNED[0][2].sources)


def take_plan(paths: list[str], settings):
    """The plan made before typer ran for these paths and settings (once), else None."""
    if _PLANNED and _PLANNED[0][0] == [str(p) for p in paths] and _PLANNED[0][1] == settings:
        return _PLANNED.pop()[2]
    _PLANNED.clear()
    return None
