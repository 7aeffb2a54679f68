"""``footfall activity sport|exclude|include`` (the runner's last word on an activity) and
``footfall audit`` (what footfall checked on each activity, and whether it counts as running load).

Mounted by ``pipelines/cli/__init__.py``::

    app.add_typer(activity_app, name="activity")
    app.command()(audit)

Exit codes as the journal commands: 0 ok; 2 what was typed is wrong (an unknown activity id or
sport; the message says how to find ids) and nothing was changed; 1 the database busy or missing.
A statement is stored in ``activity_overrides`` (never deleted by a sync or a rebuild); the models
are rebuilt at once when the database was built before, and the flags it raised are printed.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Optional

import typer
from rich.markup import escape

from pipelines.cli.common import (ATHLETE_RULE, DbOpt, JsonOpt, console, fail, no_models_message, say, settings_for,
                                   settings_with_athlete)
from pipelines.cli.journal import _precheck, _write

activity_app = typer.Typer(
    no_args_is_help=True,
    help="The runner has the last word: set an activity's sport, or exclude/include it from running load.",
)
IdArg = Annotated[str, typer.Argument(help="Activity id, or a unique prefix of 6+ characters (`footfall audit --all`).", show_default=False)]
ReasonOpt = Annotated[Optional[str], typer.Option("--reason", help="Why, in your words (shown in the audit and the report).")]
AthleteOpt = Annotated[Optional[str], typer.Option("--athlete", help="Athlete id (default: the activity's; given, the activity must be theirs).")]


def _statement(ref: str, kind: str, *, sport=None, reason=None, athlete=None, db=None, as_json=False) -> None:
    from pipelines.overrides import add_override, check_sport, status_of

    if kind == "sport":
        _precheck((check_sport, sport))
    s = settings_for(db, athlete)
    def write(con):
        return add_override(con, ref, kind, athlete_id=athlete, sport=sport, reason=reason)

    def report(row: dict) -> None:
        if as_json:
            return
        what = {"sport": f"sport set to {row['sport']}", "exclude": "excluded from running load",
                "include": "counted as running load"}[kind]
        say(f"activity {row['activity_id']} ({row['athlete_id']}): {what}"
            + (f" ({row['reason']})" if row["reason"] else "") + f" (statement {row['override_id']})")

    from pipelines.db import connection

    row = _write(s, write, report, quiet=as_json)
    with connection(s.db, read_only=True, wait_s=s.lock_wait_s) as con:
        status = status_of(con, row["activity_id"])
    if as_json:
        print(json.dumps({**row, "status": status}, default=str))
    elif status is not None:
        yes = "yes" if status["counts_as_running_load"] else "no"
        say(f"counts as running load: {yes} ({status['running_load_reason']})")


@activity_app.command("sport")
def activity_sport(
    activity: IdArg,
    sport: Annotated[str, typer.Argument(help="running, walking, hiking, cycling, swimming, ... (only running counts as running load).", show_default=False)],
    reason: ReasonOpt = None,
    athlete: AthleteOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Say what sport an activity was: `footfall activity sport 3f2a91 cycling`."""
    _statement(activity, "sport", sport=sport, reason=reason, athlete=athlete, db=db, as_json=as_json)


@activity_app.command("exclude")
def activity_exclude(
    activity: IdArg,
    reason: ReasonOpt = None,
    athlete: AthleteOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Leave an activity out of running load: `footfall activity exclude 3f2a91 --reason "GPS went wild"`."""
    _statement(activity, "exclude", reason=reason, athlete=athlete, db=db, as_json=as_json)


@activity_app.command("include")
def activity_include(
    activity: IdArg,
    reason: ReasonOpt = None,
    athlete: AthleteOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Count an activity as running load, whatever footfall decided: `footfall activity include 3f2a91`."""
    _statement(activity, "include", reason=reason, athlete=athlete, db=db, as_json=as_json)


def audit(
    db: DbOpt = None,
    athlete: Annotated[Optional[str], typer.Option("--athlete", help=f"Athlete id ({ATHLETE_RULE}).")] = None,
    all_athletes: Annotated[bool, typer.Option("--all-athletes", help="Every athlete's activities.")] = False,
    since: Annotated[Optional[str], typer.Option(help="Only activities on or after this date (YYYY-MM-DD).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every activity, not only those with a check that did not pass or not counted as running load.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """What footfall checked on each activity and whether it counts as running load, and why."""
    from pipelines.db import DatabaseBusy, connection
    from pipelines.overrides import audit_rows
    from pipelines.sqlmodels import ModelsNotBuilt

    s = settings_for(db) if all_athletes else settings_with_athlete(db, athlete)
    since_d = None
    if since:
        try:
            since_d = date.fromisoformat(since)
        except ValueError:
            fail(f"--since must be a date like 2026-01-31, not {since!r}", 2)
    if not s.db.exists():
        fail(f"{s.db} does not exist; run `footfall sync PATH` first")
    try:
        with connection(s.db, read_only=True, wait_s=s.lock_wait_s) as con:
            try:
                df = audit_rows(con, athlete_id=None if all_athletes else s.athlete, since=since_d, everything=all_)
            except ModelsNotBuilt:
                fail(no_models_message(con, s.db))
    except DatabaseBusy as err:
        fail(str(err))
    rows = df.to_dicts()
    if as_json:
        print(json.dumps(rows, default=str, indent=2))
        return
    print_audit(rows, everything=all_)


def _num(v) -> str:
    if v is None:
        return ""
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def print_audit(rows: list[dict], *, everything: bool) -> None:
    """One block per activity: date, id, file, the running-load decision, then its checks."""
    which = "every activity" if everything else "activities with a check that did not pass or not counted as running load"
    if not rows:
        console.print(f"[green]audit ({which}): none[/green]")
        return
    by_activity: dict[str, list[dict]] = {}
    for r in rows:
        by_activity.setdefault(r["activity_id"], []).append(r)
    console.print(f"[bold]audit ({which}): {len(by_activity)} activities[/bold]")
    colour = {"pass": "green", "adjusted": "cyan", "disagree": "yellow", "excluded": "red", "skipped": "dim"}
    for aid, group in by_activity.items():
        head = group[0]
        counts = "[green]counts as running load[/green]" if head["counts_as_running_load"] else "[red]not running load[/red]"
        console.print(f"\n[bold]{head['local_date']}[/bold]  {escape(aid)}  {escape(str(head['file_path'] or ''))}")
        console.print(f"  {counts}: {escape(str(head['running_load_reason']))}", highlight=False)
        for r in group:
            if r["check_name"] == "running_load":
                continue
            rng = ""
            if r["expected_low"] is not None or r["expected_high"] is not None:
                rng = f" expected {_num(r['expected_low']) or '..'}-{_num(r['expected_high']) or '..'}"
            val = f" {_num(r['measured_value'])}{(' ' + r['unit']) if r['unit'] else ''}" if r["measured_value"] is not None else ""
            effect = f" -> {r['effect']}" if r["effect"] and r["effect"] != "none" else ""
            oc = str(r["outcome"])
            console.print(
                f"  [{colour.get(oc, 'white')}]{escape(oc):9}[/] {escape(str(r['check_name']))}"
                f"{escape(val)}{escape(rng)}{escape(effect)}", highlight=False)
            if r["detail"]:
                console.print(f"            {escape(str(r['detail']))}", highlight=False)
