"""The runner's log in DuckDB: pain, RPE, shoes, CSV import, default shoes, Strava gear and RPE.

Every public function that writes runs in ONE transaction: on any error nothing is changed
(values are validated by ``models/journal.py`` first, then against the database: the activity
exists, the shoe is known). Errors the runner can fix are ``JournalError`` (bad value, exit code
2 in the CLI), ``NotFound`` (unknown activity or shoe, exit 2) or ``JournalFileError`` (a CSV
with bad rows, every one listed with its line number; exit 1).

Decisions (also in the report / README):
- Pain and RPE logged by date (no activity id) are kept by date; the SQL models attach them to
  the run of that day when it is synced (``int_pain_entries``, ``stg_session_rpe``), so a runner
  can log right after a run and sync at night.
- ``--activity`` accepts a full activity id or a unique prefix (at least 6 characters); an id of a
  copy dropped as a duplicate resolves to the copy kept. The entry's date is the activity's local
  date (the next day for ``next_morning``: pain is dated on the day it was felt).
- Shoes: one shoe per activity (``activity_shoes``). Manual assignments are never overridden by a
  rule. Every other assignment is recomputed by :func:`assign_default_shoes` with this precedence:
  ``range`` rule (newest first) > Strava gear > the default shoe ("the shoe in use") > the only
  shoe whose date range covers the run. Rules apply to runs; Strava gear to foot activities.
  A shoe's range is [coalesce(first_used, added_on), retired_on].
- CSV import is all or nothing; rows identical to entries already in the journal are skipped,
  so importing the same file twice changes nothing.
- Strava: a shoe per distinct gear name used on foot activities (linked to an existing shoe of
  the same name, case-insensitive); perceived exertion (Strava's 1-10) is stored as CR-10 as is,
  for activities with no RPE logged yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl

from models import journal as mj
from models.journal import JournalError, JournalFileError
from pipelines.clock import local_today
from pipelines.db import bump_data_generation, first, rollback, utcnow

__all__ = [
    "JournalError", "JournalFileError", "NotFound", "local_today", "add_pain", "add_rpe",
    "add_shoe", "retire_shoe", "assign_shoe", "list_shoes", "import_journal",
    "assign_default_shoes", "fill_from_strava", "after_sync", "journal_counts", "delete_entry",
    "recent_entries", "rebuild_models",
]

#: Sports a shoe is worn for (Strava gear on other sports, e.g. bikes, never becomes a shoe).
FOOT_SPORTS = ("running", "walking", "hiking", "trail_running")
#: Strava "Activity Type" values of foot activities (lower case, matched as a pattern).
_STRAVA_FOOT = "run|walk|hike"
MIN_PREFIX = 6

JOURNAL_TABLES = ("pain_log", "rpe_log", "shoes", "activity_shoes", "shoe_ranges")


class NotFound(JournalError):
    """An activity or shoe the runner named is not in the database."""


@dataclass(frozen=True)
class Activity:
    activity_id: str
    athlete_id: str
    local_date: date
    sport: str | None
    is_run: bool
    note: str = ""  # e.g. "resolved from duplicate copy X"


# --------------------------------------------------------------------------- helpers




class _transaction:
    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def __enter__(self):
        self.con.execute("BEGIN TRANSACTION")
        self._before = _journal_checksum(self.con)
        return self.con

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:  # the models are behind a changed journal until they are rebuilt
                if _journal_checksum(self.con) != self._before:
                    bump_data_generation(self.con)
            except BaseException:
                rollback(self.con)
                raise
            self.con.execute("COMMIT")
        else:
            rollback(self.con)  # a failed statement may have ended it already: keep the first error
        return False


def _journal_checksum(con) -> tuple:
    """Row count and summed row hashes of each journal table: equal before and after a
    transaction when it changed nothing (re-importing a journal, a sync's shoe rules)."""
    parts = ", ".join(f"(SELECT count(*) || ':' || coalesce(sum(hash(t)), 0) FROM {t} AS t)"
                      for t in JOURNAL_TABLES)
    return con.execute(f"SELECT {parts}").fetchall()[0]


def _next_id(con, table: str, column: str) -> int:
    return int(first(con.execute(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}"))[0])


_RUN_SQL = "coalesce(m.is_run, a.sport = 'running', false)"  # the same rule as int_sessions


def resolve_activity(con, ref: str, athlete_id: str | None = None) -> Activity:
    """The activity ``ref`` names: a full id, a unique prefix, or a dropped duplicate's id."""
    ref = (ref or "").strip()
    if not ref:
        raise JournalError("--activity is empty")
    q = (f"SELECT a.activity_id, a.athlete_id, coalesce(a.local_date, m.local_date), a.sport, "
         f"{_RUN_SQL} FROM activities a LEFT JOIN activity_metrics m USING (activity_id) ")
    rows = con.execute(q + "WHERE a.activity_id = ?", [ref]).fetchall()
    note = ""
    if not rows:
        dup = first(con.execute(
            "SELECT duplicate_of FROM activity_duplicates WHERE activity_id = ?", [ref]
        ))
        if dup:
            rows = con.execute(q + "WHERE a.activity_id = ?", [dup[0]]).fetchall()
            note = f"{ref} is a duplicate copy of {dup[0]}; logged against {dup[0]}"
    if not rows and len(ref) >= MIN_PREFIX:
        rows = con.execute(q + "WHERE starts_with(a.activity_id, ?) ORDER BY 1 LIMIT 5", [ref]).fetchall()
        if len(rows) > 1:
            ids = ", ".join(r[0] for r in rows)
            raise NotFound(f"activity {ref!r} is ambiguous: it starts {ids}; give more characters")
    if not rows:
        hint = "" if len(ref) >= MIN_PREFIX else f" (a prefix needs at least {MIN_PREFIX} characters)"
        raise NotFound(f"no activity {ref!r} in the database{hint}; sync the run first, or log by --date")
    aid, ath, d, sport, is_run = rows[0]
    if athlete_id is not None and ath != athlete_id:
        raise NotFound(f"activity {aid} belongs to athlete {ath!r}, not {athlete_id!r}")
    if d is None:
        raise NotFound(f"activity {aid} has no local date; log by --date instead")
    return Activity(aid, ath, d, sport, bool(is_run), note)


def resolve_shoe(con, ref: str, athlete_id: str) -> tuple:
    """(shoe_id, name, first_used, retired_on, added_on) of a shoe given by id or name."""
    ref = (ref or "").strip()
    if not ref:
        raise JournalError("the shoe is empty: give a shoe id or name (`footfall shoes list`)")
    cols = "shoe_id, name, first_used, retired_on, added_on"
    row = None
    if ref.isdigit():
        row = first(con.execute(f"SELECT {cols} FROM shoes WHERE athlete_id = ? AND shoe_id = ?",
                          [athlete_id, int(ref)]))
    if row is None:
        row = first(con.execute(f"SELECT {cols} FROM shoes WHERE athlete_id = ? AND lower(name) = lower(?)",
                          [athlete_id, ref]))
    if row is None:
        raise NotFound(f"no shoe {ref!r} for athlete {athlete_id!r}; see `footfall shoes list` "
                       f"or add it with `footfall shoes add {ref!r}`")
    return row


def journal_counts(con, athlete_id: str | None = None) -> dict[str, int]:
    """Rows in each journal table (of one athlete when given)."""
    out = {}
    for t in JOURNAL_TABLES:
        if athlete_id is None:
            out[t] = first(con.execute(f"SELECT count(*) FROM {t}"))[0]
        else:
            out[t] = first(con.execute(f"SELECT count(*) FROM {t} WHERE athlete_id = ?", [athlete_id]))[0]
    return out


# --------------------------------------------------------------------------- pain and RPE


def _entry_date(con, athlete_id, when_date, activity, moment, today) -> tuple[str, date, str | None, str]:
    """(athlete_id, local_date, activity_id, note) of a journal entry."""
    if when_date is not None and activity is not None:
        raise JournalError("give --date or --activity, not both (an activity has its own date)")
    if activity is not None:
        act = resolve_activity(con, activity, athlete_id)
        d = mj.felt_date(act.local_date, moment) if moment else act.local_date
        mj.check_not_future(d, today, "the date" if moment != "next_morning" else
                            "the next morning after this run")
        return act.athlete_id, d, act.activity_id, act.note
    if athlete_id is None:
        raise JournalError("no athlete given")
    d = mj.parse_date(when_date if when_date is not None else today, today)
    return athlete_id, d, None, ""


def add_pain(con, athlete_id: str | None, score, moment, *, when_date=None, activity=None,
             location=None, note=None, today: date | None = None) -> dict:
    """Log one pain score; return the stored entry (a dict). ``athlete_id`` None: the activity's.

    ``score`` 0-10 (halves allowed), ``moment`` one of ``models.journal.MOMENTS``; ``when_date``
    (date or text) defaults to ``today``; ``activity`` an activity id (or unique prefix).
    """
    today = today or local_today()
    s = mj.parse_score(score, "pain")
    m = mj.parse_moment(moment)
    with _transaction(con):
        ath, d, aid, extra = _entry_date(con, athlete_id, when_date, activity, m, today)
        entry = {"entry_id": _next_id(con, "pain_log", "entry_id"), "athlete_id": ath,
                 "local_date": d, "activity_id": aid, "moment": m, "score": s,
                 "location": mj.clean_text(location), "note": mj.clean_text(note),
                 "source": "cli", "logged_at": utcnow()}
        con.execute("INSERT INTO pain_log BY NAME SELECT * FROM (SELECT "
                    + ", ".join(f"?::{_PAIN_TYPES[k]} AS {k}" for k in entry) + ")", list(entry.values()))
    entry["info"] = extra
    return entry


_PAIN_TYPES = {"entry_id": "BIGINT", "athlete_id": "VARCHAR", "local_date": "DATE",
               "activity_id": "VARCHAR", "moment": "VARCHAR", "score": "DOUBLE",
               "location": "VARCHAR", "note": "VARCHAR", "source": "VARCHAR",
               "logged_at": "TIMESTAMP"}
_RPE_TYPES = {"entry_id": "BIGINT", "athlete_id": "VARCHAR", "local_date": "DATE",
              "activity_id": "VARCHAR", "rpe_cr10": "DOUBLE", "note": "VARCHAR",
              "source": "VARCHAR", "logged_at": "TIMESTAMP"}


def add_rpe(con, athlete_id: str | None, rpe, *, when_date=None, activity=None, note=None,
            today: date | None = None) -> dict:
    """Log one session RPE (CR-10, 0-10, halves allowed); return the stored entry."""
    today = today or local_today()
    r = mj.parse_score(rpe, "rpe")
    with _transaction(con):
        ath, d, aid, extra = _entry_date(con, athlete_id, when_date, activity, None, today)
        entry = {"entry_id": _next_id(con, "rpe_log", "entry_id"), "athlete_id": ath,
                 "local_date": d, "activity_id": aid, "rpe_cr10": r,
                 "note": mj.clean_text(note), "source": "cli", "logged_at": utcnow()}
        con.execute("INSERT INTO rpe_log BY NAME SELECT * FROM (SELECT "
                    + ", ".join(f"?::{_RPE_TYPES[k]} AS {k}" for k in entry) + ")", list(entry.values()))
    entry["info"] = extra
    return entry


def delete_entry(con, kind: str, entry_id: int, athlete_id: str) -> dict:
    """Delete one pain or RPE entry of ``athlete_id`` (a typo fixed); return the deleted row.

    An RPE that came from Strava is filled again by the next sync unless the runner logs their
    own for that activity (which is preferred over Strava's).
    """
    table = {"pain": "pain_log", "rpe": "rpe_log"}.get(kind)
    if table is None:
        raise JournalError(f"unknown kind {kind!r}: use pain or rpe")
    with _transaction(con):
        got = con.sql(f"SELECT * FROM {table} WHERE entry_id = ? AND athlete_id = ?",
                      params=[int(entry_id), athlete_id]).pl().to_dicts()
        if not got:
            raise NotFound(f"no {kind} entry {entry_id} for athlete {athlete_id!r} "
                           f"(`footfall log show` lists them)")
        con.execute(f"DELETE FROM {table} WHERE entry_id = ?", [int(entry_id)])
    return got[0]


def recent_entries(con, athlete_id: str, since: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(runs, journal entries) of ``athlete_id`` on or after ``since``, for the terminal.

    runs: one row per run with its shoe, RPE and pain by moment (``int_pain_by_run``, a view,
    so it exists once the models were built). entries: the pain and RPE rows themselves with
    their entry ids (for ``footfall log delete``).
    """
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    runs = None
    if "int_pain_by_run" in tables:
        runs = con.sql(
            "SELECT local_date, activity_id, distance_m, shoe_name, rpe_cr10, pain_before, "
            "pain_during, pain_after, pain_next_morning, pain_locations FROM int_pain_by_run "
            "WHERE athlete_id = ? AND local_date >= ? ORDER BY started_at",
            params=[athlete_id, since]).pl()
    entries = con.sql(
        "SELECT 'pain' AS kind, entry_id, local_date, moment, score, location, activity_id, note, source "
        "FROM pain_log WHERE athlete_id = ? AND local_date >= ? "
        "UNION ALL BY NAME "
        "SELECT 'rpe' AS kind, entry_id, local_date, NULL AS moment, rpe_cr10 AS score, NULL AS location, "
        "activity_id, note, source FROM rpe_log WHERE athlete_id = ? AND local_date >= ? "
        "ORDER BY local_date, kind, entry_id",
        params=[athlete_id, since, athlete_id, since]).pl()
    return runs, entries


# --------------------------------------------------------------------------- shoes


def add_shoe(con, athlete_id: str, name: str, *, brand=None, model=None, drop_mm=None,
             stack_mm=None, weight_g=None, first_used=None, is_default: bool = False,
             today: date | None = None) -> dict:
    """Add a shoe; ``is_default`` makes it the shoe in use (unsetting any other default).

    Returns the shoe row (dict) plus ``assigned``: runs that got a shoe by the rules just now.
    """
    today = today or local_today()
    name = mj.clean_text(name)
    if not name:
        raise JournalError("the shoe needs a name")
    if name.isdigit():
        raise JournalError(f"a shoe name cannot be only digits ({name!r}): ids are numbers")
    fu = mj.parse_date(first_used, today, "--first-used") if first_used else None
    row = {
        "athlete_id": athlete_id, "name": name, "brand": mj.clean_text(brand),
        "model": mj.clean_text(model),
        "drop_mm": mj.parse_measure(drop_mm, "--drop-mm", "mm", 40),
        "stack_mm": mj.parse_measure(stack_mm, "--stack-mm", "mm", 80),
        "weight_g": mj.parse_measure(weight_g, "--weight-g", "g", 1000),
        "first_used": fu, "retired_on": None, "is_default": bool(is_default),
        "strava_gear": None, "source": "cli", "added_on": today, "added_at": utcnow(),
    }
    with _transaction(con):
        dup = first(con.execute("SELECT shoe_id FROM shoes WHERE athlete_id = ? AND lower(name) = lower(?)",
                          [athlete_id, name]))
        if dup:
            raise JournalError(f"athlete {athlete_id!r} already has a shoe named {name!r} (id {dup[0]})")
        row["shoe_id"] = _next_id(con, "shoes", "shoe_id")
        if is_default:
            con.execute("UPDATE shoes SET is_default = false WHERE athlete_id = ? AND is_default",
                        [athlete_id])
        _insert_shoe(con, row)
        row["assigned"] = _apply_shoe_rules(con, [athlete_id])
    return row


def _insert_shoe(con, row: dict) -> None:
    cols = ["shoe_id", "athlete_id", "name", "brand", "model", "drop_mm", "stack_mm", "weight_g",
            "first_used", "retired_on", "is_default", "strava_gear", "source", "added_on", "added_at"]
    con.execute(f"INSERT INTO shoes ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [row[c] for c in cols])


def retire_shoe(con, athlete_id: str, shoe: str, *, on=None, today: date | None = None) -> dict:
    """Retire a shoe on ``on`` (default today). Runs after that date lose it if a rule gave it.

    A retired shoe stops being the default. Retiring again moves the date (``previous`` says from
    what). Refused: a date in the future, before the shoe's first use, or before a run that was
    assigned to it by hand.
    """
    today = today or local_today()
    d = mj.parse_date(on if on is not None else today, today, "--on")
    with _transaction(con):
        shoe_id, name, first_used, retired_on, _added = resolve_shoe(con, shoe, athlete_id)
        if first_used is not None and d < first_used:
            raise JournalError(f"--on {d} is before {name!r} was first used ({first_used})")
        late = first(con.execute(
            "SELECT min(a.activity_id), count(*) FROM activity_shoes s JOIN activities a USING (activity_id) "
            "WHERE s.shoe_id = ? AND s.source = 'manual' AND a.local_date > ?", [shoe_id, d]
        ))
        if late[1]:
            raise JournalError(f"{late[1]} run(s) after {d} were assigned to {name!r} by hand "
                               f"(e.g. {late[0]}); retire it on a later date")
        con.execute("UPDATE shoes SET retired_on = ?, is_default = false WHERE shoe_id = ?", [d, shoe_id])
        changed = _apply_shoe_rules(con, [athlete_id])
    return {"shoe_id": shoe_id, "name": name, "retired_on": d, "previous": retired_on,
            "assigned": changed}


def assign_shoe(con, athlete_id: str | None, shoe: str, *, activity=None, from_date=None,
                to_date=None, today: date | None = None) -> dict:
    """Assign a shoe to one activity (``manual``) or to the runs of a date range (a rule).

    A range rule (``--from D [--to D]``, open-ended without ``--to``) is stored and applies to runs
    synced later too; it never overrides a manual assignment. Refused: the shoe unknown, the
    activity unknown or another athlete's, a date outside the shoe's use (before first use, after
    retirement), a range in the future or backwards.
    """
    today = today or local_today()
    if activity is not None and (from_date is not None or to_date is not None):
        raise JournalError("give --activity or --from/--to, not both")
    if activity is None and from_date is None:
        raise JournalError("give --activity ID, or --from DATE [--to DATE]")
    if to_date is not None and from_date is None:
        raise JournalError("--to needs --from")
    with _transaction(con):
        if activity is not None:
            act = resolve_activity(con, activity, athlete_id)
            athlete_id = act.athlete_id
            shoe_id, name, first_used, retired_on, _ = resolve_shoe(con, shoe, athlete_id)
            _check_in_use(name, first_used, retired_on, act.local_date, act.local_date)
            con.execute("DELETE FROM activity_shoes WHERE activity_id = ?", [act.activity_id])
            con.execute("INSERT INTO activity_shoes VALUES (?, ?, ?, 'manual', ?)",
                        [act.activity_id, shoe_id, athlete_id, utcnow()])
            _apply_shoe_rules(con, [athlete_id])
            return {"shoe_id": shoe_id, "name": name, "activity_id": act.activity_id,
                    "local_date": act.local_date, "info": act.note, "n_runs": 1}
        if athlete_id is None:
            raise JournalError("no athlete given")
        f = mj.parse_date(from_date, today, "--from")
        t = mj.parse_date(to_date, today, "--to") if to_date is not None else None
        if t is not None and t < f:
            raise JournalError(f"--to {t} is before --from {f}")
        shoe_id, name, first_used, retired_on, _ = resolve_shoe(con, shoe, athlete_id)
        _check_in_use(name, first_used, retired_on, f, t)
        con.execute("INSERT INTO shoe_ranges VALUES (?, ?, ?, ?, ?, 'cli', ?)",
                    [_next_id(con, "shoe_ranges", "range_id"), athlete_id, shoe_id, f, t, utcnow()])
        _apply_shoe_rules(con, [athlete_id])
        n = first(con.execute(
            "SELECT count(*) FROM activity_shoes s JOIN activities a USING (activity_id) "
            "WHERE s.shoe_id = ? AND s.source = 'range' AND a.local_date >= ? "
            "AND (? IS NULL OR a.local_date <= ?)", [shoe_id, f, t, t]))[0]
        return {"shoe_id": shoe_id, "name": name, "from_date": f, "to_date": t, "n_runs": n,
                "info": ""}


def _check_in_use(name, first_used, retired_on, lo: date, hi: date | None) -> None:
    if first_used is not None and lo < first_used:
        raise JournalError(f"{name!r} was first used on {first_used}, after {lo}")
    # an open-ended range (hi None) of a retired shoe ends at its retirement
    last = lo if hi is None else hi
    if retired_on is not None and last > retired_on:
        raise JournalError(f"{name!r} was retired on {retired_on}, before {last}")


def list_shoes(con, athlete_id: str | None = None, today: date | None = None) -> pl.DataFrame:
    """Every shoe with its mileage, computed now from the assignments (not from a model build).

    Columns: shoe_id, athlete_id, name, brand, model, drop_mm, stack_mm, weight_g, first_used,
    retired_on, is_default, source, n_runs, n_activities, distance_m, distance_7d_m,
    distance_28d_m, first_run_date, last_run_date. The 7/28-day windows end on ``today``.
    The same numbers as the ``shoe_mileage`` model (which a sync rebuilds).
    """
    today = today or local_today()
    where = "" if athlete_id is None else "WHERE s.athlete_id = ?"
    params: list = [today, today, today, today]
    if athlete_id is not None:
        params.append(athlete_id)
    return con.sql(
        f"""
        WITH acts AS (
            SELECT x.shoe_id, a.activity_id, coalesce(a.local_date, m.local_date) AS local_date,
                   coalesce(m.distance_m, a.distance_m, 0) AS distance_m, {_RUN_SQL} AS is_run
            FROM activity_shoes x JOIN activities a USING (activity_id)
            LEFT JOIN activity_metrics m USING (activity_id)
        )
        , listed AS (
        SELECT s.shoe_id, s.athlete_id, s.name, s.brand, s.model, s.drop_mm, s.stack_mm,
               s.weight_g, s.first_used, s.retired_on, s.is_default, s.source,
               count(a.activity_id) FILTER (WHERE a.is_run) AS n_runs,
               count(a.activity_id) AS n_activities,
               coalesce(sum(a.distance_m), 0) AS distance_m,
               coalesce(sum(a.distance_m) FILTER (WHERE a.local_date > ?::DATE - 7 AND a.local_date <= ?), 0)
                   AS distance_7d_m,
               coalesce(sum(a.distance_m) FILTER (WHERE a.local_date > ?::DATE - 28 AND a.local_date <= ?), 0)
                   AS distance_28d_m,
               min(a.local_date) AS first_run_date, max(a.local_date) AS last_run_date
        FROM shoes s LEFT JOIN acts a USING (shoe_id)
        {where}
        GROUP BY ALL
        )
        SELECT * FROM listed ORDER BY athlete_id, retired_on IS NOT NULL, shoe_id
        """,
        params=params,
    ).pl()


# --------------------------------------------------------------------------- shoe rules


_DESIRED_SQL = f"""
WITH acts AS (
    SELECT a.activity_id, a.athlete_id, coalesce(a.local_date, m.local_date) AS local_date,
           {_RUN_SQL} AS is_run
    FROM activities a LEFT JOIN activity_metrics m USING (activity_id)
    WHERE list_contains(?, a.athlete_id)
),
manual AS (
    SELECT activity_id FROM activity_shoes WHERE source = 'manual'
),
shoe_span AS (
    SELECT shoe_id, athlete_id, is_default, first_used,
           coalesce(first_used, added_on) AS starts_on, retired_on
    FROM shoes
),
range_pick AS (
    SELECT r.activity_id, arg_max(sr.shoe_id, sr.range_id) AS shoe_id
    FROM acts r
    JOIN shoe_ranges sr ON sr.athlete_id = r.athlete_id
        AND r.local_date >= sr.from_date AND (sr.to_date IS NULL OR r.local_date <= sr.to_date)
    JOIN shoe_span s ON s.shoe_id = sr.shoe_id
        AND (s.retired_on IS NULL OR r.local_date <= s.retired_on)
    WHERE r.is_run
    GROUP BY r.activity_id
),
export_acts AS (
    SELECT e.athlete_id, e.gear, e.activity_type, a.activity_id
    FROM export_activities e JOIN activities a ON a.file_id = e.file_id AND a.athlete_id = e.athlete_id
    WHERE e.gear IS NOT NULL
    UNION
    SELECT e.athlete_id, e.gear, e.activity_type, d.duplicate_of AS activity_id
    FROM export_activities e JOIN activity_duplicates d ON d.file_id = e.file_id
    WHERE e.gear IS NOT NULL
),
strava_pick AS (
    SELECT r.activity_id, min(s.shoe_id) AS shoe_id
    FROM acts r
    JOIN export_acts x ON x.activity_id = r.activity_id AND x.athlete_id = r.athlete_id
    JOIN activities a ON a.activity_id = r.activity_id
    JOIN shoes s ON s.athlete_id = r.athlete_id AND s.strava_gear = x.gear
    WHERE r.is_run OR a.sport IN {FOOT_SPORTS}
       OR regexp_matches(lower(coalesce(x.activity_type, '')), '{_STRAVA_FOOT}')
    GROUP BY r.activity_id
),
default_pick AS (
    SELECT r.activity_id, min(s.shoe_id) AS shoe_id
    FROM acts r JOIN shoe_span s ON s.athlete_id = r.athlete_id AND s.is_default
        AND r.local_date >= s.starts_on AND (s.retired_on IS NULL OR r.local_date <= s.retired_on)
    WHERE r.is_run
    GROUP BY r.activity_id
),
only_pick AS (
    SELECT r.activity_id, min(s.shoe_id) AS shoe_id
    FROM acts r JOIN shoe_span s ON s.athlete_id = r.athlete_id
        AND r.local_date >= s.starts_on AND (s.retired_on IS NULL OR r.local_date <= s.retired_on)
    WHERE r.is_run
    GROUP BY r.activity_id
    HAVING count(*) = 1
),
picked AS (
    SELECT r.activity_id, r.athlete_id,
           coalesce(rp.shoe_id, sp.shoe_id, dp.shoe_id, op.shoe_id) AS shoe_id,
           CASE WHEN rp.shoe_id IS NOT NULL THEN 'range'
                WHEN sp.shoe_id IS NOT NULL THEN 'strava'
                WHEN dp.shoe_id IS NOT NULL THEN 'default'
                ELSE 'only_shoe' END AS source
    FROM acts r
    LEFT JOIN range_pick rp USING (activity_id)
    LEFT JOIN strava_pick sp USING (activity_id)
    LEFT JOIN default_pick dp USING (activity_id)
    LEFT JOIN only_pick op USING (activity_id)
    WHERE r.activity_id NOT IN (SELECT activity_id FROM manual)
)
SELECT activity_id, shoe_id, athlete_id, source FROM picked WHERE shoe_id IS NOT NULL
"""


def _athletes(con, athlete_id: str | None) -> list[str]:
    if athlete_id is not None:
        return [athlete_id]
    rows = con.execute(
        "SELECT DISTINCT athlete_id FROM activities WHERE athlete_id IS NOT NULL "
        "UNION SELECT DISTINCT athlete_id FROM shoes"
    ).fetchall()
    return sorted(r[0] for r in rows)


def _apply_shoe_rules(con, athletes: list[str]) -> int:
    """Recompute the non-manual shoe of every activity of ``athletes`` (inside a transaction).

    Rows that stay the same are not touched (a re-run changes nothing). Returns the number of
    activities whose shoe was set or changed by the rules.
    """
    if not athletes:
        return 0
    con.execute(f"CREATE OR REPLACE TEMP TABLE _shoe_desired AS {_DESIRED_SQL}", [athletes])
    try:
        con.execute(
            "DELETE FROM activity_shoes s WHERE s.source <> 'manual' AND list_contains(?, s.athlete_id) "
            "AND NOT EXISTS (SELECT 1 FROM _shoe_desired d WHERE d.activity_id = s.activity_id "
            "AND d.shoe_id = s.shoe_id AND d.source = s.source)", [athletes])
        n = first(con.execute(
            "SELECT count(*) FROM _shoe_desired d WHERE NOT EXISTS (SELECT 1 FROM activity_shoes s "
            "WHERE s.activity_id = d.activity_id)"))[0]
        con.execute(
            "INSERT INTO activity_shoes SELECT d.activity_id, d.shoe_id, d.athlete_id, d.source, ? "
            "FROM _shoe_desired d WHERE NOT EXISTS (SELECT 1 FROM activity_shoes s "
            "WHERE s.activity_id = d.activity_id)", [utcnow()])
    finally:
        con.execute("DROP TABLE IF EXISTS _shoe_desired")
    return int(n)


def assign_default_shoes(con: duckdb.DuckDBPyConnection, athlete_id: str | None = None) -> int:
    """Give every activity without a hand-assigned shoe the shoe the rules say; one transaction.

    Call at the end of each sync (after landing). ``athlete_id`` None: every athlete.
    Returns the number of activities whose shoe was set or changed.
    """
    with _transaction(con):
        return _apply_shoe_rules(con, _athletes(con, athlete_id))


# --------------------------------------------------------------------------- Strava


def _fill_from_strava(con, athletes: list[str]) -> dict:
    if not athletes:
        return {"shoes_created": 0, "shoes_linked": 0, "rpe_added": 0, "rpe_out_of_range": 0}
    now, today = utcnow(), local_today()
    gears = con.execute(
        f"""
        WITH x AS (
            SELECT e.athlete_id, e.gear, e.activity_type, a.activity_id, a.sport
            FROM export_activities e
            JOIN activities a ON a.file_id = e.file_id AND a.athlete_id = e.athlete_id
            WHERE e.gear IS NOT NULL AND list_contains(?, e.athlete_id)
            UNION
            SELECT e.athlete_id, e.gear, e.activity_type, d.duplicate_of, k.sport
            FROM export_activities e
            JOIN activity_duplicates d ON d.file_id = e.file_id
            JOIN activities k ON k.activity_id = d.duplicate_of AND k.athlete_id = e.athlete_id
            WHERE e.gear IS NOT NULL AND list_contains(?, e.athlete_id)
        )
        SELECT DISTINCT athlete_id, gear FROM x
        WHERE sport IN {FOOT_SPORTS} OR regexp_matches(lower(coalesce(activity_type, '')), '{_STRAVA_FOOT}')
        ORDER BY athlete_id, gear
        """,
        [athletes, athletes],
    ).fetchall()
    created = linked = 0
    for athlete_id, gear in gears:
        if first(con.execute("SELECT 1 FROM shoes WHERE athlete_id = ? AND strava_gear = ?",
                       [athlete_id, gear])):
            continue
        same = first(con.execute(
            "SELECT shoe_id FROM shoes WHERE athlete_id = ? AND lower(name) = lower(?) "
            "AND strava_gear IS NULL", [athlete_id, gear]))
        if same:
            con.execute("UPDATE shoes SET strava_gear = ? WHERE shoe_id = ?", [gear, same[0]])
            linked += 1
            continue
        name = gear
        if name.isdigit() or first(con.execute(
                "SELECT 1 FROM shoes WHERE athlete_id = ? AND lower(name) = lower(?)",
                [athlete_id, name])):
            name = f"{gear} (Strava)"
        _insert_shoe(con, {
            "shoe_id": _next_id(con, "shoes", "shoe_id"), "athlete_id": athlete_id, "name": name,
            "brand": None, "model": None, "drop_mm": None, "stack_mm": None, "weight_g": None,
            "first_used": None, "retired_on": None, "is_default": False, "strava_gear": gear,
            "source": "strava", "added_on": today, "added_at": now,
        })
        created += 1
    # perceived exertion -> rpe_log, for activities with no RPE yet (any source)
    pe = con.execute(
        """
        WITH x AS (
            SELECT e.athlete_id, e.perceived_exertion AS pe, a.activity_id
            FROM export_activities e
            JOIN activities a ON a.file_id = e.file_id AND a.athlete_id = e.athlete_id
            WHERE e.perceived_exertion IS NOT NULL AND list_contains(?, e.athlete_id)
            UNION
            SELECT e.athlete_id, e.perceived_exertion, d.duplicate_of
            FROM export_activities e JOIN activity_duplicates d ON d.file_id = e.file_id
            WHERE e.perceived_exertion IS NOT NULL AND list_contains(?, e.athlete_id)
        )
        SELECT x.athlete_id, x.activity_id, k.local_date, max(x.pe) AS pe
        FROM x JOIN activities k ON k.activity_id = x.activity_id AND k.athlete_id = x.athlete_id
        WHERE x.activity_id NOT IN (SELECT activity_id FROM rpe_log WHERE activity_id IS NOT NULL)
          AND k.local_date IS NOT NULL
        GROUP BY ALL
        ORDER BY x.athlete_id, k.local_date, x.activity_id
        """,
        [athletes, athletes],
    ).fetchall()
    added = bad = 0
    next_id = _next_id(con, "rpe_log", "entry_id")
    for athlete_id, aid, d, value in pe:
        try:
            r = mj.parse_score(value, "rpe")
        except JournalError:
            bad += 1
            continue
        con.execute("INSERT INTO rpe_log VALUES (?, ?, ?, ?, ?, ?, 'strava', ?)",
                    [next_id, athlete_id, d, aid, r, "Strava perceived exertion (1-10) as CR-10", now])
        next_id += 1
        added += 1
    return {"shoes_created": created, "shoes_linked": linked, "rpe_added": added,
            "rpe_out_of_range": bad}


def fill_from_strava(con: duckdb.DuckDBPyConnection, athlete_id: str | None = None) -> dict:
    """Shoes from Strava gear and RPE from Strava perceived exertion; one transaction, idempotent.

    Needs ``export_activities`` (kept by the sync from a Strava ``activities.csv``), matched to
    activities by file hash (also when that file was dropped as a duplicate of a richer copy).
    Returns counts: shoes_created, shoes_linked (an existing shoe of the same name), rpe_added,
    rpe_out_of_range. Call :func:`assign_default_shoes` (or :func:`after_sync`) to assign them.
    """
    with _transaction(con):
        return _fill_from_strava(con, _athletes(con, athlete_id))


def after_sync(con: duckdb.DuckDBPyConnection, athlete_id: str | None = None) -> dict:
    """What a sync does for the journal after landing: Strava gear/RPE, then the shoe rules.

    One transaction; ``athlete_id`` None = every athlete. Returns the counts of
    :func:`fill_from_strava` plus ``shoes_assigned`` (activities whose shoe was set or changed).
    """
    with _transaction(con):
        athletes = _athletes(con, athlete_id)
        out = _fill_from_strava(con, athletes)
        out["shoes_assigned"] = _apply_shoe_rules(con, athletes)
    return out


# --------------------------------------------------------------------------- CSV import


@dataclass
class ImportResult:
    pain_added: int = 0
    rpe_added: int = 0
    shoes_assigned: int = 0  # activity assignments + date rules stored
    skipped_existing: int = 0
    rows: int = 0


def import_journal(con, athlete_id: str, data: bytes, *, path: str = "the file",
                   today: date | None = None) -> ImportResult:
    """Import a CSV journal (format: ``models/journal.py``): all rows or none.

    Every bad row (bad value, unknown activity or shoe, a date in the future, an activity of
    another athlete) is reported with its line number in one ``JournalFileError`` and nothing is
    written. Rows identical to journal entries already stored are skipped (re-importing the same
    file changes nothing).
    """
    today = today or local_today()
    rows = mj.read_journal_csv(data, today, path)
    errors: list[mj.RowError] = list(rows.errors)
    with _transaction(con):
        pain = _resolve_rows(con, rows.pain, athlete_id, today, errors, moment_col="moment")
        rpe = _resolve_rows(con, rows.rpe, athlete_id, today, errors)
        shoe_rows = _resolve_rows(con, rows.shoe, athlete_id, today, errors)
        shoe_plan = []
        for r in shoe_rows:
            try:
                sid, name, fu, ret, _ = resolve_shoe(con, r["shoe"], athlete_id)
                _check_in_use(name, fu, ret, r["local_date"], r["local_date"])
                shoe_plan.append((r, sid))
            except JournalError as err:
                errors.append(mj.RowError(r["line"], str(err)))
        if errors:
            raise JournalFileError(errors, path)
        res = ImportResult(rows=rows.n_rows)
        now = utcnow()
        res.pain_added, skipped_p = _insert_new(con, "pain_log", pain, athlete_id, now,
                                                ["local_date", "activity_id", "moment", "score",
                                                 "location", "note"])
        res.rpe_added, skipped_r = _insert_new(con, "rpe_log", rpe, athlete_id, now,
                                               ["local_date", "activity_id", "rpe_cr10", "note"])
        res.skipped_existing = skipped_p + skipped_r
        for r, sid in shoe_plan:
            if r["activity_id"] is not None:
                cur = first(con.execute("SELECT shoe_id, source FROM activity_shoes WHERE activity_id = ?",
                                  [r["activity_id"]]))
                if cur == (sid, "manual"):
                    res.skipped_existing += 1
                    continue
                con.execute("DELETE FROM activity_shoes WHERE activity_id = ?", [r["activity_id"]])
                con.execute("INSERT INTO activity_shoes VALUES (?, ?, ?, 'manual', ?)",
                            [r["activity_id"], sid, athlete_id, now])
            else:
                exists = first(con.execute(
                    "SELECT 1 FROM shoe_ranges WHERE athlete_id = ? AND shoe_id = ? AND from_date = ? "
                    "AND to_date = ?", [athlete_id, sid, r["local_date"], r["local_date"]]))
                if exists:
                    res.skipped_existing += 1
                    continue
                con.execute("INSERT INTO shoe_ranges VALUES (?, ?, ?, ?, ?, 'import', ?)",
                            [_next_id(con, "shoe_ranges", "range_id"), athlete_id, sid,
                             r["local_date"], r["local_date"], now])
            res.shoes_assigned += 1
        if shoe_plan:
            _apply_shoe_rules(con, [athlete_id])
    return res


def _resolve_rows(con, df: pl.DataFrame, athlete_id: str, today: date, errors: list,
                  moment_col: str | None = None) -> list[dict]:
    """Rows with their activity resolved and date filled; bad ones appended to ``errors``."""
    out = []
    for r in df.to_dicts():
        if r["activity_id"]:
            try:
                act = resolve_activity(con, r["activity_id"], athlete_id)
            except JournalError as err:
                errors.append(mj.RowError(r["line"], str(err)))
                continue
            d = mj.felt_date(act.local_date, r.get(moment_col)) if moment_col else act.local_date
            if r["local_date"] is not None and r["local_date"] != d:
                what = "the morning after" if moment_col and r.get(moment_col) == "next_morning" else "the date of"
                errors.append(mj.RowError(r["line"], f"date {r['local_date']} is not {what} activity "
                                                     f"{act.activity_id} ({d})"))
                continue
            try:
                mj.check_not_future(d, today)
            except JournalError as err:
                errors.append(mj.RowError(r["line"], str(err)))
                continue
            r = r | {"activity_id": act.activity_id, "local_date": d}
        out.append(r)
    return out


def _insert_new(con, table: str, rows: list[dict], athlete_id: str, now, key: list[str]) -> tuple[int, int]:
    """Insert rows not identical (on ``key``) to stored or earlier rows; (inserted, skipped)."""
    if not rows:
        return 0, 0
    existing = {
        tuple(r) for r in con.execute(
            f"SELECT {', '.join(key)} FROM {table} WHERE athlete_id = ?", [athlete_id]).fetchall()
    }
    next_id = _next_id(con, table, "entry_id")
    inserted = skipped = 0
    types = _PAIN_TYPES if table == "pain_log" else _RPE_TYPES
    cols = ["entry_id", "athlete_id", *key, "source", "logged_at"]
    sql = (f"INSERT INTO {table} BY NAME SELECT * FROM (SELECT "
           + ", ".join(f"?::{types[c]} AS {c}" for c in cols) + ")")
    for r in rows:
        k = tuple(r[c] for c in key)
        if k in existing:
            skipped += 1
            continue
        existing.add(k)
        con.execute(sql, [next_id, athlete_id, *k, "import", now])
        next_id += 1
        inserted += 1
    return inserted, skipped


# --------------------------------------------------------------------------- models


def rebuild_models(con: duckdb.DuckDBPyConnection, *, overrides: dict[str, float] | None = None,
                   today: date | None = None) -> list[dict] | None:
    """Rebuild the SQL models after a journal change, if this database was built before.

    Returns the flags this build raised that were not there before (so ``footfall log pain 7
    --when during`` can say at once that it raised a warning), or None when the database has no
    models yet (nothing synced: the next sync builds them). Raises ``ModelError`` on failure; the
    journal entry is already committed then (the previous build stays as it was).
    """
    from pipelines.sqlmodels import run_models

    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "build_info" not in tables:
        return None
    before = set()
    if "flags" in tables:
        before = {r[0] for r in con.execute("SELECT flag_id FROM flags").fetchall()}
    run_models(con, overrides=overrides, today=today)
    flags = con.sql("SELECT * FROM flags ORDER BY local_date, athlete_id, rule").pl()
    return [f for f in flags.to_dicts() if f["flag_id"] not in before]
