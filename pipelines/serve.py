"""``footfall serve``: a scheduled sync with Prefect's own scheduler, no extra infrastructure.

Prefect schedules only on a real server (on the temporary server a run would start, the schedule
never fires), so ``footfall serve``:

1. finds a Prefect server, or starts one (``pipelines.prefect_api.find_or_start_server``:
   ``PREFECT_API_URL`` when set and answering, else the one footfall started and can identify by
   its state file, else ``prefect server start`` in the background on 127.0.0.1 with the same
   ``PREFECT_HOME``, so the sync runs, logs and artifacts recorded before are in its UI). The
   server gets its own session, so Ctrl-C reaches footfall first. Whatever else answers on
   127.0.0.1:4200 is never used;
2. registers the ``footfall-sync`` flow as a deployment with a cron schedule (in the config's
   ``timezone``, else the machine's) and the sync's parameters (absolute paths), and serves it:
   this process polls the server and runs each scheduled sync in a subprocess;
3. on Ctrl-C (or SIGTERM) stops serving, pauses the deployment's schedule (Prefect's
   ``pause_on_shutdown``) and stops the server if it started it.

Retries: only the tasks that touch the DuckDB file retry (``pipelines/tasks.py``).

Which server a flow run uses, the state file and how a server is identified: ``pipelines/prefect_api.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.prefect_api import (
    HOST,
    configured_api_url,
    find_or_start_server,
    footfall_server,
    prefect_home,
)

DEFAULT_CRON = "0 5 * * *"


class ServeError(RuntimeError):
    """The schedule cannot be served (a bad cron or timezone). No server to serve on:
    ``pipelines.prefect_api.PrefectServerError``."""


def local_timezone(configured: str | None = None) -> str:
    """The IANA zone the cron is read in: the config's ``timezone``, else the machine's, else UTC."""
    if configured:
        return configured
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and "/" in tz and not tz.startswith("/"):
        return tz
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    except OSError:
        pass
    return "UTC"


def check_cron(cron: str, timezone: str = "UTC"):
    """The Prefect schedule for ``cron``; ``ServeError`` when cron or zone is invalid."""
    from prefect.schedules import Cron

    try:
        return Cron(cron, timezone=timezone)
    except ValueError as err:
        raise ServeError(f"invalid schedule {cron!r} ({timezone}): {err}. A cron has five fields: "
                         "minute hour day-of-month month day-of-week, e.g. '0 5 * * *' for 05:00 daily") from err


def deployment_name(athlete: str) -> str:
    return f"footfall-sync-{athlete}"


def sync_parameters(paths: list[str | Path], db: str | Path, athlete: str,
                    workers: int | None = None) -> dict:
    """The sync flow's parameters, with absolute paths (the runs start in a subprocess)."""
    params = {"paths": [str(Path(p).expanduser().resolve()) for p in paths],
              "db": str(Path(db).expanduser().resolve()), "athlete": athlete}
    if workers is not None:
        params["workers"] = workers
    return params


def make_runner(paths: list[str | Path], *, cron: str, db: str | Path, athlete: str,
                timezone: str = "UTC", workers: int | None = None, name: str | None = None):
    """A Prefect ``Runner`` serving the sync flow as a deployment with a cron schedule.

    Registers the deployment on the current Prefect API (``PREFECT_API_URL``) at once; returns
    ``(runner, deployment_id, deployment_name)``. ``runner.start()`` (async) serves it;
    ``runner.start(run_once=True)`` runs what is due now and returns.
    """
    from prefect.runner import Runner

    from pipelines.flows import sync

    schedule = check_cron(cron, timezone)
    name = name or deployment_name(athlete)
    runner = Runner(name=name, pause_on_shutdown=True)
    deployment_id = runner.add_flow(
        sync, name=name, schedules=[schedule],
        parameters=sync_parameters(paths, db, athlete, workers),
        description=f"footfall sync for athlete {athlete!r} on {cron!r} ({timezone})",
        tags=["footfall"],
    )
    return runner, deployment_id, name


def serve(paths: list[str | Path], *, cron: str, db: str | Path, athlete: str,
          timezone: str | None = None, workers: int | None = None,
          config_path: str | Path | None = None, say=print) -> None:
    """Find or start a Prefect server, then serve the scheduled sync until Ctrl-C / SIGTERM.

    ``config_path``: the footfall config in use, passed on (absolute) to the scheduled runs,
    which load their settings themselves in a subprocess.
    """
    import asyncio

    if config_path:
        os.environ["FOOTFALL_CONFIG"] = str(Path(config_path).expanduser().resolve())

    tz = local_timezone(timezone)
    check_cron(cron, tz)  # refuse a bad cron before starting anything
    if not configured_api_url() and footfall_server() is None:
        say(f"starting a local Prefect server on {HOST} (PREFECT_HOME {prefect_home()}) ...")
    server = find_or_start_server()
    try:
        os.environ["PREFECT_API_URL"] = server.api_url
        from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: server.api_url, PREFECT_UI_URL: server.ui_url}):
            runner, deployment_id, name = make_runner(
                paths, cron=cron, db=db, athlete=athlete, timezone=tz, workers=workers)
            how = (f"started by footfall, pid {server.process.pid}, log {server.log_path}; stopped when "
                   "serving stops" if server.started_here else "already running; left running")
            say(f"Prefect UI: {server.ui_url}  (server {how})")
            say(f"deployment: {server.ui_url}/deployments/deployment/{deployment_id}")
            say(f"schedule: footfall-sync/{name} on {cron!r} ({tz}); run it now with "
                f"`prefect deployment run 'footfall-sync/{name}'` (PREFECT_API_URL={server.api_url})")
            say("serving: press Ctrl-C to stop (the schedule is paused, and a server footfall started is stopped)")
            try:
                asyncio.run(runner.start())
            except KeyboardInterrupt:
                pass
    finally:
        if server.started_here:
            try:
                say("stopping the Prefect server footfall started ...")
            finally:
                server.stop()
