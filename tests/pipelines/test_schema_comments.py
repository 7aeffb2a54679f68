"""Issue 15 point 5: the database describes itself. After a real sync and build (the `footfall
demo` command, in a subprocess, into a real DuckDB file) every table, view and column footfall
makes carries a DuckDB comment written from the SQL's own comments (pipelines/schema_docs.py),
`footfall schema` prints them, and nothing tells the user to read a SCIENCE.md they do not have.

A new column or model without a comment fails here: document it where it is made (an inline
`-- comment` in its migration DDL, a `-- column NAME: text` line in the model's header, or
sql/glossary.sql for a name that means the same everywhere).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines import schema_docs
from pipelines.db import SCHEMA_MIGRATIONS_DDL, connection, open_for_writing

ROOT = Path(__file__).resolve().parents[2]
FOOTFALL = [sys.executable, "-m", "pipelines.cli"]

#: name suffix -> words one of which the column's comment must contain
UNIT_WORDS = {
    "_m": ("metre", " m ", "(m)"),
    "_s": ("second",),
    "_min": ("minute",),
    "_ms": ("millisecond", " ms"),
    "_mm": ("millimetre",),
    "_g": ("gram",),
    "_pct": ("percent", "%"),
    "_spm": ("steps per minute", "steps/min"),
    "_bpm": ("beats per minute",),
    "_mps": ("metres per second",),
    "_w": ("watt",),
    "_au": ("arbitrary unit", " AU"),
    "_deg": ("degree",),
    "_c": ("celsius",),
    "_kcal": ("kilocalorie",),
    "_kn_m": ("kilonewton",),
    "_bytes": ("byte",),
    "_ns": ("nanosecond",),
}


def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}
    env["FOOTFALL_CONFIG"] = str(home / "footfall.toml")
    env["PREFECT_HOME"] = str(home / "prefect")
    env["COLUMNS"] = "200"
    return env


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> tuple[Path, dict]:
    """A database made by `footfall demo`: a real sync of FIT and GPX files and a model build."""
    home = tmp_path_factory.mktemp("schema-demo")
    (home / "footfall.toml").write_text("")
    db = home / "demo.duckdb"
    env = _env(home)
    r = subprocess.run([*FOOTFALL, "demo", "--db", str(db), "--out", str(home / "demo")],
                       cwd=home, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return db, env


def _relations(con) -> list[tuple[str, str, str | None]]:
    return con.execute(
        "SELECT table_name, 'table', comment FROM duckdb_tables() WHERE schema_name = 'main' AND NOT internal "
        "UNION ALL SELECT view_name, 'view', comment FROM duckdb_views() WHERE schema_name = 'main' "
        "AND NOT internal ORDER BY 1").fetchall()


def _columns(con) -> list[tuple[str, str, str | None]]:
    return con.execute(
        "SELECT c.table_name, c.column_name, c.comment FROM duckdb_columns() c "
        "WHERE c.schema_name = 'main' AND NOT c.internal ORDER BY 1, c.column_index").fetchall()


def test_every_column_of_every_table_and_view_has_a_comment(demo_db):
    db, _ = demo_db
    with connection(db, read_only=True) as con:
        cols = _columns(con)
        rels = _relations(con)
    missing = [f"{t}.{c}" for t, c, comment in cols if not (comment or "").strip()]
    print(f"\n{len(cols)} columns in {len(rels)} tables and views; {len(cols) - len(missing)} with a "
          f"comment, {len(missing)} without")
    # the models and the raw tables are all there (a build that made nothing would pass vacuously)
    names = {t for t, _, _ in rels}
    assert {"activities", "records", "pain_log", "flags", "weekly_load", "acwr_daily",
            "int_sessions", "stg_activities", "thresholds", "flag_log", "build_info"} <= names
    assert len(cols) > 500
    assert missing == [], (
        f"{len(missing)} columns without a comment (document each where it is made: an inline "
        f"`-- text` in the migration DDL, `-- column NAME: text` in the model header, or "
        f"sql/glossary.sql): {missing}")


def test_every_table_and_view_has_a_comment(demo_db):
    db, _ = demo_db
    with connection(db, read_only=True) as con:
        rels = _relations(con)
    missing = [f"{t} ({k})" for t, k, c in rels if not (c or "").strip()]
    print(f"\n{len(rels)} tables and views, {len(missing)} without a comment")
    assert missing == [], f"tables/views without a comment: {missing}"
    views = {t for t, k, _ in rels if k == "view"}
    assert "stg_activities" in views and "int_sessions" in views  # views are commented too


def test_a_comment_names_the_unit_of_the_column_suffix(demo_db):
    db, _ = demo_db
    with connection(db, read_only=True) as con:
        cols = _columns(con)
    wrong, checked = [], 0
    for table, col, comment in cols:
        suffix = max((s for s in UNIT_WORDS if col.endswith(s)), key=len, default=None)
        if suffix is None or not comment:
            continue
        checked += 1
        text = f" {comment.lower()} "
        if not any(w.lower() in text for w in UNIT_WORDS[suffix]):
            wrong.append(f"{table}.{col}: {comment!r}")
    print(f"\n{checked} columns with a unit suffix checked, {len(wrong)} whose comment names no unit")
    assert checked > 150
    assert wrong == [], "comments that do not name the unit of the column's suffix:\n" + "\n".join(wrong)


def test_model_header_comment_reaches_the_database(demo_db):
    """The comment IS the header: the words of a model's `-- column` line and of a migration's
    inline comment are what duckdb_columns() shows."""
    db, _ = demo_db
    with connection(db, read_only=True) as con:
        got = dict(((t, c), comment) for t, c, comment in _columns(con))
        rel = dict(((t, comment) for t, _, comment in _relations(con)))
    header = schema_docs.parse_header((ROOT / "sql/30_marts/weekly_load.sql").read_text(), "weekly_load")
    assert header.columns, "weekly_load.sql has no `-- column` lines"
    for col, text in header.columns.items():
        assert got[("weekly_load", col)] == text
    assert rel["weekly_load"] == header.comment and "grain" in header.comment
    assert "sha256 of the decompressed bytes" in got[("files", "file_id")]
    assert "seconds" in got[("activity_metrics", "longest_run_bout_s")]  # an ALTER TABLE ... ADD COLUMN


def test_model_headers_document_only_columns_the_model_has(demo_db):
    """A `-- column` line naming a column the model does not make is a stale doc."""
    from pipelines.sqlmodels import discover_models

    db, _ = demo_db
    with connection(db, read_only=True) as con:
        have: dict[str, set[str]] = {}
        for t, c, _ in _columns(con):
            have.setdefault(t, set()).add(c)
    stale = []
    for m in discover_models():
        for col in schema_docs.parse_header(m.sql, m.name).columns:
            if col not in have.get(m.name, set()):
                stale.append(f"{m.path.name}: {col}")
    assert stale == []


def test_a_fresh_migration_comments_the_raw_tables(tmp_path):
    """No build yet: the migrations alone document the raw tables."""
    db = tmp_path / "fresh.duckdb"
    open_for_writing(db)
    with connection(db, read_only=True) as con:
        cols = _columns(con)
        rels = _relations(con)
    assert {"activities", "records", "pain_log", "run_plan", "schema_migrations"} <= {t for t, _, _ in rels}
    assert [t for t, _, c in rels if not c] == []
    assert [f"{t}.{c}" for t, c, comment in cols if not comment] == []
    # applying again writes nothing (comments already current)
    with connection(db) as con:
        assert schema_docs.apply_comments(con, extra_ddl=(SCHEMA_MIGRATIONS_DDL,)) == 0
        # and a comment that went missing is written back
        con.execute("COMMENT ON COLUMN records.speed_mps IS NULL")
        assert schema_docs.apply_comments(con, extra_ddl=(SCHEMA_MIGRATIONS_DDL,)) == 1


def test_footfall_schema_lists_tables_and_one_tables_columns(demo_db):
    db, env = demo_db
    r = subprocess.run([*FOOTFALL, "schema", "--db", str(db)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = {ln.split()[0]: ln for ln in r.stdout.splitlines() if ln.strip() and not ln.startswith(" ")}
    assert "flags" in lines and "weekly_load" in lines and "(no comment)" not in r.stdout
    assert "each athlete's load per ISO week" in lines["weekly_load"]
    r = subprocess.run([*FOOTFALL, "schema", "--json", "--db", str(db)], env=env, capture_output=True, text=True)
    listed = {d["name"]: d for d in json.loads(r.stdout)}
    assert listed["weekly_load"]["kind"] == "table" and listed["stg_activities"]["kind"] == "view"
    assert "grain" in listed["weekly_load"]["comment"] and all(d["comment"] for d in listed.values())

    r = subprocess.run([*FOOTFALL, "schema", "flags", "--db", str(db)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("flags (table): ")
    with connection(db, read_only=True) as con:
        flag_cols = [c for t, c, _ in _columns(con) if t == "flags"]
    for col in flag_cols:
        assert re.search(rf"^{col}\s+\S+\s+\S", out, re.MULTILINE), f"{col} missing from:\n{out}"
    assert "(no comment)" not in out
    assert re.search(r"^threshold_name\s+VARCHAR\s+name of the threshold", out, re.MULTILINE)

    r = subprocess.run([*FOOTFALL, "schema", "flags", "--json", "--db", str(db)], env=env,
                       capture_output=True, text=True)
    doc = json.loads(r.stdout)
    assert doc["name"] == "flags" and doc["kind"] == "table" and doc["comment"]
    assert [c["name"] for c in doc["columns"]] == flag_cols
    assert all(c["comment"] and c["type"] for c in doc["columns"])

    r = subprocess.run([*FOOTFALL, "schema", "flagz", "--db", str(db)], env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "no table or view 'flagz'" in r.stderr and "flags" in r.stderr


def test_nothing_sends_the_user_to_science_md(demo_db):
    """SQL headers (which become the comments), the stored comments, the README and the
    thresholds' sources cite papers by author, year and DOI, not a file the user lacks."""
    hits = []
    for p in sorted((ROOT / "sql").rglob("*.sql")) + [ROOT / "README.md"]:
        for i, line in enumerate(p.read_text().splitlines(), 1):
            if "SCIENCE.md" in line:
                hits.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()}")
    # the threshold and bound texts reach the user (flags, audit, the thresholds table)
    from models.thresholds import BOUNDS, THRESHOLDS

    for t in [*THRESHOLDS.values(), *BOUNDS.values()]:
        text = " ".join(str(v) for v in vars(t).values())
        if "SCIENCE.md" in text:
            hits.append(f"models/thresholds.py {t.name}: {text}")
    assert hits == [], "\n".join(hits)
    db, _ = demo_db
    with connection(db, read_only=True) as con:
        stored = [c for _, _, c in _columns(con) + _relations(con) if c and "SCIENCE.md" in c]
        sources = con.execute("SELECT name FROM thresholds WHERE source LIKE '%SCIENCE.md%' "
                              "OR note LIKE '%SCIENCE.md%'").fetchall()
    assert stored == [] and sources == []
    assert "doi:10.1136/bjsports-2024-109380" in (ROOT / "sql/30_marts/session_spikes.sql").read_text()


def test_the_parsers_read_ddl_and_headers_as_documented():
    ddl = """-- 042_x: what t holds
-- grain: one row per thing; key: a
CREATE TABLE IF NOT EXISTS t (
    a VARCHAR PRIMARY KEY,   -- the key
    b DOUBLE NOT NULL        -- metres,
                             -- continued
        CHECK (b >= 0),
    c INTEGER,
    PRIMARY KEY (a)
);
ALTER TABLE t ADD COLUMN IF NOT EXISTS d_s DOUBLE;  -- seconds of d
ALTER TABLE t RENAME COLUMN b TO b_m;
"""
    docs = schema_docs.parse_ddl(ddl)
    assert docs["t"].comment == "what t holds; grain: one row per thing; key: a"
    assert docs["t"].columns == {"a": "the key", "b_m": "metres, continued", "d_s": "seconds of d"}
    header = """-- m: a model.
-- grain: one row per x; key: x
-- rules:
--   * something
-- column x: the x,
--     continued
-- column y, z_m: shared, metres
-- column a_very_long_name,
--     b_other: names that wrap
create or replace view m as select 1
"""
    doc = schema_docs.parse_header(header, "m")
    assert doc.comment == "a model. grain: one row per x; key: x"  # the rules are not in it
    assert doc.columns == {"x": "the x, continued", "y": "shared, metres", "z_m": "shared, metres",
                           "a_very_long_name": "names that wrap", "b_other": "names that wrap"}
    with pytest.raises(ValueError):
        schema_docs.parse_header("-- column x the colon is missing\nselect 1")


def test_every_study_a_threshold_names_has_its_doi_in_the_database(demo_db):
    """thresholds.source says "Frandsen et al. 2025"; the thresholds table's comment gives each
    such study's DOI (Foster 1998 has none: its journal reference)."""
    db, _ = demo_db
    with connection(db, read_only=True) as con:
        sources = {r[0] for r in con.execute("SELECT DISTINCT source FROM thresholds").fetchall()}
        comment = con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 'thresholds'").fetchall()[0][0]
    studies = {m.group(1) for s in sources
               for m in [re.search(r"([A-Z][a-z]+(?: et al\.)? (?:19|20)\d\d)$", s)] if m
               and not s.startswith(("World Athletics", "UCI", "Bolt"))}
    assert {"Frandsen et al. 2025", "Gabbett 2016", "Nielsen et al. 2014"} <= studies
    for study in studies:
        after = comment.split(study, 1)
        assert len(after) == 2, f"{study} not in the thresholds comment"
        assert re.match(r",\s*(doi:10\.\S+|Med Sci Sports Exerc)", after[1]), study
