"""The journal's writes: pain, RPE, shoes and the shoe rules, each in ONE transaction.

The shared pieces of the package live here too: ``_transaction`` (which marks the models
behind the data when a journal table changed), ``resolve_activity`` / ``resolve_shoe`` and
``rebuild_models``. What the package does and the decisions it follows: ``pipelines/journal/__init__.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl

from models import journal as mj
from models.journal import JournalError
from pipelines.clock import local_today
from pipelines.db import first, tables, tracked_transaction, utcnow
from pipelines.sqlmodels import build_and_diff, model_query, set_build_variables

MIN_PREFIX = 6

JOURNAL_TABLES = ("pain_log", "rpe_log", "shoes", "activity_shoes", "shoe_ranges")


class NotFound(JournalError):
    """An activity or shoe the runner named is not in the database."""


@dataclass(frozen=True)
class Activity:
    activity_id: str
    athlete_id: str
    local_date: date
    sport: str | None  # whether it is a run: int_sessions.is_run (the rule is written only there)
    note: str = ""  # e.g. "resolved from duplicate copy X"


# --------------------------------------------------------------------------- helpers




def _transaction(con: duckdb.DuckDBPyConnection):
    """A journal write: one transaction that bumps the data generation when the journal changed."""
    return tracked_transaction(con, _journal_checksum)


def _journal_checksum(con) -> tuple:
    """Row count and summed row hashes of each journal table: equal before and after a
    transaction when it changed nothing (re-importing a journal, a sync's shoe rules)."""
    parts = ", ".join(f"(SELECT count(*) || ':' || coalesce(sum(hash(t)), 0) FROM {t} AS t)"
                      for t in JOURNAL_TABLES)
    return con.execute(f"SELECT {parts}").fetchall()[0]


def _next_id(con, table: str, column: str) -> int:
    return int(first(con.execute(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}"))[0])


def resolve_activity(con, ref: str, athlete_id: str | None = None) -> Activity:
    """The activity ``ref`` names: a full id, a unique prefix, or a dropped duplicate's id."""
    ref = (ref or "").strip()
    if not ref:
        raise JournalError("--activity is empty")
    q = ("SELECT a.activity_id, a.athlete_id, coalesce(a.local_date, m.local_date), a.sport "
         "FROM activities a LEFT JOIN activity_metrics m USING (activity_id) ")
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
    aid, ath, d, sport = rows[0]
    if athlete_id is not None and ath != athlete_id:
        raise NotFound(f"activity {aid} belongs to athlete {ath!r}, not {athlete_id!r}")
    if d is None:
        raise NotFound(f"activity {aid} has no local date; log by --date instead")
    return Activity(aid, ath, d, sport, note)


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
    runs = None
    if "int_pain_by_run" in tables(con):
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

    Returns the shoe row (dict) plus ``assigned``: activities whose shoe the rules set or changed
    just now (any shoe's), and ``n_runs``: the activities now in this shoe.
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
        row["n_runs"] = first(con.execute("SELECT count(*) FROM activity_shoes WHERE shoe_id = ?",
                                          [row["shoe_id"]]))[0]
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


def list_shoes(con, athlete_id: str | None = None, today: date | None = None, *,
               overrides: dict[str, float] | None = None) -> pl.DataFrame:
    """Every shoe with its mileage: the ``shoe_mileage`` mart as it would be built now.

    The mart's query runs on the current assignments (``sqlmodels.model_query``: no build
    needed, works read-only), with its 7/28-day windows ending on ``today`` and ``shoe_retire_m``
    from ``overrides``. Columns: those of ``shoe_mileage`` (shoe_id, athlete_id, name, brand,
    model, ..., n_runs, n_activities, distance_m, distance_7d_m, distance_28d_m, start_date,
    first_activity_date, last_activity_date, remaining_m, is_past_retire, source). Ordered by
    athlete, shoes in use first, then shoe id.
    """
    set_build_variables(con, overrides=overrides, today=today or local_today())
    where, params = "", []
    if athlete_id is not None:
        where, params = "WHERE athlete_id = ?", [athlete_id]
    return con.sql(
        f"SELECT * FROM ({model_query('shoe_mileage')}) {where} "
        "ORDER BY athlete_id, retired_on IS NOT NULL, shoe_id",
        params=params,
    ).pl()


# --------------------------------------------------------------------------- shoe rules


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

    The rule is ``int_shoe_assignment`` (a model: what the rules say now); its rows are written
    into ``activity_shoes`` because that table is also the runner's own record (hand
    assignments), is read by readers that never build (``footfall shoes list`` read-only), and
    says when each assignment was made. Rows that stay the same are not touched (a re-run changes nothing). Returns the number of
    activities whose shoe was set or changed by the rules.
    """
    if not athletes:
        return 0
    # the rule is the model sql/20_intermediate/int_shoe_assignment.sql, run on the data as it is
    # in this transaction (the view may not be built yet, and must not wait for a build)
    con.execute("CREATE OR REPLACE TEMP TABLE _shoe_desired AS SELECT * FROM "
                f"({model_query('int_shoe_assignment')}) WHERE list_contains(?, athlete_id)",
                [athletes])
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


# --------------------------------------------------------------------------- models


def rebuild_models(con: duckdb.DuckDBPyConnection, *, overrides: dict[str, float] | None = None,
                   today: date | None = None) -> list[dict] | None:
    """Rebuild the SQL models after a journal change, if this database was built before.

    Returns the flags this build raised that were not there before (so ``footfall log pain 7
    --when during`` can say at once that it raised a warning), or None when the database has no
    models yet (nothing synced: the next sync builds them). Raises ``ModelError`` on failure; the
    journal entry is already committed then (the previous build stays as it was).
    """
    if "build_info" not in tables(con):
        return None
    return build_and_diff(con, overrides=overrides, today=today)[1]
