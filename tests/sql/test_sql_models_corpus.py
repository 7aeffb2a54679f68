"""The SQL models on real files: one athlete's 68 GPX sessions (runpandas examples) through the
real sync (Prefect flow, landing, metrics) and the models it builds at its end.

Prints the weekly loads and the flags; checks the invariants (every data test returns no rows,
no load lost between sessions, days and weeks).
"""

from __future__ import annotations

from datetime import date

import pytest

from pipelines import db
from pipelines.sqlmodels import discover_models, query_flags, run_data_tests, run_models

pytestmark = pytest.mark.corpus

SESSION_DIR = "corriporai+runpandas/examples/session"


@pytest.fixture(scope="module")
def synced(corpus_dir, prefect_harness, tmp_path_factory):
    from pipelines.flows import run_flow, sync

    folder = corpus_dir / SESSION_DIR
    if not folder.is_dir():
        pytest.skip(f"{folder} not in the corpus")
    dbfile = tmp_path_factory.mktemp("sessions") / "sessions.duckdb"
    summary = run_flow(sync, paths=[str(folder)], db=str(dbfile), athlete="runpandas")
    return folder, dbfile, summary


def test_68_sessions_sync_and_build_every_model(synced):
    folder, dbfile, summary = synced
    n_files = len(list(folder.glob("*.gpx")))
    assert n_files == 68
    # 69 activities: 720bf570's one segment holds the run and, 15 h later, a drive (ingest/gpx.py
    # splits a segment at gaps over gpx_activity_split_gap_s); the drive is not a run
    n_acts = n_files + 1
    assert summary["activities"] == n_acts
    assert summary["models_built"] == [m.name for m in discover_models()]
    with db.connection(dbfile, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM int_sessions").fetchall() == [(n_acts,)]
        assert con.execute("SELECT count(*) FROM int_sessions WHERE is_run").fetchall() == [(n_files,)]
        assert run_data_tests(con) == {k: 0 for k in run_data_tests(con)}
        weeks = con.sql(
            "SELECT week_start_date, n_activities, n_runs, round(running_distance_m / 1000, 1) AS run_km, "
            "round(duration_s / 3600, 2) AS hours, longest_run_m, distance_change_pct "
            "FROM weekly_load WHERE n_activities > 0 ORDER BY week_start_date"
        ).pl()
        flags = query_flags(con)
        print(f"\n{weeks.height} weeks with activities:\n{weeks}")
        print(f"{flags.height} flags:\n{flags.select('local_date', 'rule', 'severity', 'message')}")
        assert weeks["n_activities"].sum() == n_acts
        # every activity's moving time is in the weekly all-sport duration
        (total_s,) = con.execute("SELECT sum(duration_s) FROM int_sessions").fetchall()[0]
        (weekly_s,) = con.execute("SELECT sum(duration_s) FROM weekly_load").fetchall()[0]
        assert weekly_s == pytest.approx(total_s, rel=1e-9) and total_s > 68 * 600
        # one session_spikes row per run, whatever the sync decided is a run
        (n_runs,) = con.execute("SELECT count(*) FROM int_sessions WHERE is_run").fetchall()[0]
        assert con.execute("SELECT count(*) FROM session_spikes").fetchall() == [(n_runs,)]


def test_rebuilding_with_a_fixed_today_is_deterministic(synced):
    _, dbfile, _ = synced
    with db.connection(dbfile) as con:
        last = con.execute("SELECT max(local_date) FROM activities").fetchall()[0][0]
        run_models(con, today=last)
        first = con.sql("SELECT * EXCLUDE (first_raised_at) FROM flags ORDER BY flag_id").fetchall()
        weeks = con.sql("SELECT * FROM weekly_load ORDER BY week_start_date").fetchall()
        run_models(con, today=last)
        assert con.sql("SELECT * EXCLUDE (first_raised_at) FROM flags ORDER BY flag_id").fetchall() == first
        assert con.sql("SELECT * FROM weekly_load ORDER BY week_start_date").fetchall() == weeks
        (max_day,) = con.execute("SELECT max(local_date) FROM daily_load").fetchall()[0]
        assert max_day == last and isinstance(last, date)
        assert set(run_data_tests(con).values()) == {0}
