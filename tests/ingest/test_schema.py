"""The DuckDB DDL and ingest/schema.py describe the same tables (one source of column names)."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from ingest import schema
from pipelines import db

DUCK = {pl.Utf8: "VARCHAR", pl.Int32: "INTEGER", pl.Int64: "BIGINT", pl.Float64: "DOUBLE",
        pl.Boolean: "BOOLEAN", pl.Date: "DATE"}


@pytest.fixture()
def con(tmp_path):
    c = db.connect(tmp_path / "t.duckdb")
    db.migrate(c)
    yield c
    c.close()


@pytest.mark.parametrize("table", [*schema.TABLES, *schema.DERIVED])
def test_ddl_matches_schema(con, table):
    cols = schema._columns(table)
    got = {r[0]: r[1] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    extra = set(got) - set(cols) - {"athlete_id"}
    assert not extra, f"{table}: DDL has columns not in ingest/schema.py: {extra}"
    for name, dtype in cols.items():
        assert name in got, f"{table}.{name} missing from the DDL"
        want = "TIMESTAMP" if isinstance(dtype, pl.Datetime) else DUCK[dtype]
        assert got[name] == want, f"{table}.{name}: DDL {got[name]} != schema {want}"


def test_migrate_is_idempotent_and_versioned(tmp_path):
    c = db.connect(tmp_path / "m.duckdb")
    first = db.migrate(c)
    assert first == sorted(first) and first[0] == 1
    assert db.migrate(c) == []
    assert db.schema_version(c) == first[-1]
    c.close()


def test_conform_rejects_unknown_columns():
    with pytest.raises(KeyError):
        schema.conform(pl.DataFrame({"activity_id": ["a"], "speeed_mps": [1.0]}), "records")
    df = schema.conform(pl.DataFrame({"activity_id": ["a"], "speed_mps": [1]}), "records")
    assert df.columns == list(schema.RECORDS)
    assert df["speed_mps"].dtype == pl.Float64 and df["heart_rate_bpm"].null_count() == 1


def test_writer_refused_while_another_process_holds_the_file(tmp_path):
    """A second process's lock makes connect() wait a bounded time, then fail clearly."""
    import subprocess
    import sys
    import time

    path = tmp_path / "locked.duckdb"
    c = db.connect(path)
    db.migrate(c)
    c.close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(30)",
         str(path)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(db.DatabaseBusy, match="held by another process"):
            db.connect(path, wait_s=1.0, poll_s=0.2)
    finally:
        holder.kill()
        holder.wait()
    c = db.connect(path, wait_s=5)  # released: works again
    assert db.schema_version(c) >= 1
    c.close()
