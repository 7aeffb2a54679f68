"""``footfall sync``: plan once, say "nothing to do" without Prefect when nothing changed, else
hand the plan to the sync flow; print the summary and the flags raised."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from pipelines.cli.common import (
    AthleteOpt,
    DbOpt,
    JsonOpt,
    WorkersOpt,
    console,
    err_console,
    fail,
    print_flags,
    settings_for,
    settings_with_athlete,
    wall_seconds,
    watch_children,
)


def make_progress(quiet: bool):
    """The sync's progress display on stderr (off with --json or when stderr is not a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    class Count(MofNCompleteColumn):
        def render(self, task):  # a notice (waiting for the database) counts nothing
            return Text("") if task.fields.get("notice") else super().render(task)

    return Progress(
        TextColumn("{task.description}"), BarColumn(), Count(), TimeElapsedColumn(),
        console=err_console, transient=True, disable=quiet or not err_console.is_terminal,
    )


def show_notices(prog) -> None:
    """Say what the sync waits for (``pipelines.progress.notice``: another process holding the
    database): a line on the progress display while it lasts; without a display (not a
    terminal, --json, or before it starts), one line on stderr."""
    from pipelines import progress

    shown: dict[str, object] = {}

    def hook(kind: str, text: str | None) -> None:
        task = shown.pop(kind, None)
        if task is not None:
            prog.remove_task(task)
        if text is None:
            return
        if not prog.disable and prog.live.is_started:
            shown[kind] = prog.add_task(text, total=None, notice=True)
        elif shown.get(("printed", kind)) != text:
            err_console.print(text, markup=False, highlight=False, soft_wrap=True)
            shown[("printed", kind)] = text

    progress.set_notice_hook(hook)


class _QuietKnownFailure:
    """A logging filter that drops Prefect's report of a failed task or flow run (its traceback)
    when the failure is one footfall explains in its own error line (``DatabaseBusy``, a
    database it cannot use); ``--debug`` keeps them."""

    def __init__(self) -> None:
        from pipelines.cluster import ClusterError
        from pipelines.db import DatabaseBusy, DatabaseError

        self.known = (DatabaseBusy, DatabaseError, ClusterError)
        self.names = tuple(k.__name__ for k in self.known)

    def _names(self) -> tuple[str, ...]:
        """The known classes' names and their subclasses' (pipelines.lake.LakeError, ...)."""
        out, stack = list(self.names), list(self.known)
        while stack:
            for sub in stack.pop().__subclasses__():
                out.append(sub.__name__)
                stack.append(sub)
        return tuple(out)

    def filter(self, record) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, self.known):
            return False
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot format is not ours to judge
            return True
        return not any(n in msg for n in self._names())


def contain_prefect_logs():
    """Install ``_QuietKnownFailure`` on Prefect's run loggers and the root handlers (Prefect's
    console); returns the function that removes it."""
    import logging

    from pipelines.cli.common import debug_on

    if debug_on():
        return lambda: None
    f = _QuietKnownFailure()
    targets = [logging.getLogger(n) for n in ("prefect", "prefect.flow_runs", "prefect.task_runs",
                                               "prefect.flow_engine", "prefect.task_engine")]
    targets += list(logging.getLogger().handlers)
    for t in targets:
        t.addFilter(f)

    def remove() -> None:
        for t in targets:
            t.removeFilter(f)

    return remove


def run_sync(planned, quiet: bool, prog=None) -> dict:
    """Run the sync flow on the plan (``pipelines.flows.run_planned_sync``) with a progress bar."""
    from pipelines import progress
    from pipelines.cluster import ClusterError, session
    from pipelines.db import DatabaseBusy

    prog = prog if prog is not None else make_progress(quiet)
    ids: dict[str, int] = {}

    def hook(stage: str, advance: int, total: int | None) -> None:
        if stage not in ids:
            label = {"sources": "reading", "files": "files decoded", "models": "building models"}[stage]
            ids[stage] = prog.add_task(label, total=total)
        if total is not None:
            prog.update(ids[stage], total=total)
        prog.advance(ids[stage], advance)

    progress.set_hook(hook)
    watch_children()
    uncontain = contain_prefect_logs()
    try:
        # --cluster: connect and check the workers before Prefect starts and the flow opens
        # the database (a cluster that cannot be used fails the sync with nothing written)
        with session(planned.settings.cluster), head_start(planned):
            run_planned_sync = _import_flows()

            with prog:
                return run_planned_sync(planned)
    except (DatabaseBusy, ClusterError) as err:
        fail(str(err))
    except FileNotFoundError as err:
        fail(str(err))
    finally:
        uncontain()
        progress.set_hook(None)


@contextmanager
def head_start(planned):
    """Read the first batches and queue them in the decode workers before Prefect is imported
    and its server answers (``pipelines.sync.HeadStart``): the flow run takes them over. Not
    with a Dask cluster (``--cluster``: the flow's executor). Shut down if no flow run took it."""
    if planned.settings.cluster:
        yield None
        return
    with _gc_paused():  # polars and numpy's objects live to the end: no collection need walk them now
        from pipelines.sync import HeadStart
    head = planned.head_start = HeadStart(planned)
    try:  # Ctrl-C while it reads: its pool is shut down too
        yield head.start()
    finally:
        planned.head_start = None
        head.close()


def _import_flows():
    """``pipelines.flows.run_planned_sync``, imported with the garbage collector paused: importing
    Prefect makes ~126,000 tracked objects that live to the end, and the collections they trigger
    walked them (~10% of the import's time, py-spy; 0.05-0.1 s CPU measured)."""
    with _gc_paused():
        from pipelines.flows import run_planned_sync
    return run_planned_sync


@contextmanager
def _gc_paused():
    """The garbage collector off while the block runs (imports whose objects live to the end),
    then back as it was."""
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def plan(paths: list[str], s):
    """Discover and plan the sync once (``pipelines.syncplan.plan_sources``), without Prefect."""
    from pipelines.startup import take_plan
    from pipelines.db import DatabaseBusy
    from pipelines.syncplan import plan_sources

    planned = take_plan(paths, s)  # made by pipelines/cli/fast.py before typer ran
    if planned is not None:
        return planned
    try:
        return plan_sources(paths, s)
    except FileNotFoundError as err:  # a PATH that is not there: what was typed is wrong
        fail(f"{err.filename or err}: no such file or folder", 2)
    except DatabaseBusy as err:
        fail(str(err))


def nothing_found(planned) -> str:
    """What a sync that found no activity file under its paths says (it then exits 1, before
    any database is created or Prefect started): the paths, and what was there instead."""
    where = ", ".join(planned.paths)
    other = planned.skipped_by_extension
    seen = ("; not read: " + ", ".join(f"{n} {ext}" for ext, n in sorted(other.items()))) if other else ""
    walk = f"; could not walk: {', '.join(planned.walk_errors)}" if planned.walk_errors else ""
    return (f"no activity files found in {where} (footfall reads .fit .gpx .tcx, also .gz and in "
            f".zip archives{seen}{walk})")


def print_summary(s: dict, db: Path) -> None:
    wall = s.get("wall_seconds")
    took = f"{wall:.1f} s, of which {s['seconds']:.1f} s syncing" if wall is not None else f"{s['seconds']:.1f} s"
    t = Table(title=f"footfall sync → {escape(str(db))}  ({took})", show_header=True)
    t.add_column("what")
    t.add_column("count", justify="right")
    from pipelines.syncplan import summary_rows

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
    print_flags(s.get("new_flags") or [], title="flags raised by this sync")


def sync(
    paths: Annotated[list[Path], typer.Argument(help="Folders, files or archives (.fit .gpx .tcx, .gz, .zip, Garmin/Strava exports).")],
    db: DbOpt = None,
    athlete: AthleteOpt = None,
    workers: WorkersOpt = None,
    as_json: JsonOpt = False,
    always_run: Annotated[bool, typer.Option("--always-run", help="Run the Prefect flow even when no file changed.")] = False,
    cluster: Annotated[Optional[str], typer.Option("--cluster", metavar="tcp://HOST:PORT", help="Decode on this Dask cluster (needs the cluster extra; config [cluster] address, FOOTFALL_CLUSTER).")] = None,
    data_path: Annotated[Optional[str], typer.Option("--data-path", help="Team mode (--db ducklake:postgres:...): the lake's shared data folder (default: data_path in the config's team table).")] = None,
) -> None:
    """Sync watch exports into the DuckDB file; print what landed and the flags raised.

    When every file and archive is unchanged since the last sync (path, size and mtime), there is
    nothing to decode, land or rebuild: the sync says so without starting a Prefect flow run
    (which costs several seconds on the temporary server). --always-run runs it anyway.
    """
    import os

    from pipelines import progress
    from pipelines.db import wait_budget

    if data_path:  # team mode: read by the settings (here and in the flow) as FOOTFALL_DATA_PATH
        os.environ["FOOTFALL_DATA_PATH"] = data_path
    prog = make_progress(as_json)
    show_notices(prog)  # "waiting for the database: held by another process (PID N, name)"
    try:
        # lock_wait_s in total: choosing the athlete, planning, then the flow
        with wait_budget(settings_for(db, workers=workers).lock_wait_s):
            s = settings_with_athlete(db, athlete, mode="sync", workers=workers).with_overrides(cluster=cluster)
            planned = plan([str(p) for p in paths], s)
            if not planned.sources:
                fail(nothing_found(planned), 1)
            if planned.nothing_to_do and not always_run:
                out = planned.summary()
                out.seconds = round(planned.seconds, 3)
                summary = out.to_dict()
                from pipelines.snapshot import publish_missing
                publish_missing(s.db, s)  # a database from before the analysts' snapshot
            else:
                if planned.db_existed and not planned.plan.sources and planned.plan.models_stale and not always_run:
                    # e.g. a sync killed after landing, before its model build ended
                    err_console.print(f"nothing new to land, but the models are not current "
                                      f"({planned.plan.models_stale}): building them",
                                      highlight=False, soft_wrap=True, markup=False)
                summary = run_sync(planned, quiet=as_json, prog=prog)
    finally:
        progress.set_notice_hook(None)
    summary["wall_seconds"] = wall_seconds()  # from the command's start, not only the flow's
    if as_json:
        print(json.dumps(summary, default=str, indent=2))
    else:
        print_summary(summary, s.db)
