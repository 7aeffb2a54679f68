"""footfall export --parquet: one Parquet file per mart, the same rows and columns as DuckDB."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipelines.export import ExportError, export_parquet, mart_names

from tests.conftest import TODAY

MARTS = {"daily_load", "weekly_load", "acwr_daily", "session_spikes", "flags", "activity_metrics"}


@pytest.fixture(scope="module")
def synced_db(prefect_harness, tmp_path_factory) -> Path:
    """Seven weeks (spike flags need 30 days of history; issue 14) of the demo export synced by the real flow, plus a shoe in the runner's log."""
    from synth.sample import make_sample_export
    from pipelines import journal
    from pipelines.flows import run_flow, sync

    root = tmp_path_factory.mktemp("export")
    export = root / "export"
    for rel, data in make_sample_export(weeks=7, end_date=TODAY).items():
        p = export / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    dbfile = root / "demo.duckdb"
    run_flow(sync, paths=[str(export)], db=str(dbfile), athlete="demo", today=TODAY.isoformat())
    con = duckdb.connect(str(dbfile))
    try:
        first = con.execute("SELECT min(local_date) FROM activities").fetchall()[0][0]
        journal.add_shoe(con, "demo", "Pegasus 40", first_used=first, is_default=True,
                         today=max(TODAY, first))
        journal.rebuild_models(con)
    finally:
        con.close()
    return dbfile


def _table_counts(dbfile: Path, names) -> dict[str, tuple[int, list[str]]]:
    with duckdb.connect(str(dbfile), read_only=True) as con:
        return {n: (con.execute(f"SELECT count(*) FROM {n}").fetchall()[0][0],
                    [r[0] for r in con.execute(f"DESCRIBE {n}").fetchall()]) for n in names}


def test_one_parquet_file_per_mart_with_the_same_rows(synced_db, tmp_path):
    out = tmp_path / "parquet"
    counts = export_parquet(synced_db, out)
    assert MARTS <= set(counts)
    with duckdb.connect(str(synced_db), read_only=True) as con:
        assert set(counts) == set(mart_names(con))
        if "shoe_mileage" in {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}:
            assert "shoe_mileage" in counts
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.parquet" for n in counts)  # no temp files
    tables = _table_counts(synced_db, counts)
    for name, n in counts.items():
        rows, columns = tables[name]
        meta = pq.read_metadata(out / f"{name}.parquet")
        assert meta.num_rows == rows == n, name
        assert meta.schema.names == columns, name
    assert counts["daily_load"] >= 14 and counts["activity_metrics"] > 5 and counts["flags"] >= 1
    assert counts.get("shoe_mileage") == 1


def test_parquet_holds_the_same_values(synced_db, tmp_path):
    out = tmp_path / "p"
    export_parquet(synced_db, out)
    with duckdb.connect(str(synced_db), read_only=True) as con:
        for name in ("weekly_load", "flags", "acwr_daily"):
            diff = con.execute(
                f"SELECT count(*) FROM ((SELECT * FROM {name} EXCEPT ALL SELECT * FROM read_parquet(?)) "
                f"UNION ALL (SELECT * FROM read_parquet(?) EXCEPT ALL SELECT * FROM {name}))",
                [str(out / f"{name}.parquet")] * 2).fetchall()[0][0]
            assert diff == 0, name


def test_export_again_replaces_the_files(synced_db, tmp_path):
    out = tmp_path / "again"
    first = export_parquet(synced_db, out)
    assert export_parquet(synced_db, out) == first
    assert len(list(out.iterdir())) == len(first)


def test_nothing_to_export(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        export_parquet(tmp_path / "missing.duckdb", tmp_path / "out")
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(ExportError, match="no models yet"):
        export_parquet(empty, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_export(synced_db, isolated_config):
    from pipelines.cli import app

    out = isolated_config / "pq"
    res = CliRunner().invoke(app, ["export", "--parquet", str(out), "--db", str(synced_db)])
    assert res.exit_code == 0, res.output
    assert "weekly_load.parquet" in res.output and (out / "flags.parquet").is_file()
    res = CliRunner().invoke(app, ["export", "--parquet", str(out), "--db", str(isolated_config / "no.duckdb")])
    assert res.exit_code == 1 and "footfall sync" in res.output
