"""``footfall`` command line: parses arguments, calls flows or read-only helpers, prints.

One module per command group: ``sync`` (sync), ``flags`` (flags, query, build), ``journal``
(log, shoes), ``activity`` (activity sport/exclude/include, audit), ``plan`` (plan), ``report``
(report, export), ``serve``, ``demo``, ``check``; what they share
(options, settings, errors, flag printing) is in ``common``. The console script is
``footfall = "pipelines.cli:main"``.

Exit codes: 0 ok (also when some files were quarantined: they are reported), 1 error, 2 usage.
Prefect is imported only by the commands that run a flow (sync with work to do, demo, build, serve).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from typing import Annotated

import typer

from pipelines.cli import activity, check, common, demo, flags, journal, plan, report, schema, serve, sync
from pipelines.cli.common import console, debug_on, err_console, error_line

__all__ = ["app", "console", "err_console", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="footfall: watch exports (FIT, GPX, TCX) to DuckDB, with load figures and flags for loading spikes linked to injury risk in studies.",
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"footfall {version('footfall')}")
        raise typer.Exit()


@app.callback()
def _global_options(
    debug: Annotated[bool, typer.Option("--debug", help="On a failure, print the traceback and Prefect's logs (also FOOTFALL_DEBUG=1).")] = False,
    show_version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print footfall's version and exit.")] = False,
) -> None:
    """footfall: watch exports (FIT, GPX, TCX) to DuckDB, with load figures and flags for loading spikes linked to injury risk in studies."""
    if not common.ENTRY_POINT:  # invoked as `app` (tests): the clock starts here, not in main
        common.CLI_STARTED = time.perf_counter()


app.command()(sync.sync)
app.command()(demo.demo)
app.command()(flags.build)
app.command()(flags.flags)
app.add_typer(journal.log_app, name="log")
app.add_typer(journal.shoes_app, name="shoes")
app.add_typer(activity.activity_app, name="activity")
app.command()(activity.audit)
app.add_typer(plan.plan_app, name="plan")
app.command()(flags.query)
app.command()(check.check)
app.command()(schema.schema)
app.command()(report.report)
app.command()(report.export)
app.command()(serve.serve)


def main() -> None:
    """The ``footfall`` command: every failure ends with one ``error: <cause>`` line on stderr and
    exit code 1; the traceback (and Prefect's failure logs) only with ``--debug`` or
    FOOTFALL_DEBUG=1."""
    common.ENTRY_POINT = True
    common.CLI_STARTED = time.perf_counter() - common.process_age_s()
    common.print_notices()  # "waiting for the database: held by another process (PID N)"
    args = sys.argv[1:]
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


