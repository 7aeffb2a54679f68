"""The ``footfall`` command's start-up path (issue 17: an unchanged re-sync in <= 0.5 s).

A sync with nothing to do is answered by ``pipelines/cli/fast.py`` before typer, rich, polars or
Prefect is imported (checked in a subprocess's ``sys.modules``, the way the command runs); its
output is the typer path's; anything it does not handle falls through to the typer command,
which takes over the plan it made (a sync still plans once). No timing is asserted.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines import db
from pipelines.cli import fast
from tests.pipelines.test_sync_plan_once import _gpx  # one short GPX run per day, shared

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("prefect", "polars", "numpy", "pyarrow", "typer", "rich", "pandas", "psutil")


#: ``footfall ARGS`` in a fresh interpreter; stderr's last line: the heavy modules it imported
_PROBE = """
import json, sys
from pipelines.cli import main
sys.argv = ["footfall"] + sys.argv[1:]
code = 0
try:
    main()
except SystemExit as stop:
    code = stop.code or 0
sys.stdout.flush()
api = sys.modules.get("pipelines.prefect_api")
print(json.dumps({"code": code, "heavy": sorted(m for m in %r if m in sys.modules),
                  "early": getattr(api, "_EARLY", None) is not None,
                  "prefect_started_a_server": "prefect.server.api.server" in sys.modules,
                  "typer_app": "pipelines.cli.commands" in sys.modules}), file=sys.stderr)
""" % (HEAVY,)


def _footfall(args: list[str], cwd: Path, **env) -> tuple[subprocess.CompletedProcess, dict]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_") or k == "FOOTFALL_CORPUS"}
    e.update(FOOTFALL_CONFIG=str(cwd / "footfall.toml"), PYTHONPATH=str(ROOT), **env)
    p = subprocess.run([sys.executable, "-c", _PROBE, *args], cwd=cwd, env=e, capture_output=True,
                       text=True, timeout=600)
    return p, json.loads(p.stderr.strip().splitlines()[-1])


@pytest.fixture(autouse=True)
def _early_server_stopped_after_each_test():
    """``main()`` run in this process may start the early temporary server; a real ``footfall``
    process stops it at exit. Stop it after each test, so later tests' flow runs report to the
    test harness's server, not to this one (found when test_sync_plan_once read another run's
    parameters)."""
    yield
    from pipelines import prefect_api

    prefect_api.stop_early_server()


@pytest.fixture()
def synced(prefect_harness, isolated_config):
    """A folder with one run, synced (the real flow); the database."""
    src = isolated_config / "watch"
    src.mkdir()
    (src / "a.gpx").write_bytes(_gpx(5))
    dbfile = isolated_config / "f.duckdb"
    out = CliRunner().invoke(__import__("pipelines.cli", fromlist=["app"]).app,
                             ["sync", str(src), "--db", str(dbfile), "--json"])
    assert out.exit_code == 0, out.output
    return src, dbfile


def test_nothing_to_do_imports_no_prefect_typer_rich_or_polars(synced, isolated_config):
    src, dbfile = synced
    p, probe = _footfall(["sync", str(src), "--db", str(dbfile), "--json"], isolated_config)
    assert probe["code"] == 0, p.stderr
    assert probe["heavy"] == [], probe
    out = json.loads(p.stdout)
    assert out["sources_unchanged"] == 1 and out["files_new"] == 0
    assert out["wall_seconds"] > 0  # from the process's start


def test_nothing_to_do_says_what_the_typer_path_says(synced, isolated_config):
    """The same summary (counts and keys) as the typer command (FOOTFALL_DEBUG=1 bypasses the
    fast path), in JSON and as the table."""
    src, dbfile = synced
    args = ["sync", str(src), "--db", str(dbfile)]
    fast_json, _ = _footfall(args + ["--json"], isolated_config)
    slow_json, slow_probe = _footfall(args + ["--json"], isolated_config, FOOTFALL_DEBUG="1")
    assert "typer" in slow_probe["heavy"]  # the typer path did run
    a, b = json.loads(fast_json.stdout), json.loads(slow_json.stdout)
    volatile = {"sync_id", "seconds", "wall_seconds"}
    assert set(a) == set(b)
    assert {k: v for k, v in a.items() if k not in volatile} == {k: v for k, v in b.items() if k not in volatile}
    fast_table, probe = _footfall(args, isolated_config)
    assert probe["code"] == 0 and "prefect" not in probe["heavy"]
    assert "skipped (unchanged or already landed)" in fast_table.stdout
    assert "flags raised by this sync: none" in fast_table.stdout


def test_new_work_falls_through_to_the_flow_and_plans_once(synced, isolated_config, monkeypatch):
    """With a new file, ``main`` plans before typer (fast path), then the sync command takes
    that plan over: one "planned" log line, and the new file lands through the Prefect flow."""
    src, dbfile = synced
    (src / "b.gpx").write_bytes(_gpx(7))
    lines: list[str] = []

    class H(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    log = logging.getLogger("pipelines.sync")
    h, old = H(logging.INFO), log.level
    log.addHandler(h)
    log.setLevel(logging.INFO)
    from pipelines.cli import main

    monkeypatch.setattr(sys, "argv", ["footfall", "sync", str(src), "--db", str(dbfile), "--json"])
    try:
        main()  # runs the sync command without typer (pipelines.cli.fast.run_sync): no exit
    finally:
        log.removeHandler(h)
        log.setLevel(old)
    plans = [m for m in lines if m.startswith("planned")]
    assert len(plans) == 1, plans
    assert "2 sources found, 1 new or changed" in plans[0]
    with db.connection(dbfile, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM files WHERE status = 'landed'").fetchall()[0][0] == 2
        assert con.execute("SELECT count(*) FROM sync_runs").fetchall()[0][0] == 2


@pytest.mark.parametrize("args, parsed", [
    (["runs", "--db", "f.duckdb", "--json"], {"paths": ["runs"], "db": "f.duckdb", "json": True}),
    (["a", "b", "--db=f.duckdb", "--athlete", "ana", "--workers", "2"],
     {"paths": ["a", "b"], "db": "f.duckdb", "athlete": "ana", "workers": 2}),
    (["runs", "--help"], None),
    (["runs", "--always-run"], None),
    (["runs", "--db"], None),
    (["runs", "--workers", "two"], None),
    (["--json"], None),
    (["runs", "--jsn"], None),
])
def test_the_fast_path_parses_only_a_plain_sync(args, parsed):
    got = fast.parse(args)
    if parsed is None:
        assert got is None
    else:
        assert {k: got[k] for k in parsed} == parsed


def _flow_runs(prefect_db: Path) -> list[tuple[str, str]]:
    import sqlite3

    with sqlite3.connect(prefect_db) as con:
        return con.execute("SELECT flow.name, flow_run.state_type FROM flow_run JOIN flow "
                           "ON flow.id = flow_run.flow_id").fetchall()


def test_the_early_server_records_the_flow_run(isolated_config, tmp_path):
    """No Prefect server configured: ``footfall sync`` with work to do starts Prefect's temporary
    server before its imports (``prefect_api.start_early_server``); the flow run reports to it
    (recorded in PREFECT_HOME's database) and the sync lands the file. A re-sync with nothing to
    do starts no server at all (no Prefect database appears in a new PREFECT_HOME)."""
    src = isolated_config / "watch"
    src.mkdir()
    (src / "a.gpx").write_bytes(_gpx(5))
    dbfile = isolated_config / "f.duckdb"
    home = tmp_path / "prefect-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_LOGGING_LEVEL="WARNING")
    p = subprocess.run([sys.executable, "-c", _PROBE, "sync", str(src), "--db", str(dbfile), "--json"],
                       cwd=isolated_config, capture_output=True, text=True, timeout=600,
                       env={**env, "FOOTFALL_CONFIG": str(isolated_config / "footfall.toml"),
                            "PYTHONPATH": str(ROOT)})
    probe = json.loads(p.stderr.strip().splitlines()[-1])
    assert probe["code"] == 0, p.stderr[-3000:]
    assert probe["early"] and not probe["prefect_started_a_server"], probe
    assert not probe["typer_app"], probe  # a plain sync line is not parsed by typer a second time
    assert json.loads(p.stdout)["files_new"] == 1
    assert ("footfall-sync", "COMPLETED") in _flow_runs(home / "prefect.db")

    home2 = tmp_path / "prefect-home-2"
    home2.mkdir()
    p = subprocess.run([sys.executable, "-c", _PROBE, "sync", str(src), "--db", str(dbfile), "--json"],
                       cwd=isolated_config, capture_output=True, text=True, timeout=600,
                       env={**env, "PREFECT_HOME": str(home2),
                            "FOOTFALL_CONFIG": str(isolated_config / "footfall.toml"), "PYTHONPATH": str(ROOT)})
    assert json.loads(p.stdout)["sources_unchanged"] == 1
    assert not (home2 / "prefect.db").exists()


def test_an_early_server_that_dies_leaves_the_run_to_prefect(prefect_harness, monkeypatch):
    """The early server exited before it answered: the flow run's settings fall back to what
    Prefect does without it (its own temporary server, here the test harness's), no error."""
    from pipelines import prefect_api

    class Gone:
        returncode = 1

        def poll(self):
            return 1

        def send_signal(self, sig):
            raise AssertionError("an exited process is not signalled")

    monkeypatch.setattr(prefect_api, "_EARLY", prefect_api.PrefectServer(api_url="http://127.0.0.1:9/api",
                                                                          process=Gone()))
    settings = prefect_api.run_settings()
    assert prefect_api._EARLY is None
    assert "http://127.0.0.1:9/api" not in [str(v) for v in settings.values()]


def test_footfall_skips_the_interpreters_last_collection(tmp_path):
    """``main()`` freezes the garbage collector at exit, after the exit handlers registered after
    it (Prefect's, footfall's): the last collection does not walk every object Prefect made
    (~0.45 s of a one-new-file sync). An exit handler registered before ``main`` runs after
    that freeze and sees it."""
    probe = ("import atexit, gc, sys\n"
             "atexit.register(lambda: print('frozen:', gc.get_freeze_count() > 0, file=sys.stderr))\n"
             "from pipelines.cli import main\n"
             "sys.argv = ['footfall', '--help']\n"
             "main()\n")
    e = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}
    e.update(FOOTFALL_CONFIG=str(tmp_path / "footfall.toml"), PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=e, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "frozen: True" in p.stderr, p.stderr


def test_the_flow_import_leaves_the_collector_as_it_was():
    """The sync imports its flow with the garbage collector paused (``_import_flows``) and gives
    it back as it found it: on when it was on, off when the caller had it off."""
    import gc

    from pipelines.cli.sync import _import_flows
    from pipelines.flows import run_planned_sync

    assert gc.isenabled()
    assert _import_flows() is run_planned_sync
    assert gc.isenabled()
    gc.disable()
    try:
        _import_flows()
        assert not gc.isenabled()
    finally:
        gc.enable()
