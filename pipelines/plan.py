"""The return-to-run plan in DuckDB (table ``run_plan``, migration 009): add a week, import a
CSV, show, clear. Values are validated by ``models/plan.py`` first.

Like the journal (``pipelines/journal/``): every write runs in ONE transaction; when it changed
the table it bumps the data generation in the same transaction (the models are behind until
they are rebuilt: ``pipelines.journal.rebuild_models``). Errors the runner can fix are
``PlanError`` (a bad value; exit 2 in the CLI) and ``PlanFileError`` (a CSV with bad rows, each
listed with its line number; nothing imported).

Decisions:
- One plan per athlete, with one start date. ``add`` without ``--start`` keeps the plan's start
  date, or for a new plan starts it on the Monday of the runner's current week. A different
  ``--start`` for an existing plan is refused (``plan clear`` first, or import a whole plan).
- ``add`` for a week already planned replaces that week.
- ``import`` replaces the whole plan (a plan file is the plan); its start date comes from
  ``--start``, else the file's ``start_date`` column, else the existing plan's, else this week's
  Monday. Importing the same file twice changes nothing (no data-generation bump).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

from models import plan as mp
from models.journal import RowError
from models.plan import PlanError, PlanFileError
from pipelines.clock import local_today
from pipelines.db import first, tracked_transaction, utcnow

_TYPES = {"athlete_id": "VARCHAR", "start_date": "DATE", "week_number": "INTEGER",
          "run_min": "DOUBLE", "pattern": "VARCHAR", "pattern_run_min": "DOUBLE",
          "pattern_walk_min": "DOUBLE", "pattern_repeats": "INTEGER", "longest_min": "DOUBLE",
          "note": "VARCHAR", "source": "VARCHAR", "entered_at": "TIMESTAMP"}
#: what makes two plan rows the same (entered_at and source are not the plan)
_PLAN_COLS = ("start_date", "week_number", "run_min", "pattern", "longest_min", "note")


def _transaction(con: duckdb.DuckDBPyConnection):
    """A plan write: one transaction that bumps the data generation when the plan changed."""
    return tracked_transaction(con, _checksum)


def _checksum(con) -> tuple:
    cols = ", ".join(_PLAN_COLS)
    return first(con.execute(
        f"SELECT count(*), coalesce(sum(hash(athlete_id, {cols})), 0) FROM run_plan"))


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def plan_start(con, athlete_id: str) -> date | None:
    """The start date of the athlete's plan, None when there is no plan."""
    row = first(con.execute("SELECT min(start_date) FROM run_plan WHERE athlete_id = ?", [athlete_id]))
    return row[0] if row else None


def _insert(con, week: mp.PlanWeek, athlete_id: str, start: date, source: str, now) -> None:
    row = week.row(athlete_id, start) | {"source": source, "entered_at": now}
    con.execute("INSERT INTO run_plan BY NAME SELECT * FROM (SELECT "
                + ", ".join(f"?::{_TYPES[k]} AS {k}" for k in row) + ")", list(row.values()))


def add_week(con, athlete_id: str, week, run_min, *, pattern=None, longest_min=None, note=None,
             start=None, today: date | None = None) -> dict:
    """Add (or replace) one plan week; return the stored row with ``replaced`` and ``week_start``."""
    today = today or local_today()
    w = mp.make_week(week, run_min, pattern, longest_min, note)
    st = mp.parse_start(start)
    with _transaction(con):
        current = plan_start(con, athlete_id)
        if current is not None and st is not None and st != current:
            raise PlanError(f"the plan of {athlete_id!r} starts on {current}; --start {st} would move "
                            "every week. Run `footfall plan clear` first, or import the whole plan")
        begin = current or st or _monday(today)
        replaced = first(con.execute("SELECT count(*) FROM run_plan WHERE athlete_id = ? AND week_number = ?",
                                     [athlete_id, w.week_number]))[0] > 0
        con.execute("DELETE FROM run_plan WHERE athlete_id = ? AND week_number = ?", [athlete_id, w.week_number])
        _insert(con, w, athlete_id, begin, "cli", utcnow())
    return w.row(athlete_id, begin) | {"replaced": replaced,
                                       "week_start": mp.week_start(begin, w.week_number)}


@dataclass
class PlanImport:
    weeks: int
    start_date: date
    replaced: int  # weeks of the previous plan removed
    unchanged: bool


def import_plan(con, athlete_id: str, data: bytes, *, path: str = "the file", start=None,
                today: date | None = None) -> PlanImport:
    """Replace the athlete's plan with the CSV's weeks: all rows or none (``PlanFileError``)."""
    today = today or local_today()
    rows = mp.read_plan_csv(data, path)
    errors: list[RowError] = list(rows.errors)
    st = mp.parse_start(start)
    if errors:
        raise PlanFileError(errors, path)
    with _transaction(con):
        begin = st or rows.start_date or plan_start(con, athlete_id) or _monday(today)
        before = _checksum(con)
        old = first(con.execute("SELECT count(*) FROM run_plan WHERE athlete_id = ?", [athlete_id]))[0]
        con.execute("DELETE FROM run_plan WHERE athlete_id = ?", [athlete_id])
        now = utcnow()
        for w in sorted(rows.weeks, key=lambda w: w.week_number):
            _insert(con, w, athlete_id, begin, "import", now)
        unchanged = _checksum(con) == before
    return PlanImport(len(rows.weeks), begin, old, unchanged)


def clear_plan(con, athlete_id: str) -> int:
    """Delete the athlete's plan; return the weeks deleted."""
    with _transaction(con):
        n = first(con.execute("SELECT count(*) FROM run_plan WHERE athlete_id = ?", [athlete_id]))[0]
        con.execute("DELETE FROM run_plan WHERE athlete_id = ?", [athlete_id])
    return n


def show_plan(con, athlete_id: str) -> list[dict]:
    """The athlete's plan weeks in order, with each week's dates and, when the models are built,
    the actual running minutes and longest bout (``plan_vs_actual``)."""
    from pipelines.db import tables

    rels = tables(con)
    if "plan_vs_actual" in rels:
        sql = ("SELECT p.*, a.actual_run_min, a.actual_walk_min, a.actual_longest_bout_min, "
               "a.run_min_diff, a.longest_min_diff, a.is_exceeded, a.week_status "
               "FROM run_plan p LEFT JOIN plan_vs_actual a USING (athlete_id, week_number) "
               "WHERE p.athlete_id = ? ORDER BY p.week_number")
    else:
        sql = "SELECT * FROM run_plan WHERE athlete_id = ? ORDER BY week_number"
    cur = con.execute(sql, [athlete_id])
    names = [d[0] for d in cur.description]
    out = []
    for r in cur.fetchall():
        row = dict(zip(names, r))
        row["week_start"] = mp.week_start(row["start_date"], row["week_number"])
        row["week_end"] = row["week_start"] + timedelta(days=6)
        out.append(row)
    return out
