"""``footfall schema [TABLE]``: what the database's tables, views and columns mean, from the
comments every build and migration store in it (``pipelines/schema_docs.py``)."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from pipelines.cli.common import DbOpt, JsonOpt, fail, say, settings_for


def schema(
    table: Annotated[Optional[str], typer.Argument(help="A table or view: list its columns, types and comments.")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the tables and views with what each holds, or one table's columns with type and meaning.

    The same text is stored in the database as comments, so any SQL client shows it too
    (SELECT table_name, column_name, comment FROM duckdb_columns()).
    """
    from pipelines.db import DatabaseBusy, connection

    s = settings_for(db)
    if not s.db.exists():
        fail(f"{s.db} does not exist; run `footfall sync PATH` or `footfall demo` first")
    try:
        with connection(s.db, read_only=True, wait_s=s.lock_wait_s) as con:
            rels = con.execute(
                "SELECT table_name AS name, 'table' AS kind, comment FROM duckdb_tables() "
                "WHERE schema_name = 'main' AND database_name = current_database() AND NOT internal "
                "UNION ALL SELECT view_name, 'view', comment FROM duckdb_views() "
                "WHERE schema_name = 'main' AND database_name = current_database() AND NOT internal "
                "ORDER BY name").fetchall()
            cols = []
            if table is not None:
                known = {r[0] for r in rels}
                if table not in known:
                    fail(f"no table or view {table!r} in {s.db}; known: {', '.join(sorted(known)) or 'none'}", 2)
                cols = con.execute(
                    "SELECT column_name, data_type, comment FROM duckdb_columns() WHERE schema_name = 'main' "
                    "AND database_name = current_database() AND table_name = ? ORDER BY column_index",
                    [table]).fetchall()
    except DatabaseBusy as err:
        fail(str(err))
    from rich.table import Table

    from pipelines.cli.common import console

    def table_of(*headers: str) -> Table:
        t = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        for i, h in enumerate(headers):
            t.add_column(h, no_wrap=i < len(headers) - 1, overflow="fold")
        return t

    if table is None:
        if as_json:
            print(json.dumps([{"name": n, "kind": k, "comment": c} for n, k, c in rels], indent=2))
            return
        out = table_of("table", "kind", "comment")
        for n, k, c in rels:
            out.add_row(n, k, c or "(no comment)")
        console.print(out, markup=False, highlight=False)
        return
    kind, comment = next((k, c) for n, k, c in rels if n == table)
    if as_json:
        print(json.dumps({"name": table, "kind": kind, "comment": comment,
                          "columns": [{"name": n, "type": t, "comment": c} for n, t, c in cols]}, indent=2))
        return
    say(f"{table} ({kind}): {comment or '(no comment)'}")
    say("")
    out = table_of("column", "type", "comment")
    for n, t, c in cols:
        out.add_row(n, t, c or "(no comment)")
    console.print(out, markup=False, highlight=False)
