"""Decoding on a real Dask cluster (issue 16): ``footfall sync PATHS --cluster tcp://HOST:PORT``.

A module fixture starts a real ``dask scheduler`` on loopback (a free port, no dashboard) and two
``dask worker`` processes (``--nworkers 1 --nthreads 1``, this venv), as subprocesses, and stops
them after. The syncs are real CLI subprocesses (``bench/kill_trials.py`` helpers) reporting to
the session's Prefect test server, landing 24 files per batch (``sync.POOL_MIN_FILES``: each full
batch goes to the workers).
"""

from __future__ import annotations

import csv
import importlib.util
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("kill_trials", ROOT / "bench" / "kill_trials.py")
kt = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("kill_trials", kt)
_spec.loader.exec_module(kt)

HAS_DISTRIBUTED = importlib.util.find_spec("distributed") is not None
needs_cluster = [
    pytest.mark.cluster,
    pytest.mark.skipif(not HAS_DISTRIBUTED, reason="the cluster extra is not installed "
                       "(pip install -e '.[cluster]'): no dask.distributed to start a cluster"),
]

BATCH_FILES = 24  # = sync.POOL_MIN_FILES: a full batch is decoded by the workers
N_CORPUS = 44  # corpus files copied (evenly spaced over the small ones) besides the damaged ones


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + 15
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


class LocalCluster:
    """A scheduler and ``n`` workers as separate processes (``python -m distributed.cli.*``:
    the ``dask`` console script of this venv, whatever its shebang says)."""

    def __init__(self, tmp: Path, env: dict, n_workers: int = 2):
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.tmp, self.env, self.procs = tmp, env, []
        self.logs: list[Path] = []
        self._start([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                     "--port", str(self.port), "--no-dashboard"], "scheduler")
        for i in range(n_workers):
            self.add_worker(f"worker{i}")
        self.wait_for(n_workers)

    def _start(self, cmd: list[str], name: str) -> subprocess.Popen:
        log = self.tmp / f"{name}.log"
        self.logs.append(log)
        p = subprocess.Popen(cmd, env=self.env, cwd=self.tmp, stdout=open(log, "wb"),
                             stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def add_worker(self, name: str) -> subprocess.Popen:
        return self._start([sys.executable, "-m", "distributed.cli.dask_worker", self.address,
                            "--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--name", name,
                            "--local-directory", str(self.tmp / name)], name)

    def client(self):
        from distributed import Client

        return Client(self.address, timeout=60, set_as_default=False)

    def wait_for(self, n: int, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while True:  # the scheduler may not listen yet
            try:
                with self.client() as c:
                    c.wait_for_workers(n, timeout=max(1.0, deadline - time.monotonic()))
                return
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    tails = {p.name: p.read_text(errors="replace")[-800:] for p in self.logs}
                    raise AssertionError(f"the Dask cluster did not start {n} workers: {tails}")
                time.sleep(1)

    def executed(self) -> dict[str, int]:
        """Tasks each worker has run (by worker name)."""
        with self.client() as c:
            return c.run(lambda dask_worker: (dask_worker.name, dask_worker.state.executed_count))

    def stop(self) -> None:
        _stop(self.procs)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, prefect_harness):
    if not HAS_DISTRIBUTED:
        pytest.skip("the cluster extra is not installed (pip install -e '.[cluster]')")
    from prefect.settings import PREFECT_API_URL

    tmp = tmp_path_factory.mktemp("dask")
    env = kt.sync_env(tmp / "env", api_url=PREFECT_API_URL.value(), batch_files=BATCH_FILES)
    c = LocalCluster(tmp, env)
    try:
        yield c
    finally:
        c.stop()


def fingerprint(db: Path) -> dict[str, tuple[int, int]]:
    """``kill_trials.db_fingerprint``: rows and a checksum per table, no timestamps or sync ids.
    ``value_checks`` is compared whole: since issue 17 its ``upper_bound`` no longer holds the
    decoding's clock, so two syncs of the same files land the same rows, cluster or not."""
    return kt.db_fingerprint(db)


def _small_corpus_files(corpus: Path) -> tuple[list[str], list[str]]:
    """(readable activity files of 1-150 kB, evenly spaced, FIT/GPX/TCX; the damaged ones)."""
    with open(corpus / "CATALOG.tsv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t")
                if r["format"] in ("fit", "gpx", "tcx") and 1000 <= int(r["size_bytes"]) <= 150_000]
    good = sorted(r["path"] for r in rows if r["parse_ok"] == "yes")
    bad = sorted(r["path"] for r in rows if r["parse_ok"] != "yes")
    step = max(1, len(good) // N_CORPUS)
    return good[::step][:N_CORPUS], bad


@pytest.fixture(scope="module")
def export(corpus_dir, tmp_path_factory) -> tuple[Path, int]:
    """A folder of real corpus files (copied into a temp folder, each content once, so that
    every full batch holds POOL_MIN_FILES files to decode): FIT, GPX and TCX, the damaged ones
    the catalog lists, a truncated FIT, a file that is no FIT at all, and a zip archive."""
    out = tmp_path_factory.mktemp("export") / "ana"
    good, bad = _small_corpus_files(corpus_dir)
    assert {Path(p).suffix for p in good} >= {".fit", ".gpx"}, good
    out.mkdir(parents=True)
    fits = [rel for rel in good if rel.endswith(".fit")]
    zipped = fits[1:4]  # in the archive only
    seen: set[bytes] = set()
    n = 0
    for rel in [r for r in good + bad if r not in zipped]:
        data = (corpus_dir / rel).read_bytes()
        if data in seen:  # the same file in two repositories: its copy would skip, not decode
            continue
        seen.add(data)
        (out / rel.replace("/", "__")).write_bytes(data)
        n += 1
    data = (corpus_dir / fits[0]).read_bytes()
    (out / "damaged_truncated.fit").write_bytes(data[: len(data) // 2])
    (out / "damaged_not_a_fit.fit").write_bytes(b"this is not a FIT file" * 20)
    with zipfile.ZipFile(out / "archive.zip", "w") as z:
        for rel in zipped:
            z.writestr("inside/" + Path(rel).name.replace(".fit", "_z.fit"),
                       (corpus_dir / rel).read_bytes())
        z.writestr("inside/broken.fit", data[:100])
    return out, n + 2 + 4


@pytest.fixture(scope="module")
def local_sync(export, cluster, tmp_path_factory) -> tuple[Path, dict]:
    """The same folder synced with the local process pool (the reference)."""
    folder, _ = export
    db = tmp_path_factory.mktemp("local") / "local.duckdb"
    return db, kt.run_sync(folder, db, cluster.env, cluster.tmp, timeout=900)


@pytest.mark.cluster
@pytest.mark.skipif(not HAS_DISTRIBUTED, reason="the cluster extra is not installed")
def test_cluster_sync_lands_exactly_the_rows_of_a_local_sync(export, cluster, local_sync, tmp_path):
    folder, n_files = export
    local_db, local_summary = local_sync
    before = sum(n for _, n in cluster.executed().values())
    db = tmp_path / "cluster.duckdb"
    p = kt.run_cli(["sync", str(folder), "--db", str(db), "--json", "--cluster", cluster.address],
                   cluster.env, cluster.tmp, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    import json

    summary = json.loads(p.stdout)
    after = cluster.executed()
    ran = sum(n for _, n in after.values()) - before
    # every full batch went to the workers, in chunks (sync.chunk_items): several tasks
    assert ran >= 2, f"the Dask workers ran {ran} tasks: the sync did not decode on the cluster ({after})"
    for key in ("files_new", "by_status", "activities", "records", "duplicates", "decoders"):
        assert summary[key] == local_summary[key], key
    assert summary["by_status"].get("quarantined", 0) >= 2, "the damaged files are in the folder"
    assert summary["files_new"] == n_files
    local, remote = fingerprint(local_db), fingerprint(db)
    assert set(local) == set(remote)
    for table in ("files", "activities", "records", "laps"):
        assert local[table][0] > 0, f"{table}: nothing landed to compare"
    differ = {t: (local[t], remote[t]) for t in local if local[t] != remote[t]}
    assert not differ, f"tables that differ (rows, checksum) local vs cluster: {differ}"
    quarantined = [q[0] for q in summary["quarantined"]]
    assert sorted(quarantined) == sorted(q[0] for q in local_summary["quarantined"])


@pytest.mark.cluster
@pytest.mark.skipif(not HAS_DISTRIBUTED, reason="the cluster extra is not installed")
def test_unreachable_scheduler_fails_at_once_and_changes_nothing(export, cluster, local_sync, tmp_path):
    folder, _ = export
    local_db, _ = local_sync
    db = tmp_path / "copy.duckdb"
    shutil.copyfile(local_db, db)
    before = kt.db_fingerprint(db)
    # a new source (its file already landed): the sync has something to plan, so it connects
    (folder.parent / "more").mkdir(exist_ok=True)
    shutil.copyfile(next(folder.glob("*.fit")), folder.parent / "more" / "renamed.fit")
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    for target in (db, tmp_path / "never.duckdb"):
        p = kt.run_cli(["sync", str(folder), str(folder.parent / "more"), "--db", str(target),
                        "--cluster", address], cluster.env, cluster.tmp, timeout=300)
        assert p.returncode == 1, (p.returncode, p.stderr[-2000:])
        err = " ".join(p.stderr.split())
        assert f"error: cannot reach the Dask scheduler at {address}" in err, err
        assert "nothing was decoded or written" in err and "Traceback" not in err, err
        assert len([ln for ln in p.stderr.splitlines() if ln.startswith("error:")]) == 1
    assert kt.db_fingerprint(db) == before, "the database changed"
    assert not (tmp_path / "never.duckdb").exists(), "a database was created"


@pytest.mark.cluster
@pytest.mark.skipif(not HAS_DISTRIBUTED, reason="the cluster extra is not installed")
def test_config_address_and_environment_and_flag_precedence(tmp_path, monkeypatch):
    from pipelines.config import ConfigError, load_settings

    cfg = tmp_path / "footfall.toml"
    cfg.write_text('[cluster]\naddress = "tcp://10.0.0.5:8786"\n')
    monkeypatch.delenv("FOOTFALL_CLUSTER", raising=False)
    assert load_settings(cfg).cluster == "tcp://10.0.0.5:8786"
    monkeypatch.setenv("FOOTFALL_CLUSTER", "tcp://10.0.0.6:8786")
    s = load_settings(cfg)
    assert s.cluster == "tcp://10.0.0.6:8786"
    assert s.with_overrides(cluster="tcp://flag:1").cluster == "tcp://flag:1"
    cfg.write_text("[cluster]\naddress = 8786\n")
    with pytest.raises(ConfigError, match=r"\[cluster\] address"):
        load_settings(cfg)


def test_missing_cluster_extra_says_the_pip_line(monkeypatch):
    """Without dask.distributed, --cluster says what to install (no ImportError traceback)."""
    from pipelines import cluster as cl

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(cl.ClusterError) as e:
        cl.connect("tcp://127.0.0.1:8786")
    assert "pip install -e '.[cluster]'" in str(e.value)


@pytest.mark.cluster
@pytest.mark.skipif(not HAS_DISTRIBUTED, reason="the cluster extra is not installed")
def test_a_worker_killed_mid_sync_its_tasks_run_elsewhere(export, cluster, local_sync, tmp_path):
    """SIGKILL one worker process while the sync decodes: distributed runs its tasks on the other
    worker (a nanny restarts the killed one) and the sync lands the same rows."""
    import psutil

    folder, _ = export
    local_db, _ = local_sync
    db = tmp_path / "killed.duckdb"
    before = cluster.executed()
    p = subprocess.Popen(kt.footfall_cmd() + ["sync", str(folder), "--db", str(db), "--json",
                                              "--cluster", cluster.address],
                         env=cluster.env, cwd=cluster.tmp, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    victim = None
    deadline = time.monotonic() + 300
    while victim is None and time.monotonic() < deadline and p.poll() is None:
        now = cluster.executed()
        if sum(n for _, n in now.values()) > sum(n for _, n in before.values()):
            # the worker process (the nanny's child) of worker0
            nanny = psutil.Process(cluster.procs[1].pid)
            kids = [k for k in nanny.children(recursive=True)
                    if "resource_tracker" not in " ".join(k.cmdline())]
            if kids:
                victim = kids[-1]
                victim.kill()
        time.sleep(0.2)
    out, err = p.communicate(timeout=900)
    if victim is None:
        pytest.skip("the sync ended before a worker could be killed mid-sync (a fast machine)")
    assert p.returncode == 0, err[-3000:]
    local = fingerprint(local_db)
    differ = {t: v for t, v in fingerprint(db).items() if local[t] != v}
    assert not differ, differ
    cluster.wait_for(2)  # the nanny restarted it: the next test has two workers again


@pytest.mark.cluster
@pytest.mark.skipif(not HAS_DISTRIBUTED, reason="the cluster extra is not installed")
def test_a_worker_with_other_decoding_code_is_refused_before_anything_is_written(
        export, cluster, tmp_path):
    """A worker importing another footfall (here: a copy whose ingest/decode.py differs by one
    comment, first on its PYTHONPATH) would land other rows: the sync stops with one line naming
    it, exit 1, no database created."""
    folder, _ = export
    alt = tmp_path / "alt"
    for pkg in ("ingest", "models", "pipelines", "synth"):
        shutil.copytree(ROOT / pkg, alt / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    decode = alt / "ingest" / "decode.py"
    decode.write_text(decode.read_text() + "\n# another version of the decoder\n")
    env = dict(cluster.env, PYTHONPATH=str(alt))
    other = LocalCluster(tmp_path, env, n_workers=1)
    try:
        with other.client() as c:  # the worker imports the copy
            where = c.run(lambda: __import__("ingest.decode").decode.__file__)
        assert all(str(alt) in w for w in where.values()), where
        db = tmp_path / "never.duckdb"
        p = kt.run_cli(["sync", str(folder), "--db", str(db), "--cluster", other.address],
                       cluster.env, cluster.tmp, timeout=300)
    finally:
        other.stop()
    err = " ".join(p.stderr.split())
    assert p.returncode == 1, err
    assert "run a different footfall than this machine" in err and "code " in err, err
    assert "Traceback" not in err
    assert not db.exists()
