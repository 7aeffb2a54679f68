"""Benchmark: the scale curve of ``footfall sync`` for a cohort, locally and on a Dask cluster.

    python bench/bench_scale.py [--runners 4] [--months 1] [--out bench/out/scale]
                                [--batch-files 60] [--configs local1,local2,dask1,dask2]

1. **Cohort** (cached in ``<out>/cohort/rNNN``): ``--runners`` runners, each ``--months`` of
   running (~30 runs a month) from the archive generator of ``bench/bench_sync.py``
   (``plan_archive`` with a seed per runner, files written by its ``_write_chunk``: simulated 1 Hz
   runs and perturbed corpus runs), every file distinct (sha256 checked across the cohort).
2. **Configurations**, each syncing the whole cohort into a new DuckDB file, one
   ``footfall sync <cohort>/rNNN --athlete rNNN --json`` per runner, one after the other (each
   runner its own athlete, one writer at a time), all reporting to one ``prefect server`` this
   script starts (so no sync pays for Prefect's temporary server):

   - ``local1`` / ``local2``: the local process pool with 1 and 2 decode workers (``workers``);
   - ``dask1`` / ``dask2``: ``--cluster`` on a local Dask cluster this script starts (a
     ``dask scheduler`` on loopback, then 1 and 2 ``dask worker --nthreads 1`` processes).

   Printed per configuration: wall time (all runners), files, records landed, rows in the
   database (every table), peak memory of the process tree (the CLI and its decode workers, plus
   the scheduler and workers for ``dask*``: RSS summed over the trees, sampled from ``/proc``
   every 50 ms; the Prefect server left out), and throughput (files/s, records/s).
3. **Landing, measured apart**: one runner synced again through ``pipelines/sync.py``'s functions
   in this process (``bench_sync.stages``: decode and land one after the other, not overlapped),
   which gives the decode seconds per file (pool wait, 2 workers) and the single writer's
   landing seconds per file.
4. **Extrapolation** (printed as such) to a RUNSAFE-sized cohort (Garmin-RUNSAFE: 5,205 runners,
   588,071 sessions in 18 months; Frandsen et al. 2025) on N workers.

Default size (4 runners x 1 month, ~120 files) finishes in about 5 minutes on an idle 2-core
machine; ``--runners 8 --months 2`` is ~4x that. A shared or loaded machine slows every number:
the load average is printed at the start and the end. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_sync as bs  # noqa: E402  (the archive generator, /proc sampling, Prefect server)

ROOT = bs.ROOT
RUNSAFE_RUNNERS = 5_205
RUNSAFE_SESSIONS = 588_071  # Frandsen et al. 2025 (18 months)
COHORT_VERSION = 1


# =========================================================================== the cohort


def make_cohort(out: Path, runners: int, months: int, workers: int = 2) -> dict[str, list[dict]]:
    """``out/rNNN`` folders of FIT files (cached; rebuilt when the size changed)."""
    key = {"version": COHORT_VERSION, "runners": runners, "months": months}
    manifest_path = out / "cohort.json"
    if manifest_path.is_file():
        m = json.loads(manifest_path.read_text())
        if m.get("key") == key and all((out / r).is_dir() for r in m["runners"]):
            return m["runners"]
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    plans = {f"r{i:03d}": bs.plan_archive(months / 12, seed=2026 + i) for i in range(runners)}
    t = time.perf_counter()
    n = sum(len(p) for p in plans.values())
    print(f"making the cohort: {runners} runners x {months} months, {n} files -> {out} ...", flush=True)
    jobs = [(str(out / r), runs[i::2]) for r, runs in plans.items() for i in range(2)]
    files: dict[str, list[dict]] = {r: [] for r in plans}
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for (folder, _), res in zip(jobs, pool.map(bs._write_chunk, *zip(*jobs))):
            files[Path(folder).name].extend({"path": p, "sha256": s, "bytes": b, "records": k}
                                            for p, s, b, k in res)
    shas = [f["sha256"] for fs in files.values() for f in fs]
    if len(set(shas)) != len(shas):
        sys.exit(f"cohort files are not distinct: {len(shas)} files, {len(set(shas))} sha256")
    manifest_path.write_text(json.dumps({"key": key, "runners": files}, indent=1))
    print(f"  made in {time.perf_counter() - t:.0f} s", flush=True)
    return files


# =========================================================================== measuring


class Forest:
    """Peak summed RSS of several process trees (roots added while running), from ``/proc``."""

    def __init__(self, roots: list[int], interval: float = 0.05):
        self.roots, self.interval = list(roots), interval
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            table = bs._proc_table()
            kids: dict[int, list[int]] = {}
            for pid, (ppid, _, _) in table.items():
                kids.setdefault(ppid, []).append(pid)
            seen, todo = set(), list(self.roots)
            while todo:
                p = todo.pop()
                if p in table and p not in seen and not bs._is_prefect_server(table[p][2]):
                    seen.add(p)
                    todo.extend(kids.get(p, ()))
            self.peak = max(self.peak, sum(table[p][1] for p in seen))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._t.join()


class DaskCluster:
    """``dask scheduler`` on loopback and ``dask worker`` processes (``python -m
    distributed.cli.*``, this interpreter), stopped by ``stop``."""

    def __init__(self, env: dict, tmp: Path):
        self.port = bs._free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.env, self.tmp = env, tmp
        self.procs: list[subprocess.Popen] = []
        self._start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                     str(self.port), "--no-dashboard"], "scheduler")

    def _start(self, args: list[str], name: str) -> None:
        log = open(self.tmp / f"{name}.log", "wb")
        self.procs.append(subprocess.Popen([sys.executable, "-m", *args], env=self.env,
                                           cwd=self.tmp, stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True))

    def add_worker(self) -> None:
        n = len(self.procs)
        self._start(["distributed.cli.dask_worker", self.address, "--nworkers", "1", "--nthreads",
                     "1", "--no-dashboard", "--local-directory", str(self.tmp / f"w{n}")], f"worker{n}")
        self.wait_for(n)

    def wait_for(self, n: int, timeout_s: float = 180) -> None:
        from distributed import Client

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with Client(self.address, timeout=10, set_as_default=False) as c:
                    c.wait_for_workers(n, timeout=max(1.0, deadline - time.monotonic()))
                return
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@dataclass
class Result:
    config: str
    wall_s: float
    files: int
    records: int
    rows: int
    peak_mb: float

    @property
    def files_per_s(self) -> float:
        return self.files / self.wall_s if self.wall_s else 0.0


def table_rows(db: Path) -> int:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'").fetchall()]
        return sum(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in names)


def sync_cohort(config: str, cohort: Path, runners: list[str], db: Path, env: dict,
                cluster: DaskCluster | None) -> Result:
    extra = ["--cluster", cluster.address] if cluster else []
    roots = [p.pid for p in cluster.procs] if cluster else []
    mem = Forest(roots)
    files = records = 0
    t = time.perf_counter()
    for r in runners:
        cmd = bs.footfall_cmd() + ["sync", str(cohort / r), "--athlete", r, "--db", str(db),
                                   "--json", *extra]
        p = subprocess.Popen(cmd, env=env, cwd=db.parent, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        mem.roots.append(p.pid)
        out, err = p.communicate()
        mem.roots.remove(p.pid)
        if p.returncode != 0:
            mem.stop()
            sys.stderr.write(err[-4000:])
            sys.exit(f"{config}: {' '.join(cmd)} exited {p.returncode}")
        s = json.loads(out)
        files += s["files_new"]
        records += s["records"]
    wall = time.perf_counter() - t
    mem.stop()
    return Result(config, wall, files, records, table_rows(db), mem.peak / 2**20)


# =========================================================================== extrapolation


def extrapolate(results: list[Result], stage: dict[str, float], stage_files: int, runners: int,
                n_sessions: int, workers: tuple[int, ...] = (1, 2, 8, 32, 128)) -> list[str]:
    """Lines of the extrapolation to a RUNSAFE-sized cohort (its assumptions stated in them).

    Model: wall(N) = R x o + max(S x d / N, S x l): o the per-runner serial cost (CLI start,
    planning, Prefect flow run, model build), d a file's decode cost on one worker, l a file's
    landing cost on the one writer (overlapped with decoding). o and d come from the 1- and
    2-worker runs of the same kind (W1 = R o + F d, W2 = R o + F d / 2), l from the stages run.
    """
    by = {r.config: r for r in results}
    pair = next(((by[a], by[b]) for a, b in (("dask1", "dask2"), ("local1", "local2"))
                 if a in by and b in by), None)
    land_per_file = stage["land"] / max(1, stage_files)
    lines = ["EXTRAPOLATION (not a measurement) to a RUNSAFE-sized cohort: "
             f"{RUNSAFE_RUNNERS:,} runners, {n_sessions:,} sessions (Frandsen et al. 2025)."]
    if pair is None:
        return lines + ["  (needs a 1- and a 2-worker configuration of the same kind)"]
    w1, w2 = pair
    f = max(1, w1.files)
    d = max(0.0, 2 * (w1.wall_s - w2.wall_s)) / f  # decode seconds per file on one worker
    o = max(0.0, 2 * w2.wall_s - w1.wall_s) / max(1, runners)  # serial seconds per runner
    if d == 0.0:  # 2 workers no faster than 1 (a loaded machine): all of it as decode
        d, o = w1.wall_s / f, 0.0
    lines += [
        "Assumptions: time linear in sessions (one file per session like the synthetic ones, "
        f"~{w1.records / f:,.0f} records each) and in runners; decoding spread evenly over N "
        "workers (decode-bound, no straggler); one writer landing one batch at a time, overlapped "
        "with decoding; one sync per runner, one after the other; network, shared storage and "
        "scheduler costs beyond those measured on loopback not modelled.",
        f"From {w1.config}/{w2.config}: decode d = {d * 1000:.0f} ms per file on one worker, "
        f"per-runner serial cost o = {o:.1f} s; from the stages run: landing l = "
        f"{land_per_file * 1000:.0f} ms per file (one writer); cross-check, decode wall per "
        f"file on 2 local workers in the stages run: "
        f"{stage['decode (pool wait)'] / max(1, stage_files) * 1000:.0f} ms (x2 for one worker).",
        "The runners' serial part (start-up, planning, Prefect, model build per runner) is paid "
        "one runner after another here; syncs of different runners running at once (a lake with "
        "concurrent writers, issue 16's team mode) would divide it too.",
    ]
    land_total = land_per_file * n_sessions
    serial = o * RUNSAFE_RUNNERS
    for n in workers:
        decode_total = d * n_sessions / n
        total = serial + max(decode_total, land_total)
        limit = "the single writer (landing)" if land_total >= decode_total else "decoding"
        lines.append(f"  N = {n:>3} workers: ~{total / 3600:,.1f} h (runners' serial "
                     f"{serial / 3600:,.1f} h + max(decode {decode_total / 3600:,.1f} h, "
                     f"landing {land_total / 3600:,.1f} h)); limit: {limit}")
    n_eq = d / land_per_file if land_per_file else float("inf")
    lines.append(f"  the one writer becomes the limit from N ~ {n_eq:,.0f} workers (d / l); beyond "
                 "it more workers do not help one DuckDB file (several syncs into a lake with "
                 "concurrent writers would).")
    return lines


# =========================================================================== main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runners", type=int, default=4)
    ap.add_argument("--months", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "scale")
    ap.add_argument("--batch-files", type=int, default=60)
    ap.add_argument("--configs", default="local1,local2,dask1,dask2")
    ap.add_argument("--sessions", type=int, default=RUNSAFE_SESSIONS,
                    help="sessions of the extrapolated cohort (default RUNSAFE's)")
    args = ap.parse_args()
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    # a SIGTERM stops the Prefect server and the Dask processes this script started (finally)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"load average at start: {os.getloadavg()}", flush=True)
    cohort_dir = args.out / "cohort"
    files = make_cohort(cohort_dir, args.runners, args.months)
    runners = sorted(files)
    n_files = sum(len(v) for v in files.values())
    print(f"cohort: {len(runners)} runners, {n_files} files, "
          f"{sum(f['records'] for v in files.values() for f in v):,} records", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="footfall-scale-"))
    results: list[Result] = []
    server = cluster = None
    try:
        home = tmp / "prefect-home"
        home.mkdir()
        env0 = bs.base_env(home, tmp, args.batch_files)
        server = bs.PrefectServer(env0, home)
        for config in configs:
            workers = int(config[-1])
            work = tmp / config
            work.mkdir()
            env = bs.base_env(home, work, args.batch_files)
            (work / "footfall.toml").write_text(f"batch_files = {args.batch_files}\nworkers = {workers}\n")
            env["PREFECT_API_URL"] = server.url
            if config.startswith("dask"):
                if cluster is None:
                    cluster = DaskCluster(env, tmp)
                while len(cluster.procs) - 1 < workers:
                    cluster.add_worker()
            r = sync_cohort(config, cohort_dir, runners, work / "cohort.duckdb", env,
                            cluster if config.startswith("dask") else None)
            results.append(r)
            print(f"  {config:7} {r.wall_s:7.1f} s  {r.files} files  {r.records:,} records  "
                  f"{r.rows:,} rows  peak {r.peak_mb:,.0f} MB  {r.files_per_s:.2f} files/s", flush=True)
        # landing measured apart: one runner, decode and land not overlapped
        stage_dir = tmp / "stages"
        stage_dir.mkdir()
        env = bs.base_env(home, stage_dir, args.batch_files)
        (stage_dir / "footfall.toml").write_text(f"batch_files = {args.batch_files}\nworkers = 2\n")
        stage = bs.stages(cohort_dir / runners[0], stage_dir / "one.duckdb", env)
        stage_files = len(files[runners[0]])
    finally:
        if cluster is not None:
            cluster.stop()
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"footfall sync, {len(runners)} runners x {args.months} months ({n_files} files), one "
          f"sync per runner, batch_files {args.batch_files}:")
    print("| configuration | wall s | files | records | rows | peak MB | files/s | records/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r.config} | {r.wall_s:.1f} | {r.files} | {r.records:,} | {r.rows:,} | "
              f"{r.peak_mb:,.0f} | {r.files_per_s:.2f} | {r.records / r.wall_s:,.0f} |")
    print()
    print(f"stages of one runner's sync ({stage_files} files, decode and land not overlapped): "
          + ", ".join(f"{k} {v:.2f} s" for k, v in stage.items()))
    print()
    for line in extrapolate(results, stage, stage_files, len(runners), args.sessions):
        print(line)
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
