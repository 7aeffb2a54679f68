"""Benchmark: ``footfall sync`` of a multi-year FIT archive, end to end, against plain fitparse.

    python bench/bench_sync.py [--years 5] [--out bench/out] [--reps 3] [--regen]
                               [--with-server] [--early-server] [--batch-files N]
                               [--stages] [--profile] [--keep]

1. **Archive** (cached in ``<out>/archive`` with ``<out>/archive.json``; rebuilt only when
   missing, made with other parameters, or with ``--regen``): ``--years`` of running, ~360 runs
   a year (1,800 files, ~6.6M records for 5 years), every file a distinct FIT activity (its
   sha256 is checked) written by ``synth.fit_encode.encode_activity``:

   - ~80% simulated the way ``synth/sample.py`` simulates a run (GPS loop, speed, heart rate,
     cadence, running dynamics, a third with Stryd developer fields, walk breaks, timer pauses),
     at 1 Hz, 40-90 min long;
   - ~20% built from real corpus runs (``garmin-stamina.fit``, ``running-with-developer-data.fit``,
     ``activity-small-fenix2-run.fit``, runpandas ``run.fit``): their records (own field sets,
     own sampling, developer fields) shifted to a new start and perturbed (heart rate, speed and
     timing, position, altitude, power, stance time).

   Corpus files are read from ``FOOTFALL_CORPUS`` (default ``../shared/corpus``), never copied.
2. **Timings**, all in this run, each an end-to-end subprocess ``footfall sync <archive> --db
   <tmp> --json`` (the real CLI: Python start, imports, Prefect's temporary server, the flow,
   models, flags) with ``PREFECT_HOME`` in a temp dir, no ``PREFECT_API_URL`` and no user config:

   - (a) full sync from an empty database to flags (``--full-reps`` runs, each into a new
     database, median);
   - (b) unchanged re-sync (``--reps`` runs, median);
   - (c) one new file (a new run written into ``<archive>/new/``, then sync; ``--reps`` runs, a
     different new file each time, median; removed from the archive afterwards);
   - the Prefect floor: a no-op flow run the same way (imports ``pipelines.flows``, starts the
     temporary server, runs one flow; median of ``--reps``), so (b) and (c) split into Prefect +
     Python start-up and footfall's own work (the flow's ``seconds``, measured inside the flow);
   - ``--with-server``: the floor, (b) and (c) again with ``PREFECT_API_URL`` pointing at a
     ``prefect server start`` this script starts on 127.0.0.1 (and stops);
   - ``--early-server``: the floor, (b) and (c) again through a wrapper that starts Prefect's
     temporary server *before* the CLI's imports (a prototype of a ``cli.py`` change; see
     ``EARLY_SERVER``).

   Peak memory: the process tree's summed RSS, sampled from ``/proc`` every 50 ms (the CLI, its
   decode workers and Prefect's server), the same without the Prefect server, and the largest
   single process's max RSS (``getrusage`` of the children, as ``/usr/bin/time -v`` reports it).
3. **Baseline**, same run: the plain fitparse loop (``for m in FitFile(data).get_messages():
   m.get_values()``) over an evenly spaced sample of the archive's files, extrapolated to the
   whole archive by record count, and its ratio to the full sync; ``ingest.decode.decode_bytes``
   and ``ingest.fit_columnar.read_fit_messages_columnar`` on the same sample.
4. ``--stages``: a full sync in this process through ``pipelines/sync.py``'s functions (no
   Prefect), timed per stage (discover, plan, read+hash, decode, land, models).
   ``--profile``: the full sync flow in this process under cProfile (the parent's side: reading,
   landing, models, Prefect), and ``work.decode_batch`` over 40 archive files (a worker's side);
   the top functions go to ``<out>/profile_flow.txt`` and ``<out>/profile_decode.txt``.

The machine's load average is printed at the start and end: other processes on the same cores
slow every number down. Targets (issue 6; a benchmark, not a test): full <= 60 s, re-sync <= 2 s,
one new file <= 3 s, peak memory <= 1.5 GB, on a 2-core machine. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Bump when the archive recipe changes (a cached archive with another version is rebuilt).
ARCHIVE_VERSION = 1
RUNS_PER_YEAR = 360
FIRST_DAY = date(2021, 1, 4)
CORPUS_SHARE = 0.2
CORPUS_RUNS = (
    "jimmykane+fit-parser/test/garmin-stamina.fit",
    "jimmykane+fit-parser/test/running-with-developer-data.fit",
    "dtcooper+python-fitparse/tests/files/activity-small-fenix2-run.fit",
    "corriporai+runpandas/runpandas/tests/io/data/fit/run.fit",
)
SEMI_PER_DEG = 2**31 / 180.0
TARGETS = {"full": 60.0, "resync": 2.0, "new_file": 3.0, "memory_mb": 1536.0}


def corpus_dir() -> Path:
    return Path(os.environ.get("FOOTFALL_CORPUS", ROOT.parent / "shared" / "corpus"))


# =========================================================================== the archive


@dataclass(frozen=True)
class ArchiveRun:
    """One file of the archive: when (local time, Europe/Berlin rules), how long, from what."""

    index: int
    local_start: str  # ISO, naive local time
    minutes: float  # planned duration (simulated runs)
    source: str  # "sim" or a CORPUS_RUNS path
    seed: int

    @property
    def relpath(self) -> str:
        t = datetime.fromisoformat(self.local_start)
        return f"{t:%Y}/{t:%Y-%m-%d-%H-%M-%S}.fit"


def plan_archive(years: float, seed: int = 2026) -> list[ArchiveRun]:
    """~360 runs a year from FIRST_DAY: most days one run, 40-90 min (simulated) or a corpus run."""
    rng = random.Random(seed)
    n_days = int(round(365.25 * years))
    n_runs = min(n_days, int(round(RUNS_PER_YEAR * years)))
    days = sorted(rng.sample(range(n_days), n_runs))
    runs = []
    for i, d in enumerate(days):
        day = FIRST_DAY + timedelta(days=d)
        minute = rng.randint(6 * 60, 9 * 60) if rng.random() < 0.6 else rng.randint(17 * 60, 20 * 60)
        start = datetime.combine(day, datetime.min.time()) + timedelta(minutes=minute, seconds=rng.randint(0, 59))
        src = rng.choice(CORPUS_RUNS) if rng.random() < CORPUS_SHARE else "sim"
        runs.append(ArchiveRun(i, start.isoformat(), round(rng.uniform(40, 90), 1), src, rng.randrange(2**31)))
    return runs


def new_run(archive: list[ArchiveRun], k: int) -> ArchiveRun:
    """The k-th "new file" of the one-new-file sync: a run k+1 days after the archive's last."""
    last = datetime.fromisoformat(archive[-1].local_start)
    start = last.replace(hour=7, minute=3 + k, second=11) + timedelta(days=k + 1)
    return ArchiveRun(len(archive) + k, start.isoformat(), 55.0, "sim", 10_000 + k)


_TEMPLATES: dict[str, dict] = {}

#: record fields written from a corpus run (enhanced_* replace speed/altitude: one source each)
_KEEP = ("timestamp", "position_lat", "position_long", "distance", "enhanced_speed",
         "enhanced_altitude", "heart_rate", "cadence", "fractional_cadence", "power",
         "stance_time", "stance_time_percent", "stance_time_balance", "vertical_oscillation",
         "vertical_ratio", "step_length", "temperature", "accumulated_power", "cycle_length")


def _template(rel: str) -> dict:
    """A corpus run's record columns (profile names and units) and its developer columns."""
    if rel in _TEMPLATES:
        return _TEMPLATES[rel]
    import fitparse
    import fitparse.records as fr

    from synth.fit_encode import STRYD_FIELDS

    fr.DEV_TYPES = {}
    stryd = {f.name for f in STRYD_FIELDS}
    rows = [m.get_values() for m in fitparse.FitFile(str(corpus_dir() / rel)).get_messages("record")]
    rows = [r for r in rows if r.get("timestamp") is not None]
    cols: dict[str, list] = {}
    for name in (*_KEEP, *sorted(stryd)):
        vals = [r.get(name) for r in rows]
        if name == "enhanced_speed" and all(v is None for v in vals):
            vals = [r.get("speed") for r in rows]
        if name == "enhanced_altitude" and all(v is None for v in vals):
            vals = [r.get("altitude") for r in rows]
        if any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals) or name == "timestamp":
            cols[name] = vals
    t0 = cols["timestamp"][0]
    tpl = {
        "t": np.array([(t - t0).total_seconds() for t in cols.pop("timestamp")], dtype=np.int64),
        "num": {k: np.array([np.nan if v is None else float(v) for v in vs]) for k, vs in cols.items()},
        "dev": sorted(stryd & set(cols)),
    }
    _TEMPLATES[rel] = tpl
    return tpl


def _corpus_file(run: ArchiveRun, start_utc: datetime, offset_s: int) -> bytes:
    from synth.fit_encode import STRYD_FIELDS, encode_activity
    from synth.sample import DEVICE, HRM, STRYD_POD

    tpl = _template(run.source)
    g = np.random.default_rng(run.seed)
    n = len(tpl["t"])
    f = g.uniform(0.94, 1.06)  # this copy's speed factor
    t = np.rint(tpl["t"] / f).astype(np.int64)  # faster copy, same distance: shorter times
    keep = np.concatenate(([True], np.diff(t) > 0))  # no two records in one second
    cols: dict[str, object] = {"timestamp": [start_utc + timedelta(seconds=int(s)) for s in t[keep]]}
    dlat, dlon = g.uniform(-0.02, 0.02, 2) * SEMI_PER_DEG
    for k, v in tpl["num"].items():
        v = v.copy()
        if k == "heart_rate":
            v = np.clip(np.rint(v + g.integers(-6, 7) + g.normal(0, 1.0, n)), 60, 210)
        elif k == "enhanced_speed":
            v = np.round(np.clip(v * f + g.normal(0, 0.02, n), 0, None), 3)
        elif k == "position_lat":
            v = np.rint(v + dlat)
        elif k == "position_long":
            v = np.rint(v + dlon)
        elif k == "enhanced_altitude":
            v = np.round((v + g.uniform(-40, 40)) * 5) / 5
        elif k in ("power", "Power"):
            v = np.rint(np.clip(v * f + g.normal(0, 3, n), 0, None))
        elif k in ("stance_time", "Ground Time"):
            v = np.round(np.clip(v / f + g.normal(0, 2, n), 0, None), 1 if k == "stance_time" else 0)
        cols[k] = v[keep]
    if "distance" in cols:  # same route length, monotonic
        d = np.asarray(cols["distance"])
        cols["distance"] = np.round(np.where(np.isnan(d), np.nan, np.fmax.accumulate(np.nan_to_num(d))), 2)
    dev = [fs for fs in STRYD_FIELDS if fs.name in tpl["dev"]]
    return encode_activity(
        records=cols, start=start_utc, auto_lap_m=1000.0, sport="running", sub_sport="generic",
        local_offset_s=offset_s, device=DEVICE, extra_devices=[HRM] + ([STRYD_POD] if dev else []),
        developer_fields=dev or None,
    )


def _sim_file(run: ArchiveRun, start_utc: datetime, offset_s: int) -> bytes:
    from synth import sample as S
    from synth.fit_encode import STRYD_FIELDS, encode_activity

    rng = random.Random(run.seed)
    pace = rng.uniform(285, 390)  # 4:45-6:30 min/km
    long_run = run.minutes >= 80
    planned = S.PlannedRun(
        datetime.fromisoformat(run.local_start), round(run.minutes * 60 * 1000.0 / pace, 1),
        "long" if long_run else "easy", walk_breaks=rng.choice((0, 0, 0, 0, 1, 2)),
        pause=rng.random() < 0.15, stryd=rng.random() < 0.33, route=2 if long_run else rng.choice((0, 1)),
        pace_s_per_km=pace, seed=run.seed,
    )
    tr = S._simulate(planned, 1)
    cols = S._fit_records(planned, tr, start_utc)
    pauses = [(start_utc + timedelta(seconds=int(a)), start_utc + timedelta(seconds=int(b))) for a, b in tr.pauses]
    return encode_activity(
        records=cols, start=start_utc, auto_lap_m=1000.0, sport="running", sub_sport="generic",
        session={"total_calories": int(round(planned.distance_m / 1000.0 * S.WEIGHT_KG))},
        local_offset_s=offset_s, device=S.DEVICE,
        extra_devices=[S.HRM] + ([S.STRYD_POD] if planned.stryd else []),
        developer_fields=STRYD_FIELDS if planned.stryd else None, pauses=pauses,
    )


def make_file(run: ArchiveRun) -> bytes:
    """The FIT bytes of one archive run (deterministic for the run)."""
    from synth.sample import _local_to_utc

    start_utc, offset_s = _local_to_utc(datetime.fromisoformat(run.local_start))
    if run.source == "sim":
        return _sim_file(run, start_utc, offset_s)
    return _corpus_file(run, start_utc, offset_s)


def _write_chunk(folder: str, runs: list[ArchiveRun]) -> list[tuple[str, str, int, int]]:
    """Write runs' files; (relpath, sha256, bytes, records) each."""
    import fitparse  # noqa: F401  (warm the import once per worker)

    out = []
    for r in runs:
        data = make_file(r)
        p = Path(folder) / r.relpath
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        out.append((r.relpath, hashlib.sha256(data).hexdigest(), len(data), _n_records(data)))
    return out


def _n_records(data: bytes) -> int:
    """Record messages in a FIT file written by encode_activity (counted by the columnar walk
    when available, else by fitparse)."""
    try:
        from ingest.fit_columnar import read_fit_messages_columnar

        return read_fit_messages_columnar(data).frames["record"].height
    except Exception:  # noqa: BLE001 - the count is informative only
        import fitparse

        return sum(1 for _ in fitparse.FitFile(data).get_messages("record"))


def build_archive(out: Path, years: float, regen: bool, workers: int) -> dict:
    """Make (or reuse) the archive; return its manifest."""
    folder = out / "archive"
    manifest_path = out / "archive.json"
    runs = plan_archive(years)
    key = {"version": ARCHIVE_VERSION, "years": years, "runs": len(runs)}
    if not regen and manifest_path.is_file() and folder.is_dir():
        m = json.loads(manifest_path.read_text())
        if m.get("key") == key and all((folder / f["path"]).is_file() for f in m["files"]):
            return m
    missing = [p for p in CORPUS_RUNS if not (corpus_dir() / p).is_file()]
    if missing:
        sys.exit(f"corpus runs not found under {corpus_dir()} (set FOOTFALL_CORPUS): {missing}")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    t = time.perf_counter()
    print(f"making the archive: {len(runs):,} runs over {years:g} years -> {folder} ...", flush=True)
    chunks = [runs[i::workers * 8] for i in range(workers * 8)]
    files = []
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for res in pool.map(_write_chunk, [str(folder)] * len(chunks), chunks):
            files.extend(res)
    files.sort()
    shas = {f[1] for f in files}
    if len(shas) != len(files):
        sys.exit(f"archive files are not distinct: {len(files)} files, {len(shas)} distinct sha256")
    m = {
        "key": key,
        "made_at": datetime.now().isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - t, 1),
        "files": [{"path": p, "sha256": s, "bytes": b, "records": n} for p, s, b, n in files],
        "sources": {src: sum(1 for r in runs if r.source == src) for src in ("sim", *CORPUS_RUNS)},
    }
    manifest_path.write_text(json.dumps(m, indent=1))
    print(f"  made in {m['seconds']} s", flush=True)
    return m


# =========================================================================== measuring a process


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _proc_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, rss bytes, cmdline) of every process we can read."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as fh:
                stat = fh.read()
            rest = stat[stat.rindex(b")") + 2:].split()
            ppid, rss = int(rest[1]), int(rest[21]) * _PAGE
            with open(f"/proc/{d}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        out[int(d)] = (ppid, rss, cmd)
    return out


def _is_prefect_server(cmd: str) -> bool:
    return "uvicorn" in cmd or "prefect.server" in cmd or "prefect server" in cmd


class TreeMemory:
    """Samples the summed RSS of a process and its descendants every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid, self.interval = pid, interval
        self.peak_total = self.peak_footfall = self.peak_server = 0
        self.max_procs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            table = _proc_table()
            kids: dict[int, list[int]] = {}
            for pid, (ppid, _, _) in table.items():
                kids.setdefault(ppid, []).append(pid)
            todo, tree = [self.pid], []
            while todo:
                p = todo.pop()
                if p in table:
                    tree.append(p)
                todo.extend(kids.get(p, ()))
            server = {p for p in tree if _is_prefect_server(table[p][2])}
            # a server's own children (if any) count as server
            todo = list(server)
            while todo:
                for k in kids.get(todo.pop(), ()):
                    if k not in server:
                        server.add(k)
                        todo.append(k)
            total = sum(table[p][1] for p in tree)
            srv = sum(table[p][1] for p in server)
            self.peak_total = max(self.peak_total, total)
            self.peak_server = max(self.peak_server, srv)
            self.peak_footfall = max(self.peak_footfall, total - srv)
            self.max_procs = max(self.max_procs, len(tree))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Run:
    label: str
    wall_s: float
    flow_s: float | None  # the flow's own ``seconds`` (footfall's work, from inside)
    peak_tree_mb: float
    peak_footfall_mb: float  # tree minus the Prefect server
    peak_server_mb: float
    max_single_mb: float | None  # largest single process (getrusage of children)
    files_new: int = 0
    records: int = 0
    activities: int = 0
    new_flags: int = 0
    decoders: dict | None = None


def run_measured(label: str, cmd: list[str], env: dict, cwd: Path) -> tuple[Run, dict | None]:
    """Run ``cmd``; wall time, memory, and its JSON stdout (a sync summary) if any."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    mem = TreeMemory(proc.pid)
    out, err = proc.communicate()
    wall = time.perf_counter() - t
    mem.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        sys.stderr.write(err.decode(errors="replace")[-4000:])
        sys.exit(f"{label}: {' '.join(cmd)} exited {proc.returncode}")
    summary = None
    text = out.decode(errors="replace").strip()
    if text.startswith("{"):
        summary = json.loads(text)
    r = Run(label, wall, (summary or {}).get("seconds"), mem.peak_total / 2**20,
            mem.peak_footfall / 2**20, mem.peak_server / 2**20,
            # ru_maxrss (KiB) only grows: it says something only when this run set a new max
            after / 1024 if after > before else None)
    if summary:
        r.files_new = summary.get("files_new", 0)
        r.records = summary.get("records", 0)
        r.activities = summary.get("activities", 0)
        r.new_flags = len(summary.get("new_flags") or [])
        r.decoders = summary.get("decoders")
    return r, summary


# =========================================================================== Prefect around it


NOOP_FLOW = """
import sys, time
t0 = time.perf_counter()
import pipelines.flows as f  # the sync's imports (prefect, polars, ...)
from prefect import flow
t1 = time.perf_counter()

@flow(name="footfall-bench-noop")
def noop() -> int:
    return 1

f.run_flow(noop)
t2 = time.perf_counter()
print('{"import_s": %.3f, "flow_s": %.3f}' % (t1 - t0, t2 - t1))
"""

EARLY_SERVER = '''
"""footfall bench, --early-server: `footfall ...` with Prefect's temporary server started first.

What cli.py could do: start the same server Prefect starts (uvicorn + prefect.server's app, UI off)
before importing anything heavy, point PREFECT_API_URL at it, wait for its health only right
before the flow runs, and stop it at exit. The server's ~5 s start then overlaps the CLI's own
imports, and the CLI no longer imports prefect.server itself (~3 s) to start it.
"""
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request

with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
prefect_dir = os.path.dirname(importlib.util.find_spec("prefect").origin)
server = subprocess.Popen(
    [sys.executable, "-m", "uvicorn", "--app-dir", os.path.dirname(prefect_dir), "--factory",
     "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
     "--log-level", "error", "--lifespan", "on"],
    env={**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
         "PREFECT__SERVER_FINAL": "1"})
url = f"http://127.0.0.1:{port}/api"
os.environ["PREFECT_API_URL"] = url


def wait_healthy(timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(f"prefect server exited {server.returncode}")
            time.sleep(0.05)
    raise RuntimeError("prefect server did not start")


code = 0
try:
    import pipelines.flows as flows

    run_flow = flows.run_flow

    def run_flow_when_ready(fn, /, **kw):
        wait_healthy()
        return run_flow(fn, **kw)

    flows.run_flow = run_flow_when_ready
    if sys.argv[1] == "--noop":
        from prefect import flow

        @flow(name="footfall-bench-noop")
        def noop() -> int:
            return 1

        flows.run_flow(noop)
    else:
        from pipelines.cli import main

        sys.argv = ["footfall"] + sys.argv[1:]
        try:
            main()
        except SystemExit as stop:
            code = stop.code or 0
finally:
    server.terminate()
    try:
        server.wait(5)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
sys.exit(code)
'''


def base_env(prefect_home: Path, tmp: Path, batch_files: int | None = None) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FOOTFALL_") and k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(prefect_home)
    env["FOOTFALL_CONFIG"] = str(tmp / "footfall.toml")  # no user config: footfall's defaults
    (tmp / "footfall.toml").write_text(f"batch_files = {batch_files}\n" if batch_files else "")
    env.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env["PREFECT_LOGGING_TO_API_ENABLED"] = "false"
    env["PYTHONPATH"] = str(ROOT)
    return env


def footfall_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("footfall")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "pipelines.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrefectServer:
    """``prefect server start`` on 127.0.0.1 (a port of its own), stopped by ``stop``."""

    def __init__(self, env: dict, home: Path):
        self.port = _free_port()
        self.env = dict(env, PREFECT_HOME=str(home))
        self.url = f"http://127.0.0.1:{self.port}/api"
        prefect = Path(sys.executable).with_name("prefect")
        self.log = open(home / "server.log", "wb")
        t = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prefect server exited {self.proc.returncode}; see {home / 'server.log'}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.25)
        else:
            self.stop()
            raise RuntimeError("prefect server did not answer within 120 s")
        self.startup_s = time.perf_counter() - t

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group this script started
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


# =========================================================================== the baseline


def plain_fitparse(data: bytes) -> int:
    """The plain fitparse loop, the same one ``bench_decode.py`` times; returns messages seen."""
    from bench_decode import plain_fitparse as loop  # this script's folder is on sys.path

    return loop(data)


def baseline(folder: Path, manifest: dict, n_sample: int) -> dict:
    """Plain fitparse and footfall's decoders over an evenly spaced sample of the archive."""
    files = manifest["files"]
    step = max(1, len(files) // n_sample)
    sample = files[::step][:n_sample]
    datas = [(folder / f["path"]).read_bytes() for f in sample]
    sample_records = sum(f["records"] for f in sample)
    total_records = sum(f["records"] for f in files)
    out = {"files": len(sample), "records": sample_records}
    t = time.perf_counter()
    for d in datas:
        plain_fitparse(d)
    out["fitparse_s"] = time.perf_counter() - t
    out["fitparse_archive_s"] = out["fitparse_s"] * total_records / sample_records
    from ingest.decode import decode_bytes
    from models.thresholds import reader_options

    read = reader_options()
    decode_bytes(datas[0], "", read)  # imports
    t = time.perf_counter()
    decoders = {}
    for d in datas:
        dec = decode_bytes(d, "", read)
        decoders[dec.decoder] = decoders.get(dec.decoder, 0) + 1
    out["decode_bytes_s"] = time.perf_counter() - t
    out["decode_bytes_decoders"] = decoders
    try:
        from ingest.fit_columnar import read_fit_messages_columnar
    except ImportError:
        return out
    read_fit_messages_columnar(datas[0])
    t = time.perf_counter()
    for d in datas:
        read_fit_messages_columnar(d)
    out["columnar_s"] = time.perf_counter() - t
    return out


# =========================================================================== in-process views


def use_env(env: dict) -> None:
    """Run in-process as the CLI runs: the bench's environment (decode workers inherit it)."""
    os.environ.update({k: v for k, v in env.items()
                       if k.startswith(("PREFECT_", "FOOTFALL_")) or k == "PYTHONPATH"})


def stages(archive: Path, db: Path, env: dict) -> dict[str, float]:
    """A full sync through pipelines/sync.py's functions in this process, timed per stage."""
    use_env(env)
    from pipelines import sync as s
    from pipelines.config import load_settings
    from pipelines.work import DeriveContext

    settings = load_settings().with_overrides(db=db, athlete="bench")
    times = dict.fromkeys(("discover", "plan", "read+hash", "decode (pool wait)", "land", "models"), 0.0)
    t = time.perf_counter()
    sources, _, _ = s.discover_sources([archive])
    times["discover"] = time.perf_counter() - t
    t = time.perf_counter()
    plan = s.plan_sync(settings.db, sources, settings)
    times["plan"] = time.perf_counter() - t
    ctx = DeriveContext(athlete_id=settings.athlete)
    pool = s.make_pool(settings.workers)
    try:
        it = s.iter_batches(plan, batch_files=settings.batch_files, max_member_bytes=settings.max_member_bytes)
        while True:
            t = time.perf_counter()
            batch = next(it, None)
            times["read+hash"] += time.perf_counter() - t
            if batch is None:
                break
            t = time.perf_counter()
            results = batch.ready + s.decode_items(batch.items, ctx, pool)
            times["decode (pool wait)"] += time.perf_counter() - t
            t = time.perf_counter()
            s.land_batch(settings.db, results, batch, settings, settings.athlete)
            times["land"] += time.perf_counter() - t
    finally:
        pool.shutdown()
    t = time.perf_counter()
    s.build_models(settings.db, settings)
    times["models"] = time.perf_counter() - t
    return times


def profile_flow(archive: Path, db: Path, out: Path, env: dict, manifest: dict) -> None:
    """cProfile of the full sync flow in this process, and of decode_batch (the worker side)."""
    import cProfile
    import io
    import pstats

    use_env(env)
    from pipelines.flows import run_flow, sync
    from pipelines.work import DeriveContext, decode_batch

    def dump(prof, name: str, title: str) -> None:
        buf = io.StringIO()
        st = pstats.Stats(prof, stream=buf)
        buf.write(f"{title}\n\n")
        st.sort_stats("cumulative").print_stats(60)
        st.sort_stats("tottime").print_stats(40)
        (out / name).write_text(buf.getvalue())
        print(f"  wrote {out / name}")

    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    summary = run_flow(sync, paths=[str(archive)], db=str(db), athlete="bench")
    prof.disable()
    print(f"  profiled flow: {time.perf_counter() - t:.1f} s wall (flow {summary['seconds']} s, with cProfile)")
    dump(prof, "profile_flow.txt", "footfall sync flow, in-process (the parent: read, land, models)")

    files = manifest["files"][:: max(1, len(manifest["files"]) // 40)][:40]
    items = [(str(archive / f["path"]), None, Path(f["path"]).name, (archive / f["path"]).read_bytes(), None)
             for f in files]
    ctx = DeriveContext(athlete_id="bench")
    decode_batch(items[:1], ctx)
    prof = cProfile.Profile()
    prof.enable()
    decode_batch(items, ctx)
    prof.disable()
    dump(prof, "profile_decode.txt", f"work.decode_batch of {len(items)} archive files (the worker side)")


# =========================================================================== main


def _median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.wall_s)[len(runs) // 2]


def _fmt_run(r: Run) -> str:
    flow = f"flow {r.flow_s:6.2f} s" if r.flow_s is not None else "flow    -   "
    single = f"{r.max_single_mb:7.0f}" if r.max_single_mb else "      -"
    return (f"{r.label:<34} {r.wall_s:8.2f} s  {flow}  peak tree {r.peak_tree_mb:7.0f} MB "
            f"(footfall {r.peak_footfall_mb:6.0f}, prefect server {r.peak_server_mb:5.0f}; "
            f"largest process {single} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--years", type=float, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--reps", type=int, default=3, help="runs of the re-sync and one-new-file syncs")
    ap.add_argument("--full-reps", type=int, default=3, help="full syncs from empty (median)")
    ap.add_argument("--regen", action="store_true", help="rebuild the archive even if cached")
    ap.add_argument("--sample", type=int, default=24, help="archive files in the fitparse baseline")
    ap.add_argument("--with-server", action="store_true",
                    help="also time (b), (c) against a local `prefect server start`")
    ap.add_argument("--early-server", action="store_true",
                    help="also time (b), (c) with Prefect's temporary server started first (a cli.py prototype)")
    ap.add_argument("--batch-files", type=int, default=None,
                    help="footfall's batch_files setting (default: footfall's own default)")
    ap.add_argument("--stages", action="store_true", help="also time each stage of a full sync in-process")
    ap.add_argument("--profile", action="store_true", help="cProfile the full sync flow in-process")
    ap.add_argument("--skip-full", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (databases, Prefect home)")
    args = ap.parse_args()

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    archive = out / "archive"
    workers = os.cpu_count() or 1
    shutil.rmtree(archive / "new", ignore_errors=True)  # left by an interrupted run
    manifest = build_archive(out, args.years, args.regen, workers)
    files = manifest["files"]
    n_rec = sum(f["records"] for f in files)
    n_bytes = sum(f["bytes"] for f in files)
    print(f"archive: {len(files):,} FIT files, {n_rec:,} records, {n_bytes / 2**20:,.0f} MB "
          f"({args.years:g} years; {manifest['sources']['sim']} simulated, "
          f"{len(files) - manifest['sources']['sim']} from corpus runs) in {archive}")
    load0 = os.getloadavg()
    print(f"machine: {workers} cores, python {sys.version.split()[0]}, "
          f"load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} (other processes share these cores)")

    tmp = Path(tempfile.mkdtemp(prefix="bench-sync-", dir=out))
    server = None
    try:
        home = tmp / "prefect-home"
        home.mkdir()
        env = base_env(home, tmp, args.batch_files)
        cli = footfall_cmd()
        runs: dict[str, list[Run]] = {}

        def measure(key: str, label: str, cmd: list[str], e: dict = env) -> tuple[Run, dict | None]:
            r, summary = run_measured(label, cmd, e, tmp)
            runs.setdefault(key, []).append(r)
            print("  " + _fmt_run(r), flush=True)
            return r, summary

        noop = tmp / "noop_flow.py"
        noop.write_text(NOOP_FLOW)
        print("\nPrefect floor (no-op flow; the first run also sets up the new PREFECT_HOME):")
        measure("home", "no-op flow, new PREFECT_HOME", [sys.executable, str(noop)])
        for i in range(args.reps):
            measure("noop", f"no-op flow #{i + 1}", [sys.executable, str(noop)])
        t = time.perf_counter()
        subprocess.run(cli + ["--help"], env=env, cwd=tmp, capture_output=True, check=True)
        cli_help_s = time.perf_counter() - t

        print("\n(a) full sync from an empty database:")
        for i in range(args.full_reps):  # each into a new database; the last one is kept
            db = tmp / f"bench-{i}.duckdb"
            full, summary = measure("full", f"full sync #{i + 1}",
                                    cli + ["sync", str(archive), "--db", str(db), "--json"])
            if i + 1 < args.full_reps:
                for p in tmp.glob(f"bench-{i}.duckdb*"):
                    p.unlink()
        print(f"    {full.files_new:,} files -> {full.activities:,} activities, {full.records:,} records, "
              f"{full.new_flags} flags; decoders {full.decoders}")
        if summary and summary.get("quarantined"):
            print(f"    quarantined: {summary['quarantined'][:3]}")

        print("\n(b) unchanged re-sync:")
        for i in range(args.reps):
            measure("resync", f"re-sync #{i + 1}", cli + ["sync", str(archive), "--db", str(db), "--json"])

        arch_runs = plan_archive(args.years)
        print("\n(c) one new file:")
        for i in range(args.reps):
            r = new_run(arch_runs, i)
            p = archive / "new" / r.relpath
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(make_file(r))
            res, s = measure("new", f"one new file #{i + 1}", cli + ["sync", str(archive), "--db", str(db), "--json"])
            if res.files_new != 1:
                print(f"    warning: {res.files_new} new files landed, expected 1")

        if args.with_server:
            shome = tmp / "prefect-server-home"
            shome.mkdir()
            try:
                server = PrefectServer(env, shome)
            except RuntimeError as err:
                print(f"\n--with-server: {err}")
            else:
                senv = dict(env, PREFECT_API_URL=server.url, PREFECT_HOME=str(shome))
                print(f"\nwith a running `prefect server start` ({server.url}, up in {server.startup_s:.1f} s):")
                for i in range(args.reps):
                    measure("s-noop", f"no-op flow, server #{i + 1}", [sys.executable, str(noop)], senv)
                for i in range(args.reps):
                    measure("s-resync", f"re-sync, server #{i + 1}",
                            cli + ["sync", str(archive), "--db", str(db), "--json"], senv)
                for i in range(args.reps):
                    r = new_run(arch_runs, args.reps + i)
                    p = archive / "new" / r.relpath
                    p.parent.mkdir(parents=True, exist_ok=True)
                    p.write_bytes(make_file(r))
                    measure("s-new", f"one new file, server #{i + 1}",
                            cli + ["sync", str(archive), "--db", str(db), "--json"], senv)
                server.stop()
                server = None

        if args.early_server:
            early = tmp / "early_server.py"
            early.write_text(EARLY_SERVER)
            wrap = [sys.executable, str(early)]
            print("\nPrefect's temporary server started first (prototype of a cli.py change):")
            for i in range(args.reps):
                measure("e-noop", f"no-op flow, early server #{i + 1}", wrap + ["--noop"])
            for i in range(args.reps):
                measure("e-resync", f"re-sync, early server #{i + 1}",
                        wrap + ["sync", str(archive), "--db", str(db), "--json"])
            k0 = args.reps * (2 if args.with_server else 1)
            for i in range(args.reps):
                r = new_run(arch_runs, k0 + i)
                p = archive / "new" / r.relpath
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(make_file(r))
                measure("e-new", f"one new file, early server #{i + 1}",
                        wrap + ["sync", str(archive), "--db", str(db), "--json"])

        print(f"\nbaseline: plain fitparse loop over {args.sample} archive files ...", flush=True)
        base = baseline(archive, manifest, args.sample)

        st = None
        if args.stages:
            print("\nstages of a full sync, in-process (no Prefect):", flush=True)
            shutil.rmtree(archive / "new", ignore_errors=True)
            st = stages(archive, tmp / "stages.duckdb", env)
            for k, v in st.items():
                print(f"  {k:<20} {v:7.2f} s")
            print(f"  {'total':<20} {sum(st.values()):7.2f} s")
        if args.profile:
            print("\nprofiling the full sync flow in-process ...", flush=True)
            shutil.rmtree(archive / "new", ignore_errors=True)
            profile_flow(archive, tmp / "profile.duckdb", out, env, manifest)

        # ------------------------------------------------------------------ report
        med = {k: _median_run(v) for k, v in runs.items()}
        floor = med["noop"].wall_s
        print("\n" + "=" * 100)
        load1 = os.getloadavg()
        print(f"footfall sync, {len(files):,} files / {n_rec:,} records ({args.years:g} years), "
              f"{workers} cores, batch_files {args.batch_files or 'default'}; "
              f"medians of {args.reps} ({args.full_reps} full syncs); load average {load0[1]:.2f} at start, {load1[1]:.2f} at end (5 min)")
        print(f"  Prefect floor (python + imports + temporary server + one flow): {floor:.2f} s "
              f"(`footfall --help`: {cli_help_s:.2f} s; first run on a new PREFECT_HOME {med['home'].wall_s:.2f} s)")
        full = med["full"]
        rows = [("(a) full sync, empty -> flags", full, TARGETS["full"]),
                ("(b) unchanged re-sync", med["resync"], TARGETS["resync"]),
                ("(c) one new file", med["new"], TARGETS["new_file"])]
        if "s-resync" in med:
            rows += [("(b) re-sync, running server", med["s-resync"], TARGETS["resync"]),
                     ("(c) one new file, running server", med["s-new"], TARGETS["new_file"])]
        if "e-resync" in med:
            rows += [("(b) re-sync, early server", med["e-resync"], TARGETS["resync"]),
                     ("(c) one new file, early server", med["e-new"], TARGETS["new_file"])]
        floors = {"running server": "s-noop", "early server": "e-noop"}
        for name, r, target in rows:
            f = next((med[k].wall_s for tag, k in floors.items() if tag in name), floor)
            own = r.flow_s if r.flow_s is not None else float("nan")
            print(f"  {name:<36} {r.wall_s:7.2f} s (target {target:g} s: "
                  f"{'met' if r.wall_s <= target else 'missed'}); flow's own work {own:6.2f} s, "
                  f"everything else {r.wall_s - own:5.2f} s (no-op flow floor {f:.2f} s)")
        peak = max(r.peak_tree_mb for v in runs.values() for r in v)
        peak_ff = max(r.peak_footfall_mb for v in runs.values() for r in v)
        print(f"  peak memory (process tree, sampled): {full.peak_tree_mb:,.0f} MB in the full sync "
              f"({full.peak_footfall_mb:,.0f} MB without the Prefect server); max over all runs "
              f"{peak:,.0f} MB ({peak_ff:,.0f} MB); target {TARGETS['memory_mb']:,.0f} MB: "
              f"{'met' if peak <= TARGETS['memory_mb'] else 'missed'}")
        print(f"  baseline: plain fitparse loop {base['fitparse_s']:.2f} s over {base['files']} files "
              f"({base['records']:,} records, {base['records'] / base['fitparse_s']:,.0f} records/s) "
              f"-> {base['fitparse_archive_s']:,.0f} s for the archive (decoding only, one core)")
        print(f"  full sync vs the plain fitparse loop: {base['fitparse_archive_s'] / full.wall_s:.1f}x faster "
              f"({full.wall_s:.1f} s vs {base['fitparse_archive_s']:,.0f} s)")
        dec = base["decode_bytes_decoders"]
        print(f"  same sample, ingest.decode.decode_bytes (decoders {dec}): {base['decode_bytes_s']:.2f} s "
              f"= {base['fitparse_s'] / base['decode_bytes_s']:.1f}x the plain loop", end="")
        if "columnar_s" in base:
            print(f"; ingest.fit_columnar.read_fit_messages_columnar: {base['columnar_s']:.2f} s "
                  f"= {base['fitparse_s'] / base['columnar_s']:.0f}x")
        else:
            print()
        result = {
            "years": args.years, "files": len(files), "records": n_rec, "cores": workers,
            "reps": args.reps, "cli_help_s": cli_help_s,
            "batch_files": args.batch_files, "loadavg": [load0, load1],
            "runs": {k: [asdict(r) for r in v] for k, v in runs.items()},
            "baseline": base, "stages": st,
        }
        (out / "bench_sync.json").write_text(json.dumps(result, indent=1, default=str))
        print(f"  (all runs: {out / 'bench_sync.json'})")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(archive / "new", ignore_errors=True)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
