"""Issue 15, point 2: the report of an older archive is not empty.

A runner whose last run was in 2024 syncs in 2026 (``FOOTFALL_TODAY``, tests/conftest.py): the
marts run on to today (``daily_load`` and ``weekly_load`` end on today), but ``footfall report``'s
window (its weeks, charts and totals) ends at the later of the athlete's last activity and last
journal entry (pain or RPE), and the README's analyst query for "this week's load" is anchored on
the athlete's last activity week instead of ``ORDER BY week_start_date DESC LIMIT 8`` (which
returns the zero weeks up to today). Everything through the real ``footfall`` command in a
subprocess, against a real DuckDB file synced from synthetic FIT/GPX files (synth/sample.py).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.conftest import TODAY

PROJECT = Path(__file__).resolve().parents[2]
FOOTFALL = Path(sys.executable).parent / "footfall"
#: The sample's last day: a Wednesday in 2024, long before the tests' today (2026-06-01).
LAST_RUN_DAY = date(2024, 11, 13)


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


@pytest.fixture(scope="module")
def footfall(prefect_harness, tmp_path_factory):
    """``footfall ARGS`` in a subprocess: no user config, today = TODAY, the session's Prefect server."""
    from prefect.settings import PREFECT_API_URL

    home = tmp_path_factory.mktemp("cli-home")
    (home / "footfall.toml").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}
    env.update(FOOTFALL_CONFIG=str(home / "footfall.toml"), FOOTFALL_TODAY=TODAY.isoformat(),
               PREFECT_API_URL=PREFECT_API_URL.value(), COLUMNS="200")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(FOOTFALL), *args], capture_output=True, text=True, env=env,
                              cwd=home, timeout=300)

    return run


@pytest.fixture(scope="module")
def old_db(footfall, tmp_path_factory) -> Path:
    """Seven weeks of runs ending on LAST_RUN_DAY (2024), synced by `footfall sync` in 2026."""
    from synth.sample import make_sample_export

    root = tmp_path_factory.mktemp("old-archive")
    export = root / "export"
    for rel, data in make_sample_export(weeks=7, end_date=LAST_RUN_DAY).items():
        p = export / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    dbfile = root / "old.duckdb"
    r = footfall("sync", str(export), "--db", str(dbfile), "--athlete", "ana")
    assert r.returncode == 0, r.stderr
    with duckdb.connect(str(dbfile), read_only=True) as con:
        last_activity, cal_end = con.execute(
            "SELECT (SELECT max(local_date) FROM activities WHERE athlete_id = 'ana'), "
            "(SELECT max(local_date) FROM daily_load WHERE athlete_id = 'ana')").fetchone()
    assert last_activity == LAST_RUN_DAY  # the sample's last run is on its end_date
    assert cal_end == TODAY  # the marts run on to today: the report must not follow them
    return dbfile


def _report(footfall, dbfile: Path, out: Path, *args: str) -> tuple[date, date, dict]:
    """Run `footfall report`; (first day, last day, the chart specs) read from the page."""
    r = footfall("report", "--db", str(dbfile), "--out", str(out), *args)
    assert r.returncode == 0, r.stderr
    page = out.read_text()
    m = re.search(r"<title>footfall report: [^,]+, (\d{4}-\d\d-\d\d) to (\d{4}-\d\d-\d\d)</title>", page)
    assert m, page[:500]
    start, end = date.fromisoformat(m[1]), date.fromisoformat(m[2])
    assert f"{start} to {end}" in r.stdout  # the command's own line says the same period
    specs = json.loads(html.unescape(re.search(
        r'<script type="application/json" id="footfall-specs">(.*?)</script>', page, re.S)[1]))
    return start, end, {"page": page, "specs": specs}


def _weeks(specs: dict) -> list[dict]:
    return specs["weekly"]["datasets"]["weekly"]


def test_the_report_of_an_old_archive_ends_with_its_last_activity(footfall, old_db, tmp_path):
    start, end, got = _report(footfall, old_db, tmp_path / "r.html")
    assert end == LAST_RUN_DAY, f"the report ends {end}, not on the last run {LAST_RUN_DAY}"
    with duckdb.connect(str(old_db), read_only=True) as con:
        first, n_runs, km = con.execute(
            "SELECT min(local_date), sum(n_runs), sum(running_distance_m) / 1000 FROM daily_load "
            "WHERE athlete_id = 'ana' AND local_date <= ?", [LAST_RUN_DAY]).fetchone()
    assert start == first  # 7 weeks of history: the default 26 weeks hold all of it
    assert "weekly" in got["specs"], "no weekly chart: the period holds no runs"
    weeks = _weeks(got["specs"])
    assert weeks[-1]["week_start_date"].startswith(_monday(LAST_RUN_DAY).isoformat())
    assert sum(w["n_runs"] for w in weeks) == n_runs > 0
    # the header's tiles: the runs and kilometres of the period
    assert re.search(rf'<div class="v">{n_runs}</div><div class="k">runs</div>', got["page"])
    assert f'<div class="v">{km:,.1f}</div><div class="k">km of running</div>' in got["page"]
    # the ratio line has values in the period (a flat line of nothing ending today before)
    assert "acwr" in got["specs"]


def test_weeks_count_back_from_the_last_activity_week(footfall, old_db, tmp_path):
    start, end, got = _report(footfall, old_db, tmp_path / "r4.html", "--weeks", "4")
    assert end == LAST_RUN_DAY
    assert start == _monday(LAST_RUN_DAY) - timedelta(weeks=3)
    weeks = [w["week_start_date"][:10] for w in _weeks(got["specs"])]
    assert weeks == [(_monday(LAST_RUN_DAY) - timedelta(weeks=k)).isoformat() for k in (3, 2, 1, 0)]


def test_a_later_journal_entry_extends_the_window(footfall, old_db, tmp_path):
    """Pain logged in January 2025 (no run that day): the window ends on that entry, and an
    earlier RPE entry does not move it."""
    dbfile = tmp_path / "journal.duckdb"
    shutil.copy(old_db, dbfile)
    pain_day, rpe_day = date(2025, 1, 20), date(2024, 12, 2)
    for args in (["log", "pain", "3", "--when", "evening", "--date", pain_day.isoformat()],
                 ["log", "rpe", "4", "--date", rpe_day.isoformat()]):
        r = footfall(*args, "--db", str(dbfile), "--athlete", "ana")
        assert r.returncode == 0, r.stderr
    _, end, got = _report(footfall, dbfile, tmp_path / "j.html")
    assert end == pain_day
    assert _weeks(got["specs"])[-1]["week_start_date"].startswith(_monday(pain_day).isoformat())
    assert "pain" in got["specs"]  # the entry is inside the period, so its chart is drawn


def test_weeks_help_says_where_the_window_ends(footfall):
    r = footfall("report", "--help")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.replace("│", " ").split())
    assert "last synced day" not in text
    assert "last activity or journal entry" in text, text


def _readme_analyst_queries() -> list[str]:
    """The statements of the README's ```sql block under "For analysts", as written."""
    readme = (PROJECT / "README.md").read_text()
    section = readme[readme.index("## For analysts"):]
    block = re.search(r"```sql\n(.*?)```", section, re.S)[1]
    return [s.strip() for s in block.split(";") if s.strip()]


def test_readme_analyst_queries_work_on_an_old_archive(old_db):
    queries = _readme_analyst_queries()
    weekly = [q for q in queries if "FROM weekly_load" in q]
    assert len(weekly) == 1, queries
    with duckdb.connect(str(old_db), read_only=True) as con:
        for q in queries:
            con.execute(q).fetchall()  # every statement runs as written
        rows = con.execute(weekly[0]).fetchall()
        names = [d[0] for d in con.description]
    got = [dict(zip(names, r)) for r in rows]
    assert 0 < len(got) <= 8
    assert got[0]["week_start_date"] == _monday(LAST_RUN_DAY)  # newest first: the last run's week
    assert sum(r["n_runs"] for r in got) > 0
    assert all(r["week_start_date"] <= _monday(LAST_RUN_DAY) for r in got)
