"""The runner has the last word: ``footfall activity sport|exclude|include`` on a real synced
database (sample FIT/GPX files from synth/sample.py, real flow runs, real DuckDB).

Excluding the sample's long run takes it out of daily_load and its spike flag goes; including it
brings both back; a sport set to cycling takes it out of running distance; the statements survive
a re-sync, a rebuild and a re-derivation; bad ids and sports are refused (exit 2, nothing changed).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines import db
from pipelines.cli import app
from pipelines.sqlmodels import run_data_tests, run_models

from tests.conftest import TODAY
from tests.pipelines.test_rederive import make_old, rows, run_sync, write_export

RUNNER = CliRunner()


@pytest.fixture(scope="module")
def synced_once(prefect_harness, tmp_path_factory):
    base = tmp_path_factory.mktemp("overrides")
    folder = write_export(base / "export", weeks=7)  # spike flags need 30 days of history (issue 14)
    dbfile = base / "ff.duckdb"
    run_sync(folder, dbfile)
    return folder, dbfile


@pytest.fixture
def synced(synced_once, tmp_path, isolated_config):
    """A copy of the synced database for this test (the export folder is shared, read only)."""
    folder, dbfile = synced_once
    mine = tmp_path / "ff.duckdb"
    shutil.copy(dbfile, mine)
    return folder, mine


def cli(dbfile: Path, *args: str) -> tuple[int, str]:
    r = RUNNER.invoke(app, [*args, "--db", str(dbfile)])
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, " ".join(r.output.split())


def spike_run(dbfile: Path) -> tuple[str, object]:
    """The activity of the sample's session-spike flag (its clearly longer run) and its date."""
    found = rows(dbfile, "SELECT activity_id, local_date FROM flags WHERE activity_id IS NOT NULL "
                         "ORDER BY local_date LIMIT 1")
    assert found, "the sample export should raise a flag on its long run"
    return found[0]


def day_running_m(dbfile: Path, d) -> float:
    return rows(dbfile, "SELECT coalesce(sum(running_distance_m), 0) FROM daily_load "
                        "WHERE local_date = ?", [d])[0][0]


def flagged(dbfile: Path, aid: str) -> int:
    return rows(dbfile, "SELECT count(*) FROM flags WHERE activity_id = ?", [aid])[0][0]


def data_tests_pass(dbfile: Path) -> None:
    with db.connection(dbfile, read_only=True) as con:
        failing = {k: v for k, v in run_data_tests(con).items() if v}
    assert not failing, failing


def test_exclude_takes_a_run_out_of_load_and_flags_and_include_restores_it(synced):
    _, dbfile = synced
    aid, d = spike_run(dbfile)
    km_before = day_running_m(dbfile, d)
    assert km_before > 0 and flagged(dbfile, aid) >= 1

    code, out = cli(dbfile, "activity", "exclude", aid, "--reason", "GPS went wild")
    assert code == 0, out
    assert "counts as running load: no (excluded by the runner: GPS went wild)" in out
    assert day_running_m(dbfile, d) < km_before
    assert flagged(dbfile, aid) == 0
    assert rows(dbfile, "SELECT is_run FROM int_sessions WHERE activity_id = ?", [aid]) == [(False,)]
    data_tests_pass(dbfile)

    code, out = cli(dbfile, "activity", "include", aid[:8])  # a unique prefix
    assert code == 0, out
    assert "counts as running load: yes (included by the runner)" in out
    assert day_running_m(dbfile, d) == pytest.approx(km_before)
    assert flagged(dbfile, aid) >= 1
    data_tests_pass(dbfile)


def test_a_sport_set_to_cycling_leaves_running_distance(synced):
    _, dbfile = synced
    aid, d = spike_run(dbfile)
    km_before = day_running_m(dbfile, d)
    r = RUNNER.invoke(app, ["activity", "sport", aid, "Cycling", "--json", "--db", str(dbfile)])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["kind"] == "sport" and out["sport"] == "cycling"
    assert out["status"]["counts_as_running_load"] is False
    assert out["status"]["running_load_reason"] == "sport set to cycling by the runner"
    assert rows(dbfile, "SELECT sport, is_run, running_distance_m, duration_s > 0 FROM int_sessions "
                        "WHERE activity_id = ?", [aid]) == [("cycling", False, None, True)]
    assert day_running_m(dbfile, d) < km_before
    # the latest statement wins: running again
    code, out = cli(dbfile, "activity", "sport", aid, "running")
    assert code == 0 and "sport set to running by the runner" in out
    assert day_running_m(dbfile, d) == pytest.approx(km_before)


def test_statements_survive_resync_rebuild_and_rederive(synced):
    folder, dbfile = synced
    aid, d = spike_run(dbfile)
    assert cli(dbfile, "activity", "exclude", aid, "--reason", "knee")[0] == 0
    stored = rows(dbfile, "SELECT * FROM activity_overrides")

    def still_excluded():
        assert rows(dbfile, "SELECT * FROM activity_overrides") == stored
        assert rows(dbfile, "SELECT counts_as_running_load, running_load_reason FROM int_activity_status "
                            "WHERE activity_id = ?", [aid]) == [(False, "excluded by the runner: knee")]
        assert flagged(dbfile, aid) == 0

    still_excluded()
    run_sync(folder, dbfile)  # re-sync: nothing new
    still_excluded()
    with db.connection(dbfile) as con:  # rebuild
        run_models(con, today=TODAY)
    still_excluded()
    make_old(dbfile)  # an older footfall's rows: the next sync derives them again
    rows_before = rows(dbfile, "SELECT * FROM activity_overrides WHERE override_id <> 'o1'")
    second = run_sync(folder, dbfile)
    assert second["rederived"] > 0
    assert rows(dbfile, "SELECT * FROM activity_overrides WHERE override_id <> 'o1'") == rows_before


def test_unknown_ids_and_sports_are_refused_and_nothing_changes(synced):
    _, dbfile = synced
    aid, _ = spike_run(dbfile)
    code, out = cli(dbfile, "activity", "exclude", "ffffffffffff", "--reason", "x")
    assert code == 2
    assert "no activity 'ffffffffffff'" in out and "footfall audit --all" in out
    code, out = cli(dbfile, "activity", "sport", aid, "unicycling")
    assert code == 2 and "unknown sport 'unicycling'" in out and "cycling" in out
    code, out = cli(dbfile, "activity", "include", "abc")
    assert code == 2 and "at least 6 characters" in out
    code, out = cli(dbfile, "activity", "include", aid, "--athlete", "ben")
    assert code == 2 and "belongs to athlete 'ana'" in out
    assert rows(dbfile, "SELECT count(*) FROM activity_overrides") == [(0,)]
