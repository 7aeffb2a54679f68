"""``footfall report`` (one HTML page of charts and flags) and ``footfall export`` (Parquet)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from pipelines.cli.common import (AthleteOpt, DbOpt, JsonOpt, console, err_console, fail, settings_for,
                                  settings_with_athlete, stale_warning)


def write_report_file(db: Path, out: Path, athlete: str | None = None, configured: str | None = None,
                  weeks: int | None = None, lock_wait_s: float = 60.0, quiet: bool = False):
    """Write the report; print one line about it (not with ``quiet``); return the Report."""
    from pipelines.db import DatabaseBusy
    from pipelines.report import DEFAULT_WEEKS, ReportError, write_report

    try:
        r = write_report(db, out, athlete=athlete, configured_athlete=configured,
                         weeks=DEFAULT_WEEKS if weeks is None else weeks, lock_wait_s=lock_wait_s)
    except (ReportError, DatabaseBusy) as err:
        fail(str(err), getattr(err, "exit_code", 1))
    if quiet:
        return r
    notes = "; ".join(n.key for n in r.notes)
    console.print(
        f"report: {escape(str(out.resolve()))}  ({escape(str(r.athlete_id))}, {r.start} to {r.end}: {len(r.charts)} charts, "
        f"{len(r.flags)} flags{'; nothing logged yet for: ' + escape(notes) if notes else ''}). Open it in a browser.",
        soft_wrap=True, highlight=False,
    )
    return r


def report_json(r, out: Path) -> dict:
    """What ``footfall report --json`` (and ``demo --json``) say about a written report."""
    return {"report": str(out.resolve()), "athlete_id": r.athlete_id, "start": r.start, "end": r.end,
            "weeks": r.weeks, "charts": [c.key for c in r.charts], "not_logged": [n.key for n in r.notes],
            "flags": r.flags}


def report(
    db: DbOpt = None,
    athlete: AthleteOpt = None,
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path("report.html"),
    weeks: Annotated[Optional[int], typer.Option(help="Weeks to show, ending with the week of the athlete's last activity or journal entry (0 = all; default 26).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write one self-contained HTML page of charts (load, ratios, spikes, gait, pain, shoes) and flags."""
    if weeks is not None and weeks < 0:
        fail("--weeks must be 0 (all) or more", 2)
    s = settings_with_athlete(db, athlete)
    r = write_report_file(s.db, out, athlete=s.athlete, weeks=weeks,
                          lock_wait_s=s.lock_wait_s, quiet=as_json)
    if as_json:
        print(json.dumps(report_json(r, out), default=str, indent=2))
    from pipelines.db import connection

    with connection(s.db, read_only=True, wait_s=s.lock_wait_s) as con:
        stale = stale_warning(con, s)
    if stale:
        err_console.print(stale, highlight=False, soft_wrap=True, markup=False)


def export(
    parquet: Annotated[Path, typer.Option("--parquet", help="Folder to write <mart>.parquet files into.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write each mart (daily/weekly load, ratios, spikes, flags, shoes, activity metrics) as Parquet."""
    from pipelines.db import DatabaseBusy
    from pipelines.export import ExportError, export_parquet

    s = settings_for(db)
    try:
        counts = export_parquet(s.db, parquet, lock_wait_s=s.lock_wait_s)
    except (ExportError, DatabaseBusy) as err:
        fail(str(err))
    if as_json:
        print(json.dumps({"folder": str(parquet.resolve()),
                          "files": [{"file": f"{name}.parquet", "rows": n} for name, n in counts.items()]},
                         indent=2))
        return
    t = Table(title=f"footfall export → {escape(str(parquet))}/")
    t.add_column("file")
    t.add_column("rows", justify="right")
    for name, n in counts.items():
        t.add_row(f"{name}.parquet", f"{n:,}")
    console.print(t)
