"""``footfall serve``: the sync on a cron schedule with Prefect (``pipelines/serve.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.common import AthleteOpt, DbOpt, WorkersOpt, console, fail, settings_with_athlete


def serve(
    paths: Annotated[list[Path], typer.Argument(help="Folders, files or archives to sync on each run.")],
    cron: Annotated[str, typer.Option(help="When to sync: a cron in your timezone (config 'timezone', else the machine's).")] = "0 5 * * *",
    db: DbOpt = None,
    athlete: AthleteOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Sync on a schedule with Prefect (starts a local Prefect server and its UI unless one is running)."""
    from pipelines.prefect_api import PrefectServerError
    from pipelines.serve import ServeError, check_cron, local_timezone, serve as serve_schedule

    s = settings_with_athlete(db, athlete, mode="sync")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        fail(f"not found: {', '.join(missing)}", 2)
    try:
        check_cron(cron, local_timezone(s.timezone))
    except ServeError as err:
        fail(str(err), 2)
    try:
        serve_schedule(paths, cron=cron, db=s.db, athlete=s.athlete, timezone=s.timezone,
                       workers=workers, config_path=s.config_path,
                       say=lambda m: console.print(m, soft_wrap=True, highlight=False, markup=False))
    except (ServeError, PrefectServerError) as err:
        fail(str(err))
    console.print("stopped serving; the schedule is paused (`footfall serve` again resumes it)")
