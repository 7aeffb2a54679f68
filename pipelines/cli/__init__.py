"""``footfall`` command line: parses arguments, calls flows or read-only helpers, prints.

One module per command group: ``sync`` (sync), ``flags`` (flags, query, build), ``journal``
(log, shoes), ``activity`` (activity sport/exclude/include, audit), ``plan`` (plan), ``report``
(report, export), ``serve``, ``demo``, ``check``; what they share
(options, settings, errors, flag printing) is in ``common``. The console script is
``footfall = "pipelines.cli:main"``.

Exit codes: 0 ok (also when some files were quarantined: they are reported), 1 error, 2 usage.
Prefect is imported only by the commands that run a flow (sync with work to do, demo, build, serve).
The typer app is built in ``pipelines/cli/commands.py`` on first use (``pipelines.cli.app``): a sync
with nothing to do answers before typer and rich are imported (``pipelines/cli/fast.py``).
"""

from __future__ import annotations

import os
import sys
import time
import traceback

from pipelines import startup as state
from pipelines.startup import debug_on

__all__ = ["app", "console", "err_console", "main"]


def __getattr__(name: str):
    """``app`` (the typer app), ``console``, ``err_console``: imported on first use."""
    if name == "app":
        from pipelines.cli.commands import app

        return app
    if name in ("console", "err_console"):
        from pipelines.cli import common

        return getattr(common, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def start_early_server() -> None:
    """A sync with work to do and no Prefect server to report to: start Prefect's temporary
    server now, before typer, Prefect and the flow are imported (``pipelines.prefect_api.
    start_early_server``; FOOTFALL_EARLY_SERVER=0 leaves it to Prefect). The watchdog first, so
    the server carries its token (``pipelines/watchdog.py``)."""
    from pipelines import prefect_api, watchdog

    if prefect_api.early_server_wanted():
        watchdog.start()
        prefect_api.start_early_server()


def skip_the_last_collection() -> None:
    """At the process's exit, after the exit handlers registered from here on: ``gc.freeze()``,
    so the interpreter's last garbage collection does not walk every object Prefect and pydantic
    made (issue 17: ~0.45 s of a one-new-file sync's ~3.5 s on 2 cores, measured with py-spy;
    ``wall_seconds`` never saw it). Registered first, so it runs after Prefect's and footfall's
    own exit handlers (atexit runs last-registered first), which still run and flush. Only the
    search for unreachable reference cycles is skipped (the OS takes their memory back): footfall
    closes every connection and file it opens, none is left for that collection to close."""
    global _FREEZE_AT_EXIT
    if not _FREEZE_AT_EXIT:
        import atexit
        import gc

        atexit.register(gc.freeze)
        _FREEZE_AT_EXIT = True


_FREEZE_AT_EXIT = False


def main() -> None:
    """The ``footfall`` command: every failure ends with one ``error: <cause>`` line on stderr and
    exit code 1; the traceback (and Prefect's failure logs) only with ``--debug`` or
    FOOTFALL_DEBUG=1."""
    started = time.perf_counter() - state.process_age_s()
    skip_the_last_collection()
    args = sys.argv[1:]
    direct = None  # a plain `footfall sync` with work to do (pipelines/cli/fast.py), run without typer
    if args[:1] == ["sync"] and not debug_on():
        from pipelines.cli import fast

        if fast.sync_nothing_to_do(args[1:], started):
            return
        if state.plan_has_work():  # a flow run follows: no need for typer to parse the line again
            start_early_server()
            direct = fast.parse(args[1:])
    from pipelines.cli import common
    from pipelines.cli.common import err_console, error_line

    common.ENTRY_POINT = True
    common.CLI_STARTED = started
    common.print_notices()  # "waiting for the database: held by another process (PID N)"
    cut = args.index("--") if "--" in args else len(args)
    if "--debug" in args[:cut]:
        args = [a for i, a in enumerate(args) if not (a == "--debug" and i < cut)]
        os.environ["FOOTFALL_DEBUG"] = "1"
    debug = debug_on()
    if not debug:
        # Prefect logs each failed task and flow run with its traceback at ERROR level: the
        # error line below says it once (a user's own PREFECT_LOGGING_LEVEL wins)
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_INTERNAL_LOGGING_LEVEL", "CRITICAL")
        # its services log through the root logger (EventsWorker "Still processing items")
        os.environ.setdefault("PREFECT_LOGGING_ROOT_LEVEL", "ERROR")
    try:
        if direct is not None:
            fast.run_sync(direct)
        else:
            from pipelines.cli.commands import app

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


