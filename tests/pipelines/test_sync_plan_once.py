"""One ``footfall sync`` plans once: the CLI discovers and plans (to say "nothing to do" without
Prefect), then hands that plan to the flow, which neither discovers nor plans again; the flow
run's Prefect parameters stay JSON (paths, db, athlete, workers, a key), not the plan.

Counted with the log line ``pipelines.sync.plan_sources`` writes each time it plans (before this
change the flow discovered and planned a second time).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from typer.testing import CliRunner

from pipelines import db
from pipelines.cli import app


def _gpx(day: int) -> bytes:
    t0 = datetime(2026, 1, day, 8, 0)
    pts = "\n".join(
        f'<trkpt lat="{46 + i * 1e-4:.6f}" lon="{14 + i * 1e-4:.6f}">'
        f'<time>{(t0 + timedelta(seconds=10 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")}</time></trkpt>'
        for i in range(30))
    return (f'<?xml version="1.0"?>\n<gpx version="1.1" creator="test" '
            f'xmlns="http://www.topografix.com/GPX/1/1"><trk><type>running</type><trkseg>\n'
            f'{pts}\n</trkseg></trk></gpx>\n').encode()


class _Lines(logging.Handler):
    """The messages of ``pipelines.sync`` (a handler on that logger itself: Prefect's flow runs
    configure the root logger, which drops pytest's caplog handler)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def clear(self) -> None:
        self.messages.clear()


@pytest.fixture()
def caplines():
    log = logging.getLogger("pipelines.sync")
    h, old = _Lines(), log.level
    log.addHandler(h)
    log.setLevel(logging.INFO)
    try:
        yield h
    finally:
        log.removeHandler(h)
        log.setLevel(old)


def _plans(lines) -> list[str]:
    return [m for m in lines.messages if m.startswith("planned")]


def _last_sync_parameters() -> dict:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["footfall-sync"])),
                                     sort=FlowRunSort.START_TIME_DESC, limit=1)
    return runs[0].parameters


def test_a_sync_with_new_files_plans_once(prefect_harness, isolated_config, caplines):
    src = isolated_config / "watch"
    src.mkdir()
    (src / "a.gpx").write_bytes(_gpx(5))
    dbfile = isolated_config / "f.duckdb"
    run = CliRunner()

    first = run.invoke(app, ["sync", str(src), "--db", str(dbfile), "--json"])
    assert first.exit_code == 0, first.output
    assert len(_plans(caplines)) == 1, _plans(caplines)

    caplines.clear()
    (src / "b.gpx").write_bytes(_gpx(7))  # new work on an existing database
    second = run.invoke(app, ["sync", str(src), "--db", str(dbfile), "--json"])
    assert second.exit_code == 0, second.output
    plans = _plans(caplines)
    assert len(plans) == 1, plans
    assert "2 sources found, 1 new or changed" in plans[0]
    with db.connection(dbfile, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM files WHERE status = 'landed'").fetchall()[0][0] == 2

    params = _last_sync_parameters()
    assert set(params) <= {"paths", "db", "athlete", "workers", "build", "plan_key", "today"}, params
    assert params["paths"] == [str(src)] and params["db"] == str(dbfile)
    assert isinstance(params.get("plan_key"), str)  # a key to the plan in this process, not the plan

    caplines.clear()
    third = run.invoke(app, ["sync", str(src), "--db", str(dbfile), "--json"])  # nothing new
    assert third.exit_code == 0, third.output
    assert len(_plans(caplines)) == 1


def test_the_flow_plans_itself_without_a_plan(prefect_harness, isolated_config, caplines):
    """A run from a deployment (``footfall serve``) gets paths, no plan: it plans, once."""
    from pipelines.flows import run_flow, sync

    src = isolated_config / "watch"
    src.mkdir()
    (src / "a.gpx").write_bytes(_gpx(5))
    dbfile = isolated_config / "f.duckdb"
    out = run_flow(sync, paths=[str(src)], db=str(dbfile), athlete="a")
    assert out["by_status"] == {"landed": 1}
    assert len(_plans(caplines)) == 1


def test_a_plan_made_before_a_migration_is_made_again(prefect_harness, isolated_config, caplines):
    """The CLI plans read-only; when the flow's first write migrates that database, the plan
    read from it is made again (the sources are not discovered again)."""
    from pipelines.config import load_settings
    from pipelines.flows import run_planned_sync
    from pipelines.sync import plan_sources

    src = isolated_config / "watch"
    src.mkdir()
    (src / "a.gpx").write_bytes(_gpx(5))
    dbfile = isolated_config / "f.duckdb"
    settings = load_settings().with_overrides(db=dbfile, athlete="a")
    import duckdb

    duckdb.connect(str(dbfile)).close()  # a DuckDB file no migration was applied to
    planned = plan_sources([str(src)], settings)
    out = run_planned_sync(planned)
    assert out["by_status"] == {"landed": 1}
    assert "planned again after a migration" in caplines.messages, caplines.messages
