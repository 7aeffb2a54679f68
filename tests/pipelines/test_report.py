"""footfall report: built from a real sync of the demo export, opened in headless Chromium.

The page must load with no console output at all (Chromium logs console messages without their
level, so any message fails), with the network made unreachable, and draw every chart as a
non-empty SVG. A screenshot is kept in test-artifacts/ (gitignored).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipelines.report import ReportError, build_report, resolve_athlete, write_report

from tests.conftest import TODAY

PROJECT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT / "test-artifacts"
ALL_CHARTS = ("weekly", "acwr", "spikes", "gait", "progression", "pain", "shoes")


# --------------------------------------------------------------------------- data: one real sync


@pytest.fixture(scope="module")
def demo_db(prefect_harness, tmp_path_factory) -> Path:
    """The demo export (7 weeks ending today: build, cut-back, the spike week, the current week)
    synced by the real flow into a fresh DuckDB file."""
    from synth.sample import make_sample_export
    from pipelines.flows import run_flow, sync

    root = tmp_path_factory.mktemp("report")
    export = root / "export"
    for rel, data in make_sample_export(weeks=7, end_date=TODAY).items():
        p = export / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    dbfile = root / "demo.duckdb"
    run_flow(sync, paths=[str(export)], db=str(dbfile), athlete="demo", today=TODAY.isoformat())
    return dbfile


@pytest.fixture(scope="module")
def journal_db(demo_db, tmp_path_factory) -> Path:
    """A copy of the demo database with the runner's log filled in: two shoes (one retired) and
    pain after most runs, next-morning pain every other run, and one painful run (6/10 during)."""
    from pipelines import journal as j

    dbfile = tmp_path_factory.mktemp("journal") / "journal.duckdb"
    shutil.copy(demo_db, dbfile)
    con = duckdb.connect(str(dbfile))
    try:
        runs = con.execute("SELECT activity_id, local_date FROM activity_metrics WHERE is_run "
                           "ORDER BY started_at").fetchall()
        today = max(TODAY, runs[-1][1])
        half = len(runs) // 2
        j.add_shoe(con, "demo", "Pegasus 40", first_used=runs[0][1], today=today)
        j.add_shoe(con, "demo", "Novablast 4", first_used=runs[half][1], is_default=True, today=today)
        j.retire_shoe(con, "demo", "Pegasus 40", on=runs[half - 1][1], today=today)
        j.assign_shoe(con, "demo", "Pegasus 40", from_date=runs[0][1], to_date=runs[half - 1][1], today=today)
        for i, (aid, run_date) in enumerate(runs[4:]):
            j.add_pain(con, "demo", 2 + (i % 4) * 0.5, "after", activity=aid, today=today)
            # The next morning of a run dated today has not come yet (the journal refuses it).
            if i % 2 == 0 and run_date < today:
                j.add_pain(con, "demo", 1 + (i % 3), "next_morning", activity=aid, today=today)
        j.add_pain(con, "demo", 6, "during", activity=runs[-3][0], location="2nd metatarsal", today=today)
        j.rebuild_models(con)
    finally:
        con.close()
    return dbfile


# --------------------------------------------------------------------------- chromium


def find_chromium() -> str | None:
    if os.environ.get("FOOTFALL_CHROMIUM"):
        return os.environ["FOOTFALL_CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("headless Chromium not found (Debian: `apt-get install -y chromium`; "
                    "or set FOOTFALL_CHROMIUM to the browser binary)")
    return path


def open_in_chromium(chromium: str, page: Path, screenshot: Path, profile: Path) -> tuple[str, list[str]]:
    """(the DOM after the page's scripts ran, console lines). The network is unreachable (a
    proxy on a closed port): a page needing it would fail to draw and log the failed load."""
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
        "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
        "--virtual-time-budget=15000", "--window-size=1100,4600", "--hide-scrollbars",
        f"--screenshot={screenshot}", "--dump-dom", page.resolve().as_uri(),
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-2000:]
    console = [line for line in p.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return p.stdout, console


def chart_containers(dom: str) -> dict[str, str]:
    """{chart key: the container's markup up to the next section} from the rendered DOM."""
    out = {}
    for m in re.finditer(r'<div[^>]*\bid="chart-([a-z]+)"[^>]*>', dom):
        end = dom.find("</section>", m.start())
        out[m.group(1)] = dom[m.start(): end if end > 0 else len(dom)]
    return out


def assert_page_renders(chromium, page: Path, expected: tuple[str, ...], shot_name: str, tmp_path):
    shot = ARTIFACTS / shot_name
    shot.unlink(missing_ok=True)
    dom, console = open_in_chromium(chromium, page, shot, tmp_path / "chromium-profile")
    assert console == [], console
    body = re.search(r"<body[^>]*data-charts[^>]*>", dom)
    assert body and 'data-charts="done"' in body.group(0) and 'data-js-errors="0"' in body.group(0)
    charts = chart_containers(dom)
    assert sorted(charts) == sorted(expected)
    for key, markup in charts.items():
        opening = markup[: markup.find(">") + 1]
        assert 'data-rendered="true"' in opening and "data-error" not in opening, (key, opening)
        assert markup.count("<svg") >= 1, key
        marks = markup.count('role="graphics-symbol"')  # one per drawn bar, point, line, rule
        assert marks >= 3, (key, marks)
    assert shot.stat().st_size > 50_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- tests


def test_report_with_the_runners_log_renders_every_chart(journal_db, chromium, tmp_path):
    out = tmp_path / "report.html"
    r = write_report(journal_db, out)
    assert r.athlete_id == "demo"
    assert [s.key for s in r.charts] == list(ALL_CHARTS) and not r.notes
    assert r.totals["pain_entries"] > 20 and r.totals["shoes"] == 2
    assert r.totals["flags_by_severity"].get("warning", 0) >= 1  # the painful run
    assert_page_renders(chromium, out, ALL_CHARTS, "report-demo-journal.png", tmp_path)
    page = out.read_text()
    with duckdb.connect(str(journal_db), read_only=True) as con:
        flags = con.execute("SELECT rule, message, source FROM flags WHERE athlete_id = 'demo' "
                            "AND local_date >= ?", [r.start]).fetchall()
    assert {"pain_during", "single_session_spike"} <= {f[0] for f in flags}
    import html

    for rule, message, source in flags:  # every flag of the period, with its message and source
        assert html.escape(message) in page and html.escape(source) in page, rule


def test_demo_report_without_a_log_says_how_to_start_one(demo_db, chromium, tmp_path):
    out = tmp_path / "demo.html"
    r = write_report(demo_db, out, weeks=0)
    assert [s.key for s in r.charts] == ["weekly", "acwr", "spikes", "gait", "progression"]
    assert [s.key for s in r.notes] == ["pain", "shoes"]
    page = out.read_text()
    assert "No pain logged yet" in page and "footfall log pain" in page
    assert "No shoes yet" in page and "footfall shoes add" in page
    assert 'id="chart-pain"' not in page and 'id="chart-shoes"' not in page
    assert_page_renders(chromium, out, ("weekly", "acwr", "spikes", "gait", "progression"), "report-demo.png", tmp_path)


def test_page_is_self_contained(demo_db, tmp_path):
    out = tmp_path / "r.html"
    r = write_report(demo_db, out)
    page = out.read_text()
    scripts = re.findall(r"<script\b[^>]*>", page, flags=re.I)
    assert len(scripts) == 4 and not [t for t in scripts if re.search(r"\bsrc\s*=", t, flags=re.I)], scripts
    assert not re.search(r"<script[^>]+src\s*=\s*[\"']?https?://", page, flags=re.I)
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", page, flags=re.I | re.S)  # outside scripts
    loads = re.findall(r"<[a-z]+\b[^>]*\b(?:src|href)\s*=[^>]*>", markup, flags=re.I)
    assert loads == [], loads  # no stylesheet, image or frame to fetch either
    assert "window.vegaEmbed=" in page.replace(" ", "")  # the library is inline
    # the header: athlete, period and totals as in the marts
    with duckdb.connect(str(demo_db), read_only=True) as con:
        runs, km = con.execute(
            "SELECT sum(n_runs), sum(running_distance_m) / 1000 FROM daily_load "
            "WHERE athlete_id = 'demo' AND local_date BETWEEN ? AND ?", [r.start, r.end]).fetchall()[0]
    assert r.totals["runs"] == runs and abs(r.totals["running_km"] - km) < 1e-6
    assert "footfall report: demo" in page and f"{km:,.1f}" in page
    assert r.start.strftime("%a %d %b %Y") in page and r.end.strftime("%a %d %b %Y") in page


def test_weeks_limits_the_period(demo_db):
    with duckdb.connect(str(demo_db), read_only=True) as con:
        r4 = build_report(con, weeks=4)
        r_all = build_report(con, weeks=0)
    assert r4.weeks == 4 and r4.start.weekday() == 0 and r4.end == r_all.end
    assert r4.end - r4.start < timedelta(days=28)
    assert r_all.start < r4.start and r4.totals["runs"] < r_all.totals["runs"]
    weekly = next(s for s in r4.sections if s.key == "weekly").spec
    assert len(weekly["datasets"]["weekly"]) == 4


def test_thresholds_are_drawn_from_the_build(demo_db, tmp_path):
    """The ACWR band and line come from the thresholds of the build (config overrides included)."""
    from pipelines.sqlmodels import run_models

    dbfile = tmp_path / "overridden.duckdb"
    shutil.copy(demo_db, dbfile)
    with duckdb.connect(str(dbfile)) as con:
        run_models(con, overrides={"acwr_sweet_low": 0.7, "acwr_sweet_high": 1.2, "acwr_caution": 1.4})
    with duckdb.connect(str(dbfile), read_only=True) as con:
        acwr = next(s for s in build_report(con).sections if s.key == "acwr")
    inline = [layer["data"]["values"][0] for layer in acwr.spec["layer"] if "values" in layer.get("data", {})]
    assert {"lo": 0.7, "hi": 1.2} in inline
    assert any(v.get("y") == 1.4 for v in inline)
    assert "0.7-1.2" in acwr.intro and "1.4" in acwr.intro


def test_athlete_is_the_only_one_else_the_configured_one():
    # footfall's one rule (pipelines/athletes.py): given, else configured, else the only one
    assert resolve_athlete(["ana"], None, None) == "ana"
    with pytest.raises(ReportError, match="'default'.*ana") as err:
        resolve_athlete(["ana"], None, "default")  # a configured athlete with no activities
    assert err.value.exit_code == 2
    assert resolve_athlete(["ana", "ben"], None, "ben") == "ben"
    assert resolve_athlete(["ana", "ben"], "ana", "ben") == "ana"
    with pytest.raises(ReportError, match="ana, ben") as err:
        resolve_athlete(["ana", "ben"], None, "default")
    assert err.value.exit_code == 2
    with pytest.raises(ReportError, match="'cy' has no activities.*ana, ben"):
        resolve_athlete(["ana", "ben"], "cy", None)
    with pytest.raises(ReportError, match="footfall sync"):
        resolve_athlete([], None, "default")


def test_cli_report(demo_db, isolated_config):
    from pipelines.cli import app

    out = isolated_config / "out" / "r.html"
    res = CliRunner().invoke(app, ["report", "--db", str(demo_db), "--out", str(out), "--weeks", "6"])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 500_000 and "5 charts" in res.output and "pain" in res.output  # + progression
    res = CliRunner().invoke(app, ["report", "--db", str(demo_db), "--athlete", "nobody"])
    assert res.exit_code == 2 and "demo" in res.output
    res = CliRunner().invoke(app, ["report", "--db", str(isolated_config / "none.duckdb")])
    assert res.exit_code == 1 and "footfall sync" in res.output
