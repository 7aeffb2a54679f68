"""Issue 11, point 5: footfall trusts no stranger on the Prefect port, and keeps health data
out of Prefect unless the user opts in.

- A stranger on 127.0.0.1:4200 (an HTTP server in a thread: a recording proxy in front of a real
  Prefect server, or one that answers ``/api/health`` and fails the rest) gets no request from a
  real ``footfall sync`` subprocess, which finishes normally on Prefect's temporary server. The
  stranger is up only during its test (other people's tests may run on this machine); the tests
  skip when 4200 is taken.
- The server ``footfall serve`` started (``start_server`` on a free port, real) is identified by
  its state file and used; a state file naming a dead PID, a live process that is not a Prefect
  server, another token or another port is refused.
- Artifacts, flow parameters, task runs and logs of a sync that raised a pain flag hold no pain
  score or body site; with ``[privacy] share_health_with_prefect = true`` the flag message does.
"""

from __future__ import annotations

import asyncio
import http.client
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines import db

from tests.conftest import TODAY

BODY_SITE = "left 2nd metatarsal head"
PAIN = "7"
STRANGER_PORT = 4200
FOOTFALL = Path(sys.executable).with_name("footfall")


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def small_export(tmp_path_factory) -> Path:
    """Two weeks of the demo export (a few FIT and GPX files) on disk."""
    from synth.sample import make_sample_export

    root = tmp_path_factory.mktemp("privacy") / "export"
    for rel, data in make_sample_export(weeks=2, end_date=TODAY).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


@pytest.fixture(scope="module")
def subprocess_home(tmp_path_factory) -> Path:
    """A PREFECT_HOME shared by this module's subprocess syncs (the temporary server migrates its
    database once)."""
    return tmp_path_factory.mktemp("prefect-home-sub")


def _log_pain(dbfile: Path, env: dict | None = None) -> None:
    """A pain score of 7 during a run three days ago, with a body site: raises `pain_during`."""
    from pipelines.db import open_for_writing

    day = (TODAY - timedelta(days=3)).isoformat()
    open_for_writing(dbfile)  # issue 15: `footfall log` writes only to a database that exists
    cmd = [str(FOOTFALL), "log", "pain", PAIN, "--when", "during", "--date", day,
           "--where", BODY_SITE, "--db", str(dbfile), "--athlete", "default"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def _sync_env(tmp: Path, home: Path) -> dict:
    """A user's environment: no Prefect server configured, own config, state and PREFECT_HOME."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_API", "FOOTFALL_")) or k == "FOOTFALL_CORPUS"}
    (tmp / "footfall.toml").write_text("")
    env.update(PREFECT_HOME=str(home), XDG_STATE_HOME=str(tmp / "state"),
               FOOTFALL_CONFIG=str(tmp / "footfall.toml"))
    return env


def _run_sync(export: Path, dbfile: Path, env: dict, timeout_s: float = 400):
    t0 = time.monotonic()
    r = subprocess.run([str(FOOTFALL), "sync", str(export), "--db", str(dbfile), "--json"],
                       env=env, cwd=dbfile.parent, capture_output=True, text=True, timeout=timeout_s)
    return r, time.monotonic() - t0


MARK = "FOOTFALL_TEST_STRANGER_MARK"


def _client_pid(peer_port: int) -> int | None:
    """The PID holding the client end (local port ``peer_port``) of a connection to the stranger."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if int(f[1].rsplit(":", 1)[1], 16) == peer_port and int(f[2].rsplit(":", 1)[1], 16) == STRANGER_PORT:
            inode = f[9]
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if any(os.readlink(fd) == target for fd in (d / "fd").iterdir()):
                    return int(d.name)
            except OSError:
                continue
    return None


def _is_ours(pid: int | None, mark: str) -> bool:
    """A request of this test: from this process, or from a process whose environment has the
    test's mark (the `footfall sync` subprocess and its children)."""
    if pid is None:
        return False
    if pid == os.getpid():
        return True
    try:
        return f"{MARK}={mark}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


class Stranger:
    """Someone else's server on 127.0.0.1:4200: records every request of this test (this process
    and the processes carrying ``self.mark`` in their environment). ``fail``: answers those only on
    ``/api/health`` (``true``) and 500 to the rest; else forwards them to ``upstream`` (a working
    Prefect API), recorded. Requests of other processes (other people's tests on this machine) are
    forwarded to ``upstream`` unrecorded, so that the stranger harms nobody else."""

    def __init__(self, upstream: str, fail: bool = False):
        import uuid

        self.requests: list[tuple[str, str, bytes]] = []
        self.others = 0
        self.upstream, self.fail, self.mark = upstream, fail, uuid.uuid4().hex
        stranger = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                ours = _is_ours(_client_pid(self.client_address[1]), stranger.mark)
                if ours:
                    stranger.requests.append((self.command, self.path, body))
                else:
                    stranger.others += 1
                if self.path.rstrip("/") == "/api/health":
                    status, data, ctype = 200, b"true", "application/json"
                elif "upgrade" in self.headers.get("Connection", "").lower() or (ours and stranger.fail):
                    status, data, ctype = 500, b'{"detail": "no"}', "application/json"
                else:
                    status, data, ctype = stranger.forward(self.command, self.path, body, self.headers)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle  # noqa: N815

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", STRANGER_PORT), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def forward(self, method, path, body, headers):
        from urllib.parse import urlsplit

        u = urlsplit(self.upstream)
        con = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        try:
            fwd = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection", "accept-encoding")}
            con.request(method, u.path.rstrip("/") + path[len("/api"):], body=body or None, headers=fwd)
            resp = con.getresponse()
            return resp.status, resp.read(), resp.getheader("Content-Type") or "application/json"
        except OSError:
            return 502, b'{"detail": "upstream gone"}', "application/json"
        finally:
            con.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def summary(self) -> str:
        leaked = [p for _, p, b in self.requests if BODY_SITE.encode() in b]
        return (f"{len(self.requests)} requests, e.g. {[m + ' ' + p for m, p, _ in self.requests[:8]]}; "
                f"the body site was sent in {len(leaked)}: {leaked[:4]}")


def _stranger(fail: bool = False) -> Stranger:
    from prefect.settings import PREFECT_API_URL

    from pipelines.prefect_api import port_free

    if not Path("/proc/net/tcp").is_file():
        pytest.skip("telling this test's requests from others' needs /proc (Linux)")
    if not port_free(STRANGER_PORT):
        pytest.skip(f"127.0.0.1:{STRANGER_PORT} is in use (a Prefect server of someone else?): "
                    "the stranger cannot stand there")
    try:
        return Stranger(PREFECT_API_URL.value(), fail=fail)
    except OSError as err:
        pytest.skip(f"cannot listen on 127.0.0.1:{STRANGER_PORT}: {err}")


def _flags_of_sync(out: str) -> list[dict]:
    return json.loads(out)["new_flags"]


# --------------------------------------------------------------------------- (1) the stranger


def test_a_stranger_on_4200_gets_nothing(prefect_harness, small_export, subprocess_home, tmp_path):
    """A working Prefect server of someone else on 4200 (here: a recording proxy to a real one)
    receives no request from a sync: not the paths, not the flags with a pain score and body
    site. Before the fix, the sync reported everything to it."""
    env = _sync_env(tmp_path, subprocess_home)
    dbfile = tmp_path / "mine.duckdb"
    _log_pain(dbfile, env)
    with _stranger() as stranger:
        r, seconds = _run_sync(small_export, dbfile, {**env, MARK: stranger.mark})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "pain_during" in {f["rule"] for f in _flags_of_sync(r.stdout)}  # there was health data to leak
    assert stranger.requests == [], stranger.summary()


def test_a_stranger_that_fails_all_but_health_does_not_slow_the_sync(prefect_harness, small_export,
                                                                     subprocess_home, tmp_path):
    """Before the fix, a server answering `/api/health` and 500 to the rest made the sync fail
    after ~124 s; now the sync never asks it anything and lands in its usual time."""
    env = _sync_env(tmp_path, subprocess_home)
    dbfile = tmp_path / "mine.duckdb"
    with _stranger(fail=True) as stranger:
        r, seconds = _run_sync(small_export, dbfile, {**env, MARK: stranger.mark})
    assert r.returncode == 0, f"{seconds:.0f} s: " + r.stdout[-2000:] + r.stderr[-3000:]
    assert stranger.requests == [], stranger.summary()
    assert seconds < 100, f"the sync took {seconds:.0f} s"
    with db.connection(dbfile, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM activities").fetchone()[0] > 0


def test_the_temporary_server_gets_a_longer_start_up_wait_and_the_user_setting_wins(tmp_path):
    """Prefect waits 20 s for its temporary server: a first sync on a loaded machine died with
    "Timed out while attempting to connect to ephemeral Prefect API server". footfall waits 120 s,
    unless the user set PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS."""
    code = ("from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as T\n"
            "from pipelines.flows import run_flow\n"
            "print(run_flow(lambda: T.value()))\n")
    env = _sync_env(tmp_path, tmp_path / "home")
    env.pop("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "120"
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "45"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "45"


# --------------------------------------------------------------------------- (2) footfall's own server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _state(pid: int, port: int, token: str = "0123456789abcdef0123456789abcdef") -> dict:
    return {"pid": pid, "host": "127.0.0.1", "port": port, "api_url": f"http://127.0.0.1:{port}/api",
            "started_at": time.time(), "token": token}


def _write_state(state: dict) -> None:
    from pipelines.prefect_api import state_path

    p = state_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(state))


@pytest.fixture()
def state_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


_HEALTHY = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"true")
    def log_message(self, *a): pass
print("ready", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def test_a_dead_pid_or_a_live_stranger_process_in_the_state_file_is_refused(state_home):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from pipelines.prefect_api import TOKEN_ENV, check_state, footfall_server, local_api_url

    assert check_state(None) == "no server recorded"
    # a dead PID
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    _write_state(_state(p.pid, _free_port()))
    assert "not running" in check_state(json.loads((state_home / "footfall" / "prefect-server.json").read_text()))
    assert footfall_server() is None
    # a live process of this user that listens on the port, answers the health check and even holds
    # the token, but is no prefect server
    port = _free_port()
    state = _state(0, port)
    proc = subprocess.Popen([sys.executable, "-c", _HEALTHY, str(port)], stdout=subprocess.PIPE,
                            env={**os.environ, TOKEN_ENV: state["token"]}, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        for _ in range(50):
            from pipelines.prefect_api import api_healthy

            if api_healthy(state["api_url"], timeout_s=0.5):
                break
            time.sleep(0.1)
        state["pid"] = proc.pid
        _write_state(state)
        assert "is not a prefect server" in check_state(state)
        assert footfall_server() is None
        with temporary_settings({PREFECT_API_URL: None}):
            assert local_api_url() is None  # Prefect's temporary server, not this process
        # another process (pid 1) with this record is refused too
        assert check_state({**state, "pid": 1}) is not None
        assert check_state({**state, "token": "short"}) == "the state file is malformed"
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def own_server(tmp_path_factory):
    """A real ``prefect server start`` started as ``footfall serve`` starts it (state file
    recorded under a temporary XDG_STATE_HOME), on a free port; stopped at the end."""
    from pipelines.prefect_api import start_server

    tmp = tmp_path_factory.mktemp("own-server")
    old = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp / "state")
    try:
        server = start_server(port=_free_port(), home=tmp / "home", timeout_s=240)
    finally:
        if old is None:
            os.environ.pop("XDG_STATE_HOME")
        else:
            os.environ["XDG_STATE_HOME"] = old
    try:
        yield server, tmp / "state"
    finally:
        server.stop()


def test_the_server_footfall_started_is_identified_and_used(own_server, small_export, tmp_path,
                                                            monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from pipelines.flows import run_flow, sync
    from pipelines.prefect_api import check_state, find_or_start_server, footfall_server, local_api_url, read_state

    server, state_dir = own_server
    monkeypatch.setenv("XDG_STATE_HOME", str(state_dir))
    state = read_state()
    assert state is not None and state["pid"] == server.process.pid
    assert oct((state_dir / "footfall" / "prefect-server.json").stat().st_mode & 0o777) == "0o600"
    assert check_state(state) is None
    assert footfall_server().api_url == server.api_url
    # forged or stale records of the same live server are refused
    assert "token" in check_state({**state, "token": "f" * 32})
    assert "does not listen on port" in check_state({**state, "port": _free_port(),
                                                     "api_url": "http://127.0.0.1:1/api"})
    assert "another start time" in check_state({**state, "proc_start_ticks": state["proc_start_ticks"] + 1})

    with temporary_settings({PREFECT_API_URL: None}):
        assert local_api_url() == server.api_url
        found = find_or_start_server()
        assert found.api_url == server.api_url and not found.started_here  # adopted, not restarted
        dbfile = tmp_path / "own.duckdb"
        isolated = tmp_path / "footfall.toml"
        isolated.write_text("")
        monkeypatch.setenv("FOOTFALL_CONFIG", str(isolated))
        result = run_flow(sync, paths=[str(small_export)], db=str(dbfile), athlete="own")
    assert result["athlete_id"] == "own"

    async def runs():
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            return await client.read_flow_runs()

    with temporary_settings({PREFECT_API_URL: server.api_url}):
        flow_runs = asyncio.run(runs())
    assert any(r.parameters.get("athlete") == "own" for r in flow_runs)  # the run went to our server


def test_serve_never_adopts_a_stranger_on_4200(prefect_harness, own_server, monkeypatch):
    """Before the fix, `footfall serve` scheduled on whatever answered on 4200."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from pipelines.prefect_api import find_or_start_server

    server, state_dir = own_server
    monkeypatch.setenv("XDG_STATE_HOME", str(state_dir))
    with _stranger() as stranger, temporary_settings({PREFECT_API_URL: None}):
        found = find_or_start_server()
    assert found.api_url == server.api_url and not found.started_here
    assert stranger.requests == [], stranger.summary()


# --------------------------------------------------------------------------- (3) artifacts


async def _everything_prefect_holds(sync_id: str) -> tuple[dict, str]:
    """The flags artifact of the sync ``sync_id`` and a dump of all Prefect holds about its flow
    run: artifacts, the flow run (parameters), task runs, logs."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    from pipelines.flows import FLAGS_ARTIFACT

    async with get_client() as client:
        mine = [a for a in await client.read_artifacts() if sync_id in (a.description or "")]
        flags = [a for a in mine if a.key == FLAGS_ARTIFACT]
        assert len(flags) == 1, [a.key for a in mine]
        run_id = flags[0].flow_run_id
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
        flow_run = await client.read_flow_run(run_id)
        task_runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
        logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    dump = json.dumps([x.model_dump(mode="json") for x in [*artifacts, flow_run, *task_runs, *logs]])
    data = flags[0].data
    return {"rows": json.loads(data) if isinstance(data, str) else data}, dump


def _sync_in_process(export: Path, dbfile: Path) -> dict:
    from pipelines.cli import app

    r = CliRunner().invoke(app, ["sync", str(export), "--db", str(dbfile), "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.mark.parametrize("opt_in", [False, True], ids=["default", "share_health_with_prefect"])
def test_artifacts_hold_no_pain_score_or_body_site_unless_the_user_opts_in(
        prefect_harness, isolated_config, small_export, opt_in):
    from pipelines.flows import PAIN_FLAG_TEXT

    if opt_in:
        (isolated_config / "footfall.toml").write_text("[privacy]\nshare_health_with_prefect = true\n")
    dbfile = isolated_config / "pain.duckdb"
    _log_pain(dbfile, {**os.environ})
    summary = _sync_in_process(small_export, dbfile)
    raised = [f for f in summary["new_flags"] if f["rule"] == "pain_during"]
    assert raised and BODY_SITE in raised[0]["message"]  # the flag, with its body site, exists locally

    flags, dump = asyncio.run(_everything_prefect_holds(summary["sync_id"]))
    [row] = [r for r in flags["rows"] if r["rule"] == "pain_during"]
    assert row["severity"] == "warning" and row["local_date"] == raised[0]["local_date"]
    if opt_in:
        assert BODY_SITE in row["message"] and row["value"] == float(PAIN)
        assert BODY_SITE in dump
    else:
        assert row["message"] == PAIN_FLAG_TEXT
        assert row["value"] is None and row["threshold"] is None
        assert BODY_SITE not in dump and "metatarsal" not in dump
        assert f"{PAIN}/10" not in dump and f"was {PAIN}" not in dump
    assert str(dbfile.resolve()) in dump or str(dbfile) in dump  # the parameters are there: paths only


def test_load_rules_are_shared_and_journal_rules_lose_their_text():
    from pipelines.flows import PAIN_FLAG_TEXT, _artifact_tables

    flags = [
        {"local_date": date(2026, 1, 5), "severity": "alert", "rule": "single_session_spike",
         "message": "Your run ... 12.0 km", "value": 1.25, "threshold": 1.0, "source": "Frandsen et al. 2025"},
        {"local_date": date(2026, 1, 6), "severity": "caution", "rule": "pain_rising",
         "message": "Pain rose over three runs in a row: 3, 4, 5/10", "value": 3.0, "threshold": 3.0,
         "source": "Silbernagel et al. 2007"},
        {"local_date": date(2026, 1, 7), "severity": "caution", "rule": "shoe_retire",
         "message": 'Shoe "Grandma\'s gift" passed 800 km', "value": 801000.0, "threshold": 800000.0,
         "source": "footfall heuristic"},
        {"local_date": date(2026, 1, 8), "severity": "warning", "rule": "some_future_rule",
         "message": "secret", "value": 9.0, "threshold": 1.0, "source": "x"},
    ]
    _, shared = _artifact_tables({"new_flags": flags}, share_health=True)
    assert [f["message"] for f in shared] == [f["message"] for f in flags]
    _, private = _artifact_tables({"new_flags": flags})  # the default shares nothing
    _, private2 = _artifact_tables({"new_flags": flags}, share_health=False)
    assert private == private2
    spike, pain, shoe, other = private
    assert spike == shared[0]
    assert (pain["message"], pain["value"], pain["threshold"], pain["rule"], pain["local_date"]) == (
        PAIN_FLAG_TEXT, None, None, "pain_rising", "2026-01-06")
    assert "Grandma" not in shoe["message"] and shoe["value"] == 801000.0
    assert other["message"] != "secret" and other["value"] is None


def test_the_privacy_key_is_checked(isolated_config):
    from pipelines.config import ConfigError, load_settings

    assert load_settings().share_health_with_prefect is False
    (isolated_config / "footfall.toml").write_text("[privacy]\nshare_health_with_prefect = true\n")
    assert load_settings().share_health_with_prefect is True
    (isolated_config / "footfall.toml").write_text('[privacy]\nshare_health_with_prefect = "yes"\n')
    with pytest.raises(ConfigError, match="true or false"):
        load_settings()
