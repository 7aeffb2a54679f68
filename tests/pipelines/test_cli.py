"""The `footfall sync` command end to end (Prefect test harness, real DuckDB file)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from pipelines.cli import app


def test_sync_then_unchanged_resync_skips_the_flow(corpus_dir, prefect_harness, isolated_config):
    src = isolated_config / "watch"
    src.mkdir()
    fit = corpus_dir / "dtcooper+python-fitparse/tests/files/activity-small-fenix2-run.fit"
    (src / "run.fit").write_bytes(fit.read_bytes())
    dbfile = isolated_config / "f.duckdb"
    runner = CliRunner()
    first = runner.invoke(app, ["sync", str(src), "--db", str(dbfile), "--json"])
    assert first.exit_code == 0, first.output
    s1 = json.loads(first.output)
    assert s1["activities"] == 1 and s1["by_status"] == {"landed": 1}
    again = runner.invoke(app, ["sync", str(src), "--db", str(dbfile), "--json"])
    assert again.exit_code == 0, again.output
    s2 = json.loads(again.output)
    assert s2["sources_unchanged"] == 1 and s2["files_new"] == 0
    assert s2["models_built"] == []  # no flow ran: nothing was rebuilt
    forced = runner.invoke(app, ["sync", str(src), "--db", str(dbfile), "--json", "--always-run"])
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.output)["models_built"]  # the flow ran and rebuilt the models


def test_sync_of_a_missing_path_is_an_error(isolated_config):
    res = CliRunner().invoke(app, ["sync", str(isolated_config / "nope"), "--db", str(isolated_config / "x.duckdb")])
    assert res.exit_code == 2  # a usage error (issue 15: one line, no [Errno 2])
    assert "nope" in res.output
