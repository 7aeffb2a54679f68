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
Since issue 17 a publish first tries to patch the spare instead (``_publish_in_place``): the
snapshot before the last one, kept beside it as ``.<name>.spare`` (the copy keeps the snapshot it
replaces under that name). When no process has the spare open (every DuckDB connection holds a
lock on its file), the chunks of it that differ from the database are rewritten (a one-file
sync changes ~20 MB of the 5-year bench's 437 MB), it is fsynced, then swapped with the snapshot
in one ``renameat2(RENAME_EXCHANGE)`` (Linux, on a local filesystem: ``IN_PLACE_FILESYSTEMS``;
a shared folder gets the copy): the same atomic switch as the rename, without
writing, fsyncing and deleting the whole file. An analyst holding a snapshot keeps it intact: a
held spare is never patched (the whole file is copied then). The cost: the spare's disk space,
one more copy of the database beside the snapshot; and a program that reads the snapshot without
DuckDB's lock (``cp``, a backup) and is still reading it two publishes later reads a mix.
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
import struct
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
    keep = target.with_name(f".{target.name}.keep-{os.getpid()}")
    try:
        if target.exists() and Path(db_path).exists() and target.samefile(db_path):
            raise OSError(f"it is the database itself ({db_path})")
        con.execute("CHECKPOINT")  # the WAL into the file: the file alone holds every commit
        target.parent.mkdir(parents=True, exist_ok=True)
        if not _publish_in_place(Path(db_path), target):  # else the whole file, copied:
            copy_file(db_path, tmp)
            shutil.copymode(db_path, tmp)  # a private database (health data) gives a private snapshot
            _fsync(tmp)
            # the snapshot being replaced becomes the spare the next publish patches
            kept = target.exists() and _link(target, keep)
            os.replace(tmp, target)
            if kept:
                os.replace(keep, spare_path(target))
        _fsync(target.parent)  # the rename itself survives a power cut
        return target
    except (OSError, duckdb.Error) as err:
        for leftover in (tmp, keep):
            try:
                leftover.unlink(missing_ok=True)
            except OSError:
                pass
        warn(target, db_path, err)
        return None


def _link(src: Path, dst: Path) -> bool:
    """A second name for ``src`` (False where the filesystem has no hard links)."""
    try:
        dst.unlink(missing_ok=True)
        os.link(src, dst)
        return True
    except (OSError, AttributeError, NotImplementedError):
        return False


#: The spare beside the snapshot (``spare_path``): the snapshot before the last one, patched in place
#: into the next one when no reader holds it (``_publish_in_place``).
SPARE_SUFFIX = ".spare"
#: The unit compared and rewritten when the spare is patched (DuckDB's blocks are 256 KiB).
PATCH_CHUNK_BYTES = 1 << 20
#: ``renameat2`` flag: swap two paths atomically (Linux 3.15+; ext4, XFS, btrfs, tmpfs, ...).
RENAME_EXCHANGE = 2


#: Local filesystems with RENAME_EXCHANGE whose locks every reader of the file shares: a shared
#: folder (NFS, SMB, FUSE) may hold readers on other machines whose locks this one may not see,
#: so the snapshot is copied there as before.
IN_PLACE_FILESYSTEMS = frozenset({"ext4", "ext3", "xfs", "btrfs", "tmpfs", "f2fs", "bcachefs"})


def filesystem_type(folder: Path) -> str | None:
    """The type of the filesystem ``folder`` is on (Linux ``/proc/self/mountinfo``: the mount
    with the longest matching mount point), None when unknown."""
    try:
        where = os.path.realpath(folder)
        best, kind = "", None
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                left, _, right = line.partition(" - ")
                fields = left.split()
                if len(fields) < 5 or not right:
                    continue
                mount = fields[4].replace("\\040", " ")
                inside = where == mount or where.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best):
                    best, kind = mount, right.split()[0]
        return kind
    except OSError:
        return None


def spare_path(target: Path) -> Path:
    return target.with_name(f".{target.name}{SPARE_SUFFIX}")


def _exchange(a: Path, b: Path) -> None:
    """Swap the files at ``a`` and ``b`` in one step (``renameat2(RENAME_EXCHANGE)``); OSError
    (ENOSYS/EINVAL/...) where the system or filesystem cannot."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        raise OSError(errno.ENOSYS, "no renameat2")
    at_fdcwd = -100
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _publish_in_place(db_path: Path, target: Path) -> bool:
    """Publish by patching the spare (the snapshot before the last one) into a copy of the
    database and swapping it with the snapshot: True when done; False when it cannot be used
    (no spare yet, not Linux, a reader holds the spare, a filesystem without RENAME_EXCHANGE),
    and then ``publish`` copies the whole file as before.

    A one-file sync changes ~20 MB of a 437 MB database (issue 17): the spare's chunks are
    compared with the database's and only those that differ are rewritten and fsynced, instead
    of writing (and fsyncing, and later deleting) 437 MB. The spare is patched only when no
    process holds it: every DuckDB connection holds a lock on its file, so an exclusive lock
    taken here (an open file description's: it sees this process's connections too) means no
    analyst has it open (one who opened the snapshot before the last
    swap holds it and keeps it intact: the copy is used then). The patched spare is complete and
    fsynced before the swap, so a reader opening the snapshot sees the old state or the new one,
    never half; after the swap the spare is the previous snapshot (which readers may still hold).
    """
    spare = spare_path(target)
    if not (sys.platform.startswith("linux") and struct.calcsize("P") == 8) or not spare.is_file() \
            or not target.is_file() or filesystem_type(target.parent) not in IN_PLACE_FILESYSTEMS:
        return False
    import fcntl

    if not hasattr(fcntl, "F_OFD_SETLK"):
        return False
    try:
        if spare.samefile(target) or spare.samefile(db_path):  # other names of a live file
            return False
        fd = os.open(spare, os.O_RDWR)
    except OSError:
        return False
    try:
        try:
            # an open-file-description lock: it conflicts with DuckDB's POSIX lock in another
            # process and in this one too (a POSIX lock would not see this process's readers)
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
        except OSError:
            return False  # a reader (an analyst's DuckDB) has it open
        src = os.open(db_path, os.O_RDONLY)
        try:
            size = os.fstat(src).st_size
            a, b = bytearray(PATCH_CHUNK_BYTES), bytearray(PATCH_CHUNK_BYTES)
            off = 0
            while off < size:
                n = os.preadv(src, [a], off)
                if n <= 0:
                    raise OSError(errno.EIO, f"{db_path} ended at byte {off} of {size}")
                m = os.preadv(fd, [b], off)
                same = (a == b) if n == m == PATCH_CHUNK_BYTES else bytes(a[:n]) == bytes(b[:m])
                if not same:
                    chunk = memoryview(a)[:n]
                    while chunk:
                        w = os.pwrite(fd, chunk, off + n - len(chunk))
                        chunk = chunk[w:]
                off += n
            os.ftruncate(fd, size)
        finally:
            os.close(src)
        os.fchmod(fd, os.stat(db_path).st_mode & 0o7777)  # a private database: a private snapshot
        os.fsync(fd)
    except OSError:
        os.close(fd)
        fd = -1
        try:
            spare.unlink(missing_ok=True)  # half patched: of no use; the copy follows
        except OSError:
            pass
        return False
    finally:
        if fd >= 0:
            os.close(fd)  # the lock goes with it, before the swap (readers lock the new snapshot)
    try:
        _exchange(spare, target)
    except OSError:
        return False
    return True


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
