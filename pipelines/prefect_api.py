"""Which Prefect server footfall talks to, and the one it may start.

A flow run (``run_settings``, used by ``pipelines.flows.run_flow``) reports to: ``PREFECT_API_URL``
when set (environment or Prefect profile); else the server ``footfall serve`` started, when it is
still running and identified by its state file (``footfall_server``: the run then shows in its
UI, and costs no server start); else Prefect's temporary server, started for this run (~6 s on 2
cores; footfall waits up to 120 s for it, ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``
wins). ``footfall serve`` (``find_or_start_server``) uses the configured server (it must answer),
else footfall's own, else starts ``prefect server start`` in the background on 127.0.0.1 (port
4200, or a free port when 4200 is taken) with the same ``PREFECT_HOME`` and records it in the
state file. Whatever else answers on 127.0.0.1:4200 (another user's server, anything) is never
used: the flow's parameters and artifacts would go to it.

The state file, ``$XDG_STATE_HOME/footfall/prefect-server.json`` (default
``~/.local/state/footfall/``; folder 0700, file 0600), holds the server's PID, port, start time
and a random token that is also in the server's environment (``FOOTFALL_PREFECT_SERVER_TOKEN``).
A sync or ``serve`` uses that server only when the PID is alive, belongs to this user, started at
the recorded time, is a ``prefect server start`` whose environment holds the token, it or a child
listens on the port, and the API answers. Identification reads ``/proc`` (Linux); elsewhere the
server is not identified and a sync uses Prefect's temporary server.

Prefect itself is imported inside the functions that need it.
"""

from __future__ import annotations

import json
import os
import secrets
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
#: How long to wait for a started server to answer (a first start on a new PREFECT_HOME
#: migrates its database: ~15 s on a 2-core machine).
START_TIMEOUT_S = 180.0
#: The server footfall started: ``state_path()``; the token is also in the server's environment.
STATE_FILE = "prefect-server.json"
TOKEN_ENV = "FOOTFALL_PREFECT_SERVER_TOKEN"



class PrefectServerError(RuntimeError):
    """No Prefect server to use: the configured one does not answer, or the one started here
    exited or did not answer in time."""


@dataclass
class PrefectServer:
    api_url: str  # http://127.0.0.1:4200/api
    process: subprocess.Popen | None = None  # set when footfall started it
    log_path: Path | None = None
    token: str | None = None  # set when footfall started it (in its environment and state file)

    @property
    def ui_url(self) -> str:
        return self.api_url[: -len("/api")] if self.api_url.endswith("/api") else self.api_url

    @property
    def started_here(self) -> bool:
        return self.process is not None

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the server if this process started it (SIGTERM, then SIGKILL after ``timeout_s``)."""
        p = self.process
        if p is None:
            return
        if self.token:
            clear_state(self.token)
        if p.poll() is not None:
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
                 log_path: Path | None = None, home: Path | None = None,
                 record: bool = True) -> PrefectServer:
    """Start ``prefect server start`` in the background and wait until its API is healthy.

    ``home``: its ``PREFECT_HOME`` (default: this process's). ``record``: write the state file
    (``state_path()``) that lets later syncs identify it (``footfall_server``)."""
    port = port or free_port(DEFAULT_PORT, host)
    api_url = f"http://{host}:{port}/api"
    home = home or prefect_home()
    log_path = log_path or home / "footfall-prefect-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)  # the server itself serves, it is no client
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env["PREFECT_HOME"] = str(home)
    env[TOKEN_ENV] = token
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]
    log = open(log_path, "ab")
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)
    finally:
        log.close()
    server = PrefectServer(api_url=api_url, process=proc, log_path=log_path, token=token)
    if record:
        write_state(server, host=host, port=port)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            if record:
                clear_state(token)
            raise PrefectServerError(f"`prefect server start` exited with code {proc.returncode}; "
                             f"its output is in {log_path}:\n{_tail(log_path)}")
        if api_healthy(api_url):
            return server
        time.sleep(0.5)
    server.stop()
    raise PrefectServerError(f"the Prefect server on {api_url} did not answer within {timeout_s:.0f} s; "
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


# --------------------------------------------------------------------------- the server footfall started


def state_path() -> Path:
    """Where ``footfall serve`` records the Prefect server it started (``XDG_STATE_HOME``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).expanduser() / "footfall" / STATE_FILE


def _proc_start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks after boot, ``/proc/PID/stat`` field 22), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def write_state(server: PrefectServer, *, host: str, port: int) -> Path:
    """Record the server this process started (atomically; folder 0700, file 0600)."""
    assert server.process is not None and server.token
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    state = {"pid": server.process.pid, "host": host, "port": port, "api_url": server.api_url,
             "started_at": time.time(), "proc_start_ticks": _proc_start_ticks(server.process.pid),
             "token": server.token, "prefect_home": str(prefect_home())}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(state, fh)
    os.replace(tmp, path)
    return path


def read_state() -> dict | None:
    try:
        state = json.loads(state_path().read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def clear_state(token: str) -> None:
    """Remove the state file when it records the server with ``token`` (not a newer one)."""
    state = read_state()
    if state is not None and state.get("token") == token:
        try:
            state_path().unlink()
        except OSError:
            pass


def _children(pid: int) -> set[int]:
    """``pid`` and all its descendants (from ``/proc/*/stat``)."""
    parents: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(d.name))
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        if p not in out:
            out.add(p)
            todo.extend(parents.get(p, []))
    return out


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on TCP ``port`` (any address), from ``/proc/net/tcp{,6}``."""
    inodes = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9 and f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f[9])
    return inodes


def _socket_inodes(pids: set[int]) -> set[str]:
    out = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                out.add(link[len("socket:["):-1])
    return out


def check_state(state: dict | None) -> str | None:
    """Why the recorded server cannot be used (a sentence), or None when it is footfall's own:
    the PID is alive, this user's, started when recorded, a ``prefect server start`` whose
    environment holds the token, it or a child listens on the port, and the API is healthy."""
    if not state:
        return "no server recorded"
    try:
        pid, port, token = int(state["pid"]), int(state["port"]), str(state["token"])
        api_url = str(state["api_url"])
    except (KeyError, TypeError, ValueError):
        return "the state file is malformed"
    if pid <= 0 or not 0 < port < 65536 or len(token) < 16:
        return "the state file is malformed"
    if not Path("/proc/self/stat").is_file():
        return "cannot identify processes on this system (no /proc)"
    proc = Path(f"/proc/{pid}")
    try:
        if proc.stat().st_uid != os.getuid():
            return f"process {pid} belongs to another user"
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        environ = (proc / "environ").read_bytes().split(b"\0")
    except OSError:
        return f"process {pid} is not running"
    ticks = state.get("proc_start_ticks")
    if ticks is not None and _proc_start_ticks(pid) != ticks:
        return f"process {pid} is not the one recorded (another start time)"
    args = [a.decode(errors="replace") for a in cmdline]
    if not any(a == "prefect" or a.endswith("/prefect") for a in args) or "server" not in args \
            or "start" not in args:
        return f"process {pid} is not a prefect server ({' '.join(args)[:80]!r})"
    if f"{TOKEN_ENV}={token}".encode() not in environ:
        return f"process {pid} does not hold the recorded token"
    if not _listening_inodes(port) & _socket_inodes(_children(pid)):
        return f"process {pid} does not listen on port {port}"
    if not api_url.startswith(("http://127.0.0.1:", "http://localhost:", "http://[::1]:")) \
            or not api_url.rstrip("/").endswith(f":{port}/api"):
        return "the state file is malformed"
    if not api_healthy(api_url, timeout_s=2.0):
        return f"the Prefect API on {api_url} does not answer"
    return None


def footfall_server() -> PrefectServer | None:
    """The Prefect server ``footfall serve`` started, when it is running and identified
    (``check_state``); else None. Never adopts whatever else answers on the port."""
    state = read_state()
    if check_state(state) is not None:
        return None
    return PrefectServer(api_url=str(state["api_url"]).rstrip("/"))


def find_or_start_server(*, host: str = HOST, port: int | None = None,
                         timeout_s: float = START_TIMEOUT_S) -> PrefectServer:
    """A Prefect server to schedule on: ``PREFECT_API_URL``, the one footfall started (identified
    by the state file, ``footfall_server``), or a new one. Never whatever answers on 4200."""
    url = configured_api_url()
    if url:
        url = url.rstrip("/")
        if not api_healthy(url):
            raise PrefectServerError(f"PREFECT_API_URL is {url} but no Prefect server answers there; start it "
                             "(`prefect server start`) or unset PREFECT_API_URL to let footfall start one")
        return PrefectServer(api_url=url)
    if port is None:
        mine = footfall_server()
        if mine is not None:
            return mine
    return start_server(host=host, port=port, timeout_s=timeout_s)


# --------------------------------------------------------------------------- a flow run's settings


#: How long a sync waits for Prefect's temporary server to answer (Prefect's default, 20 s, is
#: too short for a first start on a loaded 2-core machine). A user's setting wins.
EPHEMERAL_STARTUP_TIMEOUT_S = 120


def local_api_url() -> str | None:
    """The Prefect server to use when none is configured: the one ``footfall serve`` started,
    when it is running and identified (``footfall_server``), else None (Prefect then starts its
    temporary server). A configured ``PREFECT_API_URL`` always wins: then None. Nothing else
    that answers locally (e.g. on 127.0.0.1:4200) is ever used."""
    if configured_api_url():
        return None
    server = footfall_server()
    return server.api_url if server is not None else None


def _startup_timeout_configured() -> bool:
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

    name = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.name
    if name in os.environ:
        return True
    try:
        from prefect.settings import load_current_profile

        return any(getattr(k, "name", k) == name for k in load_current_profile().settings)
    except Exception:  # noqa: BLE001 - an unreadable profile: Prefect itself will say so
        return False


def run_settings() -> dict:
    """The Prefect settings a flow run uses (for ``prefect.settings.temporary_settings``): the
    per-run heartbeat thread off (it adds ~1 s to every run); the local Prefect server footfall
    started when there is one and none is configured (``local_api_url``), else Prefect's
    temporary server with a longer start-up wait."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    )

    updates = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    try:
        early = early_api_url()  # started by ``footfall``'s main before its imports (below)
    except PrefectServerError:  # it exited or never answered: Prefect starts its own, as before
        stop_early_server()
        early = None
    if early:
        updates[PREFECT_API_URL] = early
        return updates
    local = local_api_url()
    if local:
        updates[PREFECT_API_URL] = local
    elif not _startup_timeout_configured():
        updates[PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS] = EPHEMERAL_STARTUP_TIMEOUT_S
    return updates


# --------------------------------------------------------------------------- the early temporary server

#: Prefect's temporary server as ``footfall`` starts it itself (``start_early_server``), else None.
_EARLY: PrefectServer | None = None


def early_server_wanted() -> bool:
    """True when a flow run would start Prefect's temporary server: no ``PREFECT_API_URL`` in
    the environment or in Prefect's profiles file, and no server ``footfall serve`` started
    (``footfall_server``). Decided without importing Prefect; when in doubt (a profiles file
    that names PREFECT_API_URL in any profile), False: Prefect decides as before."""
    if os.environ.get("PREFECT_API_URL") or os.environ.get("FOOTFALL_EARLY_SERVER", "1") == "0":
        return False
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        if "PREFECT_API_URL" in profiles.read_text():
            return False
    except OSError:
        pass
    return footfall_server() is None


def start_early_server() -> PrefectServer | None:
    """Start Prefect's temporary server now, the way Prefect starts it (``uvicorn`` on
    ``prefect.server.api.server:create_app``, UI off, 127.0.0.1, a free port), so its start-up
    (~5 s on 2 cores) overlaps the command's own imports and planning instead of following them;
    the flow run uses it (``run_settings``, which waits for it to answer) and it stops at exit.
    None when one is not wanted (``early_server_wanted``) or could not be started."""
    global _EARLY
    if _EARLY is not None or not early_server_wanted():
        return _EARLY
    import atexit
    import importlib.util

    spec = importlib.util.find_spec("prefect")
    if spec is None or spec.origin is None:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # a port the OS picks
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
           "PREFECT__SERVER_FINAL": "1"}
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(spec.origin).parent.parent),
             "--factory", "prefect.server.api.server:create_app", "--host", HOST, "--port", str(port),
             "--log-level", "error", "--lifespan", "on"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return None
    _EARLY = PrefectServer(api_url=f"http://{HOST}:{port}/api", process=proc)
    atexit.register(stop_early_server)
    return _EARLY


def early_api_url(timeout_s: float | None = None) -> str | None:
    """The early server's API URL once it answers (waiting up to ``timeout_s``, default the
    temporary server's start-up wait); None when there is none. Raises ``PrefectServerError``
    when it exited or did not answer in time."""
    server = _EARLY
    if server is None:
        return None
    wait = EPHEMERAL_STARTUP_TIMEOUT_S if timeout_s is None else timeout_s
    deadline = time.monotonic() + wait
    while not api_healthy(server.api_url, timeout_s=1.0):
        if server.process is not None and server.process.poll() is not None:
            raise PrefectServerError(f"Prefect's temporary server exited ({server.process.returncode}) "
                                     "before it answered")
        if time.monotonic() > deadline:
            raise PrefectServerError(f"Prefect's temporary server did not answer within {wait:.0f} s")
        time.sleep(0.05)
    return server.api_url


def stop_early_server() -> None:
    """Stop the early server (at exit; SIGTERM, then SIGKILL after 5 s, as Prefect stops its own)."""
    global _EARLY
    server, _EARLY = _EARLY, None
    if server is not None:
        server.stop(timeout_s=5.0)
