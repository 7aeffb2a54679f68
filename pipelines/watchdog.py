"""Nothing a killed ``footfall`` started outlives it by more than a second or so.

A ``footfall sync`` (also ``build``, ``demo``) starts children: Prefect's temporary API server
(a ``uvicorn`` subprocess that Prefect stops from an ``atexit`` hook), the decode workers of the
process pool, and multiprocessing's resource tracker. A normal exit, an error or Ctrl-C stops
them. SIGKILL (``kill -9``, the OOM killer, a CI or systemd timeout) runs nothing in footfall, and
they lived on: the decode workers wait forever on a queue whose write end they hold themselves,
the resource tracker waits for them, and the server serves nobody (four processes, ~650 MB, for
minutes).

``start()`` (the CLI calls it when ``footfall`` is the process's own command, before a flow
runs) puts a random token in this process's environment, ``FOOTFALL_WATCHDOG_TOKEN``, which
every child started from then on inherits (``spawn`` workers, the resource tracker and Prefect's
server are all started with this environment), and starts ``python -m pipelines.watchdog PID
TOKEN`` in a session of its own (so a Ctrl-C in the terminal leaves the clean-up to footfall
itself). The watchdog sleeps, polling ``os.getppid()`` every 0.2 s: its parent is footfall, and
when footfall dies it is re-parented at once (even while footfall is still an unreaped zombie,
which ``kill(pid, 0)`` would call alive). Then it sends SIGTERM to every live process whose
environment holds the token, SIGKILL to those still there 1 s later, looks once more (a child
being started at that moment shows its environment only once it has exec'd), and exits. After a
normal exit the same sweep finds nothing left.

Why not the alternatives: ``PR_SET_PDEATHSIG`` (Linux ``prctl``) fires when the *thread* that
started a child ends, and Prefect's server is started by Prefect's code, not ours; a
``getppid()``-polling thread inside each worker would not cover that server. The token reaches
every process footfall starts, whatever starts it, and ``psutil`` reads environments on Linux,
macOS and the BSDs and checks a PID was not reused before signalling it. Where the watchdog
cannot work (not POSIX, no psutil) ``start()`` does nothing and footfall behaves as before.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

ENV = "FOOTFALL_WATCHDOG_TOKEN"
POLL_S = 0.2
#: SIGTERM first (Prefect's server shuts down cleanly), SIGKILL what is left after this long
TERM_GRACE_S = 1.0

_started: subprocess.Popen | None = None


def start() -> subprocess.Popen | None:
    """Start the watchdog for this process (once); None where it cannot work."""
    global _started
    if _started is not None:
        return _started
    if os.name != "posix":
        return None
    try:
        import psutil  # noqa: F401  (checked here: the watchdog needs it)
    except ImportError:
        return None
    token = uuid.uuid4().hex
    os.environ[ENV] = token  # a footfall started by another footfall gets a token of its own
    _started = subprocess.Popen(
        [sys.executable, "-m", "pipelines.watchdog", str(os.getpid()), token],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True,
    )
    return _started


def _marked(token: str) -> list:
    import psutil

    me = os.getpid()
    out = []
    for p in psutil.process_iter():
        try:
            if p.pid != me and p.environ().get(ENV) == token and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except (psutil.Error, OSError):  # gone, or not ours to read
            continue
    return out


def sweep(token: str) -> int:
    """Stop every live process that carries ``token``; return how many there were."""
    import psutil

    victims = _marked(token)
    for p in victims:
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(victims, timeout=TERM_GRACE_S)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    return len(victims)


def watch(parent_pid: int, token: str) -> None:
    """Wait for ``parent_pid`` (this process's parent) to end, then stop what it left behind."""
    while os.getppid() == parent_pid:
        time.sleep(POLL_S)
    sweep(token)
    time.sleep(POLL_S)
    sweep(token)


if __name__ == "__main__":
    watch(int(sys.argv[1]), sys.argv[2])
