"""Issue 15 point 7, CLI consistency, through the real CLI against real DuckDB files.

* every command that prints data accepts ``--json`` and prints valid JSON on stdout: the list of
  commands is read from the Typer app, so a new command without ``--json`` (or without a case
  here) fails;
* ``footfall --version`` prints the version of pyproject.toml;
* no help text shows RST/Sphinx markup (``double backticks``, ``:func:``) or unrendered rich tags,
  and a command mentions ``--activity`` only when it has that option;
* the sync header (and ``--json``) gives the wall time from the command's start;
* the flags table shows value and threshold in the unit of the message (125%, not 1.25);
* ``new_shoe_load`` never fires for a runner's only shoe; a change of shoes still raises it;
* ``footfall log show`` fits an 80-column terminal.

The database for the ``--json`` cases is one synced sample export (``synth.sample``), copied for
each case, so no case sees another's changes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from models.flag_units import measure_text
from pipelines import db
from pipelines.cli import app
from tests.conftest import PROJECT, TODAY
from tests.pipelines.test_journal import add_run, build

RUNNER = CliRunner()
ATHLETE = "ana"


def _walk(cmd, path=()):
    yield path, cmd
    for name, sub in (getattr(cmd, "commands", None) or {}).items():
        yield from _walk(sub, (*path, name))


ROOT = typer.main.get_command(app)
ALL = [(p, c) for p, c in _walk(ROOT)]
LEAVES = {p: c for p, c in ALL if not hasattr(c, "commands")}

#: commands that print no data: the reason is the test's answer to "why no --json"
NO_JSON = {("serve",): "runs until stopped (a scheduler), prints no result"}

#: how each command is run with --json: args from the copied case (see ``case``)
CASES = {
    ("sync",): lambda c: [str(c["export"])],
    ("demo",): lambda c: ["--out", str(c["dir"] / "demo"), "--weeks", "3"],
    ("build",): lambda c: [],
    ("flags",): lambda c: [],
    ("audit",): lambda c: ["--all"],
    ("query",): lambda c: ["SELECT 1 AS one"],
    ("check",): lambda c: [],
    ("report",): lambda c: ["--out", str(c["dir"] / "r.html"), "--athlete", ATHLETE],
    ("export",): lambda c: ["--parquet", str(c["dir"] / "pq")],
    ("log", "pain"): lambda c: ["2", "--when", "after", "--date", c["day"], "--athlete", ATHLETE],
    ("log", "rpe"): lambda c: ["5", "--date", c["day"], "--athlete", ATHLETE],
    ("log", "import"): lambda c: [str(c["journal_csv"]), "--athlete", ATHLETE],
    ("log", "show"): lambda c: ["--athlete", ATHLETE, "--days", "60"],
    ("log", "delete"): lambda c: ["pain", str(c["pain_id"]), "--athlete", ATHLETE],
    ("shoes", "add"): lambda c: ["Second pair", "--athlete", ATHLETE],
    ("shoes", "retire"): lambda c: ["Trail shoe", "--athlete", ATHLETE],
    ("shoes", "assign"): lambda c: ["Trail shoe", "--activity", c["aid"]],
    ("shoes", "list"): lambda c: ["--athlete", ATHLETE],
    ("activity", "sport"): lambda c: [c["aid"], "cycling"],
    ("activity", "exclude"): lambda c: [c["aid"]],
    ("activity", "include"): lambda c: [c["aid"]],
    ("plan", "add"): lambda c: ["--week", "1", "--run-min", "10", "--athlete", ATHLETE],
    ("plan", "import"): lambda c: [str(PROJECT / "examples" / "return_to_run_plan.csv"), "--athlete", ATHLETE],
    ("plan", "show"): lambda c: ["--athlete", ATHLETE],
    ("plan", "clear"): lambda c: ["--athlete", ATHLETE],
    ("schema",): lambda c: ["flags"],
}


def _options(cmd) -> set[str]:
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}


def _env(tmp: Path) -> dict:
    return {"FOOTFALL_CONFIG": str(tmp / "footfall.toml")}


# --------------------------------------------------------------------------- --json everywhere


def test_every_command_has_json_or_a_reason_and_a_case():
    """The command list comes from the app: a new command fails here until it has --json (or a
    reason in NO_JSON) and a case in CASES."""
    missing_json = [" ".join(p) for p, c in LEAVES.items() if "--json" not in _options(c) and p not in NO_JSON]
    assert not missing_json, f"commands that print data without --json: {missing_json}"
    missing_case = [" ".join(p) for p in LEAVES if p not in CASES and p not in NO_JSON]
    assert not missing_case, f"commands with no --json case in this test: {missing_case}"
    assert set(NO_JSON) <= set(LEAVES)


@pytest.fixture(scope="module")
def template(tmp_path_factory, prefect_harness):
    """A sample export synced as athlete ana (through `footfall sync`), with a shoe, a pain entry
    and its models built: copied by ``case`` for each command."""
    from synth.sample import make_sample_export

    d = tmp_path_factory.mktemp("cli-template")
    (d / "footfall.toml").write_text("")
    export = d / "export"
    for rel, data in make_sample_export(weeks=5, end_date=TODAY - timedelta(days=1)).items():
        (export / rel).parent.mkdir(parents=True, exist_ok=True)
        (export / rel).write_bytes(data)
    dbp = d / "footfall.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        for k in list(os.environ):
            if k.startswith("FOOTFALL_") and k not in ("FOOTFALL_CORPUS", "FOOTFALL_TODAY"):
                mp.delenv(k)
        mp.setenv("FOOTFALL_CONFIG", str(d / "footfall.toml"))
        r = RUNNER.invoke(app, ["sync", str(export), "--db", str(dbp), "--athlete", ATHLETE, "--json"])
        assert r.exit_code == 0, r.output
        for args in (["shoes", "add", "Trail shoe", "--athlete", ATHLETE],
                     ["plan", "add", "--week", "1", "--run-min", "10", "--athlete", ATHLETE],
                     ["log", "pain", "3", "--when", "after", "--date", str(TODAY - timedelta(days=1)),
                      "--athlete", ATHLETE]):
            r = RUNNER.invoke(app, [*args, "--db", str(dbp)])
            assert r.exit_code == 0, r.output
    with db.connection(dbp, read_only=True) as con:
        aid, day = con.execute("SELECT activity_id, local_date FROM activities ORDER BY started_at DESC LIMIT 1").fetchone()
        (pain_id,) = con.execute("SELECT max(entry_id) FROM pain_log").fetchone()
    (d / "journal.csv").write_text(f"date,moment,pain,rpe\n{day},after,2,4\n")
    return {"dir": d, "export": export, "aid": aid, "day": str(day), "pain_id": pain_id}


@pytest.fixture
def case(template, tmp_path, monkeypatch):
    for k in list(os.environ):
        if k.startswith("FOOTFALL_") and k not in ("FOOTFALL_CORPUS", "FOOTFALL_TODAY"):
            monkeypatch.delenv(k, raising=False)
    (tmp_path / "footfall.toml").write_text("")
    monkeypatch.setenv("FOOTFALL_CONFIG", str(tmp_path / "footfall.toml"))
    monkeypatch.chdir(tmp_path)
    shutil.copy(template["dir"] / "footfall.duckdb", tmp_path / "footfall.duckdb")
    return {**template, "dir": tmp_path, "db": tmp_path / "footfall.duckdb",
            "journal_csv": template["dir"] / "journal.csv"}


@pytest.mark.parametrize("path", [p for p in LEAVES if p not in NO_JSON], ids=" ".join)
def test_every_data_command_prints_valid_json(case, path):
    if path not in CASES:
        pytest.fail(f"no --json case for `footfall {' '.join(path)}`: add one to CASES")
    args = [*path, *CASES[path](case), "--json", "--db", str(case["db"])]
    r = RUNNER.invoke(app, args)
    assert r.exit_code == 0, f"footfall {' '.join(args)}\n{r.output}"
    try:
        got = json.loads(r.stdout)
    except json.JSONDecodeError as err:
        pytest.fail(f"`footfall {' '.join(path)} --json` printed no valid JSON ({err}):\n{r.stdout[:2000]}")
    assert isinstance(got, (dict, list))
    assert got or path in {("flags",), ("audit",)}, "empty JSON"


def test_json_says_what_was_done(case):
    """A few --json answers checked for content, not only for syntax."""
    d = case["db"]

    def js(*args):
        r = RUNNER.invoke(app, [*args, "--json", "--db", str(d)])
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)

    added = js("shoes", "add", "Road shoe", "--athlete", ATHLETE)
    assert added["name"] == "Road shoe" and isinstance(added["shoe_id"], int)
    assert js("shoes", "retire", "Road shoe", "--on", case["day"], "--athlete", ATHLETE)["retired_on"] == case["day"]
    deleted = js("log", "delete", "pain", str(case["pain_id"]), "--athlete", ATHLETE)
    assert deleted["entry_id"] == case["pain_id"] and deleted["score"] == 3
    checked = js("check")
    assert {t["table"] for t in checked} >= {"activities", "pain_log"} and not any(t["error"] for t in checked)
    exported = js("export", "--parquet", str(case["dir"] / "pq"))
    assert all((case["dir"] / "pq" / f["file"]).is_file() for f in exported["files"])
    rep = js("report", "--out", str(case["dir"] / "r.html"), "--athlete", ATHLETE)
    assert Path(rep["report"]).is_file() and rep["athlete_id"] == ATHLETE and rep["charts"]


# --------------------------------------------------------------------------- version and help


def test_version_is_the_package_version():
    want = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["version"]
    r = RUNNER.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout.strip() == f"footfall {want}"
    p = subprocess.run([sys.executable, "-m", "pipelines.cli", "--version"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == f"footfall {want}", p.stderr


_MARKUP = [
    (re.compile(r"``"), "RST double backticks"),
    (re.compile(r":(func|class|mod|meth|attr|ref|doc|py:\w+):`"), "a Sphinx role"),
    (re.compile(r"\[/?(bold|dim|red|green|yellow|cyan|blue|italic|b|i)\]"), "an unrendered rich tag"),
    (re.compile(r"\*\*\w"), "markdown bold"),
]


@pytest.mark.parametrize("path", [p for p, _ in ALL], ids=lambda p: " ".join(p) or "footfall")
def test_help_renders_without_markup(path):
    r = RUNNER.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    for rx, what in _MARKUP:
        m = rx.search(r.output)
        assert m is None, f"`footfall {' '.join(path)} --help` shows {what}: {m.group(0)!r}"
    cmd = dict(ALL)[path]
    if path in LEAVES:
        assert "--activity" not in r.output or "--activity" in _options(cmd), \
            f"`footfall {' '.join(path)} --help` mentions --activity, which it does not have"
    # the summary `footfall --help` lists is one line, a whole sentence
    first = (cmd.help or "").strip().split("\n\n")[0]
    assert "\n" not in first, f"summary of `footfall {' '.join(path)}` spans lines: {first!r}"


# --------------------------------------------------------------------------- wall time


def test_sync_header_shows_wall_time(case):
    env = {**os.environ, **_env(case["dir"]), "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "pipelines.cli", "sync", str(case["export"]), "--db", str(case["db"])]
    p = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)
    # nothing to do: the plan takes a fraction of the command's wall time (interpreter, imports)
    assert s["wall_seconds"] is not None and s["wall_seconds"] > s["seconds"] >= 0
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    head = " ".join(p.stdout.split())  # the title wraps with the table's width
    m = re.search(r"footfall sync → .*?\((\d+\.\d) s, of which (\d+\.\d) s syncing\)", head)
    assert m, p.stdout[:500]
    assert float(m.group(1)) >= float(m.group(2))


# --------------------------------------------------------------------------- flags in units


@pytest.fixture
def dbp(isolated_config) -> Path:
    p = isolated_config / "footfall.duckdb"
    con = db.connect(p)
    db.migrate(con)
    con.close()
    return p


def _cli(p: Path, *args: str, columns: int = 200):
    r = RUNNER.invoke(app, [*args, "--db", str(p)], env={"COLUMNS": str(columns)})
    assert r.exit_code == 0, r.output
    return r


def test_flags_table_speaks_the_unit_of_the_message(dbp):
    start = TODAY - timedelta(days=45)
    with db.connection(dbp) as con:
        for i in range(0, 42, 2):
            add_run(con, start + timedelta(days=i), 5)
        add_run(con, TODAY - timedelta(days=2), 12)  # 140% longer than 5 km: alert
    _cli(dbp, "log", "pain", "6", "--when", "during", "--date", str(TODAY - timedelta(days=2)), "--athlete", "ana")
    build(dbp, TODAY)
    flags = {f["rule"]: f for f in json.loads(_cli(dbp, "flags", "--json").stdout)}
    spike, pain = flags["single_session_spike"], flags["pain_during"]
    assert (spike["value"], spike["threshold"], spike["unit"]) == (pytest.approx(1.4), 1.0, "fraction over baseline")
    assert "140% longer" in spike["message"]
    table = " ".join(_cli(dbp, "flags").stdout.split())
    assert "140% > 100% over baseline" in table
    assert "value 1.4" not in table and "threshold 1;" not in table
    assert "6/10 > 5/10" in table and "was 6/10" in pain["message"]
    for f in flags.values():  # every flag's line shows the same text as the formatter
        assert measure_text(f["value"], f["threshold"], f["unit"], f["comparison"]) in table


@pytest.mark.parametrize("value,threshold,unit,comparison,want", [
    (1.25, 1.0, "fraction over baseline", ">", "125% > 100% over baseline"),
    (0.1004, 0.1, "fraction over baseline", ">", "10.0% > 10% over baseline"),  # not "10% > 10%"
    (39.6, 30, "percent", ">", "40% > 30%"),
    (30.4, 30, "percent", ">", "30.4% > 30%"),
    (1.55, 1.5, "ratio", ">=", "1.55 >= 1.50"),
    (0.55, 0.5, "fraction", ">", "55% > 50%"),
    (805_000.0, 800_000.0, "m", ">", "805.0 km > 800 km"),
    (6.0, 5.0, "score 0-10", ">", "6/10 > 5/10"),
    (1.5, 0.0, "score points", ">", "+1.5 > +0 points"),
    (15.0, 14.0, "days without running", ">=", "15 >= 14 days without running"),
])
def test_measure_text(value, threshold, unit, comparison, want):
    assert measure_text(value, threshold, unit, comparison) == want


# --------------------------------------------------------------------------- only shoe


def test_a_runners_only_shoe_is_not_a_new_shoe_load_but_a_change_is(dbp):
    monday = TODAY - timedelta(days=28)
    runs = {}
    with db.connection(dbp) as con:
        for athlete in ("solo", "switch"):
            runs[athlete] = [add_run(con, monday + timedelta(days=d), km, athlete=athlete)
                             for d, km in ((1, 10), (4, 8), (5, 8))]
    # solo: one shoe, dated and the default, so every run is in it: a first pair, not a change
    _cli(dbp, "shoes", "add", "Only", "--first-used", str(monday), "--default", "--athlete", "solo")
    # switch: the same runs, the first in an old shoe, the next two in a new one
    _cli(dbp, "shoes", "add", "Old", "--first-used", str(monday - timedelta(days=60)), "--default",
         "--athlete", "switch")
    _cli(dbp, "shoes", "add", "New", "--first-used", str(monday + timedelta(days=4)), "--athlete", "switch")
    for aid in runs["switch"][1:]:
        _cli(dbp, "shoes", "assign", "New", "--activity", aid, "--athlete", "switch")
    with db.connection(dbp, read_only=True) as con:
        in_only = con.execute("SELECT count(*) FROM activity_shoes WHERE activity_id IN (?, ?, ?)",
                              runs["solo"]).fetchone()[0]
    assert in_only == 3  # the solo runner's runs are all in the only shoe
    build(dbp, TODAY)
    flags = [f for f in json.loads(_cli(dbp, "flags", "--json", "--all-athletes").stdout) if f["rule"] == "new_shoe_load"]
    assert [f["athlete_id"] for f in flags] == ["switch"]
    (f,) = flags  # day 4: 8 of 18 km in New (not over half); day 5: 16 of 26 km
    assert f["activity_id"] == runs["switch"][2] and f["value"] == pytest.approx(16 / 26, abs=1e-9)
    line = " ".join(_cli(dbp, "flags", "--all-athletes").stdout.split())
    assert "62% > 50%" in line and "(62%)" in f["message"]


# --------------------------------------------------------------------------- log show width


def test_log_show_fits_80_columns(dbp):
    with db.connection(dbp) as con:
        aids = [add_run(con, TODAY - timedelta(days=d), 5.5) for d in (9, 6, 3, 1)]
    _cli(dbp, "shoes", "add", "Pegasus 40 blue", "--brand", "Nike", "--first-used", str(TODAY - timedelta(days=30)),
         "--default", "--athlete", "ana")
    _cli(dbp, "log", "pain", "3", "--when", "during", "--activity", aids[-1], "--where", "2nd metatarsal, left foot",
         "--note", "a sharp twinge at 10 km that eased after a few minutes")
    _cli(dbp, "log", "pain", "2.5", "--when", "next_morning", "--activity", aids[-2], "--where", "2nd metatarsal")
    _cli(dbp, "log", "rpe", "6", "--activity", aids[-1])
    build(dbp, TODAY)
    env = {**os.environ, "COLUMNS": "80", "FOOTFALL_CONFIG": os.environ["FOOTFALL_CONFIG"]}
    p = subprocess.run([sys.executable, "-m", "pipelines.cli", "log", "show", "--athlete", "ana", "--days", "14",
                        "--db", str(dbp)], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    too_wide = [ln for ln in lines if len(ln.rstrip()) > 80]
    assert not too_wide, "\n".join(too_wide)
    text = p.stdout
    # what must stay whole to be read: dates, the ids (enough for --activity), the headers
    for aid in aids:
        assert aid[:8] in text
    for day in (9, 6, 3, 1):
        assert str(TODAY - timedelta(days=day)) in text
    for header in ("date", "activity", "shoe", "RPE", "pain b/d/a/m", "moment", "score"):
        assert re.search(rf"(^|\s){re.escape(header)}(\s|$)", text, re.M), header
    # the run with pain during 3 and no other moment, RPE 6
    assert re.search(rf"{aids[-1][:8]}\s+5\.5\s.*\b6\s+-/3/-/-", text), text
