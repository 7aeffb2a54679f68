"""Migration 006: activity_metrics.trimp -> trimp_au on a database migrated by an older footfall."""

from __future__ import annotations

import duckdb

from pipelines import db


def test_006_renames_trimp_keeping_values_and_marks_models_stale(tmp_path, monkeypatch):
    path = tmp_path / "old.duckdb"
    older = [f for f in db.schema_files() if int(f.name[:3]) < 6]
    monkeypatch.setattr(db, "schema_files", lambda: older)
    con = duckdb.connect(str(path))
    assert db.migrate(con) == [1, 2, 3, 4, 5]
    con.execute("INSERT INTO activity_metrics (activity_id, trimp) VALUES ('a-0', 81.5)")
    con.execute("UPDATE model_state SET models_generation = data_generation")  # models current
    monkeypatch.undo()
    assert db.migrate(con)[0] == 6  # then any later migration
    cols = [r[0] for r in con.execute("DESCRIBE activity_metrics").fetchall()]
    assert "trimp_au" in cols and "trimp" not in cols
    assert con.execute("SELECT trimp_au FROM activity_metrics").fetchall() == [(81.5,)]
    data, built = con.execute("SELECT data_generation, models_generation FROM model_state").fetchall()[0]
    assert data == built + 1  # the next sync rebuilds the marts that read the old name


def test_006_leaves_a_new_database_as_005_made_it(tmp_path):
    con = duckdb.connect(str(tmp_path / "new.duckdb"))
    assert 6 in db.migrate(con)
    assert con.execute("SELECT data_generation, models_generation FROM model_state").fetchall() == [(1, None)]
