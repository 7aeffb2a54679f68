"""A real PostgreSQL server for the team-mode tests (Debian's ``postgresql`` package).

``PostgresServer`` runs initdb in a temp folder, starts ``postgres`` on 127.0.0.1 and a free port
(its socket in the same folder, trust auth on loopback), creates databases, and stops it. initdb
refuses to run as root: as root the server runs as the ``postgres`` user (``runuser``), which owns
the temp folder. Nothing is mocked.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def pg_bindir() -> Path | None:
    """The folder of initdb/pg_ctl/postgres: $PG_BINDIR, else Debian's newest, else PATH."""
    env = os.environ.get("PG_BINDIR")
    if env and (Path(env) / "initdb").is_file():
        return Path(env)
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """``with PostgresServer() as pg: pg.createdb("x"); pg.conninfo("x")``."""

    def __init__(self, bindir: Path | None = None):
        self.bindir = bindir or pg_bindir()
        if self.bindir is None:
            raise FileNotFoundError("PostgreSQL's initdb not found (install Debian's postgresql)")
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="footfall-pg-"))
        self.data = self.root / "data"
        self.user = "postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, user="postgres")
        self.root.chmod(0o755)

    def _run(self, *cmd: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([*self._as, *cmd], check=True, capture_output=True, text=True,
                              timeout=120, **kw)

    def start(self) -> PostgresServer:
        b = self.bindir
        self._run(str(b / "initdb"), "-D", str(self.data), "-U", self.user, "-A", "trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")
        opts = (f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
        self._run(str(b / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l",
                  str(self.root / "server.log"), "-w", "-t", "60", "start")
        return self

    def createdb(self, name: str) -> str:
        self._run(str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", self.user, name)
        return self.conninfo(name)

    def conninfo(self, dbname: str) -> str:
        return f"dbname={dbname} host=127.0.0.1 port={self.port} user={self.user}"

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
