"""The return-to-run plan: `footfall plan add|import|show|clear` on a database filled by the real
sync (the run-walk history of tests/sql/test_weekly_progression.py), plan_vs_actual, and the
plan_exceeded caution (plan_exceeded_margin, a footfall heuristic) firing on an exceeded week and
not on a kept one or a near miss.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from models.plan import PlanError, make_week, parse_pattern, read_plan_csv
from pipelines.cli import app
from tests.sql.test_weekly_progression import TODAY, synced_db, write_history  # noqa: F401 (fixture)

RUNNER = CliRunner()

#: weeks from Mon 02 Mar 2026; the history's actuals in the comments
PLAN_CSV = """\
# a test plan
week,run_min,pattern,longest_min,note
1,10,1:1 x 5,,kept: ran 10 of 10
2,15,2:1 x 5,,exceeded: ran 20 of 15 (+33%)
3,10,1:1 x 5,,nothing run
4,20,3:1 x 4,,exceeded on the bout: 4 min against 3 (+33%); minutes 16 of 20
5,14,5:1 x 2,,near miss: ran 15 of 14 (+7%) and a 5-min bout of 5
6,20,5:1 x 4,,future
"""


@pytest.fixture()
def dbp(synced_db, isolated_config, monkeypatch) -> Path:
    """A copy of the synced database, and today's date for the commands."""
    monkeypatch.setenv("FOOTFALL_TODAY", TODAY.isoformat())
    p = isolated_config / "footfall.duckdb"
    shutil.copy(synced_db, p)
    return p


def cli(dbp: Path, *args: str):
    return RUNNER.invoke(app, [*args, "--db", str(dbp), "--athlete", "rw"])


def flat(result) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def rows(dbp: Path, sql: str, params=None) -> list[dict]:
    with duckdb.connect(str(dbp), read_only=True) as con:
        return con.sql(sql, params=params).pl().to_dicts()


def generation(dbp: Path) -> int:
    return rows(dbp, "SELECT data_generation FROM model_state")[0]["data_generation"]


def import_test_plan(dbp: Path, tmp_path: Path, text: str = PLAN_CSV):
    f = tmp_path / "plan.csv"
    f.write_text(text)
    return cli(dbp, "plan", "import", str(f), "--start", "2026-03-02")


# --------------------------------------------------------------------------- pure: parsing


@pytest.mark.parametrize("text, expected", [
    ("1:1 x 10", (1.0, 1.0, 10)), ("2:1X8", (2.0, 1.0, 8)), (" 0.5 : 1.5 × 6 ", (0.5, 1.5, 6)),
    ("5:0 * 1", (5.0, 0.0, 1)),
])
def test_patterns_parse(text, expected):
    p = parse_pattern(text)
    assert (p.run_min, p.walk_min, p.repeats) == expected


@pytest.mark.parametrize("text", ["1-1 x 10", "1:1", "0:2 x 5", "1:1 x 0", "1:1 x 101", "a:b x 3"])
def test_bad_patterns_are_refused(text):
    with pytest.raises(PlanError, match="pattern"):
        parse_pattern(text)


def test_a_week_is_checked_against_its_pattern():
    assert make_week(1, 24, "1:2 x 8").longest_min == 1  # the pattern's run part by default
    with pytest.raises(PlanError, match="more than the week's run_min"):
        make_week(1, 5, "1:1 x 10")
    with pytest.raises(PlanError, match="longest_min 30 is more than"):
        make_week(1, 20, None, 30)
    with pytest.raises(PlanError, match="must be a whole number"):
        make_week("1.5", 20)


def test_the_example_plan_parses():
    root = Path(__file__).resolve().parents[2]
    plan = read_plan_csv((root / "examples" / "return_to_run_plan.csv").read_bytes())
    assert plan.errors == [] and [w.week_number for w in plan.weeks] == list(range(1, 9))
    mins = [w.run_min for w in plan.weeks]
    assert mins == sorted(mins)  # progressive
    text = (root / "examples" / "return_to_run_plan.csv").read_text()
    assert "EXAMPLE ONLY, NOT ADVICE" in text


# --------------------------------------------------------------------------- through the database


def test_plan_exceeded_fires_on_the_exceeded_weeks_only(dbp, tmp_path):
    r = import_test_plan(dbp, tmp_path)
    assert r.exit_code == 0, r.output
    assert "6 plan weeks" in flat(r) and "flags raised: 2" in flat(r)
    pva = {x["week_number"]: x for x in rows(dbp, "SELECT * FROM plan_vs_actual WHERE athlete_id = 'rw'")}
    assert [pva[w]["week_status"] for w in range(1, 7)] == ["past"] * 4 + ["current", "future"]  # today is week 5's Sunday
    assert pva[1]["actual_run_min"] == pytest.approx(10, abs=0.1) and not pva[1]["is_exceeded"]
    assert pva[2]["run_min_excess"] == pytest.approx(1 / 3, abs=0.01) and pva[2]["is_exceeded"]
    assert pva[3]["actual_run_min"] == 0 and pva[3]["actual_longest_bout_min"] == 0 and not pva[3]["is_exceeded"]
    assert pva[4]["run_min_excess"] < 0 and pva[4]["longest_min_excess"] == pytest.approx(1 / 3, abs=0.01)
    assert pva[4]["is_exceeded"]
    assert pva[5]["run_min_excess"] == pytest.approx(1 / 14, abs=0.01) and not pva[5]["is_exceeded"]  # near miss
    assert pva[5]["longest_min_excess"] == pytest.approx(0, abs=0.01)
    assert pva[6]["n_runs"] == 0 and not pva[6]["is_exceeded"]

    flags = rows(dbp, "SELECT * FROM flags WHERE rule = 'plan_exceeded' ORDER BY local_date")
    # week 2 passed 15 x 1.1 min on its second session (Thu 12 Mar); week 4 on the 4-min run (26 Mar)
    assert [f["local_date"] for f in flags] == [date(2026, 3, 12), date(2026, 3, 26)]
    for f in flags:
        assert f["severity"] == "caution" and f["threshold"] == pytest.approx(0.10)
        assert f["source"] == "footfall heuristic" and f["activity_id"] is None
        assert f["value"] > f["threshold"]
    assert "Plan week 2" in flags[0]["message"] and "ran 20 min against 15 min planned (+33%)" in flags[0]["message"]
    assert "longest continuous running bout was 4.0 min against 3.0 min planned (+33%)" in flags[1]["message"]


def test_the_margin_comes_from_the_thresholds(dbp, tmp_path):
    from pipelines.sqlmodels import run_data_tests, run_models

    assert import_test_plan(dbp, tmp_path).exit_code == 0
    con = duckdb.connect(str(dbp))
    try:
        run_models(con, today=TODAY, overrides={"plan_exceeded_margin": 0.05})
        assert {k: v for k, v in run_data_tests(con).items() if v} == {}
        dates = [r[0] for r in con.execute(
            "SELECT local_date FROM flags WHERE rule = 'plan_exceeded' ORDER BY 1").fetchall()]
    finally:
        con.close()
    assert date(2026, 3, 31) in dates and len(dates) == 3  # the +7% week fires at a 5% margin


def test_add_show_and_clear(dbp):
    g0 = generation(dbp)
    r = cli(dbp, "plan", "add", "--week", "1", "--run-min", "10", "--pattern", "1:1 x 5", "--start", "2026-03-02")
    assert r.exit_code == 0, r.output
    assert "added plan week 1" in flat(r) and "Mon 02 Mar 2026" in flat(r)
    assert generation(dbp) > g0
    r = cli(dbp, "plan", "add", "--week", "2", "--run-min", "15", "--pattern", "2:1 x 5")  # keeps the start
    assert r.exit_code == 0 and "flags raised: 1" in flat(r) and "plan_exceeded" in flat(r)
    r = cli(dbp, "plan", "add", "--week", "2", "--run-min", "20", "--pattern", "2:1 x 5")  # replaces week 2
    assert r.exit_code == 0 and "replaced plan week 2" in flat(r)
    shown = json.loads(cli(dbp, "plan", "show", "--json").stdout)
    assert [(w["week_number"], w["run_min"], w["is_exceeded"]) for w in shown] == [(1, 10, False), (2, 20, False)]
    assert shown[1]["week_start"] == "2026-03-09" and shown[1]["actual_run_min"] == pytest.approx(20, abs=0.1)
    assert rows(dbp, "SELECT count(*) AS n FROM flags WHERE rule = 'plan_exceeded'")[0]["n"] == 0
    text = cli(dbp, "plan", "show")
    assert text.exit_code == 0 and "1:1 x 5" in flat(text) and "past" in flat(text)
    r = cli(dbp, "plan", "clear")
    assert r.exit_code == 0 and "2 weeks" in flat(r)
    assert rows(dbp, "SELECT count(*) AS n FROM run_plan")[0]["n"] == 0
    assert "no plan for rw" in flat(cli(dbp, "plan", "show"))


def test_a_start_date_that_moves_the_plan_is_refused(dbp):
    assert cli(dbp, "plan", "add", "--week", "1", "--run-min", "10", "--start", "2026-03-02").exit_code == 0
    g = generation(dbp)
    r = cli(dbp, "plan", "add", "--week", "2", "--run-min", "10", "--start", "2026-03-09")
    assert r.exit_code == 2 and "starts on 2026-03-02" in flat(r) and "Nothing was changed" in flat(r)
    assert generation(dbp) == g


BAD_CSV = """\
week,run_min,pattern,longest_min,note
1,10,1:1 x 5,,
2,abc,,,
3,5,1:1 x 10,,
1,12,,,
0,5,,,
4,20,3 to 1,,
"""


def test_csv_import_errors_are_listed_by_line_and_change_nothing(dbp, tmp_path):
    assert import_test_plan(dbp, tmp_path).exit_code == 0
    before = rows(dbp, "SELECT * EXCLUDE (entered_at) FROM run_plan ORDER BY week_number")
    g = generation(dbp)
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_CSV)
    r = cli(dbp, "plan", "import", str(bad))
    assert r.exit_code == 2
    assert "5 bad rows; nothing was imported" in flat(r)
    for line, what in ((3, "run_min 'abc' is not a number"), (4, "pattern 1:1 x 10 runs 10 min in one session, more than the week's run_min 5"),
                       (5, "week 1 is also on line 2"), (6, "week '0' must be a whole number"),
                       (7, "pattern '3 to 1' is not like '1:1 x 10'")):
        assert f"line {line}: {what}" in flat(r), (line, r.output)
    assert rows(dbp, "SELECT * EXCLUDE (entered_at) FROM run_plan ORDER BY week_number") == before
    assert generation(dbp) == g
    header = tmp_path / "header.csv"
    header.write_text("wk,minutes\n1,10\n")
    r = cli(dbp, "plan", "import", str(header))
    assert r.exit_code == 2 and "unknown column(s): wk, minutes" in flat(r) and "missing: week, run_min" in flat(r)
    r = cli(dbp, "plan", "import", str(tmp_path / "missing.csv"))
    assert r.exit_code == 2 and "no such file" in flat(r)


def test_importing_the_same_plan_twice_changes_nothing(dbp, tmp_path):
    assert import_test_plan(dbp, tmp_path).exit_code == 0
    g = generation(dbp)
    r = import_test_plan(dbp, tmp_path)
    assert r.exit_code == 0 and "already this plan" in flat(r)
    assert generation(dbp) == g


def test_a_bad_value_never_creates_a_database(isolated_config):
    p = isolated_config / "new.duckdb"
    r = RUNNER.invoke(app, ["plan", "add", "--week", "1", "--run-min", "5", "--pattern", "1:1 x 10", "--db", str(p)])
    assert r.exit_code == 2 and "Nothing was changed" in flat(r)
    assert not p.exists()
