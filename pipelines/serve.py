"""``footfall serve``: a scheduled sync with Prefect's own scheduler, no extra infrastructure.

Prefect schedules only on a real server (on the temporary server a run would start, the schedule
never fires), so ``footfall serve``:

1. finds a Prefect server: ``PREFECT_API_URL`` when set (environment or Prefect profile; it
   must answer), else one already answering on ``127.0.0.1:4200``; otherwise starts
   ``prefect server start`` in the background on 127.0.0.1 (port 4200, or a free port when 4200
   is taken) with the same ``PREFECT_HOME``
   (so the sync runs, logs and artifacts recorded before are in its UI), and waits until it is
   healthy. The server gets its own session, so Ctrl-C reaches footfall first;
2. registers the ``footfall-sync`` flow as a deployment with a cron schedule (in the config's
   ``timezone``, else the machine's) and the sync's parameters (absolute paths), and serves it:
   this process polls the server and runs each scheduled sync in a subprocess;
3. on Ctrl-C (or SIGTERM) stops serving, pauses the deployment's schedule (Prefect's
   ``pause_on_shutdown``) and stops the server if it started it.

Retries: only the tasks that touch the DuckDB file retry (``pipelines/tasks.py``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
DEFAULT_PORT = 4200
DEFAULT_CRON = "0 5 * * *"
#: How long to wait for a started server to answer (a first start on a new PREFECT_HOME
#: migrates its database: ~15 s on a 2-core machine).
START_TIMEOUT_S = 180.0


class ServeError(RuntimeError):
    """The schedule cannot be served (bad cron, server not reachable or not starting)."""


@dataclass
class PrefectServer:
    api_url: str  # http://127.0.0.1:4200/api
    process: subprocess.Popen | None = None  # set when footfall started it
    log_path: Path | None = None

    @property
    def ui_url(self) -> str:
        return self.api_url[: -len("/api")] if self.api_url.endswith("/api") else self.api_url

    @property
    def started_here(self) -> bool:
        return self.process is not None

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the server if this process started it (SIGTERM, then SIGKILL after ``timeout_s``)."""
        p = self.process
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def api_healthy(api_url: str, timeout_s: float = 2.0) -> bool:
    """True when a Prefect API answers ``GET <api_url>/health`` with ``true``."""
    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout_s) as resp:
            return resp.status == 200 and resp.read().strip() == b"true"
    except (urllib.error.URLError, OSError, ValueError):
        return False


def port_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as the server binds (uvicorn sets SO_REUSEADDR): a port in TIME_WAIT counts as free
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_port(preferred: int = DEFAULT_PORT, host: str = HOST) -> int:
    """``preferred`` when nothing listens on it, else a port the OS picks."""
    if port_free(preferred, host):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def prefect_home() -> Path:
    from prefect.settings import PREFECT_HOME

    return Path(PREFECT_HOME.value()).expanduser()


def start_server(*, host: str = HOST, port: int | None = None, timeout_s: float = START_TIMEOUT_S,
                 log_path: Path | None = None) -> PrefectServer:
    """Start ``prefect server start`` in the background and wait until its API is healthy."""
    port = port or free_port(DEFAULT_PORT, host)
    api_url = f"http://{host}:{port}/api"
    log_path = log_path or prefect_home() / "footfall-prefect-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)  # the server itself serves, it is no client
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("PREFECT_HOME", str(prefect_home()))
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]
    log = open(log_path, "ab")
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)
    finally:
        log.close()
    server = PrefectServer(api_url=api_url, process=proc, log_path=log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServeError(f"`prefect server start` exited with code {proc.returncode}; "
                             f"its output is in {log_path}:\n{_tail(log_path)}")
        if api_healthy(api_url):
            return server
        time.sleep(0.5)
    server.stop()
    raise ServeError(f"the Prefect server on {api_url} did not answer within {timeout_s:.0f} s; "
                     f"its output is in {log_path}:\n{_tail(log_path)}")


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def configured_api_url() -> str | None:
    """``PREFECT_API_URL`` as Prefect sees it: the environment, else the active profile
    (``prefect config set PREFECT_API_URL=...``)."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def find_or_start_server(*, host: str = HOST, port: int | None = None,
                         timeout_s: float = START_TIMEOUT_S) -> PrefectServer:
    """A Prefect server to schedule on: ``PREFECT_API_URL``, one on ``host:4200``, or a new one."""
    url = configured_api_url()
    if url:
        url = url.rstrip("/")
        if not api_healthy(url):
            raise ServeError(f"PREFECT_API_URL is {url} but no Prefect server answers there; start it "
                             "(`prefect server start`) or unset PREFECT_API_URL to let footfall start one")
        return PrefectServer(api_url=url)
    if port is None:
        default = f"http://{host}:{DEFAULT_PORT}/api"
        if api_healthy(default):
            return PrefectServer(api_url=default)
    return start_server(host=host, port=port, timeout_s=timeout_s)


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
    if not configured_api_url() and not api_healthy(f"http://{HOST}:{DEFAULT_PORT}/api"):
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
