"""Decoding on a Dask cluster: ``footfall sync PATHS --cluster tcp://HOST:PORT``.

The sync's flow is the same as with the local process pool (``pipelines/sync.py``): the main
process discovers, reads and hashes the files, sends each chunk of new files to a decode worker
(``pipelines.work.decode_batch``), and lands what comes back, one batch at a time, as the one
writer. With ``--cluster`` the workers are Dask workers instead of local processes: this module
connects to the scheduler (``distributed.Client``), checks that every worker runs the same
footfall, and gives ``sync.make_executor`` a ``concurrent.futures.Executor`` over the cluster.

Workers get the bytes the main process read, not the paths (footfall choice): the main process
must read every file anyway (its sha256 is the file's id, and a file already landed is skipped
before any decoding), archive members have no path a worker could open, and the bytes decoded are
then exactly the bytes hashed (a file rewritten between the read and the decode cannot land under
another file's id). So the workers need footfall installed, not the files: no shared storage. The
cost is the upload of the raw files (a FIT file is ~10x smaller than the frames a worker sends
back).

No prefect and no duckdb here: the workers import this module for the version probe.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import hashlib
import os
import threading
from pathlib import Path

#: Seconds to wait for the scheduler to answer (footfall choice: an address that does not answer
#: fails the sync before anything is decoded, instead of Dask's default 30 s).
CONNECT_TIMEOUT_S = 10.0
#: Seconds to wait for the cluster's first worker when it has none yet (footfall choice).
WORKER_WAIT_S = 10.0

#: Seconds to wait for the scheduler when closing the client (footfall choice).
CLOSE_TIMEOUT_S = 5.0

INSTALL_LINE = "pip install 'footfall[cluster]' (from a checkout: pip install -e '.[cluster]')"

#: Source folders whose code decides what a worker returns (the version probe hashes them).
_DECODE_CODE = ("ingest", "models", "pipelines/work.py", "pipelines/cluster.py")


class ClusterError(RuntimeError):
    """The Dask cluster cannot be used (not installed, not reachable, a different footfall on a
    worker, lost mid-sync): one line saying so and what to do."""


@functools.lru_cache(maxsize=1)
def _code_version() -> tuple[tuple[str, str], ...]:
    return tuple(code_version_now().items())


def code_version() -> dict[str, str]:
    """``code_version_now`` once per process (a worker's first answer: close to the code it
    imported, even when the files change under a running worker)."""
    return dict(_code_version())


def code_version_now() -> dict[str, str]:
    """What a worker's results depend on: footfall's version, a hash of its decoding code
    (``ingest/``, ``models/``, ``pipelines/work.py``), Python's and polars' versions. Run on
    every worker (``Client.run``) and compared with the main process's."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import polars

    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for part in _DECODE_CODE:
        p = root / part
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p]
        for f in files:
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    try:
        ff = version("footfall")
    except PackageNotFoundError:
        ff = "not installed"
    return {"footfall": ff, "code": h.hexdigest()[:16], "python": platform.python_version(),
            "polars": polars.__version__}


def _import_distributed():
    try:
        import distributed
    except ImportError as err:
        raise ClusterError(f"--cluster needs the cluster extra (dask.distributed), which is not "
                           f"installed here: {INSTALL_LINE}") from err
    return distributed


def connect(address: str, *, timeout_s: float = CONNECT_TIMEOUT_S):
    """A ``distributed.Client`` on ``address``, its workers checked (``check_workers``); raises
    ``ClusterError`` with one line when that fails (nothing decoded, nothing written)."""
    distributed = _import_distributed()
    import dask

    _probe(address, timeout_s)
    try:
        # quiet: a scheduler that does not answer is said once, by ClusterError, not by Dask's logs
        with dask.config.set({"distributed.comm.timeouts.connect": f"{timeout_s}s"}):
            client = distributed.Client(address, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise _unreachable(address, f"{type(err).__name__}: {_first_line(err)}") from err
    try:
        check_workers(client, address)
    except BaseException:
        close(client)
        raise
    return client


def _unreachable(address: str, why: str) -> ClusterError:
    return ClusterError(
        f"cannot reach the Dask scheduler at {address} ({why}); start it with `dask scheduler` and "
        f"a worker with `dask worker {address}`, or sync without --cluster (nothing was decoded "
        f"or written)")


def _probe(address: str, timeout_s: float) -> None:
    """Fail at once on an address that is not one or where nothing listens (Dask's own connect
    retries a refused port until its timeout); a TCP connect, closed at once."""
    import socket

    from distributed.comm import get_address_host_port

    try:
        host, port = get_address_host_port(address)
    except (ValueError, TypeError) as err:
        raise ClusterError(f"--cluster {address!r} is not a Dask scheduler address: "
                           f"{_first_line(err)} (e.g. tcp://HOST:8786)") from err
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as err:
        raise _unreachable(address, f"{type(err).__name__}: {err.strerror or _first_line(err)}") from err


def check_workers(client, address: str, *, wait_s: float = WORKER_WAIT_S) -> dict[str, dict]:
    """Every worker of the cluster runs this footfall (``code_version`` equal to ours); at least
    one worker. Raises ``ClusterError`` naming the workers that differ."""
    try:
        client.wait_for_workers(1, timeout=wait_s)
    except (TimeoutError, OSError) as err:
        raise ClusterError(f"the Dask scheduler at {address} has no worker (waited {wait_s:.0f} s): "
                           f"start one with `dask worker {address}` on each machine") from err
    from importlib.metadata import version

    # first: is footfall there at all? (importlib's own function: unpickles on any worker)
    installed = client.run(version, "footfall", on_error="return")
    missing = sorted(w for w, v in installed.items() if isinstance(v, BaseException))
    if missing:
        raise ClusterError(f"footfall is not installed on the Dask worker(s) {', '.join(missing)}: "
                           f"install the same footfall there (pip install -e '.[cluster]' from the "
                           f"same checkout) and restart `dask worker`")
    ours = code_version()
    theirs = client.run(code_version, on_error="return")
    bad = {w: v for w, v in theirs.items() if v != ours}
    if bad:
        w, v = sorted(bad.items())[0]
        what = (f"{type(v).__name__}: {_first_line(v)}" if isinstance(v, BaseException)
                else ", ".join(f"{k} {v[k]} (here {ours[k]})" for k in ours if v.get(k) != ours[k]))
        raise ClusterError(f"{len(bad)} Dask worker(s) run a different footfall than this machine "
                           f"({w}: {what}); install the same footfall version on every worker and "
                           f"restart them")
    return theirs


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


# --------------------------------------------------------------------------- the executor


class ClusterExecutor(cf.Executor):
    """A ``concurrent.futures.Executor`` over a Dask client (``client.get_executor``) for
    ``sync.submit_chunks``: ``_max_workers`` is the cluster's thread count (how the batch is
    chunked), a lost cluster or a worker killed too often becomes ``ClusterError``, and
    ``shutdown`` closes the client when this executor opened it."""

    def __init__(self, client, address: str, *, owns_client: bool):
        self._client = client
        self._address = address
        self._owns = owns_client
        self._inner = client.get_executor(pure=False)
        self._max_workers = max(1, sum(client.nthreads().values()))
        self._shut = False
        self._lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs):
        inner = self._inner.submit(fn, *args, **kwargs)
        out: cf.Future = cf.Future()
        out.set_running_or_notify_cancel()

        def done(f: cf.Future) -> None:
            if f.cancelled():
                out.set_exception(self._lost("its tasks were cancelled (the scheduler went away)"))
                return
            err = f.exception()
            if err is None:
                out.set_result(f.result())
            elif type(err).__name__ in ("KilledWorker", "CommClosedError", "FutureCancelledError",
                                        "CancelledError"):
                out.set_exception(self._lost(f"{type(err).__name__}: {_first_line(err)}"))
            else:
                out.set_exception(err)

        inner.add_done_callback(done)
        return out

    def _lost(self, why: str) -> ClusterError:
        return ClusterError(f"the Dask cluster at {self._address} failed mid-sync ({why}); the "
                            f"batches already landed stay: run the same sync again to continue")

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if self._shut:
                return
            self._shut = True
        if self._client.status == "running":  # a lost scheduler: nothing to cancel or wait for
            with contextlib.suppress(Exception):
                self._inner.shutdown(wait=wait and not cancel_futures)
        if self._owns:
            close(self._client)


def close(client) -> None:
    """Close a client without waiting long for a scheduler that is gone."""
    with contextlib.suppress(Exception):
        client.close(timeout=CLOSE_TIMEOUT_S)


def _quiet_dask_logs() -> None:
    """Dask's client logs a lost scheduler with a traceback on stderr; footfall says it in one
    line (``ClusterError``). ``--debug`` (FOOTFALL_DEBUG) keeps Dask's logs."""
    import logging

    if os.environ.get("FOOTFALL_DEBUG", "").strip().lower() in ("", "0", "false", "no"):
        logging.getLogger("distributed").setLevel(logging.CRITICAL)


#: Clients connected by ``session`` (the CLI, before the flow starts), by address: the flow's
#: executor uses them instead of connecting again.
_SESSIONS: dict[str, object] = {}


@contextlib.contextmanager
def session(address: str | None):
    """Connect to ``address`` (and check its workers) for the length of a sync; the flow's
    ``executor`` reuses the client; closed at the end. ``None``: no cluster, nothing done."""
    if not address:
        yield None
        return
    _quiet_dask_logs()
    client = connect(address)
    _SESSIONS[address] = client
    try:
        yield client
    finally:
        _SESSIONS.pop(address, None)
        close(client)


def executor(address: str) -> ClusterExecutor:
    """The decode executor on the cluster at ``address``: the CLI's ``session`` client when
    there is one, else a new client (a flow run from a deployment), closed at shutdown."""
    client = _SESSIONS.get(address)
    if client is not None:
        return ClusterExecutor(client, address, owns_client=False)
    return ClusterExecutor(connect(address), address, owns_client=True)
