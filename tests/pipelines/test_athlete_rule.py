"""Whose data a command reads or writes: one rule for every command (pipelines/athletes.py).

The athlete given (--athlete), else the config's, else the only athlete in the database file,
else exit 2 listing them; an athlete a read command does not find is exit 2 naming the known
ones; a journal write on a file with no athlete is refused. Through the real CLI (Typer's
CliRunner on ``pipelines.cli.app``) against DuckDB files synced by the real Prefect flow from the
demo's sample export (synth/sample.py).
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipelines.athletes import READ, SYNC, WRITE, AthleteError, choose_athlete
from pipelines.cli import app

from tests.conftest import TODAY

RUNNER = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "journal.csv"


def write_export(folder: Path, weeks: int, end) -> Path:
    from synth.sample import make_sample_export

    for rel, data in make_sample_export(weeks=weeks, end_date=end).items():
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return folder


def run(*args: str):
    """``footfall ARGS``: the result (exit_code, output with stderr, stdout)."""
    r = RUNNER.invoke(app, list(args))
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r


def flat(r) -> str:
    return " ".join(r.output.split())


def athletes_in(db: Path, table: str) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [a for (a,) in con.execute(f"SELECT DISTINCT athlete_id FROM {table} ORDER BY 1").fetchall()]
    finally:
        con.close()


def run_dates(db: Path, athlete: str) -> list:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [d for (d,) in con.execute(
            "SELECT DISTINCT local_date FROM activity_metrics WHERE is_run AND athlete_id = ? ORDER BY 1",
            [athlete]).fetchall()]
    finally:
        con.close()


@pytest.fixture(scope="module")
def synced(prefect_harness, tmp_path_factory) -> Path:
    """The demo's sample export synced with `footfall sync --athlete demo` into a fresh file."""
    root = tmp_path_factory.mktemp("athlete")
    export = write_export(root / "export", 12, TODAY)
    db = root / "demo.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FOOTFALL_CONFIG", str(root / "empty.toml"))
        (root / "empty.toml").write_text("")
        mp.delenv("FOOTFALL_ATHLETE", raising=False)
        r = run("sync", str(export), "--db", str(db), "--athlete", "demo")
    assert r.exit_code == 0, r.output
    assert athletes_in(db, "activities") == ["demo"]
    return db


@pytest.fixture(scope="module")
def two_athletes(synced, tmp_path_factory) -> Path:
    """The demo file plus a second runner, 'ana', with their own runs (an older export)."""
    root = tmp_path_factory.mktemp("two")
    db = root / "two.duckdb"
    shutil.copy(synced, db)
    export = write_export(root / "ana", 3, TODAY - timedelta(days=300))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FOOTFALL_CONFIG", str(root / "empty.toml"))
        (root / "empty.toml").write_text("")
        mp.delenv("FOOTFALL_ATHLETE", raising=False)
        r = run("sync", str(export), "--db", str(db), "--athlete", "ana")
    assert r.exit_code == 0, r.output
    assert athletes_in(db, "activities") == ["ana", "demo"]
    return db


@pytest.fixture
def demo_db(synced, isolated_config) -> Path:
    """A copy of the synced demo file in the test's folder (no user config)."""
    db = isolated_config / "footfall.duckdb"
    shutil.copy(synced, db)
    return db


# --------------------------------------------------------------------------- the rule itself


def test_the_rule_given_else_config_else_the_only_one_else_an_error():
    one, two = {"demo": 84}, {"demo": 84, "ana": 9}
    assert choose_athlete(one, None, None) == ("demo", None)
    assert choose_athlete(two, "ana", "demo") == ("ana", None)
    assert choose_athlete(two, None, "ana") == ("ana", None)
    assert choose_athlete(one, None, "demo", mode=WRITE) == ("demo", None)
    with pytest.raises(AthleteError, match=r"2 athletes.*demo \(84 activities\), ana \(9 activities\)"):
        choose_athlete(two, None, None, mode=WRITE)
    # a read: an athlete not in the file names the known ones
    with pytest.raises(AthleteError, match=r"'nobody' \(--athlete\) is not in .*demo \(84"):
        choose_athlete(one, "nobody", None, mode=READ)
    with pytest.raises(AthleteError, match=r"'ana' \(the config's athlete \(f.toml\)\) is not in"):
        choose_athlete(one, None, "ana", mode=READ, config_from="f.toml")
    # a write may start a new athlete, with a note naming the known ones
    name, note = choose_athlete(one, None, "ana", mode=WRITE)
    assert name == "ana" and "demo" in note
    assert choose_athlete(one, "ana", None, mode=SYNC) == ("ana", None)
    # a file with no athlete: a sync lands as the default, a write is refused, a read finds none
    assert choose_athlete({}, None, None, mode=SYNC) == ("default", None)
    with pytest.raises(AthleteError, match="no runs synced yet"):
        choose_athlete({}, None, None, mode=WRITE)
    assert choose_athlete({}, None, None, mode=READ) == (None, None)
    assert choose_athlete({}, "ana", None, mode=WRITE) == ("ana", None)
    assert AthleteError.exit_code == 2


# --------------------------------------------------------------------------- through the CLI


def test_readme_steps_after_a_sync_land_on_the_only_athlete(demo_db):
    """The README's next steps without --athlete: the entries are the synced runner's and show."""
    db = str(demo_db)
    day = run_dates(demo_db, "demo")[-3]
    r = run("shoes", "add", "Pegasus 40", "--first-used", "2026-03-01", "--db", db)  # the CSV's shoe
    assert r.exit_code == 0 and "for demo" in flat(r), r.output
    r = run("log", "pain", "6", "--when", "during", "--date", str(day), "--db", db)
    assert r.exit_code == 0 and "for demo" in flat(r), r.output
    r = run("log", "import", str(EXAMPLE), "--db", db)
    assert r.exit_code == 0 and "for demo" in flat(r), r.output
    for table in ("pain_log", "rpe_log", "shoes"):
        assert athletes_in(demo_db, table) == ["demo"], table
    r = run("log", "show", "--days", "120", "--json", "--db", db)
    assert r.exit_code == 0, r.output
    entries = json.loads(r.stdout)["entries"]
    assert len([e for e in entries if e["kind"] == "pain"]) == 1 + 7  # the one logged + the CSV's
    r = run("flags", "--json", "--db", db)
    assert r.exit_code == 0, r.output
    rules = {(f["rule"], f["athlete_id"]) for f in json.loads(r.stdout)}
    assert ("pain_during", "demo") in rules
    r = run("shoes", "list", "--json", "--db", db)
    assert r.exit_code == 0 and [s["name"] for s in json.loads(r.stdout)] == ["Pegasus 40"], r.output


@pytest.mark.parametrize("argv", [
    ["flags"], ["audit"], ["log", "show"], ["shoes", "list"], ["plan", "show"], ["report"],
    ["log", "pain", "3", "--when", "after"], ["shoes", "add", "Novablast"], ["log", "import", str(EXAMPLE)],
    ["plan", "add", "--week", "1", "--run-min", "10"], ["sync", "."],
], ids=lambda a: " ".join(a[:2]))
def test_two_athletes_and_no_choice_is_exit_2_listing_both(two_athletes, isolated_config, argv):
    db = isolated_config / "two.duckdb"
    shutil.copy(two_athletes, db)
    before = db.read_bytes()
    r = run(*argv, "--db", str(db))
    out = flat(r)
    assert r.exit_code == 2, r.output
    assert "2 athletes" in out and "demo (" in out and "ana (" in out and "--athlete" in out, out
    assert db.read_bytes() == before  # nothing written


def test_two_athletes_with_athlete_or_config_choose_one(two_athletes, isolated_config):
    db = isolated_config / "two.duckdb"
    shutil.copy(two_athletes, db)
    r = run("flags", "--json", "--athlete", "ana", "--db", str(db))
    assert r.exit_code == 0, r.output
    assert {f["athlete_id"] for f in json.loads(r.stdout)} <= {"ana"}
    r = run("flags", "--json", "--all-athletes", "--db", str(db))
    assert r.exit_code == 0 and "demo" in {f["athlete_id"] for f in json.loads(r.stdout)}, r.output
    (isolated_config / "footfall.toml").write_text('athlete = "demo"\n')
    r = run("log", "pain", "2", "--when", "after", "--db", str(db))
    assert r.exit_code == 0 and "for demo" in flat(r), r.output
    assert athletes_in(db, "pain_log") == ["demo"]


@pytest.mark.parametrize("argv", [
    ["flags"], ["audit"], ["log", "show"], ["shoes", "list"], ["plan", "show"], ["report"],
], ids=" ".join)
def test_an_unknown_athlete_on_a_read_command_is_exit_2_naming_the_known_ones(demo_db, argv):
    r = run(*argv, "--athlete", "nobody", "--db", str(demo_db))
    out = flat(r)
    assert r.exit_code == 2, r.output
    assert "'nobody'" in out and "demo" in out and ": none" not in out, out


def test_the_config_athlete_wins_over_the_only_athlete(demo_db, isolated_config):
    (isolated_config / "footfall.toml").write_text('athlete = "ana"\n')
    db = str(demo_db)
    # a write goes to the configured runner, with a note that the file's runs are demo's
    r = run("log", "pain", "2", "--when", "after", "--db", db)
    assert r.exit_code == 0 and "for ana" in flat(r), r.output
    assert "note: 'ana'" in r.stderr and "demo (" in r.stderr
    assert athletes_in(demo_db, "pain_log") == ["ana"]
    # a read of the configured runner: the file has ana now (journal only), but no runs to report
    r = run("report", "--db", db, "--out", str(isolated_config / "r.html"))
    assert r.exit_code == 2 and "'ana' has no activities" in flat(r) and "demo" in flat(r), r.output
    # --athlete beats the config
    r = run("log", "show", "--athlete", "demo", "--json", "--db", db)
    assert r.exit_code == 0 and json.loads(r.stdout)["entries"] == [], r.output


def test_the_environment_athlete_is_a_configured_one(demo_db, monkeypatch):
    monkeypatch.setenv("FOOTFALL_ATHLETE", "zoe")
    r = run("flags", "--db", str(demo_db))
    assert r.exit_code == 2 and "'zoe'" in flat(r) and "FOOTFALL_ATHLETE" in flat(r) and "demo" in flat(r), r.output


def test_a_journal_write_on_a_file_with_no_athlete_is_refused(isolated_config):
    db = isolated_config / "new.duckdb"
    # a file that does not exist is never created by a journal command (issue 15 point 4)
    r = run("log", "pain", "3", "--when", "after", "--athlete", "ana", "--db", str(db))
    assert r.exit_code == 2 and "does not exist" in flat(r) and not db.exists(), r.output
    # a database with no runs and no journal yet (migrated, empty): no athlete to choose
    from pipelines import db as dbm

    with dbm.connection(db) as con:
        dbm.migrate(con)
    r = run("log", "pain", "3", "--when", "after", "--db", str(db))
    assert r.exit_code == 2 and "no runs synced yet" in flat(r) and "--athlete" in flat(r), r.output
    r = run("shoes", "add", "Pegasus 40", "--db", str(db))
    assert r.exit_code == 2, r.output
    # given, the journal may start before the first sync
    r = run("log", "pain", "3", "--when", "after", "--athlete", "ana", "--db", str(db))
    assert r.exit_code == 0 and athletes_in(db, "pain_log") == ["ana"], r.output
    # ... and then ana is the only athlete of the file
    r = run("log", "pain", "2", "--when", "next_morning", "--db", str(db))
    assert r.exit_code == 0 and "for ana" in flat(r), r.output
