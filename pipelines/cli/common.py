"""What every ``footfall`` command shares: the consoles, the options, the settings, one way to
fail (``error: ...`` and an exit code), the flag blocks, and the one error line of ``main``.

Exit codes: 0 ok, 1 error, 2 usage (what was typed is wrong).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from pipelines.startup import debug_on, process_age_s  # noqa: F401  (re-exported: pipelines/startup.py)

console = Console()
err_console = Console(stderr=True)

DbOpt = Annotated[Optional[Path], typer.Option("--db", help="DuckDB file (default ./footfall.duckdb or config), or a team lake: ducklake:postgres:CONNINFO.")]
ATHLETE_RULE = "default: the config's, else the only athlete in the database"
AthleteOpt = Annotated[Optional[str], typer.Option("--athlete", help=f"Athlete id ({ATHLETE_RULE}).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
WorkersOpt = Annotated[Optional[int], typer.Option(help="Decode processes (default: one per core).")]


def fail(msg: str, code: int = 1) -> None:
    """Print ``error: msg`` on stderr and exit with ``code`` (1 error, 2 usage)."""
    err_console.print(f"[red]error:[/red] {escape(str(msg))}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def require_database(db: Path, code: int = 2) -> None:
    """Refuse a database path that does not exist (``error: ...``, exit ``code``): the journal
    commands write to the file the runs are in, and a mistyped ``--db`` must not start a new,
    empty one the runs never reach."""
    from pipelines.db import exists

    if not exists(db):
        fail(f"{db} does not exist: check --db (or `db` in the config), or run `footfall sync PATH` "
             "(or `footfall demo`) first; nothing was written", code)


def say(text: str) -> None:
    """Plain text (names and notes the runner typed may hold '[...]': no markup)."""
    console.print(text, markup=False, highlight=False)


def settings_for(db: Path | None = None, athlete: str | None = None, workers: int | None = None):
    """The config (``pipelines.config``) with the command's options over it; a bad config is a
    usage error (exit 2)."""
    from pipelines.config import ConfigError, load_settings

    try:
        return load_settings().with_overrides(db=db, athlete=athlete, workers=workers)
    except ConfigError as err:
        fail(str(err), 2)


def settings_with_athlete(db: Path | None, athlete: str | None, *, mode: str = "read",
                          workers: int | None = None, must_exist: bool = False):
    """The settings with ``athlete`` set by footfall's one rule (``pipelines/athletes.py``): the
    athlete given, else the config's, else the only athlete in the database, else an error listing
    them (exit 2). ``mode`` is "read" (an athlete not in the file is an error naming those that
    are), "write" (a journal, shoe or plan entry: refused on a file with no athlete yet) or "sync"
    (a file with no athlete yet lands as 'default'). A database that does not exist is refused
    first (``require_database``, exit 2) for "write" and with ``must_exist`` (the journal's
    read commands)."""
    from pipelines.athletes import AthleteError, choose_athlete, database_athletes
    from pipelines.db import DatabaseBusy

    s = settings_for(db, workers=workers)
    if mode == "write" or must_exist:
        require_database(s.db)  # a journal entry never starts a database (a mistyped --db)
    configured = s.athlete if s.athlete_from else None
    if mode == "sync" and (athlete or configured):
        return s.with_overrides(athlete=athlete)  # a sync may add an athlete: no need to open the file
    try:
        known = database_athletes(s.db, s.lock_wait_s)
    except DatabaseBusy as err:
        fail(str(err), 1)
    try:
        chosen, note = choose_athlete(known, athlete, configured, mode=mode, db=str(s.db),
                                      config_from=s.athlete_from, empty_default=s.athlete)
    except AthleteError as err:
        fail(str(err), err.exit_code)
    if note:
        err_console.print(note, markup=False, highlight=False, soft_wrap=True)
    return s.with_overrides(athlete=chosen)


#: time.perf_counter() when the command started (``main``: the process's start), for wall times
CLI_STARTED: float | None = None


def wall_seconds() -> float | None:
    """Seconds since the command started (None when not started through the CLI)."""
    return None if CLI_STARTED is None else time.perf_counter() - CLI_STARTED


#: True when this process is the ``footfall`` command itself (``main``), not a test invoking ``app``
ENTRY_POINT = False


def watch_children() -> None:
    """Before a flow starts children (Prefect's server, decode workers): start the watchdog that
    stops them if footfall is killed (``pipelines/watchdog.py``); only as the process's command."""
    if ENTRY_POINT:
        from pipelines import watchdog

        watchdog.start()


def print_notices() -> None:
    """Any command: say once on stderr what it waits for ("waiting for the database: held by
    another process (PID N, name)", ``pipelines.db.connect``), so a wait does not look like a
    hang. ``footfall sync`` shows it on its progress display instead."""
    from pipelines import progress

    said: set[str] = set()

    def hook(kind: str, text: str | None) -> None:
        if text and text not in said:
            said.add(text)
            err_console.print(text, markup=False, highlight=False, soft_wrap=True)

    progress.set_notice_hook(hook)


def print_flags(flags: list[dict], title: str) -> None:
    """One block per flag: date, severity, rule and source on a line, the message below."""
    from models.flag_units import measure_text  # value and threshold in the message's unit

    if not flags:
        console.print(f"[green]{title}: none[/green]")
        return
    console.print(f"[bold]{title}: {len(flags)}[/bold]")
    colour = {"alert": "red", "warning": "yellow", "caution": "cyan", "info": "blue"}
    for f in flags:
        sev = str(f.get("severity", ""))
        console.print(
            f"[{colour.get(sev, 'white')}]{escape(sev.upper()):8}[/] {f.get('local_date')}  "
            f"{escape(str(f.get('athlete_id')))}  [bold]{escape(str(f.get('rule')))}[/bold]  "
            f"({escape(measure_text(f.get('value'), f.get('threshold'), f.get('unit'), f.get('comparison')))}; "
            f"{escape(str(f.get('source')))})"
        )
        console.print(f"         {escape(str(f.get('message')))}", highlight=False)


def _num(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def no_models_message(con, db: Path) -> str:
    """What to run when the database has no models: after an interrupted sync, `footfall build`."""
    from pipelines.db import tables

    if "files" in tables(con) and con.execute("SELECT count(*) FROM files").fetchall()[0][0]:
        return (f"{db} has landed files but no flags: the sync that landed them was interrupted "
                f"before it built the models. Run `footfall build --db {db}` (or the same `footfall "
                f"sync` again)")
    return f"{db} has no flags yet; run `footfall sync PATH` or `footfall build` first"


def stale_warning(con, s) -> str | None:
    """A warning when the models are not current with the landed data or the configured
    thresholds (``sqlmodels.models_stale``), None when they are."""
    from pipelines.sqlmodels import models_stale

    why = models_stale(con, s.thresholds)
    if why is None:
        return None
    return (f"warning: the flags and marts are out of date: {why}. Run `footfall build --db {s.db}` "
            f"(or the same `footfall sync` again) to rebuild them.")


def error_line(err: BaseException, db: str | None = None) -> str:
    """What a failure prints after ``error:``: its cause on one line (the first error of a
    chain, e.g. the full disk under a failed COMMIT), with what to do where footfall knows."""
    from pipelines import db as dbm
    from pipelines.lake import LakeError  # team mode cannot start (e.g. `s.db.exists()` of a lake)

    if isinstance(err, (dbm.DatabaseError, dbm.DatabaseBusy, LakeError)):
        return dbm.one_line(err)
    if dbm.is_corruption(err):
        return dbm.damaged_message(db, err)
    msg = dbm.one_line(err)
    if type(err).__module__.split(".")[0] in ("duckdb", "_duckdb"):
        return msg  # DuckDB names its own kind ("IO Error: ...")
    if isinstance(err, OSError) and err.strerror:
        name = f" {err.filename}" if err.filename else ""
        return f"{err.strerror}:{name}" if name else err.strerror
    return f"{type(err).__name__}: {msg}"
