"""footfall serve: a scheduled deployment of the sync flow, run for real on the Prefect harness."""

from __future__ import annotations

import asyncio
import signal
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines import db
from pipelines.prefect_api import PrefectServerError, find_or_start_server
from pipelines.serve import ServeError, check_cron, local_timezone, make_runner, sync_parameters

from tests.conftest import TODAY

CRON = "0 5 * * *"


@pytest.fixture(scope="module")
def small_export(tmp_path_factory) -> Path:
    """Two weeks of the demo export (a handful of FIT and GPX files) on disk."""
    from synth.sample import make_sample_export

    root = tmp_path_factory.mktemp("serve") / "export"
    for rel, data in make_sample_export(weeks=2, end_date=TODAY).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


async def _deployment_and_run(deployment_id, flow_run_id):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    async with get_client() as client:
        deployment = await client.read_deployment(deployment_id)
        run = await client.read_flow_run(flow_run_id)
        artifacts = await client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["footfall-sync-summary", "footfall-new-flags"]),
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
        ))
    return deployment, run, artifacts


def test_scheduled_deployment_runs_and_lands(prefect_harness, small_export, tmp_path):
    """The deployment `footfall serve` registers has the cron schedule; a run of it, picked up by
    the same Runner that serves the schedule, syncs into the DuckDB file and publishes artifacts."""
    from prefect.deployments import run_deployment

    dbfile = tmp_path / "served.duckdb"
    runner, deployment_id, name = make_runner(
        [small_export], cron=CRON, db=dbfile, athlete="sched", timezone="Europe/Madrid")
    assert name == "footfall-sync-sched"
    flow_run = run_deployment(deployment_id, timeout=0)  # scheduled for now, not yet run
    old_sigterm = signal.getsignal(signal.SIGTERM)  # Runner.start installs its own handler
    try:
        asyncio.run(runner.start(run_once=True))  # runs what is due, in a subprocess, and returns
    finally:
        signal.signal(signal.SIGTERM, old_sigterm)
    deployment, run, artifacts = asyncio.run(_deployment_and_run(deployment_id, flow_run.id))

    [schedule] = deployment.schedules
    assert schedule.schedule.cron == CRON
    assert schedule.schedule.timezone == "Europe/Madrid"
    assert schedule.active
    assert deployment.parameters == {"paths": [str(small_export.resolve())], "db": str(dbfile.resolve()),
                                     "athlete": "sched"}
    assert run.deployment_id == deployment_id
    assert run.state is not None and run.state.is_completed(), run.state

    with db.connection(dbfile, read_only=True) as con:
        n_acts = con.execute("SELECT count(*) FROM activities WHERE athlete_id = 'sched'").fetchall()[0][0]
        n_files = con.execute("SELECT count(*) FROM files").fetchall()[0][0]
        runs = con.execute("SELECT athlete_id, paths FROM sync_runs").fetchall()
        n_weeks = con.execute("SELECT count(*) FROM weekly_load").fetchall()[0][0]
    on_disk = [p for p in small_export.rglob("*") if p.is_file()]
    assert n_files == len(on_disk) and n_acts >= len(on_disk) - 1  # one GPX is a FIT run's copy
    assert runs == [("sched", f'["{small_export.resolve()}"]')]
    assert n_weeks >= 2  # the models were built by the scheduled run

    by_key = {a.key: a for a in artifacts}
    assert set(by_key) == {"footfall-sync-summary", "footfall-new-flags"}
    summary = dict((r["what"], r["value"]) for r in _table(by_key["footfall-sync-summary"].data))
    assert summary["athlete"] == "sched" and int(summary["activities landed"]) == n_acts


def _table(data) -> list[dict]:
    import json

    return json.loads(data) if isinstance(data, str) else data


def test_finds_the_configured_server_and_starts_none(prefect_harness):
    from prefect.settings import PREFECT_API_URL

    server = find_or_start_server()
    assert server.api_url == PREFECT_API_URL.value().rstrip("/")
    assert not server.started_here
    server.stop()  # a server footfall did not start is left alone


def test_unreachable_api_url_is_an_error():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        with pytest.raises(PrefectServerError, match="no Prefect server answers"):
            find_or_start_server()


def test_cron_and_timezone_are_checked():
    assert check_cron(CRON, "Europe/Madrid").cron == CRON
    for bad in ("0 5 * *", "61 5 * * *", "every day"):
        with pytest.raises(ServeError, match="five fields"):
            check_cron(bad)
    assert local_timezone("America/Chicago") == "America/Chicago"
    assert local_timezone(None)  # the machine's zone, or UTC


def test_parameters_are_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = sync_parameters(["export", "more/x.zip"], "f.duckdb", "ana", workers=2)
    assert p == {"paths": [str(tmp_path / "export"), str(tmp_path / "more" / "x.zip")],
                 "db": str(tmp_path / "f.duckdb"), "athlete": "ana", "workers": 2}


def test_cli_refuses_a_bad_cron_before_starting_anything(isolated_config, small_export):
    from pipelines.cli import app

    res = CliRunner().invoke(app, ["serve", str(small_export), "--cron", "5 * *"])
    assert res.exit_code == 2
    assert "invalid schedule" in res.output
    res = CliRunner().invoke(app, ["serve", str(isolated_config / "missing")])
    assert res.exit_code == 2 and "not found" in res.output


def test_an_artifact_failure_never_fails_the_flow(prefect_harness):
    """publish_artifacts runs at the end of every sync: whatever goes wrong there is logged only."""
    from prefect import flow

    from pipelines.flows import _artifact_tables, publish_artifacts

    @flow
    def publish(summary: dict) -> str:
        publish_artifacts(summary)
        return "finished"

    assert publish({"new_flags": 5}) == "finished"  # not a list of flags: raises inside, caught
    publish_artifacts({"new_flags": 5})  # outside a flow run: publishes nothing, starts no server
    table, flags = _artifact_tables({"athlete_id": "a", "by_status": {"landed": 2}, "new_flags": [
        {"local_date": date(2026, 1, 5), "severity": "alert", "rule": "single_session_spike",
         "message": "m", "value": 1.25, "threshold": 1.0, "source": "Frandsen et al. 2025"}]})
    assert {"what": "landed", "value": "2"} in table
    assert flags == [{"local_date": "2026-01-05", "severity": "alert", "rule": "single_session_spike",
                      "message": "m", "value": 1.25, "threshold": 1.0, "source": "Frandsen et al. 2025",
                      "activity_id": None}]
