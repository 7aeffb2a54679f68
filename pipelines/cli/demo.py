"""``footfall demo``: a sample export, synced, with its report: the newcomer's first minute."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pipelines.cli.common import DbOpt, JsonOpt, console, settings_for, wall_seconds
from pipelines.cli.report import report_json, write_report_file
from pipelines.cli.sync import plan, print_summary, run_sync


def demo(
    db: DbOpt = None,
    out: Annotated[Path, typer.Option(help="Where to write the sample export.")] = Path("footfall-demo"),
    weeks: Annotated[int, typer.Option(help="Weeks of runs in the sample.")] = 12,
    as_json: JsonOpt = False,
) -> None:
    """Write a small sample export (FIT + GPX), sync it, and print the summary and flags."""
    from synth.sample import make_sample_export

    s = settings_for(db, "demo")
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
    if not as_json:
        console.print(f"wrote {len(files)} sample files to {escape(str(export))}/")
    summary = run_sync(plan([str(export)], s), quiet=as_json)
    summary["wall_seconds"] = wall_seconds()
    if as_json:
        r = write_report_file(s.db, out / "report.html", athlete="demo", quiet=True)
        print(json.dumps({"export": str(export), "files": len(files), "sync": summary,
                          "report": report_json(r, out / "report.html")}, default=str, indent=2))
        return
    print_summary(summary, s.db)
    write_report_file(s.db, out / "report.html", athlete="demo")
    console.print(
        f"\nNext: footfall flags --db {escape(str(s.db))}    |    "
        f"footfall query \"SELECT * FROM weekly_load ORDER BY week_start_date DESC LIMIT 4\" --db {escape(str(s.db))}"
    )
