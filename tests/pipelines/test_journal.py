"""The runner's log (pain, RPE, shoes) through the real CLI into temp DuckDB files.

Runs are written straight into ``activities`` / ``activity_metrics`` after ``db.migrate`` (no
sync); journal entries go through ``footfall log ...`` / ``footfall shoes ...`` (typer's
CliRunner on ``pipelines.cli.app``); the models are built with ``run_models`` and every build is
checked with the data tests of ``sql/tests``. Each flag rule fires on its hand-worked example and
not on the near miss; each bad input is refused with its message and exit code, and the database
is unchanged (row count and checksum of every table).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from ingest import schema
from ingest.discover import parse_activities_csv
from models import journal as mj
from pipelines import db
from pipelines.cli import app
from pipelines.journal import after_sync, assign_default_shoes, fill_from_strava, local_today
from pipelines.land import _export_row
from pipelines.sqlmodels import run_data_tests, run_models

from tests.conftest import TODAY

MONDAY = date(2025, 3, 3)
RUNNER = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "journal.csv"
_seq = itertools.count()


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def dbp(isolated_config) -> Path:
    """A migrated, empty database in the test's own folder (no user config leaks in)."""
    p = isolated_config / "footfall.duckdb"
    con = db.connect(p)
    db.migrate(con)
    con.close()
    return p


def add_run(p, day: date, km: float, *, athlete: str = "ana", hh: int = 7,
            sport: str = "running", minutes: float | None = None) -> str:
    """One activity (and its metrics) on local date ``day``; returns its activity_id.

    ``p``: the database file, or an open connection (to add many runs at once).
    """
    if isinstance(p, Path):
        with db.connection(p) as con:
            return add_run(con, day, km, athlete=athlete, hh=hh, sport=sport, minutes=minutes)
    con = p
    file_id = hashlib.sha256(f"journal-test-{next(_seq)}".encode()).hexdigest()
    aid = schema.activity_id_for(file_id, 0)
    start = datetime(day.year, day.month, day.day, hh)
    moving_s = (minutes if minutes is not None else km * 6) * 60
    con.execute(
        "INSERT INTO activities (athlete_id, activity_id, file_id, session_index, source_format, "
        "sport, started_at, ended_at, local_offset_s, local_date, elapsed_time_s, timer_time_s, "
        "distance_m) VALUES (?, ?, ?, 0, 'fit', ?, ?, ?, 0, ?, ?, ?, ?)",
        [athlete, aid, file_id, sport, start, start + timedelta(seconds=moving_s), day,
         moving_s, moving_s, km * 1000],
    )
    con.execute(
        "INSERT INTO activity_metrics (activity_id, athlete_id, sport, is_run, started_at, "
        "local_date, distance_m, moving_time_s, elapsed_time_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [aid, athlete, sport, sport == "running", start, day, km * 1000, moving_s, moving_s],
    )
    return aid


def cli(p: Path, *args: str) -> tuple[int, str]:
    """Run ``footfall ARGS --db p``; (exit code, output with whitespace collapsed)."""
    r = RUNNER.invoke(app, [*args, "--db", str(p)])
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, " ".join(r.output.split())


def ok(p: Path, *args: str) -> str:
    code, out = cli(p, *args)
    assert code == 0, out
    return out


def cli_json(p: Path, *args: str):
    r = RUNNER.invoke(app, [*args, "--json", "--db", str(p)])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def snapshot(p: Path) -> dict[str, tuple]:
    """(row count, checksum) of every table: equal snapshots = nothing changed."""
    with db.connection(p, read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "ORDER BY 1").fetchall()]
        return {t: con.execute(f"SELECT count(*), coalesce(sum(hash(t)), 0) FROM {t} AS t").fetchone()
                for t in tables}


def build(p: Path, today: date, **overrides) -> None:
    with db.connection(p) as con:
        run_models(con, today=today, overrides=overrides or None)
        failing = {k: v for k, v in run_data_tests(con).items() if v}
    assert not failing, failing


def flags(p: Path, rule: str) -> list[dict]:
    """The flags of ``rule`` as `footfall flags --json` prints them."""
    return [f for f in cli_json(p, "flags", "--all-athletes") if f["rule"] == rule]


def rows(p: Path, sql: str, params=None) -> list[dict]:
    with db.connection(p, read_only=True) as con:
        return con.sql(sql, params=params).pl().to_dicts()


def shoe_of(p: Path, aid: str):
    r = rows(p, "SELECT shoe_id, source FROM activity_shoes WHERE activity_id = ?", [aid])
    return (r[0]["shoe_id"], r[0]["source"]) if r else None


# --------------------------------------------------------------------------- pure validation


@pytest.mark.parametrize("text,value", [("0", 0.0), ("10", 10.0), ("4.5", 4.5), (" 3 ", 3.0), ("2,5", 2.5)])
def test_scores_accept_0_to_10_in_half_points(text, value):
    assert mj.parse_score(text) == value


@pytest.mark.parametrize("text,message", [
    ("11", "outside 0-10"), ("-1", "outside 0-10"), ("10.5", "outside 0-10"), ("abc", "not a number"),
    ("4.3", "whole or half points"), ("nan", "outside 0-10"), ("", "missing"),
])
def test_scores_refuse_anything_else(text, message):
    with pytest.raises(mj.JournalError, match=message):
        mj.parse_score(text)


def test_moments_dates_and_the_day_pain_is_felt():
    assert mj.parse_moment("Next-Morning") == "next_morning"
    with pytest.raises(mj.JournalError, match="unknown moment 'lunch'"):
        mj.parse_moment("lunch")
    today = date(2026, 3, 10)
    assert mj.parse_date("yesterday", today) == date(2026, 3, 9)
    with pytest.raises(mj.JournalError, match="in the future"):
        mj.parse_date("2026-03-11", today)
    with pytest.raises(mj.JournalError, match="not a date"):
        mj.parse_date("10/03/2026", today)
    assert mj.felt_date(date(2026, 3, 9), "next_morning") == date(2026, 3, 10)
    assert mj.felt_date(date(2026, 3, 9), "after") == date(2026, 3, 9)


def test_csv_rows_become_frames_with_their_line_numbers():
    data = (b"\xef\xbb\xbf# a comment\nDate,When,Pain,Where,RPE,Shoe,Note\n"
            b"2026-03-02,after,2,2nd metatarsal,4,Peg,\"easy, 8 km\"\n\n"
            b"2026-03-03,next_morning,1,,,,\"two\nlines\"\n2026-03-04,,,,6,,\n")
    r = mj.read_journal_csv(data, date(2026, 3, 10))
    assert r.n_rows == 3
    assert r.pain["line"].to_list() == [3, 5] and r.pain["moment"].to_list() == ["after", "next_morning"]
    assert r.pain["note"].to_list() == ["easy, 8 km", "two\nlines"]
    assert r.rpe.select("line", "rpe_cr10").rows() == [(3, 4.0), (7, 6.0)]
    assert r.shoe.select("line", "shoe").rows() == [(3, "Peg")]


# --------------------------------------------------------------------------- logging


def test_log_pain_and_rpe_by_activity_and_by_date(dbp):
    aid = add_run(dbp, MONDAY, 8)
    out = ok(dbp, "log", "pain", "4", "--when", "after", "--date", str(MONDAY), "--where",
             "2nd metatarsal", "--athlete", "ana")
    assert "logged pain 4/10 after on 2025-03-03" in out
    out = ok(dbp, "log", "pain", "2", "--when", "next_morning", "--activity", aid[:10], "--note", "stiff")
    assert f"activity {aid}" in out and "2025-03-04" in out  # felt the morning after the run
    ok(dbp, "log", "rpe", "6", "--activity", aid)
    pain = rows(dbp, "SELECT athlete_id, local_date, activity_id, moment, score, location, note, source "
                     "FROM pain_log ORDER BY entry_id")
    assert pain == [
        {"athlete_id": "ana", "local_date": MONDAY, "activity_id": None, "moment": "after",
         "score": 4.0, "location": "2nd metatarsal", "note": None, "source": "cli"},
        {"athlete_id": "ana", "local_date": MONDAY + timedelta(days=1), "activity_id": aid,
         "moment": "next_morning", "score": 2.0, "location": None, "note": "stiff", "source": "cli"},
    ]
    assert rows(dbp, "SELECT activity_id, rpe_cr10, local_date FROM rpe_log") == [
        {"activity_id": aid, "rpe_cr10": 6.0, "local_date": MONDAY}]
    build(dbp, MONDAY + timedelta(days=1))
    (run,) = rows(dbp, "SELECT * FROM int_pain_by_run")
    assert (run["pain_after"], run["pain_next_morning"], run["run_pain"], run["n_pain_entries"]) == (4.0, 2.0, 4.0, 2)
    shown = cli_json(dbp, "log", "show", "--days", "3650", "--athlete", "ana")
    assert [(r["activity_id"], r["rpe_cr10"], r["pain_after"]) for r in shown["runs"]] == [(aid, 6.0, 4.0)]
    assert [(e["kind"], e["entry_id"], e["score"]) for e in shown["entries"]] == [
        ("pain", 1, 4.0), ("rpe", 1, 6.0), ("pain", 2, 2.0)]
    # a typo is fixed by deleting the entry
    assert "deleted pain entry 1: 4/10 on 2025-03-03" in ok(dbp, "log", "delete", "pain", "1", "--athlete", "ana")
    before = snapshot(dbp)
    code, out = cli(dbp, "log", "delete", "pain", "1", "--athlete", "ana")
    assert code == 2 and "no pain entry 1 for athlete 'ana'" in out and snapshot(dbp) == before
    assert [r["entry_id"] for r in rows(dbp, "SELECT entry_id FROM pain_log")] == [2]


BAD_INPUTS = [
    # (argv after `footfall`, exit code, message fragment)
    (["log", "pain", "11", "--when", "after"], 2, "pain '11' is outside 0-10"),
    (["log", "pain", "-1", "--when", "after"], 2, "pain '-1' is outside 0-10"),
    (["log", "pain", "four", "--when", "after"], 2, "pain 'four' is not a number"),
    (["log", "pain", "4.3", "--when", "after"], 2, "whole or half points"),
    (["log", "pain", "4", "--when", "lunch"], 2, "unknown moment 'lunch'"),
    (["log", "pain", "4", "--when", "after", "--date", "2999-01-01"], 2, "2999-01-01 is in the future"),
    (["log", "pain", "4", "--when", "after", "--date", "03/03/2025"], 2, "is not a date"),
    (["log", "pain", "4", "--when", "after", "--activity", "nosuchactivity"], 2, "no activity 'nosuchactivity'"),
    (["log", "pain", "4", "--when", "after", "--activity", "{run}", "--date", "2025-03-03"], 2, "not both"),
    (["log", "pain", "4", "--when", "after", "--activity", "{run}", "--athlete", "ben"], 2, "belongs to athlete 'ana'"),
    (["log", "pain", "3", "--when", "next_morning", "--activity", "{today_run}"], 2, "is in the future"),
    (["log", "rpe", "12", "--activity", "{run}"], 2, "rpe '12' is outside 0-10"),
    (["log", "rpe", "6", "--activity", "nosuchactivity"], 2, "no activity"),
    (["shoes", "add", "pegasus", "--athlete", "ana"], 2, "already has a shoe named 'pegasus'"),
    (["shoes", "add", "New", "--first-used", "2999-01-01", "--athlete", "ana"], 2, "in the future"),
    (["shoes", "add", "New", "--drop-mm", "-3", "--athlete", "ana"], 2, "--drop-mm"),
    (["shoes", "retire", "99", "--athlete", "ana"], 2, "no shoe '99'"),
    (["shoes", "retire", "Pegasus", "--on", "2025-01-01", "--athlete", "ana"], 2, "before 'Pegasus' was first used"),
    (["shoes", "assign", "Pegasus", "--activity", "nosuchactivity"], 2, "no activity"),
    (["shoes", "assign", "Nope", "--activity", "{run}"], 2, "no shoe 'Nope'"),
    (["shoes", "assign", "Pegasus", "--from", "2025-03-10", "--to", "2025-03-05", "--athlete", "ana"], 2, "is before --from"),
    (["shoes", "assign", "Pegasus", "--activity", "{early_run}"], 2, "first used on 2025-02-01"),
    (["log", "import", "no-such-file.csv"], 2, "no such file"),
]


@pytest.fixture(scope="module")
def journal_template(tmp_path_factory):
    """A small database with runs, a shoe and a pain entry, made once; tests copy it."""
    p = tmp_path_factory.mktemp("template") / "footfall.duckdb"
    con = db.connect(p)
    db.migrate(con)
    con.close()
    ids = {"run": add_run(p, MONDAY, 8), "early_run": add_run(p, date(2025, 1, 20), 5),
           "today_run": add_run(p, TODAY, 5)}
    env = {"FOOTFALL_CONFIG": str(p.parent / "none.toml")}
    (p.parent / "none.toml").write_text("")
    for argv in (["shoes", "add", "Pegasus", "--first-used", "2025-02-01", "--athlete", "ana"],
                 ["log", "pain", "2", "--when", "after", "--activity", ids["run"]]):
        r = RUNNER.invoke(app, [*argv, "--db", str(p)], env=env)
        assert r.exit_code == 0, r.output
    return p, ids


@pytest.mark.parametrize("argv,code,message", BAD_INPUTS, ids=[" ".join(a[:3]) + f" -> {m}" for a, _, m in BAD_INPUTS])
def test_bad_input_is_refused_and_changes_nothing(isolated_config, journal_template, argv, code, message):
    template, ids = journal_template
    dbp = isolated_config / "footfall.duckdb"
    shutil.copy(template, dbp)
    before = snapshot(dbp)
    argv = [a.format(**ids) for a in argv]
    got, out = cli(dbp, *argv)
    assert (got, message in out) == (code, True), out
    if code == 2 and argv[:2] != ["log", "import"]:
        assert "Nothing was changed" in out
    assert snapshot(dbp) == before


def test_a_bad_value_never_creates_a_database(isolated_config):
    p = isolated_config / "new.duckdb"
    assert cli(p, "log", "pain", "12", "--when", "after")[0] == 2
    assert not p.exists()
    # issue 15: a good value neither: a journal command writes to the database the runs are in
    # (a mistyped --db used to start a new one the runs never reached)
    assert cli(p, "log", "pain", "1", "--when", "before", "--athlete", "ana")[0] == 2
    assert not p.exists()


# --------------------------------------------------------------------------- CSV import


def test_example_journal_imports_once_and_reimporting_changes_nothing(dbp):
    runs = [add_run(dbp, date(2026, 3, d), km, athlete="default") for d, km in ((2, 8), (4, 7), (7, 15))]
    ok(dbp, "shoes", "add", "Pegasus 40", "--athlete", "default")
    out = ok(dbp, "log", "import", str(EXAMPLE), "--athlete", "default")
    assert "7 rows -> 7 pain, 3 RPE, 3 shoe entries" in out
    before = snapshot(dbp)
    out = ok(dbp, "log", "import", str(EXAMPLE), "--athlete", "default")
    assert "0 pain, 0 RPE, 0 shoe entries" in out and "13 already in the journal" in out
    assert snapshot(dbp) == before
    # the rows joined runs by date; the shoe column became a rule for that day's runs
    assert [shoe_of(dbp, a) for a in runs] == [(1, "range")] * 3
    build(dbp, date(2026, 3, 9))
    by_run = rows(dbp, "SELECT local_date, pain_before, pain_during, pain_after, pain_next_morning, "
                       "srpe_load_au FROM int_pain_by_run ORDER BY local_date")
    assert [(r["pain_before"], r["pain_during"], r["pain_after"], r["pain_next_morning"]) for r in by_run] == [
        (1.0, None, 2.0, 1.0), (None, 3.0, None, 2.0), (None, None, 2.5, 1.0)]
    assert [r["srpe_load_au"] for r in by_run] == [4 * 48, 6 * 42, 5 * 90]  # CR-10 x moving minutes


def test_a_csv_with_bad_rows_lists_every_one_and_imports_none(dbp, tmp_path):
    run = add_run(dbp, MONDAY, 8)
    ok(dbp, "shoes", "add", "Pegasus", "--athlete", "ana")
    csv = tmp_path / "journal.csv"
    csv.write_text(
        "date,activity_id,moment,pain,location,rpe,shoe,note\n"        # line 1
        "2025-03-03,,after,3,forefoot,,,fine\n"                        # 2 ok
        "2025-03-03,,after,11,,,,\n"                                   # 3 score
        "2025-03-04,,lunch,2,,,,\n"                                    # 4 moment
        "2999-01-01,,after,2,,,,\n"                                    # 5 future
        f",nosuchactivity,after,2,,,,\n"                               # 6 activity
        f",{run},during,2,,5,Pegasus,\"a note\nover two lines\"\n"     # 7-8 ok
        "2025-03-05,,,,,,Nope,\n"                                      # 9 shoe
        "2025-03-05,,,,,,,just a note\n"                               # 10 nothing
        f"2025-03-05,{run},after,2,,,,\n"                              # 11 date/activity clash
    )
    before = snapshot(dbp)
    code, out = cli(dbp, "log", "import", str(csv), "--athlete", "ana")
    assert code == 1
    assert "7 bad rows; nothing was imported" in out
    for line, msg in [(3, "pain '11' is outside 0-10"), (4, "unknown moment 'lunch'"),
                      (5, "date 2999-01-01 is in the future"), (6, "no activity 'nosuchactivity'"),
                      (9, "no shoe 'Nope'"), (10, "nothing to log"), (11, "date 2025-03-05 is not the date of activity")]:
        assert f"line {line}: {msg}" in out, (line, out)
    assert "line 2:" not in out and "line 7:" not in out
    assert snapshot(dbp) == before


def test_a_csv_with_a_bad_header_is_refused(dbp, tmp_path):
    csv = tmp_path / "j.csv"
    csv.write_text("date,pain,colour\n2025-03-03,2,red\n")
    before = snapshot(dbp)
    code, out = cli(dbp, "log", "import", str(csv), "--athlete", "ana")
    assert code == 1 and "line 1: unknown column 'colour'" in out
    assert "line 1: a 'pain' column needs a 'moment' column" not in out  # header fixed first
    assert snapshot(dbp) == before


# --------------------------------------------------------------------------- flags: pain


# Each rule: its examples and near misses side by side in one database, one athlete per case
# (the rules work per athlete), built once.


def test_pain_during_above_5_is_a_warning(dbp):
    cases = {"six": ("6", True), "five_and_a_half": ("5.5", True), "five": ("5", False)}
    runs = {}
    for athlete, (score, _) in cases.items():
        runs[athlete] = add_run(dbp, MONDAY, 8, athlete=athlete)
        ok(dbp, "log", "pain", score, "--when", "during", "--activity", runs[athlete],
           "--where", "2nd metatarsal")
    build(dbp, MONDAY)
    got = {f["athlete_id"]: f for f in flags(dbp, "pain_during")}
    assert set(got) == {a for a, (_, flagged) in cases.items() if flagged}
    for athlete, f in got.items():
        assert (f["severity"], f["value"], f["threshold"], f["comparison"]) == (
            "warning", float(cases[athlete][0]), 5.0, ">")
        assert (f["activity_id"], f["local_date"]) == (runs[athlete], str(MONDAY))
        assert f["source"] == "Silbernagel et al. 2007" and "2nd metatarsal" in f["message"]


def test_next_morning_pain_above_the_recent_baseline_is_a_warning(dbp):
    day = MONDAY + timedelta(days=30)
    cases = {  # athlete: ([(days before, next-morning score)], today's score, flagged)
        "above": ([(3, 2), (2, 2), (1, 3)], "3", True),            # baseline 7/3 = 2.33
        "below": ([(3, 2), (2, 2), (1, 3)], "2", False),
        "equal": ([(3, 2), (2, 2), (1, 2)], "2", False),           # not above
        "two_only": ([(2, 2), (1, 3)], "5", False),                 # no baseline yet
        "too_old": ([(20, 1), (15, 1), (1, 1)], "5", False),        # 15+ days back: not counted
        "fourteen_back": ([(14, 1), (13, 1), (1, 1)], "1.5", True),  # 14 days back counts
    }
    runs = {}
    for athlete, (prior, score, _) in cases.items():
        for days_before, s in prior:
            ok(dbp, "log", "pain", str(s), "--when", "next_morning", "--date",
               str(day - timedelta(days=days_before)), "--athlete", athlete)
        runs[athlete] = add_run(dbp, day - timedelta(days=1), 10, athlete=athlete)
        ok(dbp, "log", "pain", score, "--when", "morning", "--date", str(day), "--athlete", athlete)
    build(dbp, day)
    got = {f["athlete_id"]: f for f in flags(dbp, "pain_next_morning")}
    assert set(got) == {a for a, (_, _, flagged) in cases.items() if flagged}
    for athlete, f in got.items():
        prior, score, _ = cases[athlete]
        baseline = sum(s for _, s in prior) / len(prior)
        assert f["local_date"] == str(day) and f["activity_id"] == runs[athlete]  # the run before
        assert f["severity"] == "warning" and f["threshold"] == 0.0
        assert f["value"] == pytest.approx(float(score) - baseline, abs=1e-9)
        assert f"baseline of {baseline:.1f}/10" in f["message"]


def test_pain_rising_over_three_consecutive_runs_is_a_caution(dbp):
    cases = {"rising": [3, 4, 5], "flat_end": [3, 4, 4], "starts_low": [2, 4, 5],
             "gap": [3, None, 4, 5], "four": [5, 6, 7, 8]}
    aids = {}
    with db.connection(dbp) as con:
        for athlete, pains in cases.items():
            aids[athlete] = [add_run(con, MONDAY + timedelta(days=2 * i), 8, athlete=athlete)
                             for i in range(len(pains))]
    for athlete, pains in cases.items():
        for i, score in enumerate(pains):
            if score is None:
                continue
            if i % 2:  # by date (it joins the run of that day) and by activity id
                ok(dbp, "log", "pain", str(score), "--when", "after", "--date",
                   str(MONDAY + timedelta(days=2 * i)), "--athlete", athlete)
            else:
                ok(dbp, "log", "pain", str(score), "--when", "after", "--activity", aids[athlete][i])
    build(dbp, MONDAY + timedelta(days=10))
    got: dict[str, list] = {}
    for f in flags(dbp, "pain_rising"):
        got.setdefault(f["athlete_id"], []).append(f)
    assert set(got) == {"rising", "four"}
    assert [f["activity_id"] for f in got["rising"]] == aids["rising"][2:]
    assert [f["activity_id"] for f in got["four"]] == aids["four"][2:]  # 5,6,7 and 6,7,8
    f = got["rising"][0]
    assert (f["severity"], f["value"], f["comparison"], f["threshold"]) == ("caution", 3.0, ">=", 3.0)
    assert "3, 4, 5/10" in f["message"]


def test_a_new_shoe_carrying_over_half_a_week_is_a_caution(dbp):
    # athlete: (km of the second run in the new shoe, first_used of the new shoe given?)
    cases = {"more_than_half": (6, True), "exactly_half": (5, True),
             "switch_no_first_used": (6, False), "first_shoe_unknown_start": (6, None)}
    runs = {}
    for athlete, (km, dated) in cases.items():
        if dated is not None:
            ok(dbp, "shoes", "add", "Old", "--first-used", "2025-01-01", "--default", "--athlete", athlete)
        first_used = ["--first-used", str(MONDAY + timedelta(days=4))] if dated else []
        ok(dbp, "shoes", "add", "New", *first_used, "--athlete", athlete)
        with db.connection(dbp) as con:
            first = add_run(con, MONDAY + timedelta(days=1), 10, athlete=athlete)  # Old, by default
            a = add_run(con, MONDAY + timedelta(days=4), 5, athlete=athlete)    # 5 of 15 km
            b = add_run(con, MONDAY + timedelta(days=5), km, athlete=athlete)   # 5 + x of 15 + x
            c = add_run(con, MONDAY + timedelta(days=30), 20, athlete=athlete)  # after 14 days
        # without an earlier shoe, nothing says "New" was new: all its runs are in it
        for aid in (a, b, c) if dated is not None else (first, a, b, c):
            ok(dbp, "shoes", "assign", "New", "--activity", aid, "--athlete", athlete)
        runs[athlete] = b
    build(dbp, MONDAY + timedelta(days=30))
    got = {f["athlete_id"]: f for f in flags(dbp, "new_shoe_load")}
    assert set(got) == {"more_than_half", "switch_no_first_used"}  # exactly half is not "more than half"
    for athlete, f in got.items():
        assert f["activity_id"] == runs[athlete]
        assert f["severity"] == "caution" and f["source"] == "footfall heuristic"
        assert f["value"] == pytest.approx(11 / 21, abs=1e-9) and f["threshold"] == 0.5
        assert "A footfall heuristic" in f["message"] and '"New"' in f["message"]


def test_a_shoe_past_800_km_is_a_caution_once(dbp):
    ok(dbp, "shoes", "add", "Workhorse", "--first-used", str(MONDAY), "--default", "--athlete", "ana")
    with db.connection(dbp) as con:
        for i in range(40):
            add_run(con, MONDAY + timedelta(days=i), 20)  # 40 x 20 km = exactly 800 km
        assert assign_default_shoes(con, "ana") == 40
    build(dbp, MONDAY + timedelta(days=40))
    assert flags(dbp, "shoe_retire") == []
    with db.connection(dbp) as con:
        over = add_run(con, MONDAY + timedelta(days=41), 5)
        add_run(con, MONDAY + timedelta(days=43), 5)
        assert assign_default_shoes(con, "ana") == 2
        assert assign_default_shoes(con, "ana") == 0  # nothing left to do
    build(dbp, MONDAY + timedelta(days=43))
    (f,) = flags(dbp, "shoe_retire")
    assert (f["activity_id"], f["value"], f["threshold"], f["unit"]) == (over, 805_000.0, 800_000.0, "m")
    (m,) = rows(dbp, "SELECT * FROM shoe_mileage")
    assert (m["n_runs"], m["distance_m"], m["is_past_retire"], m["remaining_m"]) == (42, 810_000.0, True, -10_000.0)
    assert (m["distance_7d_m"], m["distance_28d_m"]) == (3 * 20_000 + 10_000.0, 24 * 20_000 + 10_000.0)
    listed = cli_json(dbp, "shoes", "list", "--athlete", "ana")
    assert [(s["name"], s["n_runs"], s["distance_m"]) for s in listed] == [("Workhorse", 42, 810_000.0)]


# --------------------------------------------------------------------------- shoe rules


def test_default_shoe_range_rule_manual_and_retirement(dbp):
    r1 = add_run(dbp, MONDAY, 8)
    ok(dbp, "shoes", "add", "A", "--first-used", str(MONDAY), "--default", "--athlete", "ana")
    r2 = add_run(dbp, MONDAY + timedelta(days=2), 8)
    walk = add_run(dbp, MONDAY + timedelta(days=3), 4, sport="walking")
    with db.connection(dbp) as con:
        assert assign_default_shoes(con) == 1  # the run synced after the shoe was added
    assert [shoe_of(dbp, a) for a in (r1, r2, walk)] == [(1, "default"), (1, "default"), None]
    # a second shoe, in rotation: the default still wins; a range rule beats it
    ok(dbp, "shoes", "add", "B", "--first-used", str(MONDAY), "--athlete", "ana")
    ok(dbp, "shoes", "assign", "B", "--from", str(MONDAY + timedelta(days=5)), "--athlete", "ana")
    r3 = add_run(dbp, MONDAY + timedelta(days=6), 8)              # synced after the rule
    with db.connection(dbp) as con:
        assert assign_default_shoes(con, "ana") == 1
    assert shoe_of(dbp, r3) == (2, "range")
    # by hand beats every rule, and stays when the rules change
    ok(dbp, "shoes", "assign", "B", "--activity", r1)
    ok(dbp, "shoes", "retire", "A", "--on", str(MONDAY + timedelta(days=1)), "--athlete", "ana")
    assert [shoe_of(dbp, a) for a in (r1, r2, r3)] == [(2, "manual"), (2, "only_shoe"), (2, "range")]
    # retiring B before a run assigned to it by hand is refused
    ok(dbp, "shoes", "assign", "B", "--activity", r3)
    code, out = cli(dbp, "shoes", "retire", "B", "--on", str(MONDAY + timedelta(days=3)), "--athlete", "ana")
    assert code == 2 and "assigned to 'B' by hand" in out
    assert shoe_of(dbp, r3) == (2, "manual")
    # with neither a default nor a single covering shoe, a run gets none
    ok(dbp, "shoes", "add", "C", "--first-used", str(MONDAY), "--athlete", "ana")
    assert shoe_of(dbp, r2) is None
    listed = cli_json(dbp, "shoes", "list", "--athlete", "ana")
    assert [(s["name"], s["retired_on"], s["n_runs"]) for s in listed] == [
        ("B", None, 2), ("C", None, 0), ("A", str(MONDAY + timedelta(days=1)), 0)]


def test_strava_gear_and_perceived_exertion_fill_shoes_and_rpe(dbp):
    run = add_run(dbp, MONDAY, 10)
    kept = add_run(dbp, MONDAY + timedelta(days=1), 12)
    ride = add_run(dbp, MONDAY + timedelta(days=2), 30, sport="cycling")
    logged = add_run(dbp, MONDAY + timedelta(days=3), 8)
    ok(dbp, "log", "rpe", "3", "--activity", logged)
    ok(dbp, "shoes", "add", "vaporfly", "--athlete", "ana")
    dup_file = "d" * 64
    # the rows the sync keeps from a Strava export's activities.csv (ingest.discover parses it,
    # pipelines.land stores it against the hash of the file each row names)
    csv = ("Activity ID,Activity Date,Activity Name,Activity Type,Activity Gear,Filename,Perceived Exertion\n"
           "1,,Easy,Run,Pegasus 40,activities/1.fit.gz,4\n"
           "2,,Long,Run,Vaporfly,activities/2.gpx,7\n"       # Strava's copy of a Garmin run
           "3,,Spin,Ride,Canyon,activities/3.fit,5\n"        # a bike is not a shoe
           "4,,Tempo,Run,Pegasus 40,activities/4.fit,9\n"    # the runner logged RPE 3 for it
           "5,,Lost,Run,Ghost,activities/5.fit,2\n")         # its file is not in the export
    metas = parse_activities_csv(csv.encode(), "export_1.zip!activities.csv")
    with db.connection(dbp) as con:
        def fid(aid):
            return con.execute("SELECT file_id FROM activities WHERE activity_id = ?", [aid]).fetchall()[0][0]

        con.execute("INSERT INTO activity_duplicates (activity_id, file_id, athlete_id, duplicate_of) "
                    "VALUES (?, ?, 'ana', ?)", [schema.activity_id_for(dup_file, 0), dup_file, kept])
        files = [fid(run), dup_file, fid(ride), fid(logged), None]
        export_rows = pl.DataFrame([_export_row(m, "ana", f) for m, f in zip(metas, files)])
        con.register("export_rows", export_rows.to_arrow())
        con.execute("INSERT INTO export_activities BY NAME SELECT * FROM export_rows")
        con.unregister("export_rows")
        got = after_sync(con)
        assert got == {"shoes_created": 1, "shoes_linked": 1, "rpe_added": 3, "rpe_out_of_range": 0,
                       "shoes_assigned": 3}
    before = snapshot(dbp)
    with db.connection(dbp) as con:
        assert after_sync(con, "ana")["shoes_assigned"] == 0
        assert fill_from_strava(con) == {"shoes_created": 0, "shoes_linked": 0, "rpe_added": 0,
                                         "rpe_out_of_range": 0}
    assert snapshot(dbp) == before  # idempotent
    shoes = {r["name"]: r for r in rows(dbp, "SELECT * FROM shoes")}
    assert set(shoes) == {"vaporfly", "Pegasus 40"}  # no shoe for the bike
    assert shoes["vaporfly"]["strava_gear"] == "Vaporfly" and shoes["Pegasus 40"]["source"] == "strava"
    peg, vap = shoes["Pegasus 40"]["shoe_id"], shoes["vaporfly"]["shoe_id"]
    assert [shoe_of(dbp, a) for a in (run, kept, ride, logged)] == [
        (peg, "strava"), (vap, "strava"), None, (peg, "strava")]
    rpe = {r["activity_id"]: (r["rpe_cr10"], r["source"]) for r in rows(dbp, "SELECT * FROM rpe_log")}
    assert rpe == {run: (4.0, "strava"), kept: (7.0, "strava"), ride: (5.0, "strava"), logged: (3.0, "cli")}
    # the runner's own shoe for a run beats Strava's gear
    ok(dbp, "shoes", "assign", "vaporfly", "--activity", run)
    assert shoe_of(dbp, run) == (vap, "manual")


# --------------------------------------------------------------------------- load and weekly view


def test_session_rpe_load_and_weekly_pain_by_moment(dbp):
    a = add_run(dbp, MONDAY, 10, minutes=50)
    b = add_run(dbp, MONDAY + timedelta(days=2), 8, minutes=40)
    c = add_run(dbp, MONDAY + timedelta(days=2), 3, sport="walking", minutes=30)
    add_run(dbp, MONDAY + timedelta(days=8), 8, minutes=45)
    ok(dbp, "log", "rpe", "6", "--activity", a)
    ok(dbp, "log", "rpe", "4", "--date", str(MONDAY + timedelta(days=2)), "--athlete", "ana")  # 2 sessions that day
    ok(dbp, "log", "rpe", "7", "--activity", b)
    ok(dbp, "log", "rpe", "2", "--activity", c)
    ok(dbp, "log", "rpe", "5", "--date", str(MONDAY + timedelta(days=8)), "--athlete", "ana")  # only one
    for score, when, d in [(2, "before", 0), (3, "after", 0), (4, "after", 2), (1, "next_morning", 1),
                           (2, "next_morning", 3), (6, "during", 2)]:
        ok(dbp, "log", "pain", str(score), "--when", when, "--date", str(MONDAY + timedelta(days=d)),
           "--athlete", "ana")
    build(dbp, MONDAY + timedelta(days=13))
    daily = {r["local_date"]: r["srpe_load_au"] for r in rows(dbp, "SELECT * FROM daily_load")}
    assert daily[MONDAY] == 300 and daily[MONDAY + timedelta(days=2)] == 7 * 40 + 2 * 30
    assert daily[MONDAY + timedelta(days=1)] == 0 and daily[MONDAY + timedelta(days=8)] == 5 * 45
    w1, w2 = rows(dbp, "SELECT * FROM weekly_load ORDER BY week_start_date")
    assert w1["srpe_load_au"] == 300 + 340 and w2["srpe_load_au"] == 225
    assert (w1["pain_before_max"], w1["pain_after_max"], w1["pain_after_mean"]) == (2.0, 4.0, 3.5)
    assert (w1["pain_during_max"], w1["pain_next_morning_max"], w1["pain_next_morning_mean"]) == (6.0, 2.0, 1.5)
    assert w1["n_pain_entries"] == 6 and w2["n_pain_entries"] == 0 and w2["pain_after_max"] is None


def test_logging_on_a_built_database_rebuilds_and_prints_the_flag(dbp):
    aid = add_run(dbp, TODAY - timedelta(days=1), 8)
    build(dbp, TODAY)
    out = ok(dbp, "log", "pain", "7", "--when", "during", "--activity", aid)
    assert "flags raised" in out and "pain_during" in out
    assert [f["activity_id"] for f in flags(dbp, "pain_during")] == [aid]
    out = ok(dbp, "log", "pain", "7", "--when", "during", "--activity", aid)
    assert "flags raised" not in out  # the same flag (same run and day) is not new


def test_the_journal_data_tests_find_broken_rows(dbp):
    aid = add_run(dbp, MONDAY, 8)
    ok(dbp, "shoes", "add", "A", "--first-used", str(MONDAY), "--default", "--athlete", "ana")
    ok(dbp, "shoes", "add", "B", "--athlete", "ben")
    ok(dbp, "log", "pain", "7", "--when", "during", "--activity", aid)
    build(dbp, MONDAY)  # all data tests pass
    with db.connection(dbp) as con:
        con.execute("UPDATE flags SET value = 4 WHERE rule = 'pain_during'")  # journal flags are in flags
        con.execute("INSERT INTO journal_flags SELECT * FROM journal_flags WHERE rule = 'pain_during'")  # twice
        con.execute("UPDATE activity_shoes SET shoe_id = 2")  # ben's shoe on ana's run
        con.execute("UPDATE shoe_mileage SET distance_m = distance_m + 1")
        con.execute("UPDATE pain_log SET athlete_id = 'ben'")  # attached to ana's run
        counts = run_data_tests(con)
    assert counts["assert_flags_beyond_threshold"] == 1
    assert counts["assert_journal_flags_keyed"] == 1
    assert counts["assert_journal_pain_attached"] == 1
    assert counts["assert_journal_shoe_mileage_conserved"] >= 2  # mileage differs + wrong athlete
