"""The report's run-walk progression and return-to-run plan charts, from the real sync of the
run-walk history (tests/sql/test_weekly_progression.py) and a plan, drawn in headless Chromium
like the other report tests (no console output, every chart a non-empty SVG)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines.report import write_report
from tests.pipelines.test_plan import PLAN_CSV
from tests.pipelines.test_report import assert_page_renders, chromium  # noqa: F401 (fixture)
from tests.sql.test_weekly_progression import TODAY, synced_db  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def plan_db(synced_db, tmp_path_factory) -> Path:
    from pipelines.journal import rebuild_models
    from pipelines.plan import import_plan

    p = tmp_path_factory.mktemp("report-plan") / "plan.duckdb"
    shutil.copy(synced_db, p)
    con = duckdb.connect(str(p))
    try:
        import_plan(con, "rw", PLAN_CSV.encode(), start="2026-03-02", today=TODAY)
        rebuild_models(con, today=TODAY)
    finally:
        con.close()
    return p


def _specs(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="footfall-specs">(.*?)</script>', page, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_progression_and_plan_charts_render(plan_db, chromium, tmp_path):  # noqa: F811
    out = tmp_path / "report.html"
    r = write_report(plan_db, out, weeks=0)
    keys = [s.key for s in r.charts]
    assert "progression" in keys and "plan" in keys
    assert keys.index("progression") == keys.index("gait") + 1 and keys.index("plan") == keys.index("progression") + 1
    specs = _specs(out.read_text())
    # the chart data are the marts' numbers: 5 weeks of running/walking minutes, 6 plan weeks
    prog = specs["progression"]["datasets"]["progression"]
    assert [round(w["running_min"]) for w in prog] == [10, 20, 0, 16, 15]
    assert [round(w["walking_min"]) for w in prog] == [10, 10, 0, 4, 3]
    assert len(specs["progression"]["vconcat"]) == 2  # minutes + bout, and running cadence
    plan = specs["plan"]["datasets"]["plan"]
    planned = [row for row in plan if row["what"] == "planned"]
    actual = [row for row in plan if row["what"] == "actual"]
    assert len(planned) == 6 and len(actual) == 5  # the future week shows the plan only
    assert {row["week_number"] for row in actual if row["status"] == "exceeded"} == {2, 4}
    page = out.read_text()
    assert "2 plan weeks exceeded the plan by more than 10%" in page
    assert_page_renders(chromium, out, tuple(keys), "report-progression-plan.png", tmp_path)


def test_no_plan_no_plan_section(synced_db, tmp_path):  # noqa: F811
    out = tmp_path / "report.html"
    r = write_report(synced_db, out, weeks=0)
    assert "progression" in [s.key for s in r.charts]
    assert "plan" not in [s.key for s in r.sections]
    assert 'id="chart-plan"' not in out.read_text()
