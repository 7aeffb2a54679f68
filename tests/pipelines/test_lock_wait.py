"""Issue 15, point 3: waiting for the database must not look like hanging.

Another process holds the DuckDB file (a real second process with ``duckdb.connect(path)``):
``footfall sync`` (the real console script, in a subprocess) says "waiting for the database:
held by another process (PID N, name)" while it waits, waits ``lock_wait_s`` IN TOTAL (a retry of
a Prefect task must not wait again from zero), and ends with ONE ``error:`` line that names the
holder and says what to do, exit code 1, no traceback. When the holder lets go within the wait,
the sync goes on and lands.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipelines import db
from tests.pipelines.test_reliability_db import _migrated, _sample_export
from tests.conftest import user_cli_env

FOOTFALL = Path(sys.executable).parent / "footfall"
LOCK_WAIT_S = 3.0
#: the command's start before it first opens the file, without a flow run (imports, config,
#: discovery) on a loaded 2-core machine (measured 2.5 s)
START_MARGIN_S = 6.0
#: from the error line to the process's end (Prefect's teardown after a failed flow run: 2.5 s)
EXIT_MARGIN_S = 5.0


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    return _sample_export(tmp_path_factory.mktemp("lock-export"), weeks=2)


class Holder:
    """A second process that holds ``path`` (for writing unless ``read_only``) until ``release``
    (or ``stop``, which kills it)."""

    def __init__(self, path: Path, *, read_only: bool = False):
        code = ("import duckdb,sys; c=duckdb.connect(sys.argv[1], read_only=sys.argv[2]=='1'); "
                "print('held', flush=True); sys.stdin.readline(); c.close()")
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(path), "1" if read_only else "0"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "held"
        self.pid = self.proc.pid

    def release(self) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class Run:
    """``footfall`` in a subprocess, each stderr line with the time it arrived."""

    def __init__(self, args: list[str], env: dict, cwd: Path, on_line=None):
        self.on_line = on_line
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen([str(FOOTFALL), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
        self.err_lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.stdout = self.proc.stdout.read()
        self.returncode = self.proc.wait(timeout=300)
        self.seconds = time.monotonic() - self.t0
        self._reader.join(timeout=10)
        self.stderr = "".join(ln for _, ln in self.err_lines)

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.err_lines.append((time.monotonic() - self.t0, line))
            if self.on_line is not None:
                self.on_line(line)

    def first(self, text: str) -> tuple[float, str] | None:
        return next(((t, ln) for t, ln in self.err_lines if text in ln), None)


@pytest.fixture()
def cli(prefect_harness, isolated_config):
    """Run ``footfall`` as a user does (Prefect's log level not forced by the test session)."""
    env = user_cli_env(columns=100)
    env["FOOTFALL_LOCK_WAIT_S"] = str(LOCK_WAIT_S)

    def run(*args: str, on_line=None, lock_wait_s: float = LOCK_WAIT_S, extra_env=None) -> Run:
        return Run(list(args), {**env, "FOOTFALL_LOCK_WAIT_S": str(lock_wait_s), **(extra_env or {})},
                   isolated_config, on_line=on_line)

    return run


def report(r: Run, label: str) -> None:
    """The numbers the issue asks for (seen with ``pytest -s``)."""
    waiting = r.first("waiting for the database")
    error = r.first("error:")
    print(f"\n[{label}] exit {r.returncode}, {r.seconds:.2f} s wall, "
          f"waiting line at {waiting[0] if waiting else float('nan'):.2f} s, "
          f"error line at {error[0] if error else float('nan'):.2f} s, "
          f"{len(r.stderr.splitlines())} stderr lines, {len(r.stdout.splitlines())} stdout lines")


def assert_waited_once_and_failed_clearly(r: Run, holder: Holder) -> None:
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "Traceback" not in out, out
    waiting = r.first("waiting for the database: held by another process")
    assert waiting is not None, out
    assert f"PID {holder.pid}" in waiting[1], waiting[1]
    assert sum("waiting for the database" in ln for _, ln in r.err_lines) == 1, out
    errors = [ln for _, ln in r.err_lines if ln.startswith("error:")]
    assert len(errors) == 1, out
    err = errors[0]
    assert f"PID {holder.pid}" in err and "python" in err, err
    assert "close" in err.lower() and "read-only" in err and "copy" in err, err
    assert len([ln for ln in out.splitlines() if ln.strip()]) <= 4, out
    # lock_wait_s in total: from the first refusal to the error line, once (not once per retry)
    error_at = next(t for t, ln in r.err_lines if ln.startswith("error:"))
    waited = error_at - waiting[0]
    assert LOCK_WAIT_S - 0.3 <= waited < LOCK_WAIT_S + 1.5, (waited, out)
    assert r.seconds >= LOCK_WAIT_S
    # after the error line, only the process's exit (Prefect's teardown when a flow ran)
    assert r.seconds - error_at < EXIT_MARGIN_S, (r.seconds, error_at)


def test_a_writer_holding_the_file_before_the_sync(cli, export, tmp_path):
    """An analyst's session (or another sync) has the file open for writing: the sync cannot
    even plan (DuckDB refuses a read-only open too)."""
    dbfile = _migrated(tmp_path / "held.duckdb")
    holder = Holder(dbfile)
    try:
        r = cli("sync", str(export), "--db", str(dbfile))
    finally:
        holder.stop()
    report(r, "writer holds the file")
    assert_waited_once_and_failed_clearly(r, holder)
    assert r.seconds < LOCK_WAIT_S + START_MARGIN_S, r.seconds  # no flow run: start + one wait


@pytest.mark.parametrize("prefect_level", [None, "WARNING"])
def test_a_reader_holding_the_file_before_the_sync(cli, export, tmp_path, prefect_level):
    """An analyst opened the file read-only (``duckdb -readonly``): the sync plans (a read-only
    open is allowed next to it), then its flow cannot open the file for writing. Before issue 15
    the open_database task waited lock_wait_s, Prefect retried it, it waited again, and Prefect
    printed its tracebacks (100 lines with the user's own PREFECT_LOGGING_LEVEL=WARNING)."""
    dbfile = _migrated(tmp_path / "read.duckdb")
    holder = Holder(dbfile, read_only=True)
    try:
        r = cli("sync", str(export), "--db", str(dbfile),
                extra_env={"PREFECT_LOGGING_LEVEL": prefect_level} if prefect_level else None)
    finally:
        holder.stop()
    report(r, f"reader holds the file, PREFECT_LOGGING_LEVEL={prefect_level}")
    assert_waited_once_and_failed_clearly(r, holder)


def test_the_sync_goes_on_when_the_holder_lets_go_within_the_wait(cli, export, tmp_path):
    """The holder closes the file 1 s after the sync said it waits (of 10 s allowed): the sync
    lands, exit 0."""
    dbfile = _migrated(tmp_path / "released.duckdb")
    holder = Holder(dbfile)

    def let_go_soon(line: str) -> None:
        if "waiting for the database" in line:
            threading.Timer(1.0, holder.release).start()

    try:
        r = cli("sync", str(export), "--db", str(dbfile), on_line=let_go_soon, lock_wait_s=10)
    finally:
        holder.stop()
    report(r, "holder lets go 1 s into the wait")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "Traceback" not in out and "error:" not in out, out
    waiting = r.first("waiting for the database: held by another process")
    assert waiting is not None and f"PID {holder.pid}" in waiting[1], out
    assert "landed" in r.stdout
    con = db.connect(dbfile, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM activities").fetchall()[0][0] > 0
    finally:
        con.close()


def test_a_writer_taking_the_file_mid_sync_gets_the_rest_of_the_budget(
        prefect_harness, isolated_config, export, tmp_path):
    """The holder comes after the sync planned and opened the file (an analyst opens it while the
    files decode): the landing waits what is left of lock_wait_s, once (Prefect does not retry a
    busy database), and the sync fails with DatabaseBusy naming the holder."""
    from pipelines import progress
    from pipelines.flows import run_flow, sync

    (isolated_config / "footfall.toml").write_text(f"lock_wait_s = {LOCK_WAIT_S}\n")
    dbfile = _migrated(tmp_path / "mid.duckdb")
    holder: Holder | None = None
    notes: list[tuple[float, str | None]] = []
    took = 0.0

    def take_the_file(stage, advance, total):
        nonlocal holder, took
        if stage == "files" and holder is None:  # decoded; the landing comes next
            holder = Holder(dbfile)
            took = time.monotonic()

    progress.set_hook(take_the_file)
    progress.set_notice_hook(lambda kind, text: notes.append((time.monotonic(), text)))
    try:
        with pytest.raises(db.DatabaseBusy) as caught:
            run_flow(sync, paths=[str(export)], db=str(dbfile), athlete="mid")
        ended = time.monotonic()
    finally:
        progress.set_hook(None)
        progress.set_notice_hook(None)
        if holder is not None:
            holder.stop()
    assert holder is not None, "the sync never reached its landing"
    waited = ended - took
    print(f"\n[writer takes the file mid-sync] waited {waited:.2f} s after the holder came")
    assert waited < LOCK_WAIT_S + 1.5, waited  # once, not once per retry
    assert f"PID {holder.pid}" in str(caught.value)
    texts = [t for _, t in notes if t]
    assert len(texts) == 1 and f"PID {holder.pid}" in texts[0], notes


def test_the_budget_is_shared_by_every_open_of_one_sync(tmp_path):
    """``db.wait_budget``: two opens refused one after the other wait lock_wait_s together."""
    dbfile = _migrated(tmp_path / "budget.duckdb")
    holder = Holder(dbfile)
    try:
        with db.wait_budget(2.0):
            t0 = time.monotonic()
            with pytest.raises(db.DatabaseBusy, match=f"PID {holder.pid}"):
                db.connect(dbfile, wait_s=60, poll_s=0.1)
            first = time.monotonic() - t0
            with pytest.raises(db.DatabaseBusy):
                db.connect(dbfile, wait_s=60, poll_s=0.1)
            both = time.monotonic() - t0
    finally:
        holder.stop()
    assert 1.9 <= first < 3.0, first
    assert both - first < 0.5, (first, both)  # the budget was spent: no second wait
    c = db.connect(dbfile, wait_s=5)  # no budget, released: opens
    c.close()


def test_on_a_terminal_the_progress_display_says_whom_it_waits_for(prefect_harness, isolated_config,
                                                                    export, tmp_path):
    """stderr a terminal (a pty): the wait is a line of the progress display, next to the files
    decoded, and the sync still ends with the one error line."""
    import pty

    from prefect.settings import PREFECT_API_URL

    dbfile = _migrated(tmp_path / "tty.duckdb")
    holder = Holder(dbfile, read_only=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PREFECT_LOGGING_LEVEL", "PREFECT_INTERNAL_LOGGING_LEVEL",
                        "PREFECT_LOGGING_ROOT_LEVEL", "FOOTFALL_DEBUG")}
    env.update(PREFECT_API_URL=PREFECT_API_URL.value(), COLUMNS="200", TERM="xterm",
               FOOTFALL_LOCK_WAIT_S=str(LOCK_WAIT_S))
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    try:
        proc = subprocess.Popen([str(FOOTFALL), "sync", str(export), "--db", str(dbfile)],
                                stdout=subprocess.PIPE, stderr=slave, text=True, env=env,
                                cwd=isolated_config)
        os.close(slave)
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        proc.communicate(timeout=300)
        reader.join(timeout=10)
    finally:
        holder.stop()
        os.close(master)
    screen = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 1, screen
    assert "Traceback" not in screen, screen
    assert f"waiting for the database: held by another process (PID {holder.pid}" in screen, screen
    assert screen.count("error:") == 1, screen
    # drawn by the live display (erase its lines, draw the tasks: the files read so far, then the
    # wait, issue 17's head start reads before the flow opens the database), not a plain line
    assert re.search("\x1b\\[2K(?:reading [^\n]*\n)?waiting for the database", screen), screen


def test_a_read_command_says_whom_it_waits_for_too(cli, tmp_path):
    """``footfall flags`` (read-only) while a writer holds the file: the same waiting line, then
    the one error line."""
    dbfile = _migrated(tmp_path / "flags.duckdb")
    holder = Holder(dbfile)
    try:
        r = cli("flags", "--db", str(dbfile))
    finally:
        holder.stop()
    report(r, "flags while a writer holds the file")
    assert_waited_once_and_failed_clearly(r, holder)
