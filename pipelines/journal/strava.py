"""Strava gear and perceived exertion into the journal, and what a sync does for the journal.

Needs ``export_activities`` (kept by the sync from a Strava ``activities.csv``), matched to
activities by file hash (also when that file was dropped as a duplicate of a richer copy).
"""

from __future__ import annotations

import duckdb

from models import journal as mj
from models.journal import JournalError
from pipelines.db import first, utcnow
from pipelines.journal.writes import (
    _apply_shoe_rules, _athletes, _insert_shoe, _next_id, _transaction, local_today,
)
from pipelines.sqlmodels import model_query


def _fill_from_strava(con, athletes: list[str]) -> dict:
    if not athletes:
        return {"shoes_created": 0, "shoes_linked": 0, "rpe_added": 0, "rpe_out_of_range": 0}
    now, today = utcnow(), local_today()
    strava = model_query("int_strava_activities")  # matched to the activity kept; is_foot
    gears = con.execute(
        f"SELECT DISTINCT athlete_id, gear FROM ({strava}) WHERE gear IS NOT NULL AND is_foot "
        "AND list_contains(?, athlete_id) ORDER BY athlete_id, gear", [athletes]).fetchall()
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
        f"SELECT athlete_id, activity_id, local_date, max(perceived_exertion) AS pe FROM ({strava}) "
        "WHERE perceived_exertion IS NOT NULL AND list_contains(?, athlete_id) AND local_date IS NOT NULL "
        "AND activity_id NOT IN (SELECT activity_id FROM rpe_log WHERE activity_id IS NOT NULL) "
        "GROUP BY ALL ORDER BY athlete_id, local_date, activity_id", [athletes]).fetchall()
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
