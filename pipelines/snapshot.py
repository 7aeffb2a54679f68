"""The analysts' read-only snapshot: a copy of the database published after every command that
changes it, so analysts query while syncs run (issue 16).

DuckDB locks a file per process: while any other process has ``footfall.duckdb`` open, even
read-only, footfall's writer is refused (it waits ``lock_wait_s``, then fails). So the embedded
default stays one DuckDB file that only footfall's writer opens, and every command that changes
it (``footfall sync``, ``build``, the runner's log, shoes, plan and activity statements) ends by
publishing ``footfall.snapshot.duckdb`` beside it (``snapshot_path``), which analysts open
read-only. The writer never opens the snapshot, so a reader holding it for hours never makes a
sync wait.

Publishing (``publish``), with the writer's connection still open: ``CHECKPOINT`` (the WAL is
written into the file, which is then complete on its own), copy the file to a temp name in the
snapshot's folder (``copy_file``: a reflink where the filesystem shares blocks, btrfs or XFS,
else the kernel's ``copy_file_range``, else ``shutil.copyfile``), fsync it, and ``os.replace`` it
onto the snapshot path. The rename is atomic: a reader that has the old snapshot
open keeps its inode and sees the old state; a new open sees the new state; never half of one.
A snapshot is the state after a completed command: a sync publishes once, after its last batch,
its models and its ``sync_runs`` row (which tells when), never between batches.

A publish that fails (a full disk, a read-only folder, a folder at the snapshot path) is a warning
on stderr: the command's data is already committed, the previous snapshot stays as it was and the
temp file is removed. Config: ``[analysts] snapshot = false`` publishes nothing;
``[analysts] snapshot_path = "..."`` puts it elsewhere (e.g. a shared folder).

The other candidate was a local DuckLake (SQLite catalog, Parquet files beside it): it needs
duckdb 1.5.5 (DuckDB 2.0 has no offline DuckLake, and a file written by 2.0.1 cannot be read by
1.5.5, so existing users' files would break), its writers need retries ("database is locked"),
and every landed batch becomes Parquet files. The snapshot keeps the one-file default and its
speed; a team that needs several writers uses DuckLake on PostgreSQL (README "For teams").
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from pathlib import Path

import duckdb

from pipelines import db as dbm
from pipelines.db import SNAPSHOT_SUFFIX, default_snapshot_path  # noqa: F401 - the name's one definition

#: database targets that are not one local file (an in-memory database, a lake): no snapshot
_NOT_A_FILE = (":memory:", "ducklake:", "postgres:", "postgresql:", "md:")


def is_local_file(db_path: str | Path) -> bool:
    text = str(db_path)
    return not (text.startswith(_NOT_A_FILE) or "://" in text)


def snapshot_path(db_path: str | Path, settings=None) -> Path:
    """Where the analysts' snapshot of ``db_path`` is published: ``[analysts] snapshot_path`` when
    the config sets it, else ``<stem>.snapshot.duckdb`` beside the database."""
    configured = getattr(settings, "snapshot_path", None)
    if configured is not None:
        return Path(configured)
    return default_snapshot_path(db_path)


def publish(con: duckdb.DuckDBPyConnection, db_path: str | Path, settings) -> Path | None:
    """Publish the snapshot of ``db_path`` from the writer's open connection ``con`` (no
    transaction open in it). Returns the snapshot's path, or None when publishing is off
    (``[analysts] snapshot = false``), the database is not one local file, or it failed (then a
    warning on stderr; never raises: the command's data is committed)."""
    if not getattr(settings, "snapshot", True) or not is_local_file(db_path):
        return None
    target = snapshot_path(db_path, settings)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        if target.exists() and Path(db_path).exists() and target.samefile(db_path):
            raise OSError(f"it is the database itself ({db_path})")
        con.execute("CHECKPOINT")  # the WAL into the file: the file alone holds every commit
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_file(db_path, tmp)
        shutil.copymode(db_path, tmp)  # a private database (health data) gives a private snapshot
        _fsync(tmp)
        os.replace(tmp, target)
        _fsync(target.parent)  # the rename itself survives a power cut
        return target
    except (OSError, duckdb.Error) as err:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        warn(target, db_path, err)
        return None


#: Linux ``FICLONE`` ioctl (``_IOW(0x94, 9, int)``): the destination shares the source's blocks.
FICLONE = 0x40049409
#: errors after which the next way of copying is tried (the filesystem or kernel cannot do it)
_CANNOT = {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL, errno.EBADF,
           errno.EPERM, errno.ETXTBSY}
_CANNOT.add(getattr(errno, "ENOTSUP", errno.EOPNOTSUPP))


def copy_file(src: str | Path, dst: str | Path) -> str:
    """Copy ``src`` to a new file ``dst`` as cheaply as the filesystem allows; returns how:

    - ``"reflink"``: the ``FICLONE`` ioctl (btrfs, XFS with reflink, bcachefs, ZFS 2.2+ on
      Linux): the snapshot shares the database's blocks, nothing is written (milliseconds for
      any size; later writes to the database copy only the blocks they change);
    - ``"copy_file_range"``: the kernel copies (and may reflink or copy server-side on NFS);
    - ``"copyfile"``: ``shutil.copyfile`` (``sendfile`` on Linux, ``fcopyfile`` on macOS).

    Each way falls through to the next only when it cannot copy at all (another filesystem,
    not supported); a real error (a full disk) is raised."""
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        if hasattr(os, "copy_file_range"):  # Linux
            try:
                import fcntl

                fcntl.ioctl(fo.fileno(), FICLONE, fi.fileno())
                return "reflink"
            except (ImportError, OSError) as err:
                if isinstance(err, OSError) and err.errno not in _CANNOT:
                    raise
            size, done = os.fstat(fi.fileno()).st_size, 0
            try:
                while done < size:
                    n = os.copy_file_range(fi.fileno(), fo.fileno(), size - done, done, done)
                    if n == 0:
                        break
                    done += n
                if done == size:
                    return "copy_file_range"
            except OSError as err:
                if err.errno not in _CANNOT:
                    raise
            fo.seek(0)
            fo.truncate()
    shutil.copyfile(src, dst)
    return "copyfile"


def publish_db(db_path: str | Path, settings) -> Path | None:
    """``publish`` for a command whose own connection is closed (the sync flow, after its last
    task): open the database for writing once more (waiting for it like every footfall open),
    publish, close. Never raises."""
    if not getattr(settings, "snapshot", True) or not is_local_file(db_path):
        return None
    try:
        with dbm.connection(db_path, wait_s=settings.lock_wait_s) as con:
            return publish(con, db_path, settings)
    except (OSError, duckdb.Error, dbm.DatabaseBusy, dbm.DatabaseError) as err:
        warn(snapshot_path(db_path, settings), db_path, err)
        return None


def publish_missing(db_path: str | Path, settings) -> Path | None:
    """A command that changed nothing (a sync with no changed file) publishes the snapshot only
    when there is none yet (a database from before the snapshot, or a deleted one): one stat
    otherwise."""
    if (not getattr(settings, "snapshot", True) or not is_local_file(db_path)
            or not Path(db_path).is_file() or snapshot_path(db_path, settings).exists()):
        return None
    return publish_db(db_path, settings)


def warn(target: Path, db_path: str | Path, err: BaseException) -> None:
    reason = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, OSError) and err.strerror:
        reason = err.strerror
    print(f"warning: could not publish the analysts' snapshot {target}: {reason}; the data is saved "
          f"in {db_path}; analysts still see the previous snapshot (if any). Free the space or fix "
          f"[analysts] snapshot_path in the config; the next sync or `footfall build` publishes it.",
          file=sys.stderr, flush=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
