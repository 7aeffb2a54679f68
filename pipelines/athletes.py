"""Whose data a command reads or writes: one rule for every ``footfall`` command.

The athlete is, in this order (footfall choice):

1. the one given (``--athlete``);
2. else the config's (``athlete = ...`` in the config file, or ``FOOTFALL_ATHLETE``);
3. else the only athlete in the database file;
4. else, with several athletes in the file, an error listing them (exit 2: give ``--athlete``).

A file with no athlete yet (new, or nothing synced or logged): a sync lands as ``default``
(``pipelines.config.DEFAULT_ATHLETE``); a journal, shoe or plan write is refused ("no runs synced
yet": sync first, or give ``--athlete``), so entries never go to a runner with no runs unseen; a
read command finds nothing to show and says so.

On a read command (flags, audit, report, log show, shoes list, plan show) an athlete given or
configured that is not in the file is an error naming the athletes that are (exit 2), not an
empty answer. A write to an athlete that is not in the file yet is allowed (a journal may start
before the first sync) with a note naming the athletes that are.

The athletes of a file are every ``athlete_id`` of its activities, journal (pain, RPE, shoes) and
return-to-run plan. No Prefect here; DuckDB only through the connection passed in.
"""

from __future__ import annotations

from pathlib import Path

#: the tables whose ``athlete_id`` makes an athlete known to the file, and whether a row is an activity
_SOURCES = (("activities", True), ("pain_log", False), ("rpe_log", False), ("shoes", False),
            ("run_plan", False))

READ, WRITE, SYNC = "read", "write", "sync"


class AthleteError(ValueError):
    """No athlete can be chosen, or the one asked for is not in the file (a usage error)."""

    exit_code = 2


def known_athletes(con) -> dict[str, int]:
    """Every athlete of the open database with their number of activities (0: journal or plan
    only), most activities first."""
    from pipelines.db import tables

    have = tables(con)
    counts: dict[str, int] = {}
    for table, is_activity in _SOURCES:
        if table not in have:
            continue
        if is_activity:
            rows = con.execute(f"SELECT athlete_id, count(DISTINCT activity_id) FROM {table} "
                               "WHERE athlete_id IS NOT NULL GROUP BY athlete_id").fetchall()
        else:
            rows = con.execute(f"SELECT DISTINCT athlete_id, 0 FROM {table} "
                               "WHERE athlete_id IS NOT NULL").fetchall()
        for name, n in rows:
            counts[name] = counts.get(name, 0) + int(n)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def database_athletes(db: Path, wait_s: float = 60.0) -> dict[str, int]:
    """``known_athletes`` of the file at ``db`` (opened read-only); {} when it does not exist."""
    from pipelines.db import connection

    if not Path(db).is_file():
        return {}
    with connection(db, read_only=True, wait_s=wait_s) as con:
        return known_athletes(con)


def describe(known: dict[str, int]) -> str:
    """``demo (84 activities), ana (journal only)``; the bare names when the counts are None."""
    return ", ".join(a if n is None else f"{a} ({n} activit{'y' if n == 1 else 'ies'})" if n
                     else f"{a} (journal only)" for a, n in known.items())


def choose_athlete(known: dict[str, int], given: str | None, configured: str | None, *,
                   mode: str = READ, db: str = "the database", config_from: str | None = None,
                   empty_default: str = "default") -> tuple[str | None, str | None]:
    """The athlete by the rule above, and a note to print (or None).

    ``known``: ``known_athletes`` of the file; ``configured``: the config's athlete, None when the
    config names none; ``mode``: READ, WRITE or SYNC. Returns ``(None, None)`` for a read of a
    file with no athlete and none given or configured. Raises ``AthleteError``.
    """
    listed = describe(known)
    for name, where in ((given, "--athlete"), (configured, f"the config's athlete ({config_from or 'config'})")):
        if not name:
            continue
        if name in known or not known:
            return name, None
        if mode == READ:
            raise AthleteError(f"athlete {name!r} ({where}) is not in {db}; its athletes: {listed}. "
                               f"Choose one with --athlete")
        note = None if mode == SYNC else (f"note: {name!r} ({where}) has no runs or entries in {db} "
                                          f"yet; its athletes: {listed}")
        return name, note
    if len(known) == 1:
        return next(iter(known)), None
    if known:
        raise AthleteError(f"{len(known)} athletes in {db}: {listed}; choose one with --athlete NAME "
                           f"(or set `athlete = \"NAME\"` in the config file)")
    if mode == SYNC:
        return empty_default, None
    if mode == WRITE:
        raise AthleteError(f"no runs synced yet in {db}, so there is no athlete to write for: "
                           f"`footfall sync PATH` first, or give --athlete NAME")
    return None, None
