"""The ``footfall`` typer app: every command group's commands under one app (``pipelines.cli.app``, imported on first use;
``main`` in ``pipelines/cli/__init__.py`` runs it)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

# each command module by its full name: the package (pipelines/cli/__init__.py) loads this module,
# so importing names from the package here would be a cycle
import pipelines.cli.activity as activity
import pipelines.cli.check as check
import pipelines.cli.common as common
import pipelines.cli.demo as demo
import pipelines.cli.flags as flags
import pipelines.cli.journal as journal
import pipelines.cli.plan as plan
import pipelines.cli.report as report
import pipelines.cli.schema as schema
import pipelines.cli.serve as serve
import pipelines.cli.sync as sync

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
