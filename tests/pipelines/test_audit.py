"""``footfall audit`` and the landing of ``activity_checks`` (issue 13), on real files and DuckDB.

The checks a decode carries land with their activity (athlete_id added) and go with it when a
richer copy of the same run replaces it; ``activity_audit`` has one row per activity x check plus
the running-load decision; ``footfall audit`` shows by default only what is worth a look.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from ingest import schema
from pipelines import db
from pipelines.cli import app
from pipelines.land import land_results
from pipelines.sqlmodels import run_data_tests, run_models
from pipelines.work import DeriveContext, decode_batch
from synth.sample import make_sample_export

from tests.conftest import TODAY
from tests.pipelines.test_rederive import rows, run_sync, write_export

RUNNER = CliRunner()
AUDIT_COLUMNS = [
    "athlete_id", "activity_id", "local_date", "started_at", "file_path", "check_name", "outcome",
    "measured_value", "expected_low", "expected_high", "unit", "effect", "detail",
    "counts_as_running_load", "running_load_reason",
]


def audit_json(dbfile: Path, *args: str) -> list[dict]:
    r = RUNNER.invoke(app, ["audit", *args, "--json", "--db", str(dbfile)])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def checks_for(activity_ids: list[str]) -> pl.DataFrame:
    """Two checks per activity as models/quality.py would write them: one passed, one not."""
    out = []
    for aid in activity_ids:
        out.append({"activity_id": aid, "check_name": "track_speed_ceiling", "outcome": "pass",
                    "measured_value": 4.1, "expected_low": None, "expected_high": 10.0, "unit": "m/s",
                    "effect": "none", "detail": "fastest step 4.1 m/s", "threshold_name": "x"})
        out.append({"activity_id": aid, "check_name": "distance_agreement", "outcome": "disagree",
                    "measured_value": 0.12, "expected_low": None, "expected_high": 0.03, "unit": "ratio",
                    "effect": "distance from cleaned track", "detail": "laps and track differ by 12%",
                    "threshold_name": "y"})
    return schema.conform(pl.DataFrame(out), "activity_checks")


def decode_with_checks(files: dict[str, bytes]):
    ctx = DeriveContext(athlete_id="ana", timezone="Europe/Madrid")
    results = decode_batch([(f"/x/{rel}", None, rel.rsplit("/", 1)[-1], data, None)
                            for rel, data in files.items()], ctx)
    for r in results:
        if r.decoded is not None and r.decoded.activities.height:
            r.decoded.activity_checks = checks_for(r.decoded.activities["activity_id"].to_list())
    return results


def test_checks_land_with_their_activity_and_go_with_a_replaced_copy(tmp_path):
    files = make_sample_export(seed=3, weeks=3, end_date=date(2026, 5, 20))
    gpx = {k: v for k, v in files.items() if k.endswith(".gpx")}
    fit = {k: v for k, v in files.items() if k.endswith(".fit")}
    dbfile = tmp_path / "ff.duckdb"
    with db.connection(dbfile) as con:
        db.migrate(con)
        land_results(con, decode_with_checks(gpx), athlete_id="ana")
        n_gpx = con.execute("SELECT count(*) FROM activities").fetchone()[0]
        assert con.execute("SELECT count(*), count(DISTINCT activity_id), min(athlete_id), "
                           "max(athlete_id) FROM activity_checks").fetchone() == (2 * n_gpx, n_gpx, "ana", "ana")
        st = land_results(con, decode_with_checks(fit), athlete_id="ana")
        assert st.demoted, "the sample's Strava copies should be replaced by their FIT runs"
        orphans = con.execute("SELECT count(*) FROM activity_checks c WHERE NOT EXISTS "
                              "(SELECT 1 FROM activities a WHERE a.activity_id = c.activity_id)").fetchone()
        assert orphans == (0,)
        assert con.execute("SELECT count(DISTINCT activity_id) FROM activity_checks").fetchone() == \
            con.execute("SELECT count(*) FROM activities").fetchone()
        run_models(con, today=TODAY)
        assert not {k: v for k, v in run_data_tests(con).items() if v}
        n_act = con.execute("SELECT count(*) FROM activities").fetchone()[0]
    every = audit_json(dbfile, "--all")
    assert list(every[0]) == AUDIT_COLUMNS
    assert len(every) == 3 * n_act  # two checks + the decision per activity
    # by default: every activity here has a check that did not pass, so all are listed
    shown = audit_json(dbfile)
    assert {r["activity_id"] for r in shown} == {r["activity_id"] for r in every}
    row = next(r for r in shown if r["check_name"] == "distance_agreement")
    assert (row["outcome"], row["expected_high"], row["effect"]) == ("disagree", 0.03, "distance from cleaned track")
    assert row["file_path"].startswith("/x/")


@pytest.fixture
def synced(prefect_harness, tmp_path, isolated_config):
    folder = write_export(tmp_path / "export")
    dbfile = tmp_path / "ff.duckdb"
    run_sync(folder, dbfile)
    return dbfile


def test_audit_lists_what_is_worth_a_look_and_every_decision_with_all(synced):
    dbfile = synced
    n_act = rows(dbfile, "SELECT count(*) FROM activities")[0][0]
    every = audit_json(dbfile, "--all")
    decisions = [r for r in every if r["check_name"] == "running_load"]
    assert len(decisions) == n_act
    assert all(r["counts_as_running_load"] for r in decisions)  # the sample holds runs only
    assert all(r["running_load_reason"].startswith("running: ") for r in decisions)
    shown = {r["activity_id"] for r in audit_json(dbfile)}
    checked = {r[0] for r in rows(dbfile, "SELECT activity_id FROM activity_checks WHERE outcome <> 'pass'")}
    assert shown == checked  # none until models/ record a check that did not pass

    aid = decisions[0]["activity_id"]
    r = RUNNER.invoke(app, ["activity", "exclude", aid, "--reason", "treadmill, no GPS", "--db", str(dbfile)])
    assert r.exit_code == 0, r.output
    mine = [r for r in audit_json(dbfile) if r["activity_id"] == aid]
    assert [r["check_name"] for r in mine][0] == "running_load"
    assert {r["check_name"]: r["outcome"] for r in mine}["running_load"] == "excluded"
    assert {r["check_name"]: r["outcome"] for r in mine}["runner_override"] == "adjusted"
    assert all(r["running_load_reason"] == "excluded by the runner: treadmill, no GPS" for r in mine)
    since_later = audit_json(dbfile, "--since", str(date.fromisoformat(mine[0]["local_date"]).replace(year=2027)))
    assert since_later == []

    text = RUNNER.invoke(app, ["audit", "--db", str(dbfile)])
    assert text.exit_code == 0
    out = " ".join(text.output.split())
    assert aid in out and "not running load: excluded by the runner: treadmill, no GPS" in out

    bad = RUNNER.invoke(app, ["audit", "--since", "yesterday", "--db", str(dbfile)])
    assert bad.exit_code == 2


def test_the_report_lists_excluded_runs_and_draws_running_only_gait(synced):
    from pipelines.report import build_report, render_html

    dbfile = synced
    aid = rows(dbfile, "SELECT activity_id FROM int_sessions WHERE is_run ORDER BY started_at DESC LIMIT 1")[0][0]
    with db.connection(dbfile, read_only=True) as con:
        before = build_report(con, athlete="ana", weeks=0)
    assert before.not_counted == []
    gait = next(s for s in before.sections if s.key == "gait")
    assert gait.spec is not None and "avg_cadence_run_spm" in json.dumps(gait.spec)
    n_gait = len(gait.spec["datasets"]["gait"])

    r = RUNNER.invoke(app, ["activity", "sport", aid, "walking", "--reason", "a walk with the dog",
                            "--db", str(dbfile)])
    assert r.exit_code == 0, r.output
    with db.connection(dbfile, read_only=True) as con:
        after = build_report(con, athlete="ana", weeks=0)
    assert [(x["activity_id"], x["final_sport"], x["counts_as_running_load"]) for x in after.not_counted] == \
        [(aid, "walking", False)]
    page = render_html(after, javascript="")
    assert "sport set to walking by the runner: a walk with the dog" in page
    gait = next(s for s in after.sections if s.key == "gait")
    assert len(gait.spec["datasets"]["gait"]) == n_gait - 1  # the walk left the running-only trend
