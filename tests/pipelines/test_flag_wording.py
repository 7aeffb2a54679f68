"""Issue 14, honest wording and the safety note (SCIENCE.md s5).

Flag messages say "relative to your own recent runs" and quote the hazard ratio Frandsen et al.
2025 report for the band (1.64 / 1.52 / 2.28: relative hazards per session, not absolute risk);
README, CLI and report say "loading spikes linked to injury risk in studies", never "unsafe
loading"; the report labels the ACWR band a team-sport convention (Gabbett 2016), not a safe zone;
pain thresholds name footfall's own operationalisations; `footfall flags` and the report carry the
fixed bone-stress note (models.notes.BONE_STRESS_NOTE), and the report shows a return after a break
with the weeks since it. A hand-worked history as real FIT files through the real sync; the page
is opened in headless Chromium like the other reports.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.notes import BONE_STRESS_NOTE
from models.thresholds import THRESHOLDS
from pipelines.cli import app
from pipelines.report import write_report
from tests.pipelines.test_report import assert_page_renders, chromium  # noqa: F401 (fixture)
from tests.sql.flag_histories import day, rows, sync_runs

PROJECT = Path(__file__).resolve().parents[2]

#: day 31 +20% (caution), day 33 +46% (warning), day 35 +114% (alert); then days 36..55 without
#: running (20 days) and a return on day 56; today is day 70, the report's last day is the last run
#: (day 63, 1 week after the return: issue 15, the report ends with the last activity)
HISTORY = [(0, 8), (10, 8), (20, 8), (31, 9.6), (33, 14), (35, 30), (56, 5), (58, 5), (63, 5)]


@pytest.fixture(scope="module")
def wording_db(prefect_harness, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wording")
    dbfile = root / "w.duckdb"
    sync_runs(root / "export", dbfile, HISTORY, athlete="w", today=day(70))
    return dbfile


def test_spike_messages_are_relative_and_quote_the_hazard_ratio(wording_db):
    got = {r["severity"]: r for r in rows(
        wording_db, "SELECT * FROM flags WHERE rule = 'single_session_spike' ORDER BY local_date")}
    assert set(got) == {"caution", "warning", "alert"}
    for severity, hr in (("caution", "1.64"), ("warning", "1.52"), ("alert", "2.28")):
        m = got[severity]["message"]
        assert "relative to your own recent runs" in m, m
        assert f"Frandsen et al. 2025 report a hazard ratio of {hr} per session" in m, m
        assert "not your absolute risk" in m, m
    assert (THRESHOLDS["spike_caution_hr"].value, THRESHOLDS["spike_warning_hr"].value,
            THRESHOLDS["spike_alert_hr"].value) == (1.64, 1.52, 2.28)


def test_the_return_is_an_info_flag(wording_db):
    (f,) = rows(wording_db, "SELECT * FROM flags WHERE rule = 'return_after_break'")
    assert (f["local_date"], f["severity"], f["value"]) == (day(56), "info", 20)


def test_no_unsafe_loading_anywhere():
    offenders = []
    for path in [PROJECT / "README.md", *PROJECT.glob("pipelines/**/*.py"),
                 *PROJECT.glob("models/**/*.py"), *PROJECT.glob("sql/**/*.sql")]:
        text = path.read_text(encoding="utf-8")
        if re.search(r"unsafe[ -]loading", text, flags=re.I):
            offenders.append(str(path.relative_to(PROJECT)))
    assert offenders == []
    readme = " ".join((PROJECT / "README.md").read_text().split())
    assert "loading spikes linked to injury risk in studies" in readme


def test_pain_thresholds_name_footfalls_own_operationalisations():
    assert THRESHOLDS["pain_during_warning"].source == "Silbernagel et al. 2007"  # the paper's
    for name in ("pain_baseline_days", "pain_rising_min", "pain_morning_above_baseline"):
        t = THRESHOLDS[name]
        assert t.source.startswith("footfall choice"), name
        assert "operationalisation" in t.note or "reading" in t.note, name


def test_footfall_flags_prints_the_safety_note(wording_db, isolated_config):
    runner = CliRunner()
    table = runner.invoke(app, ["flags", "--db", str(wording_db)])
    assert table.exit_code == 0, table.output
    flat = " ".join(table.output.split())
    assert " ".join(BONE_STRESS_NOTE.split()) in flat
    assert "return_after_break" in flat and "INFO" in flat
    as_json = runner.invoke(app, ["flags", "--json", "--db", str(wording_db)])
    assert as_json.exit_code == 0, as_json.output
    assert {f["rule"] for f in json.loads(as_json.stdout)} >= {"single_session_spike"}  # still JSON
    assert " ".join(BONE_STRESS_NOTE.split()) in " ".join(as_json.stderr.split())


def test_report_carries_the_note_the_return_and_an_honest_acwr_band(wording_db, chromium, tmp_path):
    out = tmp_path / "wording.html"
    r = write_report(wording_db, out, weeks=0)
    assert (r.end, r.totals["last_return"], r.totals["weeks_since_return"]) == (day(63), day(56), 1)
    page = out.read_text()
    assert html.escape(BONE_STRESS_NOTE) in page
    assert 'id="return-note"' in page and "1 week from then to the end of this report" in page
    assert "team-sport convention" in page and "not a safe zone" in page
    assert "loading spikes linked to injury risk in studies" in page
    assert "footfall&#x27;s own operationalisations" in page or "footfall's own operationalisations" in page
    assert re.search(r"unsafe[ -]loading", page, flags=re.I) is None
    assert_page_renders(chromium, out, tuple(s.key for s in r.charts), "report-flag-wording.png",
                        tmp_path)
