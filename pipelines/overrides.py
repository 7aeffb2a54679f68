"""The runner's last word on an activity, and the audit that shows it (issue 13).

``footfall activity sport ID SPORT | exclude ID --reason ... | include ID`` write one row each
into ``activity_overrides`` (migration 007): the runner's own data, never deleted by a sync, a
re-derivation or a rebuild. What the statements mean is decided in ONE place, the SQL model
``sql/20_intermediate/int_activity_status.sql`` (the latest statement of the activity wins;
``int_sessions.is_run`` reads it). ``audit_rows`` reads ``activity_audit`` (sql/30_marts).

Each write runs in one transaction that also marks the models behind the data
(``bump_data_generation``), so a sync or ``footfall build`` rebuilds the marts and flags; the CLI
rebuilds them at once when the database was built before (like a journal entry).
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from models.journal import JournalError
from pipelines.db import bump_data_generation, first, tables, transaction, utcnow
from pipelines.journal import MIN_PREFIX, NotFound

KINDS = ("sport", "exclude", "include")

#: Sports a runner can give (FIT sport names, lower case); only ``running`` counts as running
#: load (models/summary.py: is_run = sport 'running', any sub_sport: trail, treadmill, track).
KNOWN_SPORTS = (
    "running", "walking", "hiking", "cycling", "e_biking", "swimming", "rowing", "paddling",
    "cross_country_skiing", "alpine_skiing", "snowshoeing", "mountaineering", "inline_skating",
    "fitness_equipment", "training", "other",
)

FIND_IDS = "`footfall audit --all` lists every activity with its id (or `footfall log show`)"


def check_sport(sport: str) -> str:
    s = (sport or "").strip().lower().replace("-", "_").replace(" ", "_")
    if s not in KNOWN_SPORTS:
        raise JournalError(f"unknown sport {sport!r}: one of {', '.join(KNOWN_SPORTS)}")
    return s


def resolve(con: duckdb.DuckDBPyConnection, ref: str, athlete_id: str | None = None) -> tuple[str, str]:
    """(activity_id, athlete_id) of a full id, a dropped duplicate's id (the copy kept) or a
    unique prefix of at least ``MIN_PREFIX`` characters; ``NotFound`` says how to find ids."""
    ref = (ref or "").strip()
    if not ref:
        raise JournalError(f"the activity id is empty; {FIND_IDS}")
    q = "SELECT activity_id, athlete_id FROM activities WHERE "
    rows = con.execute(q + "activity_id = ?", [ref]).fetchall()
    if not rows:
        dup = first(con.execute("SELECT duplicate_of FROM activity_duplicates WHERE activity_id = ?", [ref]))
        if dup:
            rows = con.execute(q + "activity_id = ?", [dup[0]]).fetchall()
    if not rows and len(ref) >= MIN_PREFIX:
        rows = con.execute(q + "starts_with(activity_id, ?) ORDER BY 1 LIMIT 5", [ref]).fetchall()
        if len(rows) > 1:
            raise NotFound(f"activity {ref!r} is ambiguous: it starts {', '.join(r[0] for r in rows)}; "
                           "give more characters")
    if not rows:
        short = "" if len(ref) >= MIN_PREFIX else f" (a prefix needs at least {MIN_PREFIX} characters)"
        raise NotFound(f"no activity {ref!r} in the database{short}; {FIND_IDS}")
    aid, ath = rows[0]
    if athlete_id is not None and ath != athlete_id:
        raise NotFound(f"activity {aid} belongs to athlete {ath!r}, not {athlete_id!r}")
    return aid, ath


def add_override(con: duckdb.DuckDBPyConnection, ref: str, kind: str, *, athlete_id: str | None = None,
                 sport: str | None = None, reason: str | None = None) -> dict:
    """Store one statement of the runner about an activity; return it (a dict)."""
    if kind not in KINDS:
        raise JournalError(f"unknown statement {kind!r}: one of {', '.join(KINDS)}")
    if kind == "sport":
        sport = check_sport(sport or "")
    elif sport is not None:
        raise JournalError("a sport goes with `footfall activity sport` only")
    reason = (reason or "").strip() or None
    with transaction(con):
        aid, ath = resolve(con, ref, athlete_id)
        n = int(first(con.execute("SELECT count(*) FROM activity_overrides"))[0]) + 1
        row = {"override_id": f"{n:08d}", "athlete_id": ath, "activity_id": aid, "kind": kind,
               "sport": sport, "reason": reason, "entered_at": utcnow()}
        con.execute("INSERT INTO activity_overrides BY NAME SELECT * FROM (SELECT ? AS override_id, "
                    "? AS athlete_id, ? AS activity_id, ? AS kind, ? AS sport, ? AS reason, "
                    "? AS entered_at)", list(row.values()))
        bump_data_generation(con)  # the marts read the statement: rebuild them
    return row


def status_of(con: duckdb.DuckDBPyConnection, activity_id: str) -> dict | None:
    """The activity's row of ``int_activity_status`` (None when the models are not built)."""
    if "int_activity_status" not in tables(con):
        return None
    df = con.sql("SELECT * FROM int_activity_status WHERE activity_id = $a",
                 params={"a": activity_id}).pl()
    return df.to_dicts()[0] if df.height else None


def audit_rows(con: duckdb.DuckDBPyConnection, *, athlete_id: str | None = None,
               since: date | None = None, everything: bool = False) -> pl.DataFrame:
    """``activity_audit`` rows, oldest activity first, each activity's decision row first. By
    default only the activities worth a look: a check that did not pass, or not counted as running
    load. Raises ``ModelsNotBuilt`` when the database has no models."""
    from pipelines.sqlmodels import ModelsNotBuilt

    if "activity_audit" not in tables(con):
        raise ModelsNotBuilt("activity_audit")
    where, params = ["true"], {}
    if athlete_id is not None:
        where.append("athlete_id = $athlete")
        params["athlete"] = athlete_id
    if since is not None:
        where.append("local_date >= $since")
        params["since"] = since
    if not everything:
        where.append("activity_id IN (SELECT activity_id FROM activity_audit "
                     "WHERE outcome <> 'pass' OR NOT counts_as_running_load)")
    return con.sql(
        f"SELECT * EXCLUDE (row_order) FROM activity_audit WHERE {' AND '.join(where)} "
        "ORDER BY local_date, started_at, activity_id, row_order, check_name", params=params,
    ).pl()
