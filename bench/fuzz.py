"""Fuzz harness: seeded mutants of FIT/GPX/TCX files through the decode and one real sync.

    python bench/fuzz.py --n 10000 [--seed 0] [--out fuzz-out] [--corpus DIR | --no-corpus]
                         [--workers 2] [--timeout-s 60] [--mem-limit-mb 2048]

1. ``--n`` mutants (``synth.mutate``) of the corpus's small files (``CATALOG.tsv``, files up to
   ``--max-seed-bytes``) and of footfall's own FIT writer output and GPX/TCX templates; mutant
   ``i`` depends only on ``--seed`` and ``i``. Written to ``OUT/mutants/`` (identical bytes
   kept once: the ``files`` table is keyed by the content's sha256).
2. Each mutant through the sync's per-file path (``pipelines.work.decode_batch``: decode and
   derive) in worker processes, one file at a time, with a per-file time budget and memory
   limit: a worker that overruns is killed and the file reported (``timeout``/``memory``), and a
   worker that dies is reported (``crashed``), not fatal. Per file: seconds and peak RSS
   (``VmHWM``, reset before each file through ``/proc/self/clear_refs``).
3. ALL mutants landed by ONE real ``footfall sync OUT/mutants`` (CLI subprocess, temporary
   DuckDB file, a timezone configured), then checked: exit code 0; every mutant has a
   ``files`` row; every quarantined row has a reason; no absurd landed value (see
   ``ABSURD_CHECKS``).

Printed: mutants by status, slowest file, peak memory per file, reader exceptions (files
quarantined with an error class that is not one of ``ingest.errors``: a reader bug caught by the
safety net) and everything that failed; each problem mutant is copied to ``OUT/problems/<kind>/``
with a ``.txt`` naming its seed file and mutations, for reproduction. ``OUT/summary.json`` has
the figures. Exit code 1 when an invariant failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from datetime import datetime, timedelta, timezone
from multiprocessing.connection import wait
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from synth.mutate import Mutant, builtin_seeds, corpus_seeds, mutants  # noqa: E402

#: Harness budgets (not product thresholds): a file that needs more is reported, not fatal.
TIMEOUT_S = 60.0
MEM_LIMIT_MB = 2048
#: What "absurd" means for a landed value (the invariant checked here; the product's own
#: plausibility bounds live in models/thresholds.py). (name, SQL counting offending rows.)
EARLIEST = "1989-12-31"
ABSURD_CHECKS = [
    ("records |lat| > 90", "SELECT count(*) FROM records WHERE abs(latitude_deg) > 90"),
    ("records |lon| > 180", "SELECT count(*) FROM records WHERE abs(longitude_deg) > 180"),
    ("records NaN/inf position",
     "SELECT count(*) FROM records WHERE isnan(latitude_deg) OR isinf(latitude_deg) "
     "OR isnan(longitude_deg) OR isinf(longitude_deg)"),
    ("records heart rate > 250 or < 0",
     "SELECT count(*) FROM records WHERE heart_rate_bpm > 250 OR heart_rate_bpm < 0"),
    ("records NaN/inf value",
     "SELECT count(*) FROM records WHERE " + " OR ".join(
         f"isnan({c}) OR isinf({c})" for c in ("altitude_m", "distance_m", "speed_mps", "heart_rate_bpm",
                                               "cadence_raw", "power_w"))),
    ("records time outside 1989-12-31..now+1d",
     f"SELECT count(*) FROM records WHERE recorded_at < TIMESTAMP '{EARLIEST}' OR recorded_at > $now"),
    ("activities time outside 1989-12-31..now+1d",
     f"SELECT count(*) FROM activities WHERE started_at < TIMESTAMP '{EARLIEST}' OR started_at > $now "
     f"OR ended_at < TIMESTAMP '{EARLIEST}' OR ended_at > $now"),
    ("activities distance > 10,000 km", "SELECT count(*) FROM activities WHERE distance_m > 1e7"),
    ("activities NaN/inf or negative distance",
     "SELECT count(*) FROM activities WHERE isnan(distance_m) OR isinf(distance_m) OR distance_m < 0"),
    ("activities longer than 30 days",
     "SELECT count(*) FROM activities WHERE elapsed_time_s > 30 * 86400 "
     "OR ended_at - started_at > INTERVAL 30 DAY"),
]
STATUSES = ("landed", "salvaged", "quarantined", "not_activity", "no_timestamps", "duplicate")


# ------------------------------------------------------------------------------ mutants

def make_mutants(n: int, seed: int = 0, corpus: Path | None = None, max_seed_bytes: int = 200_000,
                 builtin: bool = True) -> list[Mutant]:
    seeds = (builtin_seeds() if builtin else []) + (corpus_seeds(corpus, max_seed_bytes) if corpus else [])
    return mutants(seeds, n, seed=seed)


def write_mutants(ms: list[Mutant], folder: Path) -> list[dict]:
    """Each distinct mutant written once: dicts with name, path, sha256, seed, ops, tags."""
    folder.mkdir(parents=True, exist_ok=True)
    seen, out = set(), []
    for m in ms:
        sha = hashlib.sha256(m.data).hexdigest()
        if sha in seen:
            continue
        seen.add(sha)
        p = folder / m.name
        p.write_bytes(m.data)
        out.append({"name": m.name, "path": str(p), "sha256": sha, "seed": m.seed, "ops": m.label,
                    "tags": sorted(m.tags), "size": len(m.data)})
    return out


# ------------------------------------------------------------------------------- decode

def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM (peak RSS) to the current RSS
        return True
    except OSError:
        return False


def _worker(conn, tz: str | None) -> None:
    """Decode files sent over ``conn`` one at a time; answer with status and per-file figures."""
    import resource
    import warnings

    warnings.simplefilter("ignore")  # numpy/polars warnings on absurd values: noise here
    from pipelines.work import DeriveContext, decode_batch

    ctx = DeriveContext(athlete_id="fuzz", timezone=tz)
    # warm the imports (readers, derive) so that the first file's figures are its own
    from synth.mutate import builtin_seeds as _b

    for s in _b():
        decode_batch([(s.name, None, s.name, s.data, None)], ctx)
    vm = _status_kb("VmSize") * 1024  # backstop only: the parent kills on RSS long before this
    try:
        resource.setrlimit(resource.RLIMIT_AS, (vm + 8 * 2**30, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass
    conn.send("ready")
    while True:
        msg = conn.recv()
        if msg is None:
            return
        path, name = msg
        data = Path(path).read_bytes()
        can_reset = _reset_peak()
        base = _status_kb("VmRSS")
        t0 = time.perf_counter()
        try:
            r = decode_batch([(path, None, name, data, None)], ctx)[0]
            out = {"status": r.status, "reason": r.reason, "error_class": r.error_class,
                   "decoder": r.decoded.decoder if r.decoded else None,
                   "n_records": r.decoded.records.height if r.decoded else 0,
                   "n_activities": r.decoded.activities.height if r.decoded else 0}
        except BaseException as err:  # noqa: BLE001 - the point is to see it
            out = {"status": "exception", "error_class": type(err).__name__, "reason": str(err)[:500],
                   "traceback": traceback.format_exc()}
        out["seconds"] = time.perf_counter() - t0
        out["peak_kb"] = _status_kb("VmHWM") if can_reset else None
        out["base_kb"] = base
        conn.send(out)


class _Slot:
    def __init__(self, tz: str | None):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, tz), daemon=True)
        self.proc.start()
        child.close()
        self.task: dict | None = None
        self.t0 = 0.0
        self.ready = False

    def rss_kb(self) -> int:
        try:
            with open(f"/proc/{self.proc.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(5)
        self.conn.close()


def decode_all(items: list[dict], *, workers: int = 2, timeout_s: float = TIMEOUT_S,
               mem_limit_mb: int = MEM_LIMIT_MB, tz: str | None = "Europe/Madrid",
               progress=None) -> list[dict]:
    """Decode every item (dicts from write_mutants) in worker processes; one result per item,
    in order, with status (or timeout / memory / crashed / exception), seconds and peak_kb."""
    results: list[dict | None] = [None] * len(items)
    todo = list(range(len(items)))[::-1]
    slots = [_Slot(tz) for _ in range(max(1, min(workers, len(items))))]
    done = 0
    try:
        while done < len(items):
            for s in slots:
                if s.ready and s.task is None and todo:
                    i = todo.pop()
                    s.task = {"i": i}
                    s.t0 = time.perf_counter()
                    s.conn.send((items[i]["path"], items[i]["name"]))
            ready = wait([s.conn for s in slots], timeout=0.05)
            now = time.perf_counter()
            for k, s in enumerate(slots):
                failed = None
                if s.conn in ready:
                    try:
                        msg = s.conn.recv()
                    except (EOFError, OSError):
                        failed = {"status": "crashed", "reason": f"worker died (exit code {s.proc.exitcode})"}
                    else:
                        if msg == "ready":
                            s.ready = True
                        else:
                            results[s.task["i"]] = msg
                            s.task = None
                            done += 1
                            if progress:
                                progress(done, len(items))
                        continue
                elif s.task is not None and now - s.t0 > timeout_s:
                    failed = {"status": "timeout", "reason": f"no answer after {timeout_s:.0f} s"}
                elif s.task is not None and s.rss_kb() > mem_limit_mb * 1024:
                    failed = {"status": "memory", "reason": f"RSS over {mem_limit_mb} MB"}
                elif not s.proc.is_alive():
                    failed = {"status": "crashed", "reason": f"worker died (exit code {s.proc.exitcode})"}
                if failed is None:
                    continue
                s.kill()
                if s.task is not None:
                    failed.update(seconds=now - s.t0, peak_kb=None, error_class=failed["status"])
                    results[s.task["i"]] = failed
                    done += 1
                elif not s.ready:
                    raise RuntimeError(f"decode worker failed to start: {failed['reason']}")
                slots[k] = _Slot(tz)
    finally:
        for s in slots:
            try:
                s.conn.send(None)
            except OSError:
                pass
        for s in slots:
            s.proc.join(5)
            if s.proc.is_alive():
                s.proc.kill()
    return results  # type: ignore[return-value]


def ingest_error_classes() -> set[str]:
    from ingest import errors

    out, stack = set(), [errors.IngestError]
    while stack:
        c = stack.pop()
        out.add(c.__name__)
        stack.extend(c.__subclasses__())
    return out


def decode_problems(items: list[dict], results: list[dict]) -> dict[str, list[dict]]:
    """Problems by kind: exception (escaped decode_batch), timeout, memory, crashed,
    reader_bug (quarantined with a class outside ingest.errors), derive_bug (metrics not
    derived), no_reason (quarantined without a reason), bad_status."""
    known = ingest_error_classes()
    out: dict[str, list[dict]] = {}
    for it, r in zip(items, results):
        kind = None
        st = r["status"]
        if st in ("exception", "timeout", "memory", "crashed"):
            kind = st
        elif st not in STATUSES:
            kind = "bad_status"
        elif st == "quarantined" and not (r.get("reason") or "").strip():
            kind = "no_reason"
        elif st == "quarantined" and r.get("error_class") not in known:
            kind = "reader_bug"
        elif "metrics not derived" in (r.get("reason") or ""):
            kind = "derive_bug"
        if kind:
            out.setdefault(kind, []).append({**it, **r})
    return out


# --------------------------------------------------------------------------------- sync

def cli_sync(folder: Path, db: Path, work: Path, *, tz: str | None = "Europe/Madrid",
             timeout_s: float = 3600.0) -> dict:
    """``footfall sync folder --db db`` in a subprocess with its own config and Prefect home."""
    work.mkdir(parents=True, exist_ok=True)
    cfg = work / "footfall.toml"
    cfg.write_text(f'timezone = "{tz}"\n' if tz else "")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}
    env.update(FOOTFALL_CONFIG=str(cfg), PREFECT_HOME=str(work / "prefect-home"),
               PREFECT_LOGGING_LEVEL="WARNING", PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_LOGGING_TO_API_ENABLED="false",
               # a loaded machine starts Prefect's temporary server slowly (default budget 20 s)
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180")
    cmd = [sys.executable, "-c", "from pipelines.cli import main; main()", "sync", str(folder),
           "--db", str(db), "--athlete", "fuzz", "--json"]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout_s)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", str(e.stdout or ""), str(e.stderr or "")
    (work / "sync.stdout").write_text(out)
    (work / "sync.stderr").write_text(err)
    return {"exit_code": rc, "seconds": time.perf_counter() - t0, "stderr_tail": err[-3000:]}


def check_db(db: Path, items: list[dict], now: datetime | None = None) -> dict:
    """The invariants on the synced file: files rows, reasons, absurd values."""
    import duckdb

    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    by_sha = {it["sha256"]: it for it in items}
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT file_id, status, reason, error_class, path FROM files").fetchall()
        found = {r[0]: r for r in rows}
        # a file refused before it is read (a size budget: FIT header declaring 2 GB) has a
        # problem row keyed by its path, not by the hash of its bytes
        by_path = {r[4]: r for r in rows if r[0].startswith("problem-")}
        for s, it in by_sha.items():
            if s not in found and str(it.get("path")) in by_path:
                found[s] = by_path[str(it["path"])]
        missing = [by_sha[s] for s in by_sha if s not in found]
        no_reason = [by_sha.get(r[0], {"name": r[0]}) for r in rows
                     if r[1] == "quarantined" and not (r[2] or "").strip()]
        status = Counter(found[s][1] for s in by_sha if s in found)
        absurd = {}
        for name, sql in ABSURD_CHECKS:
            n = con.execute(sql.replace("$now", f"TIMESTAMP '{now + timedelta(days=1):%Y-%m-%d %H:%M:%S}'")
                            ).fetchone()[0]
            if n:
                absurd[name] = n
        absurd_files = _absurd_files(con, now) if absurd else []
    finally:
        con.close()
    return {"missing": missing, "no_reason": no_reason, "status": dict(status), "absurd": absurd,
            "absurd_files": [by_sha[f] for f in absurd_files if f in by_sha],
            "error_classes": dict(Counter(r[3] for r in rows if r[1] == "quarantined"))}


def _absurd_files(con, now: datetime) -> list[str]:
    """file_ids of the activities holding an absurd value (for the reproduction folder)."""
    t = f"TIMESTAMP '{now + timedelta(days=1):%Y-%m-%d %H:%M:%S}'"
    sql = f"""
        SELECT DISTINCT a.file_id FROM activities a WHERE a.activity_id IN (
            SELECT activity_id FROM records WHERE abs(latitude_deg) > 90 OR abs(longitude_deg) > 180
                OR isnan(latitude_deg) OR isinf(latitude_deg) OR isnan(longitude_deg) OR isinf(longitude_deg)
                OR heart_rate_bpm > 250 OR heart_rate_bpm < 0
                OR recorded_at < TIMESTAMP '{EARLIEST}' OR recorded_at > {t})
            OR a.started_at < TIMESTAMP '{EARLIEST}' OR a.started_at > {t} OR a.ended_at > {t}
            OR a.distance_m > 1e7 OR isnan(a.distance_m) OR isinf(a.distance_m) OR a.distance_m < 0
            OR a.elapsed_time_s > 30 * 86400 OR a.ended_at - a.started_at > INTERVAL 30 DAY"""
    return [r[0] for r in con.execute(sql).fetchall()]


# --------------------------------------------------------------------------------- report

def reader_traceback(data: bytes, name: str) -> str:
    """The traceback decode_bytes' safety net swallowed: the reader called without it."""
    from ingest.decode import file_id_of, sniff_format
    from models.thresholds import reader_options

    try:
        fmt = sniff_format(data, name)
        if fmt == "fit":
            from ingest.fit import decode_fit as reader
        elif fmt == "gpx":
            from ingest.gpx import decode_gpx as reader
        else:
            from ingest.tcx import decode_tcx as reader
        options = () if fmt == "fit" else (reader_options(),)  # the XML readers take settings
        reader(data, file_id_of(data), *options)
    except Exception:  # noqa: BLE001
        return traceback.format_exc()
    return ""


def _save(out: Path, kind: str, entries: list[dict], extra: str = "") -> None:
    d = out / "problems" / kind.replace(" ", "_")
    d.mkdir(parents=True, exist_ok=True)
    for e in entries:
        shutil.copyfile(e["path"], d / e["name"])
        text = (f"seed: {e['seed']}\nmutations: {e['ops']}\ntags: {e.get('tags')}\n"
                f"status: {e.get('status')}\nerror_class: {e.get('error_class')}\nreason: {e.get('reason')}\n"
                f"{e.get('traceback') or ''}{extra}")
        if kind == "reader_bug":
            text += reader_traceback(Path(e["path"]).read_bytes(), e["name"])
        (d / (e["name"] + ".txt")).write_text(text)


def run(n: int, seed: int, out: Path, corpus: Path | None, *, workers: int, timeout_s: float,
        mem_limit_mb: int, max_seed_bytes: int, tz: str | None, do_sync: bool = True,
        skip_tags: tuple[str, ...] = ()) -> dict:
    t_start = time.perf_counter()
    ms = make_mutants(n, seed, corpus, max_seed_bytes)
    if out.exists():
        shutil.rmtree(out)
    items = write_mutants([m for m in ms if not m.tags & set(skip_tags)], out / "mutants")
    skipped = write_mutants([m for m in ms if m.tags & set(skip_tags)], out / "skipped")
    if skipped:
        print(f"{len(skipped)} mutants tagged {', '.join(skip_tags)} left out (in {out / 'skipped'})")
    print(f"{len(ms)} mutants ({len(items)} distinct) from seed {seed}: "
          f"{dict(Counter(it['name'].rsplit('.', 1)[1] for it in items))}", flush=True)

    def prog(done, total):
        if done % 250 == 0 or done == total:
            print(f"  decoded {done}/{total} ({time.perf_counter() - t_start:.0f} s)", flush=True)

    results = decode_all(items, workers=workers, timeout_s=timeout_s, mem_limit_mb=mem_limit_mb,
                         tz=tz, progress=prog)
    problems = decode_problems(items, results)
    with open(out / "decode.tsv", "w") as fh:  # one line per mutant, slowest first
        fh.write("seconds\tpeak_mb\tstatus\terror_class\tname\tsize\tseed\tmutations\n")
        for it, r in sorted(zip(items, results), key=lambda x: -x[1]["seconds"]):
            fh.write(f"{r['seconds']:.3f}\t{(r.get('peak_kb') or 0) / 1024:.0f}\t{r['status']}\t"
                     f"{r.get('error_class') or ''}\t{it['name']}\t{it['size']}\t{it['seed']}\t{it['ops']}\n")
    secs = [(r["seconds"], it["name"]) for it, r in zip(items, results)]
    peaks = [((r.get("peak_kb") or 0) / 1024, it["name"]) for it, r in zip(items, results)]
    deltas = sorted(((r.get("peak_kb") or 0) - (r.get("base_kb") or 0)) / 1024 for r in results)
    summary = {
        "mutants": len(ms), "distinct": len(items), "seed": seed, "left_out": len(skipped),
        "decode_status": dict(Counter(r["status"] for r in results)),
        "slowest_file": max(secs), "median_file_s": sorted(secs)[len(secs) // 2][0],
        "peak_rss_mb": max(peaks), "max_peak_over_base_mb": deltas[-1] if deltas else 0,
        "p99_peak_over_base_mb": deltas[int(0.99 * (len(deltas) - 1))] if deltas else 0,
        "decode_problems": {k: len(v) for k, v in problems.items()},
        "reader_exceptions": dict(Counter(f"{e['error_class']}" for e in problems.get("reader_bug", []))),
    }
    for kind, entries in problems.items():
        _save(out, kind, entries)
    failed = [k for k in problems if k != "derive_bug"]
    if do_sync:
        sync = cli_sync(out / "mutants", out / "fuzz.duckdb", out / "sync", tz=tz,
                        timeout_s=max(600.0, 2.0 * len(items)))
        summary["sync"] = {k: v for k, v in sync.items() if k != "stderr_tail"}
        if sync["exit_code"] != 0:
            failed.append("sync exit code")
            lines = sync["stderr_tail"].strip().splitlines()
            errs = [ln for ln in lines if re.match(r"^(error:|[\w.]+(Error|Exception)\b)", ln)]
            summary["sync"]["error"] = (errs or lines)[-1:]
        if (out / "fuzz.duckdb").exists():
            chk = check_db(out / "fuzz.duckdb", items)
            summary["files_status"] = chk["status"]
            summary["missing_files_rows"] = len(chk["missing"])
            summary["quarantined_without_reason"] = len(chk["no_reason"])
            summary["absurd"] = chk["absurd"]
            summary["absurd_files"] = len(chk["absurd_files"])
            summary["quarantine_classes"] = chk["error_classes"]
            if chk["missing"]:
                failed.append("missing files rows")
                _save(out, "missing_files_row", chk["missing"][:200])
            if chk["no_reason"]:
                failed.append("quarantined without reason")
            if chk["absurd"]:
                failed.append("absurd landed values")
                _save(out, "absurd_value", chk["absurd_files"][:200])
    summary["failed"] = failed
    summary["seconds"] = time.perf_counter() - t_start
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def print_summary(s: dict) -> None:
    print(f"\nmutants: {s['mutants']} ({s['distinct']} distinct, {s['left_out']} left out by tag), seed {s['seed']}")
    print(f"decode (per file, worker processes): {s['decode_status']}")
    print(f"slowest file: {s['slowest_file'][0]:.2f} s ({s['slowest_file'][1]}); median {s['median_file_s']:.3f} s")
    print(f"peak memory per file: {s['peak_rss_mb'][0]:.0f} MB RSS ({s['peak_rss_mb'][1]}); "
          f"max over the worker's baseline {s['max_peak_over_base_mb']:.0f} MB, p99 {s['p99_peak_over_base_mb']:.0f} MB")
    print(f"decode problems: {s['decode_problems'] or 'none'}")
    if s["reader_exceptions"]:
        print(f"reader exceptions caught by decode_bytes' safety net: {s['reader_exceptions']}")
    if "sync" in s:
        print(f"sync: exit {s['sync']['exit_code']} in {s['sync']['seconds']:.0f} s {s['sync'].get('error') or ''}")
    if "files_status" in s:
        print(f"files rows by status: {s['files_status']}")
        print(f"missing files rows: {s['missing_files_rows']}; quarantined without reason: "
              f"{s['quarantined_without_reason']}")
        print(f"quarantine classes: {s['quarantine_classes']}")
        print(f"absurd landed values: {s['absurd'] or 'none'} ({s['absurd_files']} files)")
    print(f"failed invariants: {s['failed'] or 'none'}; {s['seconds']:.0f} s in all")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="default: a new temporary folder")
    ap.add_argument("--corpus", type=Path, default=Path(os.environ.get(
        "FOOTFALL_CORPUS", ROOT.parent / "shared" / "corpus")))
    ap.add_argument("--no-corpus", action="store_true", help="seed from footfall's own writers only")
    ap.add_argument("--max-seed-bytes", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout-s", type=float, default=TIMEOUT_S, help="per-file time budget")
    ap.add_argument("--mem-limit-mb", type=int, default=MEM_LIMIT_MB, help="per-file RSS limit")
    ap.add_argument("--timezone", default="Europe/Madrid", help="configured for the sync ('' for none)")
    ap.add_argument("--no-sync", action="store_true")
    ap.add_argument("--skip-tag", action="append", default=[],
                    help="leave out mutants with this tag (e.g. date-overflow, bad-crc)")
    a = ap.parse_args(argv)
    out = a.out or Path(tempfile.mkdtemp(prefix="footfall-fuzz-"))
    corpus = None if a.no_corpus or not (a.corpus / "CATALOG.tsv").is_file() else a.corpus
    print(f"seeds: builtin{' + corpus ' + str(corpus) if corpus else ' only'}; out: {out}")
    s = run(a.n, a.seed, out, corpus, workers=a.workers, timeout_s=a.timeout_s,
            mem_limit_mb=a.mem_limit_mb, max_seed_bytes=a.max_seed_bytes, tz=a.timezone or None,
            do_sync=not a.no_sync, skip_tags=tuple(a.skip_tag))
    print_summary(s)
    return 1 if s["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
