"""A new user's first minutes, as README.md tells them: ``footfall demo``, then the commands of the
README's first-run section, typed in that order into the installed ``footfall`` (subprocesses, in
a fresh folder, no config, Prefect's temporary server), each changing what the next one shows.

The commands are read from README.md itself (the code block after the install lines), so the
README and this test cannot drift; the demo prints the same commands (``pipelines.cli.demo.NEXT_STEPS``).
The demo also writes its runner's journal (issue 15, point 8): pain and shoe flags and the pain
and shoe charts are there on the first run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.cli.demo import DEMO_ATHLETE, NEXT_STEPS

from tests.conftest import TODAY

PROJECT = Path(__file__).resolve().parents[2]
README = PROJECT / "README.md"
FOOTFALL = Path(sys.executable).with_name("footfall")

#: The journal flags the demo's example journal raises (synth/sample_journal.py).
DEMO_JOURNAL_RULES = {"pain_during", "pain_next_morning", "pain_rising", "new_shoe_load"}


# --------------------------------------------------------------------------- README


def code_blocks(text: str) -> list[list[str]]:
    """The fenced code blocks of a Markdown text, as lists of lines."""
    return [m.group(1).splitlines() for m in re.finditer(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M)]


def readme_walkthrough() -> tuple[str, list[str]]:
    """(the demo command of the README's first line, the commands of the block after it)."""
    blocks = code_blocks(README.read_text())
    first = next(i for i, b in enumerate(blocks) if any("footfall demo" in ln for ln in b))
    demo_cmd = blocks[first][0].split("&&")[-1].strip()
    steps = [ln for ln in blocks[first + 1] if ln.startswith("footfall ")]
    return demo_cmd, steps


def argv(line: str) -> list[str]:
    """A README line as the shell splits it (the ``# ...`` comment dropped)."""
    return shlex.split(line, comments=True)


def test_readme_first_lines_run_the_demo_and_list_what_the_demo_prints():
    demo_cmd, steps = readme_walkthrough()
    assert demo_cmd == "footfall demo"
    assert [argv(s) for s in steps] == [argv(c) for c, _ in NEXT_STEPS]
    for want in ("log", "shoes", "flags", "report"):
        assert any(argv(s)[1] == want for s in steps), f"the README's next steps have no `footfall {want}`"


# --------------------------------------------------------------------------- the user's shell


def user_env(home: Path) -> dict:
    """A new user's environment: no footfall config or variables (but the tests' fixed day), no
    Prefect server configured, their own PREFECT_HOME and state folder, a wide terminal."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_", "FOOTFALL_")) or k == "FOOTFALL_TODAY"}
    (home / "footfall.toml").write_text("")
    env.update(PREFECT_HOME=str(home / "prefect"), XDG_STATE_HOME=str(home / "state"),
               FOOTFALL_CONFIG=str(home / "footfall.toml"), COLUMNS="250",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="WARNING")
    return env


def run(line: str, cwd: Path, env: dict, timeout_s: float = 600) -> subprocess.CompletedProcess:
    args = argv(line)
    assert args[0] == "footfall"
    r = subprocess.run([str(FOOTFALL), *args[1:]], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=timeout_s)
    assert r.returncode == 0, f"{line}\nexit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture(scope="module")
def after_demo(tmp_path_factory) -> tuple[Path, str]:
    """A fresh folder in which the README's demo line ran: (folder, its output)."""
    if not FOOTFALL.exists():
        pytest.skip(f"the footfall command is not installed next to {sys.executable}")
    home = tmp_path_factory.mktemp("newuser")
    demo_cmd, _ = readme_walkthrough()
    r = run(demo_cmd, home, user_env(home))
    return home, r.stdout


def copy_of(after_demo, tmp_path: Path) -> Path:
    src, _ = after_demo
    dst = tmp_path / "user"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("prefect", "state"))
    return dst


def db_rows(folder: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(folder / "footfall.duckdb"), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


# --------------------------------------------------------------------------- the demo itself


def test_demo_writes_a_journal_that_raises_pain_and_shoe_flags(after_demo):
    home, out = after_demo
    rules = {r[0] for r in db_rows(home, "SELECT rule FROM flags WHERE athlete_id = ?", [DEMO_ATHLETE])}
    assert DEMO_JOURNAL_RULES <= rules, rules
    assert {"single_session_spike", "weekly_ramp"} <= rules  # the load story is still there
    for rule in DEMO_JOURNAL_RULES:  # and the demo prints them
        assert rule in out
    # two shoes, the old one retired the day before the new one's first day, both with runs
    shoes = db_rows(home, "SELECT name, retired_on, first_used, is_default, n_runs, distance_m "
                          "FROM shoe_mileage WHERE athlete_id = ? ORDER BY shoe_id", [DEMO_ATHLETE])
    assert [s[0] for s in shoes] == ["Clifton 9", "Novablast 4"]
    (_, retired, _, _, old_runs, _), (_, _, new_from, default, new_runs, _) = shoes
    assert retired is not None and (new_from - retired).days == 1 and default
    assert old_runs > 20 and new_runs >= 4
    # every run but today's has its shoe; pain during, after and the next morning; RPE on runs
    runs = db_rows(home, "SELECT local_date, shoe_name, rpe_cr10, pain_during, pain_after, "
                         "pain_next_morning FROM int_pain_by_run WHERE athlete_id = ? ORDER BY started_at",
                   [DEMO_ATHLETE])
    assert all(r[1] for r in runs)
    assert runs[-1][0] == TODAY and runs[-1][2:] == (None, None, None, None)  # left for the user
    past = runs[:-1]
    assert all(r[2] is not None and r[4] is not None for r in past)
    assert sum(r[3] is not None for r in past) >= 2 and sum(r[5] is not None for r in past) >= 10
    # the example journal is a file the user can read, in the format `footfall log import` takes
    csv = (home / "footfall-demo" / "journal.csv").read_text()
    assert csv.splitlines()[2] == "date,moment,pain,location,rpe,note"
    # the report has the pain and shoe charts and nothing "not logged yet"
    m = re.search(r"report: .*report\.html\s+\(demo, \S+ to \S+: (\d+) charts, (\d+) flags\)", out)
    assert m and int(m.group(1)) == 7 and "nothing logged yet for" not in out, out
    page = (home / "footfall-demo" / "report.html").read_text()
    assert "Novablast 4" in page and "Clifton 9" in page


def test_demo_says_which_athlete_it_used_and_what_to_type_next(after_demo):
    _, out = after_demo
    assert re.search(r"athlete: demo\b.*the only athlete in footfall\.duckdb", out), out
    after = out[out.index("\nNext"):].splitlines()[2:]  # the lines below "Next, ..."
    printed = [ln.strip() for ln in after if ln.strip().startswith("footfall ")]
    assert len(printed) == len(after), after
    assert [argv(ln) for ln in printed] == [argv(c) for c, _ in NEXT_STEPS]


def test_a_second_demo_keeps_the_journal_as_it_was(after_demo, tmp_path):
    home = copy_of(after_demo, tmp_path)
    before = db_rows(home, "SELECT (SELECT count(*) FROM pain_log), (SELECT count(*) FROM rpe_log), "
                           "(SELECT count(*) FROM shoes), (SELECT count(*) FROM flags)")
    r = run("footfall demo", home, user_env(home))
    assert "kept as it was" in r.stdout
    assert db_rows(home, "SELECT (SELECT count(*) FROM pain_log), (SELECT count(*) FROM rpe_log), "
                         "(SELECT count(*) FROM shoes), (SELECT count(*) FROM flags)") == before


# --------------------------------------------------------------------------- the walkthrough


def test_readme_walkthrough_each_command_shows_in_the_next(after_demo, tmp_path):
    """The README's next steps, in order; after each, what it did shows in what follows.

    Needs the one-athlete rule (issue 15, point 1: commands without --athlete use the only
    athlete in the database): before it, the entries go to athlete 'default'.
    """
    home = copy_of(after_demo, tmp_path)
    env = user_env(home)
    _, steps = readme_walkthrough()
    today = TODAY.isoformat()
    seen: dict[tuple[str, ...], str] = {}
    for line in steps:
        key = tuple(argv(line)[1:3])
        out = run(line, home, env).stdout
        seen[key] = out
        if key == ("log", "pain"):  # a score above 5/10 during today's run: a warning at once
            assert re.search(rf"{today}\s+{DEMO_ATHLETE}\s+pain_during", out), out
        elif key == ("shoes", "add"):  # today's run is in the new shoe
            assert re.search(rf"for {DEMO_ATHLETE}\b.*1 run\(s\) now in it", out), out
        elif key == ("log", "show"):  # today's run with the pain, the RPE and the shoe logged above
            row = next((ln for ln in out.splitlines() if ln.lstrip("│ ").startswith(today)), "")
            assert "Cloudmonster" in row and re.search(r"\b6\b", row), out
            shown = json.loads(run("footfall log show --json", home, env).stdout)
            (mine,) = [r for r in shown["runs"] if r["local_date"] == today]
            assert (mine["shoe_name"], mine["rpe_cr10"], mine["pain_during"]) == ("Cloudmonster", 6, 6)
        elif key == ("shoes", "list"):
            assert "Cloudmonster" in out and "Novablast 4" in out and "Clifton 9" in out
            listed = db_rows(home, "SELECT n_runs FROM shoe_mileage WHERE name = 'Cloudmonster'")
            assert listed == [(1,)]
        elif key == ("flags",):  # the demo's flags and the one logged above
            for rule in DEMO_JOURNAL_RULES | {"single_session_spike"}:
                assert rule in out, rule
            assert re.search(rf"{today}\s+{DEMO_ATHLETE}\s+pain_during", out), out
        elif key == ("report",):  # the report of the one athlete, with today's entries
            page = (home / "report.html").read_text()
            assert "Cloudmonster" in page
            (msg,) = db_rows(home, "SELECT message FROM flags WHERE rule = 'pain_during' "
                                   "AND local_date = ?", [TODAY])[0]
            import html

            assert html.escape(msg) in page
            assert re.search(r"\(demo, \S+ to \S+: 7 charts", out), out
    assert {("log", "pain"), ("log", "rpe"), ("shoes", "add"), ("log", "show"), ("shoes", "list"),
            ("flags",), ("report",)} <= set(seen)


# --------------------------------------------------------------------------- next steps, other folders


@pytest.mark.parametrize("configured, others, db, want", [
    (None, [], "footfall.duckdb", ""),
    ("default", [], "footfall.duckdb", ""),
    ("demo", [], "footfall.duckdb", ""),
    ("ana", [], "footfall.duckdb", " --athlete demo"),  # the config's athlete would get them
    (None, ["ben"], "footfall.duckdb", " --athlete demo"),  # not the only athlete in the file
    (None, [], "runs/x y.duckdb", " --db 'runs/x y.duckdb'"),
])
def test_next_steps_name_the_athlete_and_database_only_when_needed(
        configured, others, db, want, tmp_path, monkeypatch, capsys):
    from pipelines.cli.demo import print_next_steps
    from pipelines.db import connection, migrate

    monkeypatch.chdir(tmp_path)
    path = Path(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    with connection(path) as con:
        migrate(con)
        for i, a in enumerate([DEMO_ATHLETE, *others]):
            con.execute("INSERT INTO activities (activity_id, athlete_id) VALUES (?, ?)", [f"a{i}", a])
    print_next_steps(path, configured, TODAY, TODAY)
    out = capsys.readouterr().out
    printed = [ln.split("  #")[0].strip() for ln in out.splitlines() if ln.startswith("  footfall ")]
    assert printed == [c + want for c, _ in NEXT_STEPS]
    assert "athlete: demo" in out and (("--athlete" in want) == ("need no --athlete" not in out))
