"""Kill trials: ``footfall sync`` killed with SIGKILL at random points, then synced again.

    python bench/kill_trials.py [--n 20] [--seed 1] [--weeks 16] [--batch-files 25]
                                [--api-url URL] [--out DIR] [--keep]

Each trial:

1. starts the real CLI, ``footfall sync <export> --db <new file> --json``, in a subprocess, on
   Prefect's temporary server (unless ``--api-url``) with ``PREFECT_HOME`` in a temp dir and an
   environment mark (``FOOTFALL_TEST_MARK``) that every process it starts inherits;
2. kills it with SIGKILL (the main process only, as the OOM killer or ``kill -9 PID`` would) at
   a point drawn at random: a uniformly random time in the first 90% of the uninterrupted sync's
   wall time (drawn again when the sync ended before it), or a
   named phase (``FOOTFALL_TEST_PAUSE_AT``, see ``pipelines/pausepoint.py``): inside a random
   batch's landing transaction, after the last batch landed, or inside the model build's
   transaction;
3. measures how long any process carrying the mark outlives the kill (Prefect's server, decode
   workers, multiprocessing's resource tracker: none should live more than a few seconds);
4. syncs again, uninterrupted, and compares the database with an uninterrupted sync's
   (``db_fingerprint``: row count and an order-free checksum of every table, timestamps and
   sync ids left out), the marts being there, and the flags.

The export is synthetic (``synth/sample.py``: Garmin FIT runs with running dynamics and
Strava GPX runs, one the copy of a FIT run), ``--weeks`` long, landed ``--batch-files`` files
per transaction so a sync has several batches. Prints one line per trial and a summary:
"X of N converge", the longest time a process outlived a kill. ``tests/pipelines/test_reliability_crash.py``
runs a few fixed trials with the same functions.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MARK = "FOOTFALL_TEST_MARK"
#: the sample export's last day: fixed, so the export (and its flags) are the same every run
END_DATE = date(2026, 6, 28)
#: tables left out of the comparison: the kill and the re-sync change them by design
#: (sync_runs: a killed sync writes no row; model_state: one generation per landing transaction)
SKIP_TABLES = {"sync_runs", "model_state"}
#: columns left out: when things happened, not what landed
SKIP_COLUMNS = {"sync_id"}


def make_export(out: Path, weeks: int = 16) -> int:
    """Write the synthetic export (FIT + GPX) under ``out``; return the number of files."""
    from synth.sample import make_sample_export

    files = make_sample_export(weeks=weeks, end_date=END_DATE)
    for rel, data in files.items():
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return len(files)


def sync_env(tmp: Path, *, api_url: str | None = None, batch_files: int = 25,
             pause_at: str | None = None, mark: str | None = None,
             thresholds: dict[str, float] | None = None) -> dict:
    """The environment of a CLI run: its own config file and PREFECT_HOME, no user settings."""
    tmp.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FOOTFALL_", "PREFECT_")) or k == "FOOTFALL_CORPUS"}
    cfg = f"batch_files = {batch_files}\nworkers = 2\ntimezone = \"Europe/Berlin\"\n"
    if thresholds:
        cfg += "[thresholds]\n" + "".join(f"{k} = {v}\n" for k, v in thresholds.items())
    (tmp / "footfall.toml").write_text(cfg)
    (tmp / "prefect-home").mkdir(exist_ok=True)
    env.update(
        FOOTFALL_CONFIG=str(tmp / "footfall.toml"),
        PREFECT_HOME=str(tmp / "prefect-home"),
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_TO_API_ENABLED="false",
        # a loaded 2-core machine can take longer than Prefect's default 20 s to start its server
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
        PYTHONPATH=str(ROOT),
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    if pause_at:
        env["FOOTFALL_TEST_PAUSE_AT"] = pause_at
    if mark:
        env[MARK] = mark
    return env


def footfall_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("footfall")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "pipelines.cli"]


def run_cli(args: list[str], env: dict, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(footfall_cmd() + args, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def run_sync(export: Path, db: Path, env: dict, cwd: Path, timeout: float = 300) -> dict:
    """An uninterrupted ``footfall sync --json``; its summary (raises with stderr on failure)."""
    p = run_cli(["sync", str(export), "--db", str(db), "--json"], env, cwd, timeout)
    if p.returncode != 0:
        raise RuntimeError(f"footfall sync exited {p.returncode}:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout)


# --------------------------------------------------------------------------- processes


def marked_alive(mark: str) -> list:
    """Live (not zombie) processes whose environment carries ``FOOTFALL_TEST_MARK=mark``."""
    import psutil

    out = []
    for p in psutil.process_iter(["pid", "name"]):
        try:
            if p.pid == os.getpid() or p.environ().get(MARK) != mark:
                continue
            if p.status() == psutil.STATUS_ZOMBIE:
                continue
            out.append(p)
        except (psutil.Error, OSError):
            continue
    return out


def describe(procs: list) -> list[str]:
    import psutil

    out = []
    for p in procs:
        try:
            cmd = " ".join(p.cmdline())
        except psutil.Error:
            cmd = "?"
        out.append(f"{p.pid} {cmd[:120]}")
    return out


def kill_leftovers(mark: str) -> None:
    """Clean-up after a failed trial: SIGKILL what still carries this trial's mark."""
    import psutil

    for p in marked_alive(mark):
        try:
            p.kill()
        except psutil.Error:
            pass


@dataclass
class Kill:
    point: str  # "t=3.21s", "land:2", "before_build", "build"
    reached: bool  # the pause point was reached (or the time passed) before the sync ended
    exited_first: bool  # the sync ended on its own before the kill
    at_kill: list[str] = field(default_factory=list)  # marked processes alive at the kill
    orphan_s: float = 0.0  # how long the last of them outlived the kill
    survivors: list[str] = field(default_factory=list)  # still alive after the wait


class _StderrReader:
    """Reads a child's stderr in a thread; ``wait_for(line)`` blocks until it appears."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list[str] = []
        self._cv = threading.Condition()
        self._t = threading.Thread(target=self._run, args=(proc,), daemon=True)
        self._t.start()

    def _run(self, proc) -> None:
        for line in proc.stderr:
            with self._cv:
                self.lines.append(line)
                self._cv.notify_all()
        with self._cv:
            self.lines.append(None)
            self._cv.notify_all()

    def wait_for(self, text: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        with self._cv:
            while True:
                if any(line is not None and text in line for line in self.lines):
                    return True
                if None in self.lines:
                    return False
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)

    def text(self) -> str:
        return "".join(line for line in self.lines if line)


def killed_sync(export: Path, db: Path, env: dict, cwd: Path, *, pause_at: str | None = None,
                after_s: float | None = None, wait_s: float = 10.0, timeout: float = 300) -> Kill:
    """Start a sync, SIGKILL its main process at the pause point (or ``after_s`` seconds), and
    watch for ``wait_s`` seconds whether anything it started outlives it."""
    mark = uuid.uuid4().hex
    env = dict(env, **{MARK: mark})
    if pause_at:
        env["FOOTFALL_TEST_PAUSE_AT"] = pause_at
    proc = subprocess.Popen(footfall_cmd() + ["sync", str(export), "--db", str(db), "--json"],
                            env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    reader = _StderrReader(proc)
    try:
        if pause_at:
            reached = reader.wait_for(f"footfall: paused at {pause_at.split(':')[0]}", timeout)
        else:
            try:
                proc.wait(timeout=after_s)
            except subprocess.TimeoutExpired:
                pass
            reached = proc.poll() is None
        exited_first = proc.poll() is not None
        at_kill = describe(marked_alive(mark))
        t0 = time.monotonic()
        if not exited_first:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        orphan_s, left = 0.0, marked_alive(mark)
        while left and time.monotonic() - t0 < wait_s:
            time.sleep(0.05)
            left = marked_alive(mark)
            orphan_s = time.monotonic() - t0
        point = pause_at or f"t={after_s:.2f}s"
        if exited_first and pause_at:
            raise RuntimeError(f"the sync ended before reaching {pause_at}:\n{reader.text()[-3000:]}")
        return Kill(point=point, reached=reached, exited_first=exited_first, at_kill=at_kill,
                    orphan_s=round(orphan_s, 2), survivors=describe(left))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_leftovers(mark)


# --------------------------------------------------------------------------- database


def db_fingerprint(db: Path) -> dict[str, tuple[int, int]]:
    """{table: (rows, checksum)} for every table: the checksum sums a hash of each row, so row
    order does not matter; ``*_at`` columns and sync ids are left out, and so are
    ``SKIP_TABLES``."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' ORDER BY table_name").fetchall()]
        out = {}
        for t in tables:
            if t in SKIP_TABLES:
                continue
            cols = [c for c, in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "ORDER BY ordinal_position", [t]).fetchall()
                if not c.endswith("_at") and c not in SKIP_COLUMNS]
            row = ", ".join(f'"{c}"' for c in cols)
            n, h = con.execute(
                f'SELECT count(*), coalesce(sum(hash(row({row}))::HUGEINT), 0) FROM "{t}"').fetchone()
            out[t] = (int(n), int(h))
        return out
    finally:
        con.close()


def _answers(api_url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def marts() -> list[str]:
    """The marts built as tables (a view such as activity_audit is current without a build)."""
    return sorted(p.stem for p in (ROOT / "sql" / "30_marts").glob("*.sql")
                  if f"create or replace table {p.stem} " in p.read_text().lower())


def flag_rows(db: Path) -> list[tuple]:
    """The flags, without ``first_raised_at``, in a fixed order (empty when there is no table)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        have = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "flags" not in have:
            return []
        return con.execute(
            "SELECT athlete_id, local_date, rule, severity, activity_id, value, threshold "
            "FROM flags ORDER BY ALL").fetchall()
    finally:
        con.close()


def compare(db: Path, baseline: dict[str, tuple[int, int]]) -> list[str]:
    """What differs between ``db`` and the uninterrupted sync's fingerprint (empty: converged)."""
    got = db_fingerprint(db)
    problems = [f"mart {m} missing" for m in marts() if m not in got]
    for t in sorted(set(baseline) | set(got)):
        if baseline.get(t) != got.get(t):
            b, g = baseline.get(t), got.get(t)
            problems.append(f"{t}: rows {b and b[0]} -> {g and g[0]}"
                            + (" (same count, other content)" if b and g and b[0] == g[0] else ""))
    return problems


# --------------------------------------------------------------------------- trials


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--weeks", type=int, default=16)
    ap.add_argument("--batch-files", type=int, default=25)
    ap.add_argument("--api-url", help="a running Prefect server's API (default: the temporary server)")
    ap.add_argument("--out", type=Path, help="work folder (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    work = a.out or Path(tempfile.mkdtemp(prefix="footfall-kill-"))
    work.mkdir(parents=True, exist_ok=True)
    export = work / "export"
    if not export.exists():
        n_files = make_export(export, a.weeks)
    else:
        n_files = sum(1 for p in export.rglob("*") if p.is_file())
    n_batches = -(-n_files // a.batch_files)
    env = sync_env(work / "env", api_url=a.api_url, batch_files=a.batch_files)
    print(f"export: {n_files} files, {n_batches} batches of {a.batch_files}; "
          f"server: {a.api_url or 'temporary'}; load {os.getloadavg()[0]:.1f}", flush=True)
    if not a.api_url and _answers("http://127.0.0.1:4200/api"):
        print("note: a Prefect server answers on 127.0.0.1:4200; a footfall that uses it when none "
              "is configured starts no temporary server", flush=True)
    t0 = time.monotonic()
    base_db = work / "baseline.duckdb"
    base_db.unlink(missing_ok=True)
    run_sync(export, base_db, env, work)
    wall = time.monotonic() - t0
    baseline = db_fingerprint(base_db)
    base_flags = flag_rows(base_db)
    print(f"uninterrupted sync: {wall:.1f} s, {len(base_flags)} flags", flush=True)
    converged, worst_orphan, rows = 0, 0.0, []
    for i in range(1, a.n + 1):
        db = work / f"trial{i}.duckdb"
        db.unlink(missing_ok=True)
        kind = rng.choice(["time", "time", "land", "before_build", "build"])
        pause = after = None
        if kind == "land":
            pause = f"land:{rng.randint(1, n_batches)}"
        elif kind != "time":
            pause = kind
        try:
            for _ in range(3):  # a sync that ends before its random time is no trial: draw again
                if kind == "time":
                    after = rng.uniform(0.5, 0.9 * wall)
                k = killed_sync(export, db, env, work, pause_at=pause, after_s=after)
                if not k.exited_first:
                    break
                db.unlink(missing_ok=True)
        except RuntimeError as err:
            print(f"trial {i}: {pause}: {err}", flush=True)
            rows.append({"trial": i, "point": pause, "error": str(err)})
            continue
        worst_orphan = max(worst_orphan, k.orphan_s)
        ts = time.monotonic()
        try:
            run_sync(export, db, env, work)
            problems = compare(db, baseline)
            if flag_rows(db) != base_flags:
                problems.append("flags differ")
        except RuntimeError as err:
            problems = [f"re-sync failed: {err}"]
        ok = not problems
        converged += ok
        print(f"trial {i:2}: kill at {k.point:13} {'(ended first) ' if k.exited_first else ''}"
              f"{len(k.at_kill)} processes at the kill, last gone after {k.orphan_s:.2f} s"
              f"{' SURVIVORS ' + str(k.survivors) if k.survivors else ''}; "
              f"re-sync {time.monotonic() - ts:.1f} s: {'converged' if ok else problems}", flush=True)
        rows.append({"trial": i, **k.__dict__, "converged": ok, "problems": problems})
        db.unlink(missing_ok=True)
    print(f"\n{converged} of {a.n} converge; longest a process outlived a kill: {worst_orphan:.2f} s "
          f"(load {os.getloadavg()[0]:.1f})")
    (work / "kill_trials.json").write_text(json.dumps(rows, indent=2, default=str))
    if not a.keep and a.out is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if converged == a.n else 1


if __name__ == "__main__":
    sys.exit(main())
