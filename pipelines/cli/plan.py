"""``footfall plan ...``: a return-to-run plan, written week by week or imported from a CSV, and
compared with what was run (``plan_vs_actual``; a ``plan_exceeded`` caution when a week runs more
than the plan by more than ``plan_exceeded_margin``).

Mounted by ``pipelines/cli/__init__.py`` as ``app.add_typer(plan_app, name="plan")``.

Exit codes: 0 ok; 2 what was typed is wrong (a bad week, minutes or pattern, a start date that
moves an existing plan, a CSV with bad rows - every one listed with its line number -, a missing
file) - nothing was changed; 1 the command could not do its work (the database busy).

After a change the models are rebuilt when the database was built before (as for ``footfall
log``), and any flag the change raised is printed.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from pipelines.cli.common import (AthleteOpt, DbOpt, JsonOpt, console, fail, require_database, say,
                                  settings_with_athlete)

plan_app = typer.Typer(
    no_args_is_help=True,
    help="A return-to-run plan (weekly running minutes, walk-run pattern, longest run) compared with what you ran.",
)
StartOpt = Annotated[Optional[str], typer.Option("--start", help="Local date week 1 starts, YYYY-MM-DD (default: the plan's, else this week's Monday).")]


def _today(s) -> date:
    from pipelines.clock import local_today

    return local_today(s.timezone)


def _write(s, fn, report, *, quiet: bool = False):
    """Run ``fn(con)`` on the settings' database (migrated if needed; one that does not exist is
    refused, exit 2: ``require_database``); plan errors
    exit 2 with nothing changed; then rebuild the models and print the flags the change raised."""
    from models.plan import PlanError
    from pipelines.cli.journal import _rebuild
    from pipelines.db import DatabaseBusy, connection, migrate
    from pipelines.snapshot import publish

    require_database(s.db)
    try:
        with connection(s.db, wait_s=s.lock_wait_s) as con:
            migrate(con)
            try:
                result = fn(con)
            except PlanError as err:
                fail(f"{err}" + ("" if "nothing was imported" in str(err) else ". Nothing was changed."), 2)
            report(result)
            _rebuild(con, s, quiet)
            publish(con, s.db, s)  # the analysts' read-only snapshot (pipelines/snapshot.py)
            return result
    except DatabaseBusy as err:
        fail(str(err), 1)


def _m(x) -> str:
    return "-" if x is None else f"{x:g}"


@plan_app.command("add")
def plan_add(
    week: Annotated[int, typer.Option("--week", help="Plan week number, 1 = the first week.")],
    run_min: Annotated[float, typer.Option("--run-min", help="Planned running minutes in the week.")],
    pattern: Annotated[Optional[str], typer.Option("--pattern", help="Walk-run pattern of a session: run:walk x repeats, e.g. '1:1 x 10'.")] = None,
    longest_min: Annotated[Optional[float], typer.Option("--longest-min", help="Planned longest continuous run, minutes (default: the pattern's run part).")] = None,
    start: StartOpt = None,
    note: Annotated[Optional[str], typer.Option("--note", help="Free text.")] = None,
    athlete: AthleteOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add (or replace) one plan week: `footfall plan add --week 1 --run-min 10 --pattern "1:1 x 10"`."""
    from models.plan import PlanError, make_week, parse_start
    from pipelines.plan import add_week

    try:  # a bad value never opens (or creates) the database
        make_week(week, run_min, pattern, longest_min, note)
        parse_start(start)
    except PlanError as err:
        fail(f"{err}. Nothing was changed.", 2)
    s = settings_with_athlete(db, athlete, mode="write")

    def report(r) -> None:
        if as_json:
            print(json.dumps(r, default=str))
            return
        what = "replaced" if r["replaced"] else "added"
        say(f"{what} plan week {r['week_number']} for {s.athlete} ({r['week_start']:%a %d %b %Y}): "
            f"{_m(r['run_min'])} min running"
            + (f", pattern {r['pattern']}" if r["pattern"] else "")
            + (f", longest {_m(r['longest_min'])} min" if r["longest_min"] is not None else ""))

    _write(s, lambda con: add_week(con, s.athlete, week, run_min, pattern=pattern, longest_min=longest_min,
                                   note=note, start=start, today=_today(s)), report, quiet=as_json)


@plan_app.command("import")
def plan_import(
    file: Annotated[Path, typer.Argument(help="CSV: week, run_min, pattern, longest_min, note, start_date (examples/return_to_run_plan.csv).")],
    start: StartOpt = None,
    athlete: AthleteOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a whole plan from a CSV (replaces the plan): every row or none; bad rows are listed with their line numbers."""
    from models.plan import PlanError, parse_start
    from pipelines.plan import import_plan

    try:
        parse_start(start)
    except PlanError as err:
        fail(f"{err}. Nothing was changed.", 2)
    if not file.is_file():
        fail(f"no such file: {file}", 2)
    data = file.read_bytes()
    s = settings_with_athlete(db, athlete, mode="write")

    def report(r) -> None:
        if as_json:
            print(json.dumps(r.__dict__, default=str))
            return
        if r.unchanged:
            say(f"{file}: the plan of {s.athlete} is already this plan ({r.weeks} weeks from {r.start_date})")
            return
        say(f"imported {file}: {r.weeks} plan weeks for {s.athlete} from {r.start_date:%a %d %b %Y}"
            + (f" (replacing {r.replaced} weeks)" if r.replaced else ""))

    _write(s, lambda con: import_plan(con, s.athlete, data, path=str(file), start=start, today=_today(s)),
           report, quiet=as_json)


@plan_app.command("show")
def plan_show(
    athlete: AthleteOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The plan week by week, with what you ran (after a build) and whether it exceeded the plan."""
    from pipelines.db import DatabaseBusy, connection, tables
    from pipelines.plan import show_plan

    s = settings_with_athlete(db, athlete, must_exist=True)
    try:
        with connection(s.db, read_only=True, wait_s=s.lock_wait_s) as con:
            weeks = show_plan(con, s.athlete) if "run_plan" in tables(con) else []
    except DatabaseBusy as err:
        fail(str(err), 1)
    if as_json:
        print(json.dumps(weeks, default=str))
        return
    if not weeks:
        say(f"no plan for {s.athlete}: add weeks with `footfall plan add --week 1 --run-min 10 "
            f"--pattern \"1:1 x 10\"` or `footfall plan import plan.csv`")
        return
    t = Table(title=f"return-to-run plan of {s.athlete} (from {weeks[0]['start_date']})")
    for col in ("week", "dates", "run min", "pattern", "longest min", "ran min", "longest bout", "status", "note"):
        t.add_column(col)
    for w in weeks:
        ran = w.get("actual_run_min")
        status = w.get("week_status") or "-"
        if w.get("is_exceeded"):
            status += ", EXCEEDED"
        t.add_row(str(w["week_number"]), f"{w['week_start']:%d %b} - {w['week_end']:%d %b %Y}",
                  _m(w["run_min"]), w["pattern"] or "-", _m(w["longest_min"]),
                  "-" if ran is None or w.get("week_status") == "future" else f"{ran:.1f}",
                  "-" if w.get("actual_longest_bout_min") is None or w.get("week_status") == "future"
                  else f"{w['actual_longest_bout_min']:.1f}",
                  status, w["note"] or "")
    console.print(t)


@plan_app.command("clear")
def plan_clear(
    athlete: AthleteOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete the athlete's plan (every week)."""
    from pipelines.plan import clear_plan

    s = settings_with_athlete(db, athlete, mode="write")

    def report(n) -> None:
        if as_json:
            print(json.dumps({"weeks_deleted": n}))
        else:
            say(f"deleted the plan of {s.athlete} ({n} week{'s' if n != 1 else ''})" if n else f"no plan for {s.athlete}")

    _write(s, lambda con: clear_plan(con, s.athlete), report, quiet=as_json)
