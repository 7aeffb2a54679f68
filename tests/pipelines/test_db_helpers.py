"""pipelines.db.tables and pipelines.db.transaction: the one copy of each (issue 12)."""

from __future__ import annotations

import duckdb
import pytest

from pipelines import db


def test_tables_names_tables_and_views(tmp_path):
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute("CREATE TABLE a (x INT); CREATE VIEW v AS SELECT * FROM a")
    assert db.tables(con) == {"a", "v"}
    assert db.tables(con, views=False) == {"a"}


def test_transaction_commits(tmp_path):
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute("CREATE TABLE a (x INT)")
    with db.transaction(con):
        con.execute("INSERT INTO a VALUES (1)")
    assert con.execute("SELECT count(*) FROM a").fetchall() == [(1,)]


def test_transaction_rolls_back_and_keeps_the_first_error(tmp_path):
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute("CREATE TABLE a (x INT PRIMARY KEY)")
    with pytest.raises(KeyboardInterrupt):
        with db.transaction(con):
            con.execute("INSERT INTO a VALUES (1)")
            raise KeyboardInterrupt
    assert con.execute("SELECT count(*) FROM a").fetchall() == [(0,)]
    # a failed statement aborts the transaction: ROLLBACK still runs, the error raised is DuckDB's
    with pytest.raises(duckdb.ConstraintException):
        with db.transaction(con):
            con.execute("INSERT INTO a VALUES (2)")
            con.execute("INSERT INTO a VALUES (2)")
    assert con.execute("SELECT count(*) FROM a").fetchall() == [(0,)]
    with db.transaction(con):  # the connection is usable again
        con.execute("INSERT INTO a VALUES (3)")
    assert con.execute("SELECT x FROM a").fetchall() == [(3,)]
