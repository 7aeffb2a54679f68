"""The runner's log's rules live in sql/ once, and Python reads them from there.

Real DuckDB files: runs written straight into ``activities`` / ``activity_metrics`` after
``db.migrate``, journal entries through ``pipelines.journal``, models built with ``run_models``.
Checks that the shoe rule the journal writes is the ``int_shoe_assignment`` model, that
``list_shoes`` gives the ``shoe_mileage`` mart's rows before any build and read-only, that the
journal flags are keyed in one place, that the ``is_run`` rule is written only in SQL, and that
``build_and_diff`` returns a flag once.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from ingest import schema
from pipelines import db
from pipelines import journal as j
from pipelines.sqlmodels import (
    build_and_diff, discover_models, model_query, run_data_tests, run_models,
)

MONDAY = date(2025, 3, 3)
TODAY = MONDAY + timedelta(days=20)
ROOT = Path(__file__).resolve().parents[2]
_seq = itertools.count()


@pytest.fixture
def dbp(isolated_config) -> Path:
    p = isolated_config / "footfall.duckdb"
    with db.connection(p) as con:
        db.migrate(con)
    return p


def add_run(con, day: date, km: float, *, sport: str = "running", is_run: bool | None = None) -> str:
    file_id = hashlib.sha256(f"journal-sql-{next(_seq)}".encode()).hexdigest()
    aid = schema.activity_id_for(file_id, 0)
    start = datetime(day.year, day.month, day.day, 7)
    s = km * 360
    con.execute(
        "INSERT INTO activities (athlete_id, activity_id, file_id, session_index, source_format, "
        "sport, started_at, ended_at, local_offset_s, local_date, elapsed_time_s, timer_time_s, "
        "distance_m) VALUES ('ana', ?, ?, 0, 'fit', ?, ?, ?, 0, ?, ?, ?, ?)",
        [aid, file_id, sport, start, start + timedelta(seconds=s), day, s, s, km * 1000])
    con.execute(
        "INSERT INTO activity_metrics (activity_id, athlete_id, sport, is_run, started_at, "
        "local_date, distance_m, moving_time_s, elapsed_time_s) VALUES (?, 'ana', ?, ?, ?, ?, ?, ?, ?)",
        [aid, sport, sport == "running" if is_run is None else is_run, start, day, km * 1000, s, s])
    return aid


def journal_of_three_shoes(con) -> dict[str, str]:
    """Runs, a walk, a treadmill run the models call a run (sport 'generic'), three shoes: a
    default, a date rule, a hand assignment and a retirement."""
    runs = {f"r{i}": add_run(con, MONDAY + timedelta(days=i), 5 + i) for i in range(0, 15, 2)}
    runs["walk"] = add_run(con, MONDAY + timedelta(days=3), 3, sport="walking")
    runs["treadmill"] = add_run(con, MONDAY + timedelta(days=5), 6, sport="generic", is_run=True)
    j.add_shoe(con, "ana", "Daily", first_used=MONDAY, is_default=True, today=TODAY)
    j.add_shoe(con, "ana", "Racer", first_used=MONDAY, today=TODAY)
    j.add_shoe(con, "ana", "Trail", first_used=MONDAY, today=TODAY)
    j.assign_shoe(con, "ana", "Racer", from_date=MONDAY + timedelta(days=8),
                  to_date=MONDAY + timedelta(days=10), today=TODAY)
    j.assign_shoe(con, "ana", "Trail", activity=runs["r4"], today=TODAY)
    j.retire_shoe(con, "ana", "Trail", on=MONDAY + timedelta(days=6), today=TODAY)
    return runs


def test_the_shoe_rule_the_journal_writes_is_the_int_shoe_assignment_model(dbp):
    with db.connection(dbp) as con:
        runs = journal_of_three_shoes(con)
        # before any build: no view, yet the writer applied the model's query
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert "int_shoe_assignment" not in tables
        got = dict(con.execute("SELECT activity_id, source FROM activity_shoes").fetchall())
        assert got[runs["r4"]] == "manual"
        assert got[runs["r0"]] == "default" and got[runs["r8"]] == "range"
        assert got[runs["treadmill"]] == "default"  # a run by the models' is_run, not by sport
        assert runs["walk"] not in got  # rules give shoes to runs only
        assert got[runs["r14"]] == "default"
        run_models(con, today=TODAY)
        view = set(con.execute("SELECT activity_id, shoe_id, athlete_id, source FROM int_shoe_assignment").fetchall())
        written = set(con.execute("SELECT activity_id, shoe_id, athlete_id, source FROM activity_shoes "
                                  "WHERE source <> 'manual'").fetchall())
        assert view == written and len(view) == 8
        assert j.assign_default_shoes(con) == 0  # the rule and the table agree: nothing to do
        assert not any(run_data_tests(con).values())


def test_list_shoes_is_the_shoe_mileage_mart_before_any_build_and_read_only(dbp):
    with db.connection(dbp) as con:
        journal_of_three_shoes(con)
    with db.connection(dbp, read_only=True) as con:  # never built: no mart, no views
        listed = j.list_shoes(con, "ana", today=TODAY, overrides={"shoe_retire_m": 30_000})
    assert [(r["name"], r["n_runs"], r["distance_m"]) for r in listed.to_dicts()] == [
        ("Daily", 6, 65_000.0), ("Racer", 2, 28_000.0), ("Trail", 1, 9_000.0)]
    with db.connection(dbp) as con:
        run_models(con, today=TODAY, overrides={"shoe_retire_m": 30_000})
        mart = con.sql("SELECT * FROM shoe_mileage ORDER BY athlete_id, retired_on IS NOT NULL, "
                       "shoe_id").pl()
    assert listed.columns == mart.columns
    assert listed.to_dicts() == mart.to_dicts()
    assert [r["is_past_retire"] for r in mart.to_dicts()] == [True, False, False]


def test_flags_are_keyed_in_one_model_and_is_run_is_written_only_in_sql():
    keyed = [m.name for m in discover_models() if "md5(" in m.sql]
    assert keyed == ["flags"]
    runs = [m.name for m in discover_models()
            if re.search(r"\bis_run\s*,\s*\w+\.sport\s*=\s*'running'", m.sql)]
    assert runs == ["int_activity_status"]  # issue 13: the decision and the runner's word, one place
    for py in sorted((ROOT / "pipelines").rglob("*.py")):
        assert "sport = 'running'" not in py.read_text(), py  # read int_sessions.is_run instead


def test_model_query_inlines_what_a_model_reads(dbp):
    q = model_query("int_shoe_activities")
    assert q.index("stg_activities as (") < q.index("int_sessions as (")
    assert "create or replace" not in q.lower()
    with db.connection(dbp, read_only=True) as con:
        assert con.execute(f"SELECT count(*) FROM ({q})").fetchall() == [(0,)]


def test_build_and_diff_returns_a_new_flag_once(dbp):
    with db.connection(dbp) as con:
        aid = add_run(con, MONDAY, 8)
        built, new = build_and_diff(con, today=MONDAY)
        assert built == [m.name for m in discover_models()]
        assert [f["flag_id"] for f in new] == [r[0] for r in con.execute(  # all new the first time
            "SELECT flag_id FROM flags ORDER BY local_date, athlete_id, rule, activity_id").fetchall()]
        j.add_pain(con, "ana", 8, "during", activity=aid, today=MONDAY)
        _, new = build_and_diff(con, today=MONDAY)
        assert [(f["rule"], f["activity_id"]) for f in new] == [("pain_during", aid)]
        assert len(new[0]["flag_id"]) == 16 and new[0]["source"]
        assert build_and_diff(con, today=MONDAY)[1] == []
        assert j.rebuild_models(con, today=MONDAY) == []
