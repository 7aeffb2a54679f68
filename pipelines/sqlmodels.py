"""Run the SQL models in ``sql/`` (staging -> intermediate -> marts), their data tests, and read flags.

The models are plain ``.sql`` files, one relation each, named after the relation they create
(``sql/30_marts/weekly_load.sql`` holds ``create or replace table weekly_load as ...``). The runner:

1. checks every file (``discover_models``): one ``create or replace view|table <file stem>``; a
   view must not read ``getvariable()`` (DuckDB variables live in the connection that set them, so
   an analyst's connection would see NULL: anything that reads a threshold or ``today`` is a
   TABLE, materialized with the values of this build);
2. orders them: layer by layer (``10_staging``, ``20_intermediate``, ``30_marts``), and inside a
   layer by name, except that a model runs after the models it names (its references are found by
   name, like dbt's ``ref()``; a reference to a later layer or a cycle is an error);
3. in ONE transaction: sets every threshold of ``models/thresholds.py`` (with the user's
   overrides) as a DuckDB variable of the same name, plus ``today`` (DATE) and ``built_at``
   (TIMESTAMP, UTC); loads the ``thresholds`` table (name, value, default_value, is_override,
   unit, source, note) that flag rows join their source and caveat from, and ``build_info``
   (built_at, today, models); runs every model file in full; records newly raised flag ids in
   ``flag_log``; marks the models current in ``model_state`` (``models_generation`` = the
   ``data_generation`` they were built from; see ``models_stale``); writes the comment of every
   relation and column from the SQL's own comments (``pipelines/schema_docs.py``: ``CREATE OR
   REPLACE`` drops them); commits. A failure, or a
   kill at any point, rolls everything back, so readers never see a half-built set: the
   previous build stays as it was, and the next sync sees it is behind the data and rebuilds.

``flag_log`` (flag_id, athlete_id, rule, local_date, activity_id, first_raised_at) is the only
state the models keep between builds: ``flags.first_raised_at`` comes from it, so a sync or a
report can list the flags raised since a given time. Everything else is rebuilt from the raw
tables on every run.

Materialization: staging views and ``int_sessions`` are views (cheap renames/joins, always
current); ``daily_load``, ``weekly_load``, ``acwr_daily``, ``session_spikes`` and ``flags`` are
tables (they read variables, and the EWMA recursion and windowed spike baselines are worth
computing once per build, not per query).
"""

from __future__ import annotations

import functools
import graphlib
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from models.thresholds import THRESHOLDS, value
from pipelines.clock import local_today
from pipelines.db import (SCHEMA_MIGRATIONS_DDL, SQL_DIR, ddl, quote_ident, rollback, table_columns, tables,
                          transaction, utcnow)
from pipelines.pausepoint import pause_point
from pipelines.schema_docs import apply_comments

if TYPE_CHECKING:  # the models' queries return polars frames; importing it costs a re-sync ~0.2 s
    import polars as pl

LAYERS = ("10_staging", "20_intermediate", "30_marts")
TESTS_DIR = SQL_DIR / "tests"

#: The one table of state the models keep across builds (see the module docstring).
FLAG_LOG_DDL = """
-- the flags every build raised, kept between builds (flags.first_raised_at comes from here, so a
-- sync or a report can list the flags raised since a given time); grain: one row per flag ever
-- raised; key: flag_id
CREATE TABLE IF NOT EXISTS flag_log (
    flag_id VARCHAR PRIMARY KEY,      -- flags.flag_id (stable hash of athlete, rule, date, activity)
    athlete_id VARCHAR,
    rule VARCHAR,                     -- the flag's rule (flags.rule)
    local_date DATE,
    activity_id VARCHAR,
    first_raised_at TIMESTAMP         -- UTC time of the build that first raised it
)
"""

#: The thresholds of this build, rebuilt by every build (flag rows join their source and caveat).
THRESHOLDS_DDL = """
-- every threshold of models/thresholds.py as this build used it (the runner's overrides
-- included), with its unit, source and caveat; flags join their source and note from here.
-- grain: one row per threshold; key: name. The studies named in source: Frandsen et al. 2025,
-- doi:10.1136/bjsports-2024-109380; Nielsen et al. 2014, doi:10.2519/jospt.2014.5164; Gabbett
-- 2016, doi:10.1136/bjsports-2015-095788; Williams et al. 2017, doi:10.1136/bjsports-2016-096589;
-- Silbernagel et al. 2007, doi:10.1177/0363546506298279; Foster 1998, Med Sci Sports Exerc
-- 30(7):1164-1168. ACWR is descriptive, not a risk score: Impellizzeri et al. 2020,
-- doi:10.4085/1062-6050-500-19.
CREATE OR REPLACE TABLE thresholds (
    name VARCHAR PRIMARY KEY,         -- the threshold's name in models/thresholds.py (a DuckDB variable of the build)
    value DOUBLE,                     -- the value this build used, in unit
    default_value DOUBLE,             -- footfall's default (models/thresholds.py)
    is_override BOOLEAN,              -- true when the runner's config set another value
    unit VARCHAR,                     -- unit of value and default_value
    source VARCHAR,                   -- the study (author and year; DOIs in this table's comment) or "footfall heuristic"/"footfall choice"
    note VARCHAR                      -- the caveat that goes with it
)
"""

#: When and from what the models were built (one row, rebuilt by every build).
BUILD_INFO_DDL = """
-- the last model build; grain: one row
CREATE OR REPLACE TABLE build_info (
    built_at TIMESTAMP,               -- UTC time the build ran
    today DATE,                       -- the last day of every athlete's calendar in this build (local date)
    models VARCHAR[]                  -- the models built, in build order
)
"""

_CREATE = re.compile(
    r"\bcreate\s+or\s+replace\s+(view|table)\s+([A-Za-z_][A-Za-z0-9_]*)\s+as\b", re.IGNORECASE
)
_LINE_COMMENT = re.compile(r"--[^\n]*")


class ModelError(RuntimeError):
    """A model file is malformed or failed to run; the message names the file."""


class ModelsNotBuilt(RuntimeError):
    """The database has no models yet (nothing was synced or built)."""


@dataclass(frozen=True)
class Model:
    name: str  # the relation it creates == the file stem
    layer: str  # 10_staging | 20_intermediate | 30_marts
    path: Path
    kind: str  # view | table
    sql: str  # the whole file, executed as is
    refs: frozenset[str]  # other models it names


_WORD = re.compile(r"\w+")


def _code(sql: str) -> str:
    """The SQL without ``--`` comments (model files keep ``--`` out of string literals)."""
    return _LINE_COMMENT.sub("", sql)


def discover_models(sql_dir: Path = SQL_DIR) -> list[Model]:
    """The model files under ``sql_dir``, checked and in the order they must run."""
    found: list[Model] = []
    for layer in LAYERS:
        for path in sorted((sql_dir / layer).glob("*.sql")):
            sql = path.read_text()
            code = _code(sql)
            creates = _CREATE.findall(code)
            if len(creates) != 1:
                raise ModelError(
                    f"{path}: expected exactly one 'create or replace view|table {path.stem} as', "
                    f"found {len(creates)}"
                )
            kind, name = creates[0][0].lower(), creates[0][1]
            if name != path.stem:
                raise ModelError(f"{path}: creates {name!r}; a model file is named after its relation")
            if kind == "view" and "getvariable" in code.lower():
                raise ModelError(
                    f"{path}: a view must not read getvariable() (other connections would see NULL); "
                    f"make it a table"
                )
            found.append(Model(name, layer, path, kind, sql, frozenset()))
    names = [m.name for m in found]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ModelError(f"models defined twice: {dupes}")
    layer_of = {m.name: LAYERS.index(m.layer) for m in found}
    by_lower = {n.lower(): n for n in names}  # names are SQL identifiers: word characters
    ordered: list[Model] = []
    for i, layer in enumerate(LAYERS):
        in_layer: dict[str, Model] = {}
        for m in found:
            if m.layer != layer:
                continue
            code = _code(m.sql)
            # the names appearing as whole words (one pass over the words, not a search per name)
            words = set(_WORD.findall(code.lower()))
            refs = frozenset(by_lower[w] for w in words & by_lower.keys() if by_lower[w] != m.name)
            later = sorted(r for r in refs if layer_of[r] > i)
            if later:
                raise ModelError(f"{m.path}: references {later}, which are built in a later layer")
            in_layer[m.name] = Model(m.name, m.layer, m.path, m.kind, m.sql, refs)
        ts = graphlib.TopologicalSorter()
        for name in sorted(in_layer):
            ts.add(name, *sorted(r for r in in_layer[name].refs if r in in_layer))
        try:
            ts.prepare()
        except graphlib.CycleError as err:
            raise ModelError(f"models in {layer} reference each other in a cycle: {err.args[1]}") from err
        while ts.is_active():
            ready = sorted(ts.get_ready())  # name order among models whose references are built
            for name in ready:
                ordered.append(in_layer[name])
            ts.done(*ready)
    return ordered


def _select(m: Model) -> str:
    """The SELECT of a model file: its ``create or replace ... as`` and comments removed."""
    return _CREATE.sub("", _code(m.sql), count=1).strip().rstrip(";").strip()


@functools.lru_cache(maxsize=64)
def model_query(name: str, sql_dir: Path = SQL_DIR) -> str:
    """A query computing model ``name`` from the raw tables, the models it reads inlined as
    common table expressions: it runs on a database whose models were never built, on a
    read-only connection too, and gives what the model would hold now. So Python code that
    needs a rule the models own (``int_sessions.is_run``, ``int_shoe_assignment``, the
    ``shoe_mileage`` mart) reads that model instead of writing the rule again. A model that reads
    ``getvariable()`` needs those variables set on the connection (:func:`set_build_variables`)."""
    models = discover_models(sql_dir)
    by_name = {m.name: m for m in models}
    if name not in by_name:
        raise ModelError(f"no model {name!r} in {sql_dir}")
    needed: set[str] = set()
    todo = [name]
    while todo:
        for ref in by_name[todo.pop()].refs:
            if ref not in needed:
                needed.add(ref)
                todo.append(ref)
    ctes = [f"{m.name} as (\n{_select(m)}\n)" for m in models if m.name in needed]
    head = ("with\n" + ",\n".join(ctes) + "\n") if ctes else ""
    return f"{head}select * from (\n{_select(by_name[name])}\n)"


def set_build_variables(
    con: duckdb.DuckDBPyConnection,
    *,
    overrides: dict[str, float] | None = None,
    today: date | None = None,
) -> None:
    """Set the variables a build sets (every threshold, ``today``, ``built_at``) on ``con``."""
    _set_variables(con, {**threshold_values(overrides), "today": today or date.today(),
                         "built_at": utcnow()})


def threshold_values(overrides: dict[str, float] | None = None) -> dict[str, float]:
    """Every threshold's value for this build (``models/thresholds.py`` with the overrides)."""
    unknown = sorted(set(overrides or {}) - set(THRESHOLDS))
    if unknown:
        raise KeyError(f"unknown thresholds {unknown}; known: {sorted(THRESHOLDS)}")
    values = {name: value(name, overrides) for name in THRESHOLDS}
    acute, chronic = values["acwr_acute_days"], values["acwr_chronic_days"]
    if not (acute >= 1 and acute == int(acute) and chronic == int(chronic)
            and chronic % acute == 0 and chronic // acute >= 2):
        raise ValueError(
            f"acwr_chronic_days ({chronic:g}) must be a whole multiple (at least 2x) of "
            f"acwr_acute_days ({acute:g}): the chronic window is made of acute-length blocks"
        )
    return values


def _set_variables(con: duckdb.DuckDBPyConnection, variables: dict[str, object]) -> None:
    for name, v in variables.items():
        con.execute(f"SET VARIABLE {quote_ident(name)} = ?", [v])


def _load_thresholds(con: duckdb.DuckDBPyConnection, values: dict[str, float]) -> None:
    con.execute(ddl(con, THRESHOLDS_DDL))  # no keys on a DuckLake (db.ddl)
    rows = [[t.name, values[t.name], float(t.value), values[t.name] != float(t.value), t.unit,
             t.source, t.note] for t in THRESHOLDS.values()]
    # one INSERT of every row (executemany runs one statement per row: ~0.06 s per build)
    con.execute("INSERT INTO thresholds VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(rows)),
                [v for row in rows for v in row])


def run_models(
    con: duckdb.DuckDBPyConnection,
    *,
    overrides: dict[str, float] | None = None,
    today: date | None = None,
) -> list[str]:
    """Build every model in one transaction; return the names built, in build order.

    ``overrides``: threshold values replacing those of ``models/thresholds.py`` (unknown names
    raise ``KeyError``). ``today``: the last day of each athlete's calendar (default: the current
    local date). The connection must not be inside a transaction already.
    """
    models = discover_models()
    values = threshold_values(overrides)
    variables: dict[str, object] = {
        **values,
        "today": today or local_today(),
        "built_at": utcnow(),
    }
    # one transaction: a failed COMMIT (full disk) keeps the first error (db.transaction)
    with transaction(con):
        _set_variables(con, variables)
        _load_thresholds(con, values)
        con.execute(ddl(con, BUILD_INFO_DDL))
        con.execute("INSERT INTO build_info VALUES (?, ?, ?)",
                    [variables["built_at"], variables["today"], [m.name for m in models]])
        con.execute(ddl(con, FLAG_LOG_DDL))
        for m in models:
            try:
                con.execute(m.sql)
            except duckdb.Error as err:
                raise ModelError(f"model {m.name} ({m.path}) failed: {err}") from err
        con.execute(
            "INSERT INTO flag_log "  # one row per new flag_id (no OR IGNORE: a DuckLake has no keys)
            "SELECT DISTINCT ON (flag_id) flag_id, athlete_id, rule, local_date, activity_id, first_raised_at FROM flags "
            "WHERE flag_id NOT IN (SELECT flag_id FROM flag_log)"
        )
        if "model_state" in tables(con):  # these models are current with the data they read
            con.execute("UPDATE model_state SET models_generation = data_generation, "
                        "models_built_at = ? WHERE id = 1", [variables["built_at"]])
        # COMMENT ON every relation and column, from the SQL's own comments (pipelines/schema_docs.py)
        apply_comments(con, extra_ddl=(SCHEMA_MIGRATIONS_DDL, FLAG_LOG_DDL, THRESHOLDS_DDL,
                                       BUILD_INFO_DDL), models=models)
        pause_point("build")
    return [m.name for m in models]


def build_and_diff(
    con: duckdb.DuckDBPyConnection,
    *,
    overrides: dict[str, float] | None = None,
    today: date | None = None,
) -> tuple[list[str], list[dict]]:
    """Build the models (:func:`run_models`) and return (models built, flags this build raised
    that the previous build did not have), the new flags oldest first. Used by the sync and by
    every journal change (``footfall log pain 7 --when during`` says at once that it raised one)."""
    before: set[str] = set()
    if "flags" in tables(con) and "flag_id" in table_columns(con, "flags"):
        before = {r[0] for r in con.execute("SELECT flag_id FROM flags").fetchall()}
    built = run_models(con, overrides=overrides, today=today)
    flags = con.sql("SELECT * FROM flags ORDER BY local_date, athlete_id, rule, activity_id").pl()
    return built, [f for f in flags.to_dicts() if f["flag_id"] not in before]


def models_stale(con: duckdb.DuckDBPyConnection, overrides: dict[str, float] | None = None) -> str | None:
    """Why the models (marts, flags) are not current, or None when they are: never built, built
    before data landed or the journal changed since (``model_state``, migration 005: e.g. a
    sync killed between its last batch and the end of its model build), or built with other
    thresholds than ``overrides`` give. Works on a read-only connection."""
    present = tables(con)
    if "flags" not in present or "build_info" not in present:
        return "the models have never been built"
    older = "they were built by an older footfall, which did not record what they were built from"
    if "model_state" not in present:  # a database not yet migrated to 005 (read-only here)
        return older
    data, built = con.execute("SELECT data_generation, models_generation FROM model_state").fetchall()[0]
    if built is None:
        return older
    if built != data:
        return ("they are older than the landed data or the journal (a sync, build or journal "
                "change was interrupted before the models were rebuilt)")
    if "thresholds" in present:
        try:
            want = {k: float(v) for k, v in threshold_values(overrides).items()}
        except (KeyError, ValueError) as err:  # the build will say so
            return f"the configured thresholds are not valid ({err})"
        have = {k: float(v) for k, v in con.execute("SELECT name, value FROM thresholds").fetchall()}
        if have != want:
            changed = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
            return f"they were built with other thresholds than the config's ({', '.join(changed)})"
    return None


def _as_subquery(sql: str) -> str:
    """A single SELECT from a test file, without comments and the trailing semicolon."""
    return _code(sql).strip().rstrip(";").strip()


def run_data_tests(con: duckdb.DuckDBPyConnection, tests_dir: Path = TESTS_DIR) -> dict[str, int]:
    """Run each ``sql/tests/assert_*.sql``; return {test name: offending row count} (0 = pass).

    The variables are set from the ``thresholds`` table of the last build, so the tests judge the
    models with the values they were built with (works on a read-only connection too).
    """
    present = tables(con)
    values: dict[str, object] = {}
    if "thresholds" in present:
        values.update(con.execute("SELECT name, value FROM thresholds").fetchall())
    else:
        values.update(threshold_values())
    if "build_info" in present:
        built_at, today = con.execute("SELECT built_at, today FROM build_info").fetchall()[0]
        values.update(built_at=built_at, today=today)
    _set_variables(con, values)
    counts: dict[str, int] = {}
    for path in sorted(tests_dir.glob("assert_*.sql")):
        body = _as_subquery(path.read_text())
        try:
            n = con.execute(f"SELECT count(*) FROM (\n{body}\n) AS offending").fetchall()[0][0]
        except duckdb.Error as err:
            raise ModelError(f"data test {path.stem} ({path}) failed to run: {err}") from err
        counts[path.stem] = int(n)
    return counts


def query_flags(
    con: duckdb.DuckDBPyConnection,
    athlete: str | None = None,
    since: date | str | None = None,
) -> pl.DataFrame:
    """The flags, oldest first; only ``athlete``'s and those on or after ``since`` when given."""
    if "flags" not in tables(con):
        raise ModelsNotBuilt(
            "this database has no flags table yet: run `footfall sync PATH` or `footfall build`"
        )
    if isinstance(since, str):
        since = date.fromisoformat(since)
    if isinstance(since, datetime):
        since = since.date()
    where, params = [], []
    if athlete is not None:
        where.append("athlete_id = ?")
        params.append(athlete)
    if since is not None:
        where.append("local_date >= ?")
        params.append(since)
    q = "SELECT * FROM flags"
    if where:
        q += " WHERE " + " AND ".join(where)
    q += " ORDER BY local_date, athlete_id, rule, activity_id"
    return con.sql(q, params=params).pl()
