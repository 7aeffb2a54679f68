"""Benchmark: ``footfall sync`` of a multi-year FIT archive, end to end, against plain fitparse.

    python bench/bench_sync.py [--years 5] [--out bench/out] [--reps 3] [--full-reps 3] [--quick]
                               [--baseline-ref af40ac4 | --baseline PATH | --no-baseline]
                               [--no-server] [--batch-files N] [--regen]
                               [--stages] [--profile] [--keep]

Issue 17's targets (``TARGETS``, two cores): the 5-year archive empty -> flags <= 30 s, peak memory
of the process tree <= 1.5 GB, an unchanged re-sync of its 1,800 files <= 0.5 s, one new file
<= 1.5 s with a Prefect server running; without a server, one new file as low as Prefect allows,
printed next to the Prefect floor (a no-op flow on the temporary server). The table at the end:
measurement, target, this tree, today's main, main/this, plain-fitparse-loop/this, PASS/MISS.
``--quick`` (--years 1, one run of each) checks that the bench works; the full run is for an idle
machine.

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
2. **Two trees**, in the same run: this checkout and the baseline, today's main (``--baseline-ref``,
   default ``BASELINE_REF``, exported with ``git archive`` into the temp dir; or ``--baseline PATH``,
   a checkout as it is). Both run with this venv's Python and ``PYTHONPATH=<tree>``, so the tree's
   packages and its ``sql/`` shadow the editable install (checked at the start: a subprocess prints
   where ``pipelines`` and ``pipelines.db.SQL_DIR`` come from); each its own database and
   ``PREFECT_HOME``. Each measurement runs for both trees, rep by rep, one after the other (drift in
   the machine's load hits both).
3. **Timings**, all in this run, each an end-to-end subprocess ``footfall sync <archive> --db
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
   - the floor, (b) and (c) again (unless ``--no-server``) with ``PREFECT_API_URL`` pointing at a
     ``prefect server start`` this script starts on 127.0.0.1 (and stops);
   - the floor footfall reaches without a server (this tree, when it has
     ``pipelines.prefect_api.start_early_server``): the no-op flow with Prefect's temporary server
     started before the imports, as ``footfall sync`` starts it when it has work to do.

   Peak memory: the process tree's summed RSS, sampled from ``/proc`` every 50 ms (the CLI, its
   decode workers and Prefect's server), the same without the Prefect server, and the largest
   single process's max RSS (``getrusage`` of the children, as ``/usr/bin/time -v`` reports it).
4. **fitparse**, same run: the plain fitparse loop (``for m in FitFile(data).get_messages():
   m.get_values()``) over an evenly spaced sample of the archive's files, extrapolated to the
   whole archive by record count, and its ratio to the full sync; ``ingest.decode.decode_bytes``
   and ``ingest.fit_columnar.read_fit_messages_columnar`` on the same sample.
5. ``--stages``: a full sync in this process through ``pipelines/sync.py``'s functions (no
   Prefect), timed per stage (discover, plan, read+hash, decode, land, models).
   ``--profile``: the full sync flow in this process under cProfile (the parent's side: reading,
   landing, models, Prefect), and ``work.decode_batch`` over 40 archive files (a worker's side);
   the top functions go to ``<out>/profile_flow.txt`` and ``<out>/profile_decode.txt``.

The machine's load average is printed at the start and end: other processes on the same cores
slow every number down (the main/this ratio less so: both trees run under the same load). Nothing
here asserts a time.
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
#: Issue 17's targets, on two cores (a benchmark prints them; nothing here asserts a time):
#: 5-year archive empty -> flags, unchanged re-sync of its 1,800 files, one new file with a Prefect
#: server running, peak memory of the whole process tree.
TARGETS = {"full": 30.0, "resync": 0.5, "new_file_server": 1.5, "memory_mb": 1536.0}
#: Today's main, measured in the same run as this tree (--baseline-ref): main when the fourth
#: round of issue 17 started (2026-11-30; the third round's baseline was 4ffc03a, the second's
#: 0b67b03, the first's 75473cd).
BASELINE_REF = "af40ac4"


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


def build_archive(out: Path, years: float, regen: bool, workers: int, folder: Path | None = None) -> dict:
    """Make (or reuse) the archive in ``folder`` (default ``<out>/archive``); return its manifest
    (``<folder>.json``)."""
    folder = folder or out / "archive"
    manifest_path = folder.with_name(folder.name + ".json")
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
if "--early" in sys.argv:  # as `footfall sync` does with work to do and no server (issue 17)
    from pipelines import prefect_api
    prefect_api.start_early_server()
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
    # an installed footfall has its bytecode (pip compiles it); PYTHONDONTWRITEBYTECODE in the
    # caller's environment made every timed run compile footfall's modules again (~0.3 s)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
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
    landing = s.landing_connection(settings.db, settings)  # one connection lands every batch, as a sync does
    landing.__enter__()
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
        landing.__exit__(None, None, None)  # the close: the sync's one checkpoint
        times["land"] += time.perf_counter() - t
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
    return (f"{r.label:<40} {r.wall_s:8.2f} s  {flow}  peak tree {r.peak_tree_mb:7.0f} MB "
            f"(footfall {r.peak_footfall_mb:6.0f}, prefect server {r.peak_server_mb:5.0f}; "
            f"largest process {single} MB)")


# =========================================================================== the two trees


@dataclass
class Tree:
    """A footfall source tree the bench runs: this checkout, or the baseline (today's main)."""

    name: str  # "this" or "main"
    path: Path
    env: dict  # PYTHONPATH=<path>: its packages (and its sql/) shadow the editable install

    def which(self) -> dict:
        """Where ``pipelines`` and its SQL come from in a subprocess with this tree's env."""
        code = ("import json, pipelines, pipelines.db as d; "
                "print(json.dumps({'pipelines': pipelines.__file__, 'sql': str(d.SQL_DIR)}))")
        out = subprocess.run([sys.executable, "-c", code], env=self.env, cwd=self.env["FOOTFALL_BENCH_CWD"],
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out)


def baseline_tree(ref: str | None, path: Path | None, tmp: Path) -> tuple[Path, str]:
    """The baseline's source tree: ``path`` as it is, else ``ref`` exported from this repository
    (``git archive REF``: the tracked files at that commit, no repository state to clean up)."""
    if path is not None:
        return path.resolve(), f"{path} (as checked out)"
    dest = tmp / "baseline"
    dest.mkdir()
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", ref], capture_output=True,
                         text=True, check=True).stdout.strip()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", sha], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest, f"{ref} ({sha})"


def _cell(v: float | None, unit: str = "s") -> str:
    if v is None:
        return "-"
    return f"{v:,.0f} MB" if unit == "MB" else f"{v:.2f} s"


def print_table(rows: list[dict]) -> None:
    """measurement, target, this tree, today's main, main/this, plain-fitparse-loop ratio, verdict."""
    head = ("measurement", "target", "this tree", "today's main", "main/this", "fitparse loop/this", "")
    widths = (44, 9, 11, 13, 10, 19, 4)
    print("  " + " ".join(h.ljust(w) for h, w in zip(head, widths)))
    print("  " + " ".join("-" * w for w in widths))
    for r in rows:
        unit = r.get("unit", "s")
        this, main_, target = r.get("this"), r.get("main"), r.get("target")
        ratio = f"{main_ / this:.2f}x" if this and main_ else "-"
        fp = f"{r['fitparse_s'] / this:.1f}x" if this and r.get("fitparse_s") else "-"
        verdict = "" if target is None or this is None else ("PASS" if this <= target else "MISS")
        cells = (r["name"], _cell(target, unit) if target is not None else "-", _cell(this, unit),
                 _cell(main_, unit), ratio, fp, verdict)
        print("  " + " ".join(str(c).ljust(w) for c, w in zip(cells, widths)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--years", type=float, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--reps", type=int, default=3, help="runs of the re-sync and one-new-file syncs")
    ap.add_argument("--full-reps", type=int, default=3, help="full syncs from empty (median)")
    ap.add_argument("--quick", action="store_true",
                    help="a small run to check the bench works: --years 1, one run of each, 8 files in the fitparse sample")
    ap.add_argument("--regen", action="store_true", help="rebuild the archive even if cached")
    ap.add_argument("--sample", type=int, default=24, help="archive files in the fitparse baseline")
    ap.add_argument("--baseline-ref", default=BASELINE_REF,
                    help=f"the commit measured as today's main in the same run (default {BASELINE_REF})")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="an existing checkout to measure as the baseline instead of --baseline-ref")
    ap.add_argument("--no-baseline", action="store_true", help="measure this tree only")
    ap.add_argument("--no-server", action="store_true",
                    help="skip the runs against a running `prefect server start` (the 1.5 s target)")
    ap.add_argument("--with-server", action="store_true", help=argparse.SUPPRESS)  # the default now
    ap.add_argument("--early-server", action="store_true", help=argparse.SUPPRESS)  # always, when the tree has it
    ap.add_argument("--batch-files", type=int, default=None,
                    help="footfall's batch_files setting (default: footfall's own default)")
    ap.add_argument("--stages", action="store_true", help="also time each stage of a full sync in-process")
    ap.add_argument("--profile", action="store_true", help="cProfile the full sync flow in-process")
    ap.add_argument("--skip-full", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (databases, Prefect home)")
    args = ap.parse_args()
    if args.quick:
        args.years, args.reps, args.full_reps, args.sample = 1, 1, 1, min(args.sample, 8)

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    archive = out / "archive" if args.years == 5 else out / f"archive-{args.years:g}y"
    workers = os.cpu_count() or 1
    shutil.rmtree(archive / "new", ignore_errors=True)  # left by an interrupted run
    manifest = build_archive(out, args.years, args.regen, workers, folder=archive)
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
        env["FOOTFALL_BENCH_CWD"] = str(tmp)
        trees = [Tree("this", ROOT, env)]
        if not args.no_baseline:
            bpath, bdesc = baseline_tree(args.baseline_ref, args.baseline, tmp)
            bhome = tmp / "prefect-home-main"
            bhome.mkdir()
            trees.append(Tree("main", bpath, dict(env, PYTHONPATH=str(bpath), PREFECT_HOME=str(bhome))))
        for tree in trees:
            w = tree.which()
            print(f"tree {tree.name}: pipelines from {w['pipelines']}, SQL from {w['sql']}")
            if not Path(w["pipelines"]).is_relative_to(tree.path) or not Path(w["sql"]).is_relative_to(tree.path):
                sys.exit(f"tree {tree.name}: its packages do not shadow the installed ones (PYTHONPATH={tree.path})")
        if len(trees) > 1:
            print(f"baseline (today's main): {bdesc}")
        cli = footfall_cmd()
        runs: dict[tuple[str, str], list[Run]] = {}

        def measure(tree: Tree, key: str, label: str, cmd: list[str], e: dict | None = None) -> tuple[Run, dict | None]:
            r, summary = run_measured(f"[{tree.name}] {label}", cmd, e or tree.env, tmp)
            runs.setdefault((tree.name, key), []).append(r)
            print("  " + _fmt_run(r), flush=True)
            return r, summary

        noop = tmp / "noop_flow.py"
        noop.write_text(NOOP_FLOW)
        print("\nPrefect floor (no-op flow; the first run also sets up the new PREFECT_HOME):")
        for tree in trees:
            measure(tree, "home", "no-op flow, new PREFECT_HOME", [sys.executable, str(noop)])
        for i in range(args.reps):
            for tree in trees:
                measure(tree, "noop", f"no-op flow #{i + 1}", [sys.executable, str(noop)])
        help_s = {}
        for tree in trees:
            t = time.perf_counter()
            subprocess.run(cli + ["--help"], env=tree.env, cwd=tmp, capture_output=True, check=True)
            help_s[tree.name] = time.perf_counter() - t

        dbs = {tree.name: tmp / f"{tree.name}.duckdb" for tree in trees}
        summaries = {}
        print("\n(a) full sync from an empty database:")
        for i in range(args.full_reps):  # each into a new database; the last one is kept
            for tree in trees:
                db = dbs[tree.name]
                for q in tmp.glob(f"{db.name}*"):
                    q.unlink()
                full, summaries[tree.name] = measure(tree, "full", f"full sync #{i + 1}",
                                                     cli + ["sync", str(archive), "--db", str(db), "--json"])
        for tree in trees:
            full = runs[(tree.name, "full")][-1]
            print(f"    [{tree.name}] {full.files_new:,} files -> {full.activities:,} activities, "
                  f"{full.records:,} records, {full.new_flags} flags; decoders {full.decoders}")
            s = summaries.get(tree.name)
            if s and s.get("quarantined"):
                print(f"    quarantined: {s['quarantined'][:3]}")

        def sync_cmd(tree: Tree) -> list[str]:
            return cli + ["sync", str(archive), "--db", str(dbs[tree.name]), "--json"]

        print("\n(b) unchanged re-sync:")
        for i in range(args.reps):
            for tree in trees:
                measure(tree, "resync", f"re-sync #{i + 1}", sync_cmd(tree))

        arch_runs = plan_archive(args.years)
        n_new = [0]
        new_records: list[int] = []

        def add_new_file() -> None:
            r = new_run(arch_runs, n_new[0])
            n_new[0] += 1
            p = archive / "new" / r.relpath
            p.parent.mkdir(parents=True, exist_ok=True)
            data = make_file(r)
            p.write_bytes(data)
            new_records.append(_n_records(data))

        def one_new(key: str, label: str, e_of=lambda tree: None) -> None:
            for i in range(args.reps):
                add_new_file()  # the same new file for every tree, each into its own database
                for tree in trees:
                    res, _ = measure(tree, key, f"{label} #{i + 1}", sync_cmd(tree), e_of(tree))
                    if res.files_new != 1:
                        print(f"    warning: {res.files_new} new files landed, expected 1")

        print("\n(c) one new file, no Prefect server (Prefect's temporary server):")
        one_new("new", "one new file")

        server_url = None
        if not args.no_server:
            shome = tmp / "prefect-server-home"
            shome.mkdir()
            try:
                server = PrefectServer(env, shome)
            except RuntimeError as err:
                print(f"\nPrefect server: {err}")
            else:
                server_url = server.url

                def senv(tree: Tree) -> dict:
                    return dict(tree.env, PREFECT_API_URL=server.url, PREFECT_HOME=str(shome))

                print(f"\nwith a running `prefect server start` ({server.url}, up in {server.startup_s:.1f} s):")
                for i in range(args.reps):
                    for tree in trees:
                        measure(tree, "s-noop", f"no-op flow, server #{i + 1}", [sys.executable, str(noop)], senv(tree))
                for i in range(args.reps):
                    for tree in trees:
                        measure(tree, "s-resync", f"re-sync, server #{i + 1}", sync_cmd(tree), senv(tree))
                one_new("s-new", "one new file, server", senv)
                server.stop()
                server = None

        if hasattr(__import__("pipelines.prefect_api").prefect_api, "start_early_server"):
            print("\nPrefect floor without a server, the temporary server started first (as `footfall sync` "
                  "starts it since issue 17; this tree):")
            for i in range(args.reps):
                measure(trees[0], "e-noop", f"no-op flow, early server #{i + 1}", [sys.executable, str(noop), "--early"])

        print(f"\nbaseline: plain fitparse loop over {args.sample} archive files ...", flush=True)
        base = baseline(archive, manifest, args.sample)
        s_per_record = base["fitparse_s"] / base["records"]

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

        def wall(tree: str, key: str) -> float | None:
            r = med.get((tree, key))
            return r.wall_s if r else None

        def row(name: str, key: str, target: float | None = None, fitparse_s: float | None = None) -> dict:
            return {"name": name, "target": target, "this": wall("this", key), "main": wall("main", key),
                    "fitparse_s": fitparse_s}

        one_file_fp = statistics.median(new_records) * s_per_record if new_records else None
        full_fp = n_rec * s_per_record
        rows = [
            row(f"(a) full sync, {args.years:g} years, empty -> flags", "full", TARGETS["full"], full_fp),
            {"name": "    peak memory, process tree (full sync)", "unit": "MB", "target": TARGETS["memory_mb"],
             "this": med[("this", "full")].peak_tree_mb,
             "main": med[("main", "full")].peak_tree_mb if ("main", "full") in med else None},
            row(f"(b) unchanged re-sync, {len(files):,} files", "resync", TARGETS["resync"]),
            row("(c) one new file, Prefect server running", "s-new", TARGETS["new_file_server"], one_file_fp),
            row("(c) one new file, no server", "new", None, one_file_fp),
            row("    Prefect floor: no-op flow, no server", "noop"),
            row("    Prefect floor: no-op flow, server", "s-noop"),
            row("(b) re-sync, Prefect server running", "s-resync", TARGETS["resync"]),
        ]
        if ("this", "e-noop") in med:
            rows.insert(6, row("    Prefect floor: no-op flow, early server", "e-noop"))
        rows.append({"name": "    `footfall --help`", "this": help_s.get("this"), "main": help_s.get("main")})
        if args.years != 5:
            rows[0]["target"] = TARGETS["full"] * args.years / 5  # the target is linear in files
        print("\n" + "=" * 118)
        load1 = os.getloadavg()
        print(f"footfall sync, {len(files):,} files / {n_rec:,} records ({args.years:g} years), "
              f"{workers} cores, batch_files {args.batch_files or 'default'}; medians of {args.reps} "
              f"({args.full_reps} full syncs); load average (1 min) {load0[0]:.2f} at start, {load1[0]:.2f} at end")
        print(f"this tree: {ROOT}" + (f"; today's main: {bdesc}" if len(trees) > 1 else "")
              + (f"; Prefect server {server_url}" if server_url else "; no Prefect server runs (--no-server)"))
        print_table(rows)
        if args.years != 5:
            print(f"  (full-sync target scaled to {args.years:g} years: {TARGETS['full']:g} s for 5 years, linear in files)")
        nf, fl = wall("this", "new"), wall("this", "e-noop") or wall("this", "noop")
        if nf is not None and fl is not None:
            print(f"  no server: one new file {nf:.2f} s; the Prefect floor (python, imports, temporary server "
                  f"started first, one no-op flow run) {fl:.2f} s; footfall's own share {nf - fl:.2f} s")
        print(f"  plain fitparse loop: {base['fitparse_s']:.2f} s over {base['files']} files "
              f"({base['records']:,} records, {base['records'] / base['fitparse_s']:,.0f} records/s): "
              f"{full_fp:,.0f} s for the archive, {one_file_fp or 0:.2f} s for one new file (decoding only, one core)")
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
            "reps": args.reps, "help_s": help_s, "targets": TARGETS,
            "baseline": None if len(trees) == 1 else bdesc,
            "batch_files": args.batch_files, "loadavg": [load0, load1], "table": rows,
            "runs": {f"{t}/{k}": [asdict(r) for r in v] for (t, k), v in runs.items()},
            "fitparse": base, "stages": st,
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
