"""What every table, view and column of a footfall database means, written ONCE beside its SQL
and stored in the database as DuckDB comments (``COMMENT ON TABLE|VIEW|COLUMN``), so
``duckdb_columns()``, ``duckdb_tables()``, ``duckdb_views()``, any SQL client and
``footfall schema`` show them.

Where the words come from (one source each; nothing is written twice):

* **raw tables** (``sql/00_schema/NNN_*.sql`` and the DDL constants the Python code runs,
  passed in by the callers: ``db.SCHEMA_MIGRATIONS_DDL``, ``sqlmodels.FLAG_LOG_DDL``,
  ``THRESHOLDS_DDL``, ``BUILD_INFO_DDL``): the table's comment is the block of ``--`` lines right above its
  ``CREATE TABLE`` (a leading ``NNN_name:`` is dropped); a column's comment is the ``--`` comment
  at the end of its line in the ``CREATE TABLE`` (or of its ``ALTER TABLE ... ADD COLUMN``
  statement), continued on the next lines when they are only a comment starting at the same
  position. ``ALTER TABLE t RENAME COLUMN a TO b`` carries the comment to ``b``.
* **models** (``sql/10_staging``, ``20_intermediate``, ``30_marts``): the file's leading ``--``
  header. The relation's comment is the header up to its ``rules``/``variables``/``column``
  lines (description, grain, key, units; a leading ``name:`` is dropped). A column's comment is a
  header line ``-- column NAME: text`` (``-- column A, B: text`` for several), continued on
  following header lines indented by three or more spaces.
* a model column without its own ``-- column`` line takes the comment of the column of the same
  name in the nearest relation the model reads (the model it names built last, else a raw table
  it names): a renamed or pass-through column is documented where it is made.
* ``sql/glossary.sql``: ``-- column NAME: text`` lines for names that mean the same everywhere
  (``athlete_id``, ``activity_id``, ...), used last.

``apply_comments`` writes the comments that differ from what the database holds (it is cheap to
call again): the migration runner calls it for the raw tables, the model build for everything
(``CREATE OR REPLACE`` drops a view's or table's comments). Both run it inside their transaction.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
GLOSSARY = SQL_DIR / "glossary.sql"

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_CREATE_TABLE = re.compile(rf"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?({_IDENT})\s*\(",
                           re.IGNORECASE)
_ADD_COLUMN = re.compile(
    rf"^\s*ALTER\s+TABLE\s+({_IDENT})\s+ADD\s+COLUMN\s+(?:IF\s+NOT\s+EXISTS\s+)?({_IDENT})\b[^;]*;\s*(?:--\s?(.*))?$",
    re.IGNORECASE)
_RENAME_COLUMN = re.compile(
    rf"^\s*ALTER\s+TABLE\s+({_IDENT})\s+RENAME\s+COLUMN\s+({_IDENT})\s+TO\s+({_IDENT})", re.IGNORECASE)
_NOT_A_COLUMN = {"primary", "unique", "check", "foreign", "constraint"}
_COLUMN_LINE = re.compile(rf"^\s*({_IDENT})\s+[A-Za-z]")
_DOC_COLUMN = re.compile(rf"^column\s+({_IDENT}\b.*)$")
_DOC_NAMES = re.compile(rf"^({_IDENT}(?:\s*,\s*{_IDENT})*)\s*:\s*(.*)$")
_MIGRATION_PREFIX = re.compile(r"^\d{3}_[a-z0-9_]+:\s*")


@dataclass
class RelationDoc:
    comment: str | None = None
    columns: dict[str, str] = field(default_factory=dict)


def _clean(parts: list[str]) -> str:
    """Comment lines as one text; a line starting a ``grain:``/``key:``/``units:`` label after a
    sentence that did not end is set off with ``; ``."""
    out = ""
    for p in parts:
        p = p.strip()
        if not p:
            continue
        if out and re.match(r"^(grain|key|units|windows|first_raised_at)\b", p) and out[-1] not in ".;:,(":
            out += ";"
        out = f"{out} {p}" if out else p
    return re.sub(r"\s+", " ", out).strip()


def parse_ddl(sql: str, docs: dict[str, RelationDoc] | None = None) -> dict[str, RelationDoc]:
    """Table and column comments of the ``CREATE TABLE``/``ALTER TABLE`` statements in ``sql``
    (see the module docstring), added to ``docs``."""
    docs = {} if docs is None else docs
    lines = sql.splitlines()
    above: list[str] = []  # the comment block right above the current line
    table: str | None = None  # inside this CREATE TABLE's column list
    last: tuple[str, int] | None = None  # (column, position of its '--') for continuations
    for line in lines:
        stripped = line.strip()
        if table is not None:
            if stripped.startswith("--"):
                pos = line.index("--")
                if last is not None and pos == last[1]:
                    col = docs[table].columns
                    col[last[0]] = _clean([col[last[0]], stripped[2:]])
                continue
            if stripped.startswith(")"):
                table, last = None, None
                continue
            code, _, comment = line.partition("--")
            m = _COLUMN_LINE.match(code)
            if m and m.group(1).lower() not in _NOT_A_COLUMN:
                if comment.strip():
                    docs[table].columns[m.group(1)] = _clean([comment])
                    last = (m.group(1), line.index("--"))
                else:
                    last = None
            else:
                last = None
            continue
        if stripped.startswith("--"):
            above.append(stripped[2:])
            continue
        m = _CREATE_TABLE.match(line)
        if m:
            table = m.group(1)
            doc = docs.setdefault(table, RelationDoc())
            text = _MIGRATION_PREFIX.sub("", _clean(above))
            if text:
                doc.comment = text
            above, last = [], None
            continue
        m = _ADD_COLUMN.match(line)
        if m and m.group(3):
            docs.setdefault(m.group(1), RelationDoc()).columns[m.group(2)] = _clean([m.group(3)])
        m = _RENAME_COLUMN.match(line)
        if m and m.group(1) in docs and m.group(2) in docs[m.group(1)].columns:
            cols = docs[m.group(1)].columns
            cols[m.group(3)] = cols.pop(m.group(2))
        above = []
    return docs


def header_lines(sql: str) -> list[str]:
    """The leading ``--`` lines of a file, without the ``--``."""
    out = []
    for line in sql.splitlines():
        s = line.strip()
        if not s.startswith("--"):
            break
        out.append(s[2:])
    return out


@functools.lru_cache(maxsize=256)
def parse_header(sql: str, name: str | None = None) -> RelationDoc:
    """A model file's comment and ``-- column`` docs (see the module docstring)."""
    doc = RelationDoc()
    about: list[str] = []
    in_about = True
    current: list[str] | None = None

    def flush() -> None:
        if current is None:
            return
        m = _DOC_NAMES.match(_clean(current))  # the names may wrap onto continuation lines
        if m is None:
            raise ValueError(f"a `-- column` line without 'NAME[, NAME...]: text': {_clean(current)!r}")
        for n in m.group(1).split(","):
            doc.columns[n.strip()] = m.group(2)

    for raw in header_lines(sql):
        text = raw.strip()
        m = _DOC_COLUMN.match(text)
        if m:
            flush()
            in_about = False
            current = [m.group(1)]
            continue
        if current is not None and raw.startswith("   ") and text:
            current.append(text)
            continue
        flush()
        current = None
        if re.match(r"^(rules\b|variables:|windows:|NULLs:|materiali[sz]ation:|\*)", text) or not text:
            in_about = False
        if in_about:
            about.append(text)
    flush()
    comment = _clean(about)
    if name and comment.startswith(f"{name}:"):
        comment = comment[len(name) + 1:].strip()
    doc.comment = comment or None
    return doc


@functools.lru_cache(maxsize=4)
def glossary(path: Path = GLOSSARY) -> dict[str, str]:
    """``-- column NAME: text`` lines of ``sql/glossary.sql``: names that mean the same everywhere."""
    return parse_header(path.read_text()).columns if path.exists() else {}


@functools.lru_cache(maxsize=8)
def raw_docs(extra_ddl: tuple[str, ...] = ()) -> dict[str, RelationDoc]:
    """Comments of the raw tables: the migrations, then ``extra_ddl`` (the DDL constants of the
    tables the Python code creates, passed by the caller: this module imports no other)."""
    docs: dict[str, RelationDoc] = {}
    for path in sorted((SQL_DIR / "00_schema").glob("[0-9][0-9][0-9]_*.sql")):
        parse_ddl(path.read_text(), docs)
    for ddl in extra_ddl:
        parse_ddl(ddl, docs)
    return docs


def _relations(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, dict[str, tuple[str, str | None]]]]:
    """{relation: (kind TABLE|VIEW, {column: (type, comment)})} of the main schema, with their
    current comments (the relation's own under the key '')."""
    rels: dict[str, tuple[str, dict]] = {}
    for name, comment in con.execute(
            "SELECT table_name, comment FROM duckdb_tables() WHERE schema_name = 'main' "
            "AND database_name = current_database() AND NOT internal AND NOT temporary").fetchall():
        rels[name] = ("TABLE", {"": ("", comment)})
    for name, comment in con.execute(
            "SELECT view_name, comment FROM duckdb_views() WHERE schema_name = 'main' "
            "AND database_name = current_database() AND NOT internal AND NOT temporary").fetchall():
        rels[name] = ("VIEW", {"": ("", comment)})
    for rel, col, typ, comment in con.execute(
            "SELECT table_name, column_name, data_type, comment FROM duckdb_columns() "
            "WHERE schema_name = 'main' AND database_name = current_database() AND NOT internal "
            "ORDER BY table_name, column_index").fetchall():
        if rel in rels:
            rels[rel][1][col] = (typ, comment)
    return rels


def wanted_comments(con: duckdb.DuckDBPyConnection, *, extra_ddl: tuple[str, ...] = (),
                    models: list | None = None
                    ) -> dict[str, tuple[str, str | None, dict[str, str | None]]]:
    """{relation: (kind, relation comment, {column: comment})} for every documented relation in
    the database: the raw tables (migrations and ``extra_ddl``) and ``models`` (the
    ``sqlmodels.Model`` list in build order). A comment is None where no source documents it
    (``tests/pipelines/test_schema_comments.py`` fails on any)."""
    rels = _relations(con)
    raw = raw_docs(tuple(extra_ddl))
    gloss = glossary()
    resolved: dict[str, dict[str, str | None]] = {}
    out: dict[str, tuple[str, str | None, dict[str, str | None]]] = {}
    for name, doc in raw.items():
        if name not in rels:
            continue
        kind, cols = rels[name]
        resolved[name] = {c: doc.columns.get(c) or gloss.get(c) for c in cols if c}
        out[name] = (kind, doc.comment, resolved[name])
    if not models:
        return out
    ordered = list(models)
    raw_names = [n for n in raw if n in rels]
    for m in ordered:
        if m.name not in rels:
            continue
        kind, cols = rels[m.name]
        doc = parse_header(m.sql, m.name)
        words = set(re.findall(_IDENT, re.sub(r"--[^\n]*", "", m.sql).lower()))
        upstream = [r.name for r in reversed(ordered[: ordered.index(m)]) if r.name in m.refs]
        upstream += [r for r in raw_names if r.lower() in words]
        mine: dict[str, str | None] = {}
        for c in cols:
            if not c:
                continue
            text = doc.columns.get(c)
            if text is None:
                text = next((resolved[u][c] for u in upstream if resolved.get(u, {}).get(c)), None)
            mine[c] = text or gloss.get(c)
        resolved[m.name] = mine
        out[m.name] = (kind, doc.comment, mine)
    return out


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def apply_comments(con: duckdb.DuckDBPyConnection, *, extra_ddl: tuple[str, ...] = (),
                   models: list | None = None) -> int:
    """Write every documented comment that differs from the database's (see
    :func:`wanted_comments`); return how many were written. Runs inside the caller's
    transaction (DuckDB allows COMMENT ON in one)."""
    rels = _relations(con)
    # a DuckLake (team mode) takes no COMMENT ON COLUMN of a view: their columns stay bare there
    lake = con.execute("SELECT type = 'ducklake' FROM duckdb_databases() "
                       "WHERE database_name = current_database()").fetchall() == [(True,)]
    todo: list[str] = []
    for name, (kind, comment, cols) in wanted_comments(con, extra_ddl=extra_ddl, models=models).items():
        have = rels[name][1]
        if comment and have[""][1] != comment:
            todo.append(f"COMMENT ON {kind} {_ident(name)} IS {_literal(comment)}")
        for col, text in ({} if lake and kind.upper() == "VIEW" else cols).items():
            if text and have.get(col, ("", None))[1] != text:
                todo.append(f"COMMENT ON COLUMN {_ident(name)}.{_ident(col)} IS {_literal(text)}")
    if todo:  # one call: a model build writes ~480 of them (issue 17: 0.44 s one by one, 0.15 s so)
        con.execute(";\n".join(todo))
    return len(todo)


def missing_comments(con: duckdb.DuckDBPyConnection) -> list[str]:
    """``relation`` and ``relation.column`` names of the main schema that carry no comment."""
    out = []
    for name, (_, cols) in sorted(_relations(con).items()):
        for col, (_, comment) in cols.items():
            if not (comment or "").strip():
                out.append(f"{name}.{col}" if col else name)
    return out
