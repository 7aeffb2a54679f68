"""``footfall log ...`` and ``footfall shoes ...``: the runner's log from the terminal.

Mounted by ``pipelines/cli/__init__.py``::

    app.add_typer(log_app, name="log")
    app.add_typer(shoes_app, name="shoes")

Exit codes: 0 ok; 2 what was typed is wrong (a score outside 0-10, an unknown moment, a bad or
future date, an activity or shoe that is not in the database) - nothing was changed; 1 the
command could not do its work (a CSV journal with bad rows - every one is listed with its line
number and nothing is imported -, the database busy or missing).

After a change, the SQL models are rebuilt when the database has been built before (so the flags
and the weekly view include the entry at once) and any flag the entry raised is printed. This
needs no Prefect and takes a fraction of a second on a small database.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from pipelines.cli.common import AthleteOpt as PlainAthleteOpt  # commands without --activity
from pipelines.cli.common import (
    ATHLETE_RULE,
    DbOpt,
    JsonOpt,
    console,
    err_console,
    fail,
    print_flags,
    require_database,
    say,
    settings_for,
    settings_with_athlete,
)

log_app = typer.Typer(
    no_args_is_help=True,
    help="The runner's log: pain and effort (RPE) by run or by day, or a whole CSV journal.",
)
shoes_app = typer.Typer(
    no_args_is_help=True,
    help="Footwear diary: shoes, retirements, and which shoe each run was in.",
)
AthleteOpt = Annotated[Optional[str], typer.Option("--athlete", help=f"Athlete id ({ATHLETE_RULE}; with --activity: the activity's).")]
DateOpt = Annotated[Optional[str], typer.Option("--date", help="Local date YYYY-MM-DD, 'today' or 'yesterday' (default today).")]
ActivityOpt = Annotated[Optional[str], typer.Option("--activity", help="Activity id (or a unique prefix of 6+ characters); its date is used.")]
NoteOpt = Annotated[Optional[str], typer.Option("--note", help="Free text.")]
#: lets "-1" reach our own validation ("outside 0-10") instead of "No such option: -1"
_NUMBER_ARGS = {"ignore_unknown_options": True}


def _today(s) -> date:
    from pipelines.journal import local_today

    return local_today(s.timezone)


def _write(s, fn, report, *, quiet: bool = False):
    """Run ``fn(con)`` on the settings' database (migrated if needed; one that does not exist
    is refused, exit 2: ``require_database``).

    Maps journal errors to exit codes; calls ``report(result)`` (what was done), then rebuilds
    the models and prints the flags the change raised (not with ``quiet``, e.g. ``--json``).
    """
    from models.journal import JournalError, JournalFileError
    from pipelines.db import DatabaseBusy, connection, migrate
    from pipelines.snapshot import publish

    require_database(s.db)
    try:
        with connection(s.db, wait_s=s.lock_wait_s) as con:
            migrate(con)
            try:
                result = fn(con)
            except JournalFileError as err:
                fail(str(err), 1)
            except JournalError as err:
                fail(f"{err}. Nothing was changed.", 2)
            report(result)
            _rebuild(con, s, quiet)
            publish(con, s.db, s)  # the analysts' read-only snapshot (pipelines/snapshot.py)
            return result
    except DatabaseBusy as err:
        fail(str(err), 1)


def _rebuild(con, s, quiet: bool) -> None:
    from pipelines.journal import rebuild_models

    try:
        new = rebuild_models(con, overrides=s.thresholds, today=_today(s))
    except Exception as err:  # the entry is committed; say why the views are stale
        err_console.print(f"[yellow]saved, but the models were not rebuilt:[/yellow] {escape(str(err))}\n"
                          "run `footfall build` to refresh flags and weekly views")
        return
    if quiet:
        return
    if new is None:
        console.print("[dim]no models built yet: `footfall sync PATH` builds them (flags, weekly view)[/dim]")
        return
    if new:
        print_flags(new, title="flags raised")  # the same blocks as `footfall flags`


def _precheck(*checks) -> None:
    """Validate typed values before the database is opened (a bad value never creates a file)."""
    from models.journal import JournalError

    try:
        for fn, *args in checks:
            fn(*args)
    except JournalError as err:
        fail(f"{err}. Nothing was changed.", 2)


def _run_label(aid: str | None) -> str:
    return f" (activity {aid})" if aid else " (by date: counted with that day's run)"


# --------------------------------------------------------------------------- log


@log_app.command("pain", context_settings=_NUMBER_ARGS)
def log_pain(
    score: Annotated[str, typer.Argument(help="Pain 0-10 (halves allowed: 2.5).", show_default=False)],
    when: Annotated[str, typer.Option("--when", help="before | during | after | next_morning | evening.")],
    date_: DateOpt = None,
    activity: ActivityOpt = None,
    where: Annotated[Optional[str], typer.Option("--where", help="Where it hurts, e.g. '2nd metatarsal'.")] = None,
    note: NoteOpt = None,
    athlete: AthleteOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Log a pain score: `footfall log pain 4 --when after [--date D | --activity ID]`.

    next_morning is dated on the morning itself: with --activity, the day after the run.
    """
    from pipelines.journal import add_pain

    from models.journal import parse_moment, parse_score

    _precheck((parse_score, score, "pain"), (parse_moment, when))
    s = settings_for(db, athlete) if activity else settings_with_athlete(db, athlete, mode="write")

    def report(e: dict) -> None:
        if as_json:
            print(json.dumps(e, default=str))
            return
        if e["info"]:
            say(e["info"])
        say(f"logged pain {e['score']:g}/10 {e['moment'].replace('_', ' ')} on {e['local_date']}"
             f"{_run_label(e['activity_id'])} for {e['athlete_id']} (entry {e['entry_id']})")

    _write(s, lambda con: add_pain(
        con, athlete if activity else s.athlete, score, when, when_date=date_, activity=activity,
        location=where, note=note, today=_today(s)), report, quiet=as_json)


@log_app.command("rpe", context_settings=_NUMBER_ARGS)
def log_rpe(
    rpe: Annotated[str, typer.Argument(help="Session effort, Borg CR-10: 0 rest ... 10 maximal (halves allowed).", show_default=False)],
    date_: DateOpt = None,
    activity: ActivityOpt = None,
    note: NoteOpt = None,
    athlete: AthleteOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Log how hard a session felt (CR-10), rated ~30 min after it: `footfall log rpe 6 --activity ID`.

    Session-RPE load = RPE x moving minutes (Foster et al. 2001). Logged by date, it applies to
    that day's only activity.
    """
    from pipelines.journal import add_rpe

    from models.journal import parse_score

    _precheck((parse_score, rpe, "rpe"))
    s = settings_for(db, athlete) if activity else settings_with_athlete(db, athlete, mode="write")

    def report(e: dict) -> None:
        if as_json:
            print(json.dumps(e, default=str))
            return
        if e["info"]:
            say(e["info"])
        say(f"logged RPE {e['rpe_cr10']:g}/10 on {e['local_date']}{_run_label(e['activity_id'])} "
             f"for {e['athlete_id']} (entry {e['entry_id']})")

    _write(s, lambda con: add_rpe(
        con, athlete if activity else s.athlete, rpe, when_date=date_, activity=activity,
        note=note, today=_today(s)), report, quiet=as_json)


@log_app.command("import")
def log_import(
    file: Annotated[Path, typer.Argument(help="CSV journal: date, activity_id, moment, pain, location, rpe, shoe, note (README).")],
    athlete: PlainAthleteOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a CSV journal: every row or none. Bad rows are listed with their line numbers."""
    from pipelines.journal import import_journal

    s = settings_with_athlete(db, athlete, mode="write")
    if not file.is_file():
        fail(f"no such file: {file}", 2)
    data = file.read_bytes()

    def report(r) -> None:
        if as_json:
            print(json.dumps(r.__dict__))
            return
        say(f"imported {file}: {r.rows} rows -> {r.pain_added} pain, {r.rpe_added} RPE, "
             f"{r.shoes_assigned} shoe entries for {s.athlete}"
             + (f"; {r.skipped_existing} already in the journal" if r.skipped_existing else ""))

    _write(s, lambda con: import_journal(con, s.athlete, data, path=str(file), today=_today(s)),
           report, quiet=as_json)


@log_app.command("show")
def log_show(
    days: Annotated[int, typer.Option(help="How many days back.")] = 14,
    athlete: PlainAthleteOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recent runs beside their shoe, RPE and pain, and the journal entries (with ids)."""
    from datetime import timedelta

    from pipelines.db import DatabaseBusy, connection, tables
    from pipelines.journal import recent_entries

    s = settings_with_athlete(db, athlete, must_exist=True)
    since = _today(s) - timedelta(days=max(days, 0))
    try:
        with connection(s.db, read_only=True, wait_s=s.lock_wait_s) as con:
            if "pain_log" not in tables(con):
                fail(f"{s.db} has no journal yet: `footfall log pain ...` starts it", 1)
            runs, entries = recent_entries(con, s.athlete, since)
    except DatabaseBusy as err:
        fail(str(err), 1)
    if as_json:
        print(json.dumps({"runs": None if runs is None else runs.to_dicts(),
                          "entries": entries.to_dicts()}, default=str, indent=2))
        return
    # fits an 80-column terminal (issue 15): short ids, no vertical rules, one pain column
    ids = ([] if runs is None else [r["activity_id"] for r in runs.to_dicts()]) + \
        [r["activity_id"] for r in entries.to_dicts() if r["activity_id"]]
    short = _short_ids(ids)
    if runs is None:
        console.print("[dim]no models built yet: `footfall sync PATH` or `footfall build` shows runs here[/dim]")
    else:
        t = Table(title=f"runs of {escape(str(s.athlete))} since {since}", **_NARROW)
        t.add_column("date", no_wrap=True)
        t.add_column("activity", no_wrap=True)
        t.add_column("km", justify="right", no_wrap=True)
        t.add_column("shoe", overflow="fold", min_width=6)
        t.add_column("RPE", justify="right", no_wrap=True)
        t.add_column("pain b/d/a/m", no_wrap=True)
        t.add_column("where", overflow="fold", min_width=6)
        for r in runs.to_dicts():
            pain = "/".join(_num(r[k]) or "-" for k in (
                "pain_before", "pain_during", "pain_after", "pain_next_morning"))
            t.add_row(str(r["local_date"]), short.get(r["activity_id"], r["activity_id"]),
                      f"{(r['distance_m'] or 0) / 1000:.1f}", escape(r["shoe_name"] or ""),
                      _num(r["rpe_cr10"]), "" if pain == "-/-/-/-" else pain,
                      escape(r["pain_locations"] or ""))
        console.print(t)
        console.print("[dim]pain b/d/a/m: before/during/after the run, next morning (0-10); "
                      "activity: the id's first characters (enough for --activity)[/dim]")
    t = Table(title="journal entries (`footfall log delete pain|rpe ID` removes one)", **_NARROW)
    t.add_column("kind", no_wrap=True)
    t.add_column("id", justify="right", no_wrap=True)
    t.add_column("date", no_wrap=True)
    t.add_column("moment", overflow="fold")
    t.add_column("score", justify="right", no_wrap=True)
    t.add_column("activity", no_wrap=True)
    for c in ("where", "note", "source"):
        t.add_column(c, overflow="fold")
    for r in entries.to_dicts():
        t.add_row(r["kind"], str(r["entry_id"]), str(r["local_date"]), (r["moment"] or "").replace("_", " "),
                  _num(r["score"]), short.get(r["activity_id"], r["activity_id"] or ""),
                  escape(r["location"] or ""), escape(r["note"] or ""), escape(str(r["source"] or "")))
    console.print(t)


#: tables for an 80-column terminal: a rule under the header, no vertical rules, one space apart
_NARROW = {"box": box.SIMPLE_HEAD, "pad_edge": False, "padding": (0, 1), "collapse_padding": True,
           "title_justify": "left"}


def _short_ids(ids: list[str], n: int = 8) -> dict[str, str]:
    """Each activity id cut to its first ``n`` characters, whole where that prefix is shared
    (the sessions of one file share their first 16)."""
    heads: dict[str, set[str]] = {}
    for a in ids:
        heads.setdefault(a[:n], set()).add(a)
    return {a: a[:n] if len(heads[a[:n]]) == 1 else a for a in ids}


def _num(x) -> str:
    return "" if x is None else f"{x:g}"


@log_app.command("delete")
def log_delete(
    kind: Annotated[str, typer.Argument(help="pain or rpe.")],
    entry_id: Annotated[int, typer.Argument(help="The entry's id (`footfall log show`).")],
    athlete: PlainAthleteOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete one pain or RPE entry (to fix a typo)."""
    from pipelines.journal import delete_entry

    s = settings_with_athlete(db, athlete, mode="write")

    def report(e: dict) -> None:
        if as_json:
            print(json.dumps({"deleted": kind, **e}, default=str))
            return
        score = e.get("score", e.get("rpe_cr10"))
        say(f"deleted {kind} entry {entry_id}: {score:g}/10 on {e['local_date']}")

    _write(s, lambda con: delete_entry(con, kind, entry_id, s.athlete), report, quiet=as_json)


# --------------------------------------------------------------------------- shoes


@shoes_app.command("add")
def shoes_add(
    name: Annotated[str, typer.Argument(help="A name you will recognise, e.g. 'Pegasus 40 blue'.")],
    brand: Annotated[Optional[str], typer.Option(help="Brand.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Model.")] = None,
    drop_mm: Annotated[Optional[float], typer.Option("--drop-mm", help="Heel-to-toe drop, mm.")] = None,
    stack_mm: Annotated[Optional[float], typer.Option("--stack-mm", help="Heel stack height, mm.")] = None,
    weight_g: Annotated[Optional[float], typer.Option("--weight-g", help="Weight of one shoe, g.")] = None,
    first_used: Annotated[Optional[str], typer.Option("--first-used", help="First run in it (YYYY-MM-DD).")] = None,
    default: Annotated[bool, typer.Option("--default", help="The shoe in use: runs without a shoe get it (from --first-used, else from today).")] = False,
    athlete: PlainAthleteOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a shoe."""
    from pipelines.journal import add_shoe

    s = settings_with_athlete(db, athlete, mode="write")

    def report(r: dict) -> None:
        if as_json:
            print(json.dumps(r, default=str))
            return
        extra = " (default: the shoe in use)" if r["is_default"] else ""
        say(f"added shoe {r['shoe_id']} {r['name']!r} for {s.athlete}{extra}"
             + (f"; {r['n_runs']} run(s) now in it" if r["n_runs"] else ""))
        if r["first_used"] is None:
            from models.thresholds import value

            days = value("new_shoe_days", s.thresholds)
            console.print(f"[dim]no --first-used: as a default it covers runs from today; for a new "
                          f"shoe, give the date of its first run so its first {days:g} days are watched[/dim]")

    _write(s, lambda con: add_shoe(
        con, s.athlete, name, brand=brand, model=model, drop_mm=drop_mm, stack_mm=stack_mm,
        weight_g=weight_g, first_used=first_used, is_default=default, today=_today(s)), report,
        quiet=as_json)


@shoes_app.command("retire")
def shoes_retire(
    shoe: Annotated[str, typer.Argument(help="Shoe id or name.")],
    on: Annotated[Optional[str], typer.Option("--on", help="Retirement date (default today).")] = None,
    athlete: PlainAthleteOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Retire a shoe (runs after that date no longer get it by default)."""
    from pipelines.journal import retire_shoe

    s = settings_with_athlete(db, athlete, mode="write")

    def report(r: dict) -> None:
        if as_json:
            print(json.dumps(r, default=str))
            return
        was = f" (was {r['previous']})" if r["previous"] and r["previous"] != r["retired_on"] else ""
        say(f"retired shoe {r['shoe_id']} {r['name']!r} on {r['retired_on']}{was}")

    _write(s, lambda con: retire_shoe(con, s.athlete, shoe, on=on, today=_today(s)), report,
           quiet=as_json)


@shoes_app.command("assign")
def shoes_assign(
    shoe: Annotated[str, typer.Argument(help="Shoe id or name.")],
    activity: ActivityOpt = None,
    from_: Annotated[Optional[str], typer.Option("--from", help="First date of a range of runs in this shoe.")] = None,
    to: Annotated[Optional[str], typer.Option("--to", help="Last date of the range (default: open, until retired).")] = None,
    athlete: AthleteOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Say which shoe a run was in (--activity), or the runs of a date range (--from/--to).

    A range is kept as a rule: runs synced later in that range get the shoe too.
    """
    from pipelines.journal import assign_shoe

    s = settings_for(db, athlete) if activity else settings_with_athlete(db, athlete, mode="write")

    def report(r: dict) -> None:
        if as_json:
            print(json.dumps(r, default=str))
            return
        if r["info"]:
            say(r["info"])
        if "activity_id" in r:
            say(f"activity {r['activity_id']} ({r['local_date']}) was in shoe {r['shoe_id']} {r['name']!r}")
        else:
            span = f"{r['from_date']} to {r['to_date'] or 'retirement'}"
            say(f"runs from {span} are in shoe {r['shoe_id']} {r['name']!r} "
                 f"({r['n_runs']} landed so far; later syncs follow the rule)")

    _write(s, lambda con: assign_shoe(
        con, athlete if activity else s.athlete, shoe, activity=activity, from_date=from_,
        to_date=to, today=_today(s)), report, quiet=as_json)


@shoes_app.command("list")
def shoes_list(
    athlete: PlainAthleteOpt = None,
    all_athletes: Annotated[bool, typer.Option("--all-athletes", help="Every athlete's shoes.")] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Shoes with their mileage (total, last 7 and 28 days) and runs."""
    from pipelines.db import DatabaseBusy, connection, tables
    from pipelines.journal import list_shoes

    require_database(settings_for(db).db)
    s = settings_for(db) if all_athletes else settings_with_athlete(db, athlete)
    try:
        with connection(s.db, read_only=True, wait_s=s.lock_wait_s) as con:
            if "shoes" not in tables(con):
                fail(f"{s.db} has no shoes yet: add one with `footfall shoes add NAME`", 1)
            df = list_shoes(con, None if all_athletes else s.athlete, today=_today(s),
                            overrides=s.thresholds)
            retire_m = _retire_m(s)
    except DatabaseBusy as err:
        fail(str(err), 1)
    if as_json:
        print(json.dumps(df.to_dicts(), default=str, indent=2))
        return
    if df.height == 0:
        say(f"no shoes for {s.athlete}: add one with `footfall shoes add NAME`")
        return
    any_retired = any(r["retired_on"] for r in df.to_dicts())
    t = Table(title=f"shoes in {escape(str(s.db))}")
    t.add_column("id", justify="right", no_wrap=True)
    t.add_column("shoe", overflow="fold", min_width=16)
    t.add_column("since", no_wrap=True)
    if any_retired:
        t.add_column("retired", no_wrap=True)
    for c in ("runs", "km", "7d", "28d"):
        t.add_column(c, justify="right", no_wrap=True)
    if all_athletes:
        t.add_column("athlete")
    for r in df.to_dicts():
        label = r["name"] + "".join(f" / {x}" for x in (r["brand"], r["model"]) if x)
        name = escape(label) + (" [bold](default)[/bold]" if r["is_default"] else "")
        km = f"{r['distance_m'] / 1000:.1f}"
        if r["distance_m"] > retire_m:
            km = f"[yellow]{km}[/yellow]"
        row = [str(r["shoe_id"]), name, str(r["start_date"] or "")]
        if any_retired:
            row.append(str(r["retired_on"] or ""))
        row += [str(r["n_runs"]), km, f"{r['distance_7d_m'] / 1000:.1f}", f"{r['distance_28d_m'] / 1000:.1f}"]
        if all_athletes:
            row.append(escape(r["athlete_id"]))
        t.add_row(*row)
    console.print(t)
    console.print(f"[dim]km: every activity in the shoe (runs and walks), in total and in the last 7 "
                  f"and 28 days; yellow past {retire_m / 1000:g} km (shoe_retire_m, a footfall "
                  f"heuristic). --json for more[/dim]")


def _retire_m(s) -> float:
    from models.thresholds import value

    return value("shoe_retire_m", s.thresholds)
