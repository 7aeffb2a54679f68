"""``footfall demo``: a sample export and its runner's journal, synced, with the report: the
newcomer's first minute. The runner is athlete ``demo``; the demo ends with the commands to type
next (``NEXT_STEPS``, the same lines as README.md's first-run section)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pipelines.cli.common import DbOpt, JsonOpt, console, fail, say, settings_for, wall_seconds
from pipelines.cli.report import report_json, write_report_file
from pipelines.cli.sync import plan, print_summary, run_sync

DEMO_ATHLETE = "demo"

#: What to type after the demo, with what each shows (README.md's first-run section lists the
#: same commands; tests/pipelines/test_readme_walkthrough.py runs them in this order).
NEXT_STEPS = (
    ('footfall log pain 6 --when during --where "2nd metatarsal"',
     "today's run hurt: above 5/10 raises a warning"),
    ("footfall log rpe 6", "how hard it felt (Borg CR-10, 0-10)"),
    ('footfall shoes add "Cloudmonster" --first-used today --default', "today's run was in new shoes"),
    ("footfall log show", "recent runs with shoe, RPE and pain"),
    ("footfall shoes list", "each shoe's distance"),
    ("footfall flags", "the demo's flags and today's warning"),
    ("footfall report", "report.html, with what you logged"),
)


def demo(
    db: DbOpt = None,
    out: Annotated[Path, typer.Option(help="Where to write the sample export.")] = Path("footfall-demo"),
    weeks: Annotated[int, typer.Option(help="Weeks of runs in the sample.")] = 12,
    as_json: JsonOpt = False,
) -> None:
    """Write a sample export (FIT + GPX) and its runner's journal, sync them, print what to type next.

    The journal (pain, effort, two shoes) is written through the same code as `footfall log
    import` and `footfall shoes add`; everything lands as athlete 'demo'."""
    from pipelines.clock import local_today
    from synth.sample import make_sample_export
    from synth.sample_journal import sample_journal

    configured = settings_for(db)
    s = configured.with_overrides(athlete=DEMO_ATHLETE)
    export = out / "export"
    # The sample ends today; a later demo reuses the first day so it stays the same export
    # (a second set of shifted runs would be new activities, not re-syncs).
    stamp = out / "end_date.txt"
    today = local_today(s.timezone)
    try:
        end = date.fromisoformat(stamp.read_text().strip()) if stamp.exists() else today
    except ValueError:
        end = today
    end = min(end, today)
    out.mkdir(parents=True, exist_ok=True)
    stamp.write_text(end.isoformat() + "\n")
    files = make_sample_export(weeks=weeks, end_date=end)
    for rel, data in files.items():
        p = export / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists() or p.read_bytes() != data:
            p.write_bytes(data)
    if not as_json:
        console.print(f"wrote {len(files)} sample files to {escape(str(export))}/")
    # The journal is written first, by date (as a runner logs after a run and syncs at night):
    # the sync then builds the models once, with it.
    journal_line = write_example_journal(s, sample_journal(weeks=weeks, end_date=end),
                                         out / "journal.csv", today)
    summary = run_sync(plan([str(export)], s), quiet=as_json)
    summary["wall_seconds"] = wall_seconds()
    if as_json:
        r = write_report_file(s.db, out / "report.html", athlete=DEMO_ATHLETE, quiet=True)
        print(json.dumps({"export": str(export), "files": len(files), "athlete": DEMO_ATHLETE,
                          "journal": journal_line, "sync": summary,
                          "report": report_json(r, out / "report.html")}, default=str, indent=2))
        return
    print_summary(summary, s.db)
    say(journal_line)
    write_report_file(s.db, out / "report.html", athlete=DEMO_ATHLETE)
    print_next_steps(s.db, configured.athlete, end, today)


def write_example_journal(s, journal, csv_path: Path, today: date) -> str:
    """Add the demo runner's shoes and import its CSV journal (``pipelines/journal/``, the code
    behind ``footfall shoes add/retire`` and ``footfall log import``) unless athlete ``demo``
    already has a journal in the database (a second demo, or the runner's own entries: kept).
    Writes the CSV to ``csv_path`` for the runner to read. Returns the line to print."""
    from pipelines.db import DatabaseBusy, connection, migrate
    from pipelines.journal import add_shoe, import_journal, journal_counts, retire_shoe

    data = journal.to_csv()
    csv_path.write_bytes(data)
    try:
        with connection(s.db, wait_s=s.lock_wait_s) as con:
            migrate(con)
            have = journal_counts(con, s.athlete)
            if any(have.values()):
                return (f"journal of {s.athlete}: kept as it was ({have['pain_log']} pain scores, "
                        f"{have['rpe_log']} RPEs, {have['shoes']} shoes)")
            for shoe in journal.shoes:
                add_shoe(con, s.athlete, shoe.name, brand=shoe.brand, drop_mm=shoe.drop_mm,
                         first_used=shoe.first_used, is_default=shoe.is_default, today=today)
            for shoe in journal.shoes:
                if shoe.retired_on is not None:
                    retire_shoe(con, s.athlete, shoe.name, on=shoe.retired_on, today=today)
            res = import_journal(con, s.athlete, data, path=str(csv_path), today=today)
    except DatabaseBusy as err:
        fail(str(err))
    old, new = journal.shoes[0], journal.shoes[-1]
    return (f"example journal of {s.athlete}: shoes {old.name!r} (retired {old.retired_on}) and "
            f"{new.name!r} (from {new.first_used}); {res.pain_added} pain scores and "
            f"{res.rpe_added} RPEs from {csv_path} (the run of {journal.end_date} is left for you)")


def print_next_steps(db: Path, configured_athlete: str | None, end: date, today: date) -> None:
    """Which athlete the demo used and the exact commands to type next (``NEXT_STEPS``).

    ``--athlete demo`` is added when a command without it would not reach the demo's runner:
    the config names another athlete, or the database holds other athletes' runs (commands use
    the athlete given, else the config's, else the only athlete in the file). ``--db`` is added
    when the database is not the default ``footfall.duckdb``.
    """
    from pipelines.config import DEFAULT_ATHLETE, DEFAULT_DB
    from pipelines.db import connection

    with connection(db, read_only=True) as con:
        athletes = [r[0] for r in con.execute(
            "SELECT DISTINCT athlete_id FROM activities WHERE athlete_id IS NOT NULL ORDER BY 1"
        ).fetchall()]
    others = [a for a in athletes if a != DEMO_ATHLETE]
    config_other = configured_athlete not in (None, DEFAULT_ATHLETE, DEMO_ATHLETE)
    extra = f" --athlete {DEMO_ATHLETE}" if others or config_other else ""
    if Path(db) != Path(DEFAULT_DB):
        import shlex

        extra += f" --db {shlex.quote(str(db))}"
    if config_other:
        _line(f"\nathlete: {DEMO_ATHLETE} (the config names {configured_athlete!r}: "
              f"the commands below give --athlete {DEMO_ATHLETE})")
    elif others:
        _line(f"\nathlete: {DEMO_ATHLETE} ({db} also holds {', '.join(others)}: "
              f"the commands below give --athlete {DEMO_ATHLETE})")
    else:
        _line(f"\nathlete: {DEMO_ATHLETE}, the only athlete in {db}: the commands below need no --athlete")
    if end == today:
        _line(f"Next, for today's run ({end}), in this folder:")
    else:
        _line(f"Next, in this folder (entries go to today, {today}; the demo's last run is on {end}: "
              f"add --date {end} to the log commands to log it):")
    width = max(len(cmd) for cmd, _ in NEXT_STEPS) + len(extra)
    for cmd, what in NEXT_STEPS:
        _line(f"  {cmd + extra:<{width}}  # {what}")


def _line(text: str) -> None:
    """One line as it is (a command to copy: no markup, no wrapping)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)
