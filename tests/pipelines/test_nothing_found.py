"""Issue 15, point 4: doing nothing does not look like success.

* ``footfall sync`` of an empty folder, or of a folder with no activity files, says "no activity
  files found in PATH" and exits 1, without starting Prefect's temporary server and without
  creating a database; an unchanged, already-synced folder stays exit 0, and a folder whose only
  files are quarantined is not "nothing" (exit 0, the quarantine in the summary);
* the journal commands (log, shoes, plan, activity) refuse a database that does not exist (one
  line, exit 2) and never create one;
* a missing path (sync PATH, --db of a read command, log import FILE) is one line, no ``[Errno 2]``.

Through the real ``footfall`` command in a subprocess (the commands that start no flow run, also
through typer's CliRunner where many are checked), against real DuckDB files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from tests.conftest import TODAY

FOOTFALL = Path(sys.executable).parent / "footfall"


def _env(home: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FOOTFALL_", "PREFECT_API_URL", "PREFECT_HOME"))
           and k not in ("PREFECT_LOGGING_LEVEL", "PREFECT_INTERNAL_LOGGING_LEVEL", "PREFECT_LOGGING_ROOT_LEVEL")}
    (home / "footfall.toml").write_text("")
    env.update(FOOTFALL_CONFIG=str(home / "footfall.toml"), FOOTFALL_TODAY=TODAY.isoformat(),
               PREFECT_HOME=str(home / "prefect-home"), COLUMNS="200", **extra)
    return env


def footfall(home: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    """``footfall ARGS`` in ``home`` with its own PREFECT_HOME (``home/prefect-home``): a
    temporary Prefect server started by the command leaves its ``prefect.db`` there."""
    return subprocess.run([str(FOOTFALL), *args], capture_output=True, text=True,
                          env=_env(home, **extra_env), cwd=home, timeout=300)


def one_error_line(r: subprocess.CompletedProcess, code: int) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Errno" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def no_server_started(home: Path) -> bool:
    return not (home / "prefect-home" / "prefect.db").exists()


# --------------------------------------------------------------------------- sync of nothing


@pytest.mark.parametrize("content", ["empty", "nested_empty", "no_activity_files"])
def test_sync_of_nothing_says_so_and_creates_nothing(tmp_path, content):
    src = tmp_path / "watch"
    src.mkdir()
    if content == "nested_empty":
        (src / "2024" / "05").mkdir(parents=True)
    elif content == "no_activity_files":
        (src / "notes.txt").write_text("ran 5k\n")
        (src / "settings.json").write_text("{}")
        (src / "photos").mkdir()
        (src / "photos" / "run.jpg").write_bytes(b"\xff\xd8\xff")
    dbfile = tmp_path / "f.duckdb"
    r = footfall(tmp_path, "sync", str(src), "--db", str(dbfile))
    line = one_error_line(r, 1)
    assert line.startswith(f"error: no activity files found in {src}"), line
    if content == "no_activity_files":
        assert ".txt" in line and ".json" in line  # what was there instead
    assert not dbfile.exists() and not Path(f"{dbfile}.wal").exists()
    assert no_server_started(tmp_path)
    assert r.stdout == ""  # no summary table of zeros


def test_sync_of_nothing_with_an_existing_database_leaves_it_alone(tmp_path):
    from pipelines.db import open_for_writing

    (tmp_path / "empty").mkdir()
    dbfile = tmp_path / "f.duckdb"
    open_for_writing(dbfile)
    before = dbfile.read_bytes()
    r = footfall(tmp_path, "sync", str(tmp_path / "empty"), "--db", str(dbfile), "--json")
    one_error_line(r, 1)
    assert dbfile.read_bytes() == before
    assert no_server_started(tmp_path)


def _one_run(folder: Path) -> None:
    from tests.pipelines.test_reliability_db import garmin_fit

    folder.mkdir()
    (folder / "2024-05-01-07-00-00.fit").write_bytes(garmin_fit(datetime(2024, 5, 1, 7, 0), minutes=20))


def test_an_unchanged_synced_folder_stays_exit_0(prefect_harness, tmp_path):
    from prefect.settings import PREFECT_API_URL

    _one_run(tmp_path / "watch")
    dbfile = tmp_path / "f.duckdb"
    first = footfall(tmp_path, "sync", str(tmp_path / "watch"), "--db", str(dbfile),
                     PREFECT_API_URL=PREFECT_API_URL.value())
    assert first.returncode == 0, first.stderr
    again = footfall(tmp_path, "sync", str(tmp_path / "watch"), "--db", str(dbfile))
    assert again.returncode == 0, again.stderr
    assert "no activity files" not in again.stdout + again.stderr
    assert no_server_started(tmp_path)  # nothing changed: no flow run either


def test_only_quarantined_files_is_not_nothing(prefect_harness, tmp_path):
    from prefect.settings import PREFECT_API_URL

    src = tmp_path / "watch"
    src.mkdir()
    (src / "broken.fit").write_bytes(b"this is not a FIT file at all" * 10)
    dbfile = tmp_path / "f.duckdb"
    r = footfall(tmp_path, "sync", str(src), "--db", str(dbfile), PREFECT_API_URL=PREFECT_API_URL.value())
    assert r.returncode == 0, r.stderr
    assert "quarantined files" in r.stdout and "broken.fit" in r.stdout
    assert "no activity files" not in r.stdout + r.stderr
    assert dbfile.exists()


# --------------------------------------------------------------------------- journal commands


JOURNAL_COMMANDS = [
    ["log", "pain", "4", "--when", "after"],
    ["log", "rpe", "5"],
    ["log", "import", "{csv}"],
    ["log", "delete", "pain", "1"],
    ["log", "show"],
    ["shoes", "add", "Pegasus"],
    ["shoes", "retire", "Pegasus"],
    ["shoes", "assign", "Pegasus", "--from", "2026-01-01"],
    ["shoes", "list"],
    ["plan", "add", "--week", "1", "--run-min", "10"],
    ["plan", "import", "{plan_csv}"],
    ["plan", "clear"],
    ["plan", "show"],
    ["activity", "exclude", "abcdef123"],
    ["activity", "include", "abcdef123"],
    ["activity", "sport", "abcdef123", "walking"],
]


@pytest.mark.parametrize("args", JOURNAL_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_journal_commands_refuse_a_missing_database(isolated_config, args):
    csv = isolated_config / "journal.csv"
    csv.write_text("date,moment,pain\n2026-05-01,after,3\n")
    plan_csv = isolated_config / "plan.csv"
    plan_csv.write_text("week,run_min\n1,10\n")
    args = [a.format(csv=csv, plan_csv=plan_csv) for a in args]
    for dbfile in (isolated_config / "runs.duckbd", isolated_config / "no-such-folder" / "runs.duckdb"):
        r = CliRunner().invoke(app, [*args, "--db", str(dbfile)])
        out = [ln for ln in r.output.splitlines() if ln.strip()]
        assert r.exit_code == 2, r.output
        assert len(out) == 1 and out[0].startswith("error: "), r.output
        assert f"{dbfile} does not exist" in " ".join(r.output.split()), r.output
        assert not dbfile.exists() and not dbfile.parent.joinpath(dbfile.name + ".wal").exists()
        assert not (isolated_config / "no-such-folder").exists()


def test_journal_commands_write_to_a_database_that_exists(isolated_config):
    """The refusal is about the path: the same command on an existing (empty) database works."""
    from pipelines.db import open_for_writing

    dbfile = isolated_config / "runs.duckdb"
    open_for_writing(dbfile)
    r = CliRunner().invoke(app, ["log", "pain", "4", "--when", "after", "--date", "2026-05-01", "--db", str(dbfile),
                                  "--athlete", "ana"])  # an empty file has no athlete to choose
    assert r.exit_code == 0, r.output
    assert "logged pain 4/10" in r.output


def test_log_pain_with_a_mistyped_db_is_one_line_in_the_real_command(tmp_path):
    dbfile = tmp_path / "runs.duckbd"
    r = footfall(tmp_path, "log", "pain", "4", "--when", "after", "--db", str(dbfile))
    line = one_error_line(r, 2)
    assert str(dbfile) in line
    assert not dbfile.exists()


# --------------------------------------------------------------------------- missing paths


def test_sync_of_a_missing_path_is_one_line(tmp_path):
    (tmp_path / "here").mkdir()
    missing = tmp_path / "not-here"
    dbfile = tmp_path / "f.duckdb"
    r = footfall(tmp_path, "sync", str(tmp_path / "here"), str(missing), "--db", str(dbfile))
    line = one_error_line(r, 2)
    assert line == f"error: {missing}: no such file or folder", line
    assert not dbfile.exists()
    assert no_server_started(tmp_path)


@pytest.mark.parametrize("args", [["flags"], ["report"], ["query", "SELECT 1"], ["audit"], ["build"],
                                  ["check"], ["export", "--parquet", "out"]], ids=lambda a: a[0])
def test_a_missing_db_of_a_read_command_is_one_line(tmp_path, args):
    dbfile = tmp_path / "runs.duckbd"
    r = footfall(tmp_path, *args, "--db", str(dbfile))
    line = one_error_line(r, 1)
    assert f"{dbfile} does not exist" in line
    assert not dbfile.exists()


def test_log_import_of_a_missing_file_is_one_line(tmp_path):
    from pipelines.db import open_for_writing

    dbfile = tmp_path / "runs.duckdb"
    open_for_writing(dbfile)
    r = footfall(tmp_path, "log", "import", str(tmp_path / "journal.csv"), "--db", str(dbfile), "--athlete", "ana")
    line = one_error_line(r, 2)
    assert str(tmp_path / "journal.csv") in line
