"""``footfall`` command line: parses arguments, calls flows, prints. Nothing else.

Exit codes: 0 ok (also when some files were quarantined: they are reported), 1 error, 2 usage.
Prefect is imported only by the commands that run a flow (sync, demo, build, serve).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="footfall: watch exports (FIT, GPX, TCX) to DuckDB, with load and unsafe-loading flags.",
)
console = Console()
err_console = Console(stderr=True)

DbOpt = Annotated[Optional[Path], typer.Option("--db", help="DuckDB file (default ./footfall.duckdb or config).")]
AthleteOpt = Annotated[Optional[str], typer.Option("--athlete", help="Athlete id (default from config, else 'default').")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _fail(msg: str, code: int = 1) -> None:
    err_console.print(f"[red]error:[/red] {escape(str(msg))}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


@app.callback()
def _global_options(
    debug: Annotated[bool, typer.Option("--debug", help="On a failure, print the traceback and Prefect's logs (also FOOTFALL_DEBUG=1).")] = False,
) -> None:
    """footfall: watch exports (FIT, GPX, TCX) to DuckDB, with load and unsafe-loading flags."""
    # --debug is taken out of the arguments by main() wherever it stands; this documents it


def _settings(db: Path | None = None, athlete: str | None = None):
    from pipelines.config import ConfigError, load_settings

    try:
        return load_settings().with_overrides(db=db, athlete=athlete)
    except ConfigError as err:
        _fail(str(err), 2)


#: True when this process is the ``footfall`` command itself (``main``), not a test invoking ``app``
_ENTRY_POINT = False


def _watch_children() -> None:
    """Before a flow starts children (Prefect's server, decode workers): start the watchdog that
    stops them if footfall is killed (``pipelines/watchdog.py``); only as the process's command."""
    if _ENTRY_POINT:
        from pipelines import watchdog

        watchdog.start()


def _run_sync(paths: list[str], db: Path, athlete: str, workers: int | None, quiet: bool) -> dict:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pipelines import progress
    from pipelines.db import DatabaseBusy
    from pipelines.flows import run_flow, sync

    prog = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True, disable=quiet or not err_console.is_terminal,
    )
    ids: dict[str, int] = {}

    def hook(stage: str, advance: int, total: int | None) -> None:
        if stage not in ids:
            label = {"sources": "reading", "files": "files decoded", "models": "building models"}[stage]
            ids[stage] = prog.add_task(label, total=total)
        if total is not None:
            prog.update(ids[stage], total=total)
        prog.advance(ids[stage], advance)

    progress.set_hook(hook)
    _watch_children()
    try:
        with prog:
            return run_flow(sync, paths=paths, db=str(db), athlete=athlete, workers=workers)
    except DatabaseBusy as err:
        _fail(str(err))
    except FileNotFoundError as err:
        _fail(str(err))
    finally:
        progress.set_hook(None)


def _unchanged_summary(paths: list[str], s) -> dict | None:
    """The summary of a sync with nothing to do, or None when some source is new or changed."""
    import time

    from pipelines.db import DatabaseBusy
    from pipelines.sync import SyncSummary, discover_sources, plan_sync

    t0 = time.perf_counter()
    try:
        sources, skipped, walk_errors = discover_sources(paths)
        if not s.db.exists():
            return None
        plan = plan_sync(s.db, sources, s)
    except FileNotFoundError as err:
        _fail(str(err))
    except DatabaseBusy as err:
        _fail(str(err))
    if plan.sources:
        return None
    if plan.models_stale:  # e.g. a sync killed after landing, before its model build ended
        err_console.print(f"nothing new to land, but the models are not current ({plan.models_stale}): "
                          "building them", highlight=False, soft_wrap=True, markup=False)
        return None
    out = SyncSummary(athlete_id=s.athlete, sources_seen=len(sources), sources_unchanged=plan.unchanged,
                      skipped_by_extension=skipped, walk_errors=walk_errors)
    out.seconds = round(time.perf_counter() - t0, 3)
    return out.to_dict()


def _print_summary(s: dict, db: Path) -> None:
    t = Table(title=f"footfall sync → {escape(str(db))}  ({s['seconds']:.1f} s)", show_header=True)
    t.add_column("what")
    t.add_column("count", justify="right")
    from pipelines.sync import summary_rows

    rows = summary_rows(s)
    for k, v in rows:
        t.add_row(k, f"{v:,}")
    console.print(t)
    if s["quarantined"]:
        q = Table(title="quarantined files (nothing else was held back)")
        q.add_column("file", overflow="fold")
        q.add_column("error")
        q.add_column("reason", overflow="fold")
        for path, cls, reason in s["quarantined"]:
            q.add_row(escape(path), escape(cls), escape(reason))
        console.print(q)
    if s.get("skipped_by_extension"):
        skipped = ", ".join(f"{n} {escape(ext)}" for ext, n in sorted(s["skipped_by_extension"].items()))
        console.print(f"not activity files, not read: {skipped}")
    for w in s.get("walk_errors") or []:
        console.print(f"[yellow]could not walk:[/yellow] {escape(w)}")
    if s.get("export_rows_without_file"):
        console.print(f"{s['export_rows_without_file']} export index rows name a file that is not in the export (kept in export_activities).")
    _print_flags(s.get("new_flags") or [], title="flags raised by this sync")


def _print_flags(flags: list[dict], title: str) -> None:
    """One block per flag: date, severity, rule and source on a line, the message below."""
    if not flags:
        console.print(f"[green]{title}: none[/green]")
        return
    console.print(f"[bold]{title}: {len(flags)}[/bold]")
    colour = {"alert": "red", "warning": "yellow", "caution": "cyan"}
    for f in flags:
        sev = str(f.get("severity", ""))
        console.print(
            f"[{colour.get(sev, 'white')}]{escape(sev.upper()):8}[/] {f.get('local_date')}  "
            f"{escape(str(f.get('athlete_id')))}  [bold]{escape(str(f.get('rule')))}[/bold]  "
            f"(value {_num(f.get('value'))}, threshold {_num(f.get('threshold'))}; "
            f"{escape(str(f.get('source')))})"
        )
        console.print(f"         {escape(str(f.get('message')))}", highlight=False)


def _num(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


@app.command()
def sync(
    paths: Annotated[list[Path], typer.Argument(help="Folders, files or archives (.fit .gpx .tcx, .gz, .zip, Garmin/Strava exports).")],
    db: DbOpt = None,
    athlete: AthleteOpt = None,
    workers: Annotated[Optional[int], typer.Option(help="Decode processes (default: one per core).")] = None,
    as_json: JsonOpt = False,
    always_run: Annotated[bool, typer.Option("--always-run", help="Run the Prefect flow even when no file changed.")] = False,
) -> None:
    """Sync watch exports into the DuckDB file; print what landed and the flags raised.

    When every file and archive is unchanged since the last sync (path, size and mtime), there is
    nothing to decode, land or rebuild: the sync says so without starting a Prefect flow run
    (which costs several seconds on the temporary server). ``--always-run`` runs it anyway.
    """
    s = _settings(db, athlete)
    summary = None if always_run else _unchanged_summary([str(p) for p in paths], s)
    if summary is None:
        summary = _run_sync([str(p) for p in paths], s.db, s.athlete, workers, quiet=as_json)
    if as_json:
        print(json.dumps(summary, default=str, indent=2))
    else:
        _print_summary(summary, s.db)


@app.command()
def demo(
    db: DbOpt = None,
    out: Annotated[Path, typer.Option(help="Where to write the sample export.")] = Path("footfall-demo"),
    weeks: Annotated[int, typer.Option(help="Weeks of runs in the sample.")] = 12,
) -> None:
    """Write a small sample export (FIT + GPX), sync it, and print the summary and flags."""
    from ingest.sample import make_sample_export

    s = _settings(db, "demo")
    export = out / "export"
    # The sample ends today; a later demo reuses the first day so it stays the same export
    # (a second set of shifted runs would be new activities, not re-syncs).
    stamp = out / "end_date.txt"
    try:
        end = date.fromisoformat(stamp.read_text().strip()) if stamp.exists() else date.today()
    except ValueError:
        end = date.today()
    out.mkdir(parents=True, exist_ok=True)
    stamp.write_text(end.isoformat() + "\n")
    files = make_sample_export(weeks=weeks, end_date=end)
    for rel, data in files.items():
        p = export / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists() or p.read_bytes() != data:
            p.write_bytes(data)
    console.print(f"wrote {len(files)} sample files to {escape(str(export))}/")
    summary = _run_sync([str(export)], s.db, "demo", None, quiet=False)
    _print_summary(summary, s.db)
    _write_report(s.db, out / "report.html", athlete="demo")
    console.print(
        f"\nNext: footfall flags --db {escape(str(s.db))}    |    "
        f"footfall query \"SELECT * FROM weekly_load ORDER BY week_start_date DESC LIMIT 4\" --db {escape(str(s.db))}"
    )


@app.command()
def build(db: DbOpt = None) -> None:
    """Rebuild the SQL models and flags from what is landed."""
    from pipelines.flows import build as build_flow, run_flow

    s = _settings(db)
    if not s.db.exists():
        _fail(f"{s.db} does not exist; run `footfall sync PATH` first")
    _watch_children()
    built = run_flow(build_flow, db=str(s.db))
    console.print(f"built {len(built)} models: {', '.join(built)}")


@app.command()
def flags(
    db: DbOpt = None,
    athlete: Annotated[Optional[str], typer.Option(help="Only this athlete.")] = None,
    since: Annotated[Optional[str], typer.Option(help="Only flags on or after this date (YYYY-MM-DD).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the flags (unsafe loading) as a table, or JSON."""
    from pipelines.db import DatabaseBusy, connection
    from pipelines.sqlmodels import ModelsNotBuilt, query_flags

    s = _settings(db)
    since_d = None
    if since:
        try:
            since_d = date.fromisoformat(since)
        except ValueError:
            _fail(f"--since must be a date like 2026-01-31, not {since!r}", 2)
    if not s.db.exists():
        _fail(f"{s.db} does not exist; run `footfall sync PATH` first")
    stale = None
    try:
        with connection(s.db, read_only=True, wait_s=s.lock_wait_s) as con:
            try:
                df = query_flags(con, athlete=athlete, since=since_d)
            except ModelsNotBuilt:
                _fail(_no_models_message(con, s.db))
            stale = _stale_warning(con, s)
    except DatabaseBusy as err:
        _fail(str(err))
    if stale:
        err_console.print(stale, highlight=False, soft_wrap=True, markup=False)
    rows = df.to_dicts()
    if as_json:
        print(json.dumps(rows, default=str, indent=2))
    else:
        _print_flags(rows, title=f"flags in {escape(str(s.db))}")


def _no_models_message(con, db: Path) -> str:
    """What to run when the database has no models: after an interrupted sync, `footfall build`."""
    from pipelines.db import tables

    if "files" in tables(con) and con.execute("SELECT count(*) FROM files").fetchall()[0][0]:
        return (f"{db} has landed files but no flags: the sync that landed them was interrupted "
                f"before it built the models. Run `footfall build --db {db}` (or the same `footfall "
                f"sync` again)")
    return f"{db} has no flags yet; run `footfall sync PATH` or `footfall build` first"


def _stale_warning(con, s) -> str | None:
    """A warning when the models are not current with the landed data or the configured
    thresholds (``sqlmodels.models_stale``), None when they are."""
    from pipelines.sqlmodels import models_stale

    why = models_stale(con, s.thresholds)
    if why is None:
        return None
    return (f"warning: the flags and marts are out of date: {why}. Run `footfall build --db {s.db}` "
            f"(or the same `footfall sync` again) to rebuild them.")


from pipelines.cli_journal import log_app, shoes_app  # noqa: E402

app.add_typer(log_app, name="log")
app.add_typer(shoes_app, name="shoes")


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="A SQL query, run read-only.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a read-only SQL query against the DuckDB file and print the result."""
    import duckdb

    from pipelines.db import DatabaseBusy, connection

    s = _settings(db)
    if not s.db.exists():
        _fail(f"{s.db} does not exist; run `footfall sync PATH` first")
    try:
        with connection(s.db, read_only=True, wait_s=s.lock_wait_s) as con:
            df = con.sql(sql).pl()
    except DatabaseBusy as err:
        _fail(str(err))
    except duckdb.Error as err:
        from pipelines.db import damaged_message, is_corruption

        if is_corruption(err):
            _fail(damaged_message(s.db, err))
        _fail(f"query failed: {err}", 2)
    if as_json:
        print(json.dumps(df.to_dicts(), default=str, indent=2))
    else:
        import polars as pl

        with pl.Config(tbl_rows=50, tbl_cols=20, fmt_str_lengths=40, tbl_width_chars=200):
            print(df)


@app.command()
def check(db: DbOpt = None) -> None:
    """Read every row of every table, so DuckDB verifies each block's checksum; name the damaged tables.

    Not part of the nightly sync (it reads the whole file: ~0.4 s per 3.6 M records on 2 cores);
    run it now and then, e.g. weekly, or when a command reports a damaged database.
    """
    from pipelines.db import check_database

    s = _settings(db)
    if not s.db.exists():
        _fail(f"{s.db} does not exist; run `footfall sync PATH` first")
    rows = check_database(s.db, wait_s=s.lock_wait_s)
    bad = [(t, e) for t, _, e in rows if e]
    for t, n, e in rows:
        if e is None:
            console.print(f"ok       {t} ({n:,} rows)", highlight=False)
        else:
            console.print(f"DAMAGED  {t}: {e}", highlight=False, markup=False, soft_wrap=True)
    if bad:
        _fail(f"{s.db} is damaged: {len(bad)} of {len(rows)} tables cannot be read "
              f"({', '.join(t for t, _ in bad)}); restore it from a backup, or sync the exports "
              "again into a new file")
    console.print(f"{s.db}: all {len(rows)} tables read in full, no damaged block", highlight=False)


def _write_report(db: Path, out: Path, athlete: str | None = None, configured: str | None = None,
                  weeks: int | None = None, lock_wait_s: float = 60.0) -> None:
    from pipelines.db import DatabaseBusy
    from pipelines.report import DEFAULT_WEEKS, ReportError, write_report

    try:
        r = write_report(db, out, athlete=athlete, configured_athlete=configured,
                         weeks=DEFAULT_WEEKS if weeks is None else weeks, lock_wait_s=lock_wait_s)
    except (ReportError, DatabaseBusy) as err:
        _fail(str(err), getattr(err, "exit_code", 1))
    notes = "; ".join(n.key for n in r.notes)
    console.print(
        f"report: {escape(str(out.resolve()))}  ({escape(str(r.athlete_id))}, {r.start} to {r.end}: {len(r.charts)} charts, "
        f"{len(r.flags)} flags{'; nothing logged yet for: ' + escape(notes) if notes else ''}). Open it in a browser.",
        soft_wrap=True, highlight=False,
    )


@app.command()
def report(
    db: DbOpt = None,
    athlete: Annotated[Optional[str], typer.Option(help="Athlete id (default: the only athlete in the file, else the config's).")] = None,
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path("report.html"),
    weeks: Annotated[Optional[int], typer.Option(help="Weeks to show, ending with the last synced day (0 = all; default 26).")] = None,
) -> None:
    """Write one self-contained HTML page of charts (load, ratios, spikes, gait, pain, shoes) and flags."""
    s = _settings(db)
    if weeks is not None and weeks < 0:
        _fail("--weeks must be 0 (all) or more", 2)
    _write_report(s.db, out, athlete=athlete, configured=s.athlete, weeks=weeks, lock_wait_s=s.lock_wait_s)
    from pipelines.db import connection

    with connection(s.db, read_only=True, wait_s=s.lock_wait_s) as con:
        stale = _stale_warning(con, s)
    if stale:
        err_console.print(stale, highlight=False, soft_wrap=True, markup=False)


@app.command()
def export(
    parquet: Annotated[Path, typer.Option("--parquet", help="Folder to write <mart>.parquet files into.")],
    db: DbOpt = None,
) -> None:
    """Write each mart (daily/weekly load, ratios, spikes, flags, shoes, activity metrics) as Parquet."""
    from pipelines.db import DatabaseBusy
    from pipelines.export import ExportError, export_parquet

    s = _settings(db)
    try:
        counts = export_parquet(s.db, parquet, lock_wait_s=s.lock_wait_s)
    except (ExportError, DatabaseBusy) as err:
        _fail(str(err))
    t = Table(title=f"footfall export → {escape(str(parquet))}/")
    t.add_column("file")
    t.add_column("rows", justify="right")
    for name, n in counts.items():
        t.add_row(f"{name}.parquet", f"{n:,}")
    console.print(t)


@app.command()
def serve(
    paths: Annotated[list[Path], typer.Argument(help="Folders, files or archives to sync on each run.")],
    cron: Annotated[str, typer.Option(help="When to sync: a cron in your timezone (config 'timezone', else the machine's).")] = "0 5 * * *",
    db: DbOpt = None,
    athlete: AthleteOpt = None,
    workers: Annotated[Optional[int], typer.Option(help="Decode processes (default: one per core).")] = None,
) -> None:
    """Sync on a schedule with Prefect (starts a local Prefect server and its UI unless one is running)."""
    from pipelines.serve import ServeError, check_cron, local_timezone, serve as serve_schedule

    s = _settings(db, athlete)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        _fail(f"not found: {', '.join(missing)}", 2)
    try:
        check_cron(cron, local_timezone(s.timezone))
    except ServeError as err:
        _fail(str(err), 2)
    try:
        serve_schedule(paths, cron=cron, db=s.db, athlete=s.athlete, timezone=s.timezone,
                       workers=workers, config_path=s.config_path,
                       say=lambda m: console.print(m, soft_wrap=True, highlight=False, markup=False))
    except ServeError as err:
        _fail(str(err))
    console.print("stopped serving; the schedule is paused (`footfall serve` again resumes it)")


def _debug_on() -> bool:
    return os.environ.get("FOOTFALL_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def error_line(err: BaseException, db: str | None = None) -> str:
    """What a failure prints after ``error:``: its cause on one line (the first error of a
    chain, e.g. the full disk under a failed COMMIT), with what to do where footfall knows."""
    from pipelines import db as dbm

    if isinstance(err, (dbm.DatabaseError, dbm.DatabaseBusy)):
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


def main() -> None:
    global _ENTRY_POINT
    _ENTRY_POINT = True
    """The ``footfall`` command: every failure ends with one ``error: <cause>`` line on stderr and
    exit code 1; the traceback (and Prefect's failure logs) only with ``--debug`` or
    FOOTFALL_DEBUG=1."""
    args = sys.argv[1:]
    cut = args.index("--") if "--" in args else len(args)
    if "--debug" in args[:cut]:
        args = [a for i, a in enumerate(args) if not (a == "--debug" and i < cut)]
        os.environ["FOOTFALL_DEBUG"] = "1"
    debug = _debug_on()
    if not debug:
        # Prefect logs each failed task and flow run with its traceback at ERROR level: the
        # error line below says it once (a user's own PREFECT_LOGGING_LEVEL wins)
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_INTERNAL_LOGGING_LEVEL", "CRITICAL")
        # its services log through the root logger (EventsWorker "Still processing items")
        os.environ.setdefault("PREFECT_LOGGING_ROOT_LEVEL", "ERROR")
    try:
        app(args=args, prog_name="footfall")
    except KeyboardInterrupt:
        err_console.print("interrupted: every batch landed so far is committed; run the same sync again to finish")
        sys.exit(1)
    except Exception as err:  # noqa: BLE001 - the CLI edge: one line, exit 1
        if debug:
            traceback.print_exc()
        hint = "" if debug else " (--debug shows the traceback)"
        db = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--db"), None)
        err_console.print(f"error: {error_line(err, db)}{hint}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
