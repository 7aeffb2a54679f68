"""``footfall flags``, ``query`` and ``build``: read the built models, or build them again."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Optional

import typer
from rich.markup import escape

from pipelines.cli.common import (
    AthleteOpt,
    DbOpt,
    JsonOpt,
    console,
    err_console,
    fail,
    no_models_message,
    print_flags,
    settings_for,
    settings_with_athlete,
    stale_warning,
    watch_children,
)


def flags(
    db: DbOpt = None,
    athlete: AthleteOpt = None,
    all_athletes: Annotated[bool, typer.Option("--all-athletes", help="Every athlete's flags.")] = False,
    since: Annotated[Optional[str], typer.Option(help="Only flags on or after this date (YYYY-MM-DD).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the flags (loading spikes linked to injury risk in studies, pain, shoes).

    As a table, or JSON; with a fixed safety note about bone stress (on stderr with --json).
    """
    from pipelines.db import DatabaseBusy, connection
    from pipelines.sqlmodels import ModelsNotBuilt, query_flags

    s = settings_for(db) if all_athletes else settings_with_athlete(db, athlete)
    since_d = None
    if since:
        try:
            since_d = date.fromisoformat(since)
        except ValueError:
            fail(f"--since must be a date like 2026-01-31, not {since!r}", 2)
    if not s.db.exists():
        fail(f"{s.db} does not exist; run `footfall sync PATH` first")
    stale = None
    try:
        with connection(s.db, read_only=True, wait_s=s.lock_wait_s) as con:
            try:
                df = query_flags(con, athlete=None if all_athletes else s.athlete, since=since_d)
            except ModelsNotBuilt:
                fail(no_models_message(con, s.db))
            stale = stale_warning(con, s)
    except DatabaseBusy as err:
        fail(str(err))
    if stale:
        err_console.print(stale, highlight=False, soft_wrap=True, markup=False)
    from models.notes import BONE_STRESS_NOTE

    rows = df.to_dicts()
    if as_json:
        print(json.dumps(rows, default=str, indent=2))
        err_console.print(BONE_STRESS_NOTE, highlight=False, soft_wrap=True, markup=False)
    else:
        print_flags(rows, title=f"flags in {escape(str(s.db))}")
        console.print(BONE_STRESS_NOTE, highlight=False, soft_wrap=True, markup=False)


def query(
    sql: Annotated[str, typer.Argument(help="A SQL query, run read-only.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a read-only SQL query against the DuckDB file and print the result."""
    import duckdb

    from pipelines.db import DatabaseBusy, connection

    s = settings_for(db)
    if not s.db.exists():
        fail(f"{s.db} does not exist; run `footfall sync PATH` first")
    try:
        with connection(s.db, read_only=True, wait_s=s.lock_wait_s) as con:
            df = con.sql(sql).pl()
    except DatabaseBusy as err:
        fail(str(err))
    except duckdb.Error as err:
        from pipelines.db import damaged_message, is_corruption

        if is_corruption(err):
            fail(damaged_message(s.db, err))
        fail(f"query failed: {err}", 2)
    if as_json:
        print(json.dumps(df.to_dicts(), default=str, indent=2))
    else:
        import polars as pl

        with pl.Config(tbl_rows=50, tbl_cols=20, fmt_str_lengths=40, tbl_width_chars=200):
            print(df)


def build(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Rebuild the SQL models and flags from what is landed."""
    from pipelines.flows import build as build_flow, run_flow

    s = settings_for(db)
    if not s.db.exists():
        fail(f"{s.db} does not exist; run `footfall sync PATH` first")
    watch_children()
    built = run_flow(build_flow, db=str(s.db))
    if as_json:
        print(json.dumps({"db": str(s.db), "models": list(built)}, indent=2))
        return
    console.print(f"built {len(built)} models: {', '.join(built)}")
