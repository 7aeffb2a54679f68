"""An upgrade reaches activities landed before it: the next sync derives them again.

A database whose files an older footfall derived (``files.derive_version`` NULL, made here by
undoing migration 008 on a real synced file) gets its activity rows replaced at the next sync of
the same folder (same ids and counts; the journal and ``activity_overrides`` untouched); a sync
after that reads nothing. Real sample FIT/GPX files (synth/sample.py), real flow runs, real DuckDB.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from models.version import DERIVE_VERSION
from pipelines import db
from pipelines.config import load_settings
from pipelines.flows import run_flow, sync
from pipelines.sync import plan_sources
from synth.sample import make_sample_export

from tests.conftest import TODAY


def write_export(folder: Path, weeks: int = 3) -> Path:
    for rel, data in make_sample_export(seed=3, weeks=weeks, end_date=date(2026, 5, 20)).items():
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return folder


def run_sync(folder: Path, dbfile: Path) -> dict:
    return run_flow(sync, paths=[str(folder)], db=str(dbfile), athlete="ana", today=TODAY.isoformat())


def rows(dbfile: Path, sql: str, params=()) -> list[tuple]:
    with db.connection(dbfile, read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def make_old(dbfile: Path) -> None:
    """The database as a footfall before migration 008 left it: no derive_version column, and
    (to see the rows replaced) metrics an older rule derived: a sentinel distance and no checks."""
    with db.connection(dbfile) as con:
        con.execute("ALTER TABLE files DROP COLUMN derive_version")
        con.execute("DELETE FROM schema_migrations WHERE version = 8")
        con.execute("UPDATE activity_metrics SET distance_m = 1.0, sport_reason = 'old rules'")
        con.execute("DELETE FROM activity_checks")
        aid = con.execute("SELECT min(activity_id) FROM activities").fetchone()[0]
        con.execute("INSERT INTO activity_overrides VALUES ('o1', 'ana', ?, 'exclude', NULL, "
                    "'knee', TIMESTAMP '2026-05-01 10:00:00')", [aid])
        con.execute("INSERT INTO pain_log (entry_id, athlete_id, local_date, activity_id, moment, "
                    "score, logged_at, source) VALUES (1, 'ana', DATE '2026-05-01', ?, 'after', 3, "
                    "TIMESTAMP '2026-05-01 10:00:00', 'cli')", [aid])


@pytest.fixture
def synced(prefect_harness, tmp_path):
    folder = write_export(tmp_path / "export")
    dbfile = tmp_path / "ff.duckdb"
    first = run_sync(folder, dbfile)
    return folder, dbfile, first


def test_new_files_record_the_derive_version(synced):
    _, dbfile, first = synced
    assert first["activities"] > 0
    versions = rows(dbfile, "SELECT DISTINCT derive_version FROM files")
    assert versions == [(DERIVE_VERSION,)]


def test_an_older_database_is_derived_again_at_the_next_sync(synced, isolated_config):
    folder, dbfile, first = synced
    make_old(dbfile)
    ids_before = rows(dbfile, "SELECT activity_id FROM activity_metrics ORDER BY 1")
    n_landed = rows(dbfile, "SELECT count(*) FROM files WHERE status IN ('landed', 'salvaged') "
                            "AND n_activities > 0")[0][0]
    keep = rows(dbfile, "SELECT * FROM activity_overrides") + rows(dbfile, "SELECT * FROM pain_log")
    records_before = rows(dbfile, "SELECT count(*) FROM records")

    # the unchanged folder is planned again: its files hold older rows
    s = load_settings().with_overrides(db=dbfile, athlete="ana")
    planned = plan_sources([folder], s)
    assert not planned.nothing_to_do
    assert planned.plan.rederive == n_landed

    second = run_sync(folder, dbfile)
    assert second["rederived"] == n_landed
    assert second["files_new"] == 0  # nothing counted as new
    assert rows(dbfile, "SELECT activity_id FROM activity_metrics ORDER BY 1") == ids_before
    assert rows(dbfile, "SELECT count(*) FROM activity_metrics WHERE distance_m = 1.0 "
                        "OR sport_reason = 'old rules'") == [(0,)]
    assert rows(dbfile, "SELECT count(*) FROM records") == records_before
    assert rows(dbfile, "SELECT count(*) FROM files WHERE status IN ('landed', 'salvaged') "
                        "AND n_activities > 0 AND derive_version IS DISTINCT FROM ?",
                [DERIVE_VERSION]) == [(0,)]
    assert rows(dbfile, "SELECT * FROM activity_overrides") + rows(dbfile, "SELECT * FROM pain_log") == keep
    # the marts were rebuilt from the new rows
    assert rows(dbfile, "SELECT count(*) FROM int_sessions WHERE running_distance_m = 1.0") == [(0,)]

    # an unchanged re-sync derives nothing again (and the CLI would not start a flow)
    assert plan_sources([folder], s).nothing_to_do
    third = run_sync(folder, dbfile)
    assert third["rederived"] == 0 and third["files_new"] == 0


def test_a_runner_other_than_the_owner_does_not_rederive(synced, isolated_config):
    folder, dbfile, _ = synced
    make_old(dbfile)
    s = load_settings().with_overrides(db=dbfile, athlete="ben")
    assert plan_sources([folder], s).plan.rederive == 0
