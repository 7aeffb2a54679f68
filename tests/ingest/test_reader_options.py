"""Reader options reach the readers: ``[thresholds] gpx_activity_split_gap_s`` in the config changes
how a GPX is split, through a real sync (Prefect harness, real DuckDB file), and ``ingest/`` reads
its settings from its caller instead of importing ``models/`` or ``pipelines/``."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from pipelines import db
from pipelines.flows import run_flow, sync

ROOT = Path(__file__).resolve().parents[2]


def _track(name: str, start: datetime, lat0: float, n: int = 120) -> str:
    """One running track: n points 1 s apart, ~3 m/s northwards."""
    pts = "".join(
        f'<trkpt lat="{lat0 + i * 0.000027:.6f}" lon="8.540000"><ele>410</ele>'
        f"<time>{(start + timedelta(seconds=i)).strftime('%Y-%m-%dT%H:%M:%SZ')}</time></trkpt>"
        for i in range(n)
    )
    return f"<trk><name>{name}</name><type>running</type><trkseg>{pts}</trkseg></trk>"


def two_runs_two_hours_apart() -> bytes:
    """Two tracks 2 h apart: one activity with the default split gap (3 h), two with 1 h."""
    a = datetime(2026, 10, 1, 7, 0, 0)
    b = a + timedelta(seconds=119) + timedelta(hours=2)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<gpx version="1.1" creator="footfall test" xmlns="http://www.topografix.com/GPX/1/1">'
        + _track("Out", a, 47.37) + _track("Back", b, 47.38) + "</gpx>"
    ).encode()


def _activities(dbfile: Path) -> list[tuple]:
    with db.connection(dbfile, read_only=True) as con:
        return con.execute("SELECT session_index, name, n_records FROM activities "
                           "ORDER BY session_index").fetchall()


def test_gpx_split_gap_override_reaches_the_reader(prefect_harness, isolated_config, tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    (export / "two_runs.gpx").write_bytes(two_runs_two_hours_apart())

    default_db = tmp_path / "default.duckdb"
    run_flow(sync, paths=[str(export)], db=str(default_db), athlete="t")
    assert _activities(default_db) == [(0, "Out", 240)]  # 2 h < 3 h: one activity, two laps

    (isolated_config / "footfall.toml").write_text("[thresholds]\ngpx_activity_split_gap_s = 3600\n")
    override_db = tmp_path / "override.duckdb"
    run_flow(sync, paths=[str(export)], db=str(override_db), athlete="t")
    with db.connection(override_db, read_only=True) as con:
        recorded = con.execute("SELECT value, is_override FROM thresholds "
                               "WHERE name = 'gpx_activity_split_gap_s'").fetchone()
        reason = con.execute("SELECT reason FROM files").fetchone()[0]
    assert recorded == (3600.0, True)
    assert _activities(override_db) == [(0, "Out", 120), (1, "Back", 120)]  # 2 h > 1 h: two
    assert "3600 s apart" in reason


def test_ingest_imports_neither_models_nor_pipelines():
    """Importing every module of ingest/ (and decoding a GPX and a TCX) loads nothing of models/
    or pipelines/: a fresh interpreter, so nothing else imported them first."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import ingest\n"
        "for m in pkgutil.iter_modules(ingest.__path__):\n"
        "    importlib.import_module('ingest.' + m.name)\n"
        "up = sorted(n for n in sys.modules if n.split('.')[0] in ('models', 'pipelines'))\n"
        "print(' '.join(up))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""
