"""Issue 13 acceptance: the runpandas runner's year raises no ``alert`` from a GPS error.

The 68 GPX sessions of one runner in the corpus (``corriporai+runpandas/examples/session``,
2020-06 to 2021-06) go through the real ``footfall sync`` (typer's CliRunner, the Prefect test
harness, a real DuckDB file). Before the data-quality layer, its only two ``alert`` flags are
single-session spikes on GPS errors: 556160e9 (two interleaved position streams, 22.1 km for a
~5.4 km run) and 720bf570 (21.8 km at 8.4 m/s). ``pytest -s`` prints the year's flags by rule and
severity (the closing note's before/after counts; ``bench/quality_before_after.py`` gives the diff).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

from models.sport import running_speed_ceiling
from pipelines import db
from pipelines.cli import app

RUNNER_DIR = "corriporai+runpandas/examples/session"
CASES_TSV = Path(__file__).resolve().parent.parent / "corpus_quality_cases.tsv"
GPS_DEFECTS = ("gps_interleaved_streams", "gps_error_distance")


def gps_error_files() -> set[str]:
    """File names of the runner's sessions that tests/corpus_quality_cases.tsv lists as GPS errors."""
    with open(CASES_TSV, newline="") as fh:
        rows = csv.DictReader((ln for ln in fh if ln.strip() and not ln.startswith("#")), delimiter="\t")
        return {Path(r["path"]).name for r in rows if r["defect"] in GPS_DEFECTS and r["path"].startswith(RUNNER_DIR)}


def test_runpandas_year_raises_no_alert_from_a_gps_error(corpus_dir, prefect_harness, isolated_config):
    src = corpus_dir / RUNNER_DIR
    gps_files = gps_error_files()
    assert len(gps_files) == 2, gps_files
    assert all((src / name).is_file() for name in gps_files), f"missing in {src}: {gps_files}"
    dbfile = isolated_config / "runner.duckdb"
    res = CliRunner().invoke(app, ["sync", str(src), "--db", str(dbfile), "--athlete", "runner", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["by_status"].get("landed") == 68, summary["by_status"]

    with db.connection(dbfile, read_only=True) as con:
        flags = con.execute("""
            SELECT f.rule, f.severity, CAST(f.local_date AS VARCHAR), f.activity_id, f.value, fi.path,
                   m.distance_m, m.moving_time_s, m.is_run
            FROM flags f
            LEFT JOIN activities a ON a.activity_id = f.activity_id
            LEFT JOIN files fi ON fi.file_id = a.file_id
            LEFT JOIN activity_metrics m ON m.activity_id = f.activity_id
            ORDER BY f.local_date, f.rule""").fetchall()
        n_runs = con.execute("SELECT count(*) FROM activity_metrics WHERE is_run").fetchone()[0]
    # the runner's sessions are runs (moving at 2.2-3.8 m/s apart from the two GPS errors): a
    # year with no runs would have no alert for the wrong reason
    assert n_runs >= 66, f"only {n_runs} of 68 sessions count as runs"
    counts = Counter((r[0], r[1]) for r in flags)
    print(f"\nrunpandas runner's year: {n_runs} runs, {len(flags)} flags")
    for (rule, sev), n in sorted(counts.items()):
        print(f"  {rule:24s} {sev:8s} {n:3d}")
    for rule, sev, day, _aid, val, path, dist, mov, _run in flags:
        if path:
            speed = f"{dist / mov:.1f} m/s" if dist and mov else "-"
            print(f"  {day} {rule:22s} {sev:8s} {val:6.2f}  {Path(path).name}  {dist or 0:,.0f} m at {speed}")

    alerts = [r for r in flags if r[1] == "alert"]
    on_gps_errors = [f"{r[2]} {r[0]} {Path(r[5]).name} ({r[6]:,.0f} m)" for r in alerts
                     if r[5] and Path(r[5]).name in gps_files]
    assert not on_gps_errors, f"alerts from GPS errors: {on_gps_errors}"
    # any alert left rests on a run at a speed a runner can hold (not a GPS artefact)
    # (faster than the running world record for that duration, models/sport.py)
    too_fast = [f"{r[2]} {r[0]} {Path(r[5]).name}: {r[6] / r[7]:.1f} m/s" for r in alerts
                if r[5] and r[6] and r[7] and r[6] / r[7] > running_speed_ceiling(r[7])[0]]
    assert not too_fast, f"alerts on activities faster than the world record for their duration: {too_fast}"
