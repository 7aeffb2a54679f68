"""Crash tests (issue 11, point 3): ``footfall sync`` killed with SIGKILL, then synced again.

Real CLI subprocesses on a synthetic export (``synth/sample.py``, 53 files, landed 24 per
transaction: 3 batches, the first big enough for the decode pool). The kills happen at named
points (``FOOTFALL_TEST_PAUSE_AT``, ``pipelines/pausepoint.py``): inside the second batch's
landing transaction, after the last batch landed, and inside the model build's transaction of a
second sync (the first one's marts must survive it). After each kill: nothing the sync started
may live more than a few seconds, and a re-sync must give the database an uninterrupted sync
gives (row counts and checksums of every table, timestamps and sync ids left out), marts and
flags included. ``bench/kill_trials.py --n 20`` is the long run, at random points.

Most syncs report to the session's Prefect test server (``PREFECT_API_URL``: no server start
per sync); the landing kill runs on Prefect's temporary server, whose process must die too.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("kill_trials", ROOT / "bench" / "kill_trials.py")
kt = importlib.util.module_from_spec(_spec)
sys.modules["kill_trials"] = kt  # dataclasses look their module up there
_spec.loader.exec_module(kt)

WEEKS = 14  # 53 files
BATCH_FILES = 24  # 3 batches; 24 files start the decode pool (sync.POOL_MIN_FILES)
ORPHAN_LIMIT_S = 5.0

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="crash tests read /proc (Linux)")


@pytest.fixture(scope="module")
def crash(tmp_path_factory, prefect_harness):
    """The export, the CLI's environments, and an uninterrupted sync's database."""
    from prefect.settings import PREFECT_API_URL

    tmp = tmp_path_factory.mktemp("crash")
    export = tmp / "export"
    n = kt.make_export(export, WEEKS)
    api_url = PREFECT_API_URL.value()
    assert api_url, "the Prefect test harness sets PREFECT_API_URL"
    env = kt.sync_env(tmp / "env", api_url=api_url, batch_files=BATCH_FILES)
    baseline_db = tmp / "baseline.duckdb"
    summary = kt.run_sync(export, baseline_db, env, tmp)
    assert summary["files_new"] == n and summary["new_flags"], "the sample raises flags"
    return {
        "tmp": tmp, "export": export, "env": env, "n_files": n, "baseline_db": baseline_db,
        "baseline": kt.db_fingerprint(baseline_db), "flags": kt.flag_rows(baseline_db),
        "summary": summary,
    }


def _assert_converged(db: Path, crash: dict, history_too: bool = True) -> None:
    """``db`` equals the uninterrupted sync's database; ``history_too=False``: but for
    ``flag_log``, which keeps every flag an earlier sync of the same database raised."""
    from pipelines.sqlmodels import models_stale

    baseline = dict(crash["baseline"])
    if not history_too:
        baseline["flag_log"] = kt.db_fingerprint(db)["flag_log"]
    problems = kt.compare(db, baseline)
    assert not problems, f"the re-synced database differs from an uninterrupted sync's: {problems}"
    assert kt.flag_rows(db) == crash["flags"]
    with duckdb.connect(str(db), read_only=True) as con:
        gen, built = con.execute("SELECT data_generation, models_generation FROM model_state").fetchone()
        assert built == gen, "the models are marked current with the landed data"
        assert models_stale(con) is None


def _assert_no_orphans(k, at_least: int = 1) -> None:
    assert len(k.at_kill) >= at_least, f"expected more processes at the kill: {k.at_kill}"
    assert not k.survivors and k.orphan_s <= ORPHAN_LIMIT_S, (
        f"processes of the killed sync lived {k.orphan_s:.1f} s after the kill: {k.survivors} "
        f"(alive at the kill: {k.at_kill})"
    )


def _flags_cli(db: Path, crash: dict) -> subprocess.CompletedProcess:
    p = kt.run_cli(["flags", "--db", str(db)], crash["env"], crash["tmp"], timeout=120)
    p.stderr = " ".join(p.stderr.split())  # the terminal's line wrapping undone
    return p


def test_kill_after_the_last_batch_landed_resync_builds_the_marts(crash, tmp_path):
    """The issue's case: killed between the last landing and the end of the model build, the
    database has every file but no marts; the re-sync used to take the "unchanged" path, print
    "flags raised by this sync: none", exit 0 and never build them."""
    db = tmp_path / "killed.duckdb"
    k = kt.killed_sync(crash["export"], db, crash["env"], crash["tmp"], pause_at="before_build")
    _assert_no_orphans(k)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM files").fetchone()[0] == crash["n_files"]
    flags = _flags_cli(db, crash)
    assert flags.returncode == 1
    assert "footfall build" in flags.stderr and "interrupted" in flags.stderr, flags.stderr

    again = kt.run_sync(crash["export"], db, crash["env"], crash["tmp"])
    assert again["files_new"] == 0
    assert len(again["new_flags"]) == len(crash["flags"]) > 0, "the re-sync reports the flags it built"
    _assert_converged(db, crash)


def test_kill_inside_the_model_build_keeps_the_old_marts_until_the_resync(crash, tmp_path):
    """A second sync killed inside its model build's transaction: the first sync's marts stay
    whole (the build is one transaction), `footfall flags` says they are behind the data and
    what to run, and the re-sync brings them up to date."""
    db = tmp_path / "killed.duckdb"
    first = sorted((crash["export"] / "garmin").iterdir())[:10]  # a first sync of 10 runs
    p = kt.run_cli(["sync", *map(str, first), "--db", str(db)], crash["env"], crash["tmp"])
    assert p.returncode == 0, p.stderr
    before = kt.db_fingerprint(db)
    k = kt.killed_sync(crash["export"], db, crash["env"], crash["tmp"], pause_at="build")
    _assert_no_orphans(k)  # the decode pool is shut down before the build
    after = kt.db_fingerprint(db)
    for m in kt.marts() + ["thresholds", "build_info", "flag_log"]:
        assert after[m] == before[m], f"{m} changed although its build was killed"
    assert after["files"][0] == crash["n_files"] > before["files"][0]
    flags = _flags_cli(db, crash)
    assert flags.returncode == 0, flags.stderr
    assert "footfall build" in flags.stderr and "older than" in flags.stderr, flags.stderr
    assert "out of date" in flags.stderr

    kt.run_sync(crash["export"], db, crash["env"], crash["tmp"])
    _assert_converged(db, crash, history_too=False)


def test_kill_while_landing_on_the_temporary_server_leaves_no_process(crash, tmp_path):
    """Killed inside the second batch's transaction, on Prefect's temporary server: that
    server, the decode workers and multiprocessing's resource tracker die within seconds (they
    used to live on for minutes), and the re-sync lands the rest."""
    db = tmp_path / "killed.duckdb"
    env = kt.sync_env(tmp_path / "env", batch_files=BATCH_FILES)  # no PREFECT_API_URL
    k = kt.killed_sync(crash["export"], db, env, crash["tmp"], pause_at="land:2")
    if not kt._answers("http://127.0.0.1:4200/api"):  # else footfall may use that server instead
        assert any("uvicorn" in p for p in k.at_kill), f"Prefect's temporary server ran: {k.at_kill}"
    _assert_no_orphans(k, at_least=4)  # footfall, its 2 decode workers, the resource tracker (+ server)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM files").fetchone()[0] == BATCH_FILES  # batch 1 only
    kt.run_sync(crash["export"], db, crash["env"], crash["tmp"])
    _assert_converged(db, crash)


def test_unchanged_resync_rebuilds_when_the_thresholds_changed(crash, tmp_path):
    """Nothing new on disk, but the config's [thresholds] differ from the last build's: the
    sync rebuilds (the fast "unchanged" path would keep flags judged by the old values)."""
    from pipelines.config import load_settings
    from pipelines.sync import discover_sources, plan_sync

    db = tmp_path / "copy.duckdb"
    shutil.copy(crash["baseline_db"], db)
    sources, _, _ = discover_sources([crash["export"]])
    settings = load_settings(Path(crash["env"]["FOOTFALL_CONFIG"]))
    plan = plan_sync(db, sources, settings)
    assert not plan.sources and plan.models_stale is None
    changed = dataclasses.replace(settings, thresholds={**settings.thresholds, "weekly_ramp_pct": 55.0})
    plan = plan_sync(db, sources, changed)
    assert not plan.sources and plan.models_stale and "weekly_ramp_pct" in plan.models_stale


WATCHED = textwrap.dedent("""
    import subprocess, sys, time
    from pipelines import watchdog
    watchdog.start()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    print(child.pid, flush=True)
    time.sleep(120)
""")


def test_watchdog_kills_what_a_sigkilled_process_started(tmp_path):
    """The watchdog alone, without Prefect: a child of a SIGKILLed process dies within seconds."""
    import psutil

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    parent = subprocess.Popen([sys.executable, "-c", WATCHED], env=env, stdout=subprocess.PIPE, text=True)
    child = None
    try:
        child = psutil.Process(int(parent.stdout.readline()))
        time.sleep(0.3)
        assert child.is_running()
        parent.kill()
        parent.wait()
        t0 = time.monotonic()
        gone, _ = psutil.wait_procs([child], timeout=ORPHAN_LIMIT_S)
        assert gone, "the child outlived its SIGKILLed parent"
        assert time.monotonic() - t0 < ORPHAN_LIMIT_S
    finally:
        if parent.poll() is None:
            parent.kill()
        if child is not None and child.is_running():
            child.kill()


def test_model_state_follows_landing_the_journal_and_the_build(tmp_path):
    """In one process, no Prefect: each landed batch and each journal change marks the models
    behind; a build marks them current; other thresholds make them stale again."""
    from datetime import date

    from pipelines import db as dbm
    from pipelines.journal import add_shoe
    from pipelines.land import land_results
    from pipelines.sqlmodels import models_stale, run_models

    def state(con):
        return con.execute("SELECT data_generation, models_generation FROM model_state").fetchone()

    with dbm.connection(tmp_path / "s.duckdb") as con:
        dbm.migrate(con)
        assert state(con) == (1, None)
        assert "never been built" in models_stale(con)
        land_results(con, [], athlete_id="ana", sources=[("/x/a.fit", 1, 1, 0)])
        assert state(con) == (2, None)
        run_models(con, today=date(2026, 6, 28))
        assert state(con) == (2, 2) and models_stale(con) is None
        add_shoe(con, "ana", "Pegasus 40", today=date(2026, 6, 28))
        assert state(con) == (3, 2) and "older than" in models_stale(con)
        run_models(con, today=date(2026, 6, 28))
        assert models_stale(con) is None
        assert "weekly_ramp_pct" in models_stale(con, {"weekly_ramp_pct": 55})
        assert state(con) == (3, 3)
        con.execute("DROP TABLE model_state")  # as in a database of a footfall before migration 005
        assert "older footfall" in models_stale(con)
