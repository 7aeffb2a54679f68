"""Find the activity files in folders and exports, opening .gz and .zip (nested) in memory, safely.

``discover(paths)`` = ``list_sources(paths)`` (a cheap walk: path, size, mtime; nothing read but a
Strava ``activities.csv``) followed by ``iter_source(source)`` for each on-disk source, which
yields one ``FoundFile`` (decompressed bytes), ``Problem`` or ``ExportRow`` at a time. The caller
hashes the bytes (``ingest.decode.file_id_of``) and decodes them; a parallel decoder calls
``iter_source`` per source and merges the ``Summary`` objects.

What is read (by name, case-insensitive):

- ``.fit .gpx .tcx`` and the same with ``.gz``;
- ``.zip`` archives at any depth up to ``max_depth`` (Garmin "Export Your Data":
  ``DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_0-_Part1.zip`` holding FIT files), with
  ``.gz`` members inside;
- Strava bulk exports (``export_<id>.zip`` or its extracted folder): ``activities.csv`` is read
  first and each row is attached to its file as ``export_meta``; a row with no file (a manual
  entry, or a file missing from the export) is yielded as an ``ExportRow`` item. In a folder the
  csv is a source of its own (kind ``export_csv``: its rows without a file, or a ``Problem`` when
  it cannot be read), so an unchanged csv is skipped like any other source.

Everything else is skipped and counted by extension in ``Summary.skipped_by_ext`` (photos,
Garmin's JSON summaries, ``.tar``/``.7z``/``.rar`` archives, macOS ``__MACOSX``/``._*`` metadata).
An activity name with a compression footfall does not open (``run.fit.bz2``, ``.gpx.xz``) is a
``Problem`` (``UnsupportedFormat``) so the user sees it. A zero-byte file (or a .gz/zip member
that expands to nothing, or a zip with no entries) is a ``Problem`` (``EmptyFile``).

Safety: archive members are never extracted to a path taken from the archive. Activity members
are read into memory one at a time, capped at ``max_member_bytes`` decompressed bytes; a zip
inside a zip is copied into an anonymous temporary file (in memory up to
``SPOOL_IN_MEMORY_BYTES``; the OS temp dir beyond, unlinked on close) capped at
``max_archive_bytes``, because ``zipfile`` needs random access. Member names with ``..``, absolute
paths, drive letters, or symlink entries are ``UnsafeArchiveMember`` problems and are not read.
Damaged containers are ``BadArchive`` problems carrying the backend error as ``__cause__``.

Budgets (``Limits``, ``SyncMeter``; defaults below, config keys of the same names): an activity
file's cap follows its content, sniffed from the first chunk read: ``max_fit_bytes`` for FIT
(a FIT header declaring more is refused at once), ``max_xml_bytes`` for GPX/TCX (their parsers
build the whole tree, so a larger file is refused, not streamed), else ``max_member_bytes``; an
on-disk file over its cap is refused after one chunk. Per on-disk source, all nesting levels
counted: ``max_archive_members`` zip entries (checked from each zip's end record before its
directory is loaded) and ``max_archive_read_bytes`` decompressed bytes (a 42.zip nest stops
there; a nested zip identical to one already read in the same source is not read again, so a
42.zip-style nest of identical copies costs one path per level). Per sync: ``max_sync_bytes``
decompressed bytes, after which zips and .gz files are left
for the next sync. Each refusal is a ``TooLarge`` problem whose reason names its config key.

Folders are walked in sorted name order (depth first); symlinked folders are followed once (a
link loop or a folder reached twice is noted in ``Summary.walk_errors``); the same on-disk file
reached twice (overlapping arguments, a symlink) is listed once.
"""

from __future__ import annotations

import csv
import gzip
import io
import lzma
import math
import os
import re
import stat
import struct
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ingest.errors import (
    ArchiveTooLarge,
    BadArchive,
    CorruptFile,
    EmptyFile,
    FileTooLarge,
    IngestError,
    UnreadableFile,
    UnsafeArchiveMember,
    SyncBudgetExceeded,
    UnsupportedFormat,
)

# Resource limits (safety guards, not analysis thresholds; callers override them per call, the
# sync from the config keys of the same names without DEFAULT_: pipelines/config.py). Real files
# and exports stay far below each: a Garmin "Export your data" zip is a few GB and tens of
# thousands of entries; a 24 h run at 1 Hz is ~7 MB as FIT, ~35 MB as GPX (~400 B per point,
# measured on the corpus), ~55 MB as TCX.
_MiB = 1024 * 1024
_GiB = 1024 * _MiB
DEFAULT_MAX_MEMBER_BYTES = 512 * _MiB  # one decompressed file of any content held in memory
DEFAULT_MAX_FIT_BYTES = 64 * _MiB  # one FIT file to decode (~10 days of 1 Hz records)
# one GPX/TCX to decode: gpxpy and ElementTree build the whole tree, ~12x the file in memory
# (a 20 MB 24 h GPX: +230 MB and 10 s; a 500 MB one peaked at 6.4 GiB), so larger files are
# refused rather than streamed
DEFAULT_MAX_XML_BYTES = 128 * _MiB  # ~90 h of a 1 Hz GPX; ~1.5 GB and ~1 min to parse
DEFAULT_MAX_ARCHIVE_BYTES = 4 * _GiB  # one zip inside a zip (spooled)
DEFAULT_MAX_DEPTH = 4  # zip levels: an on-disk zip is level 1
DEFAULT_MAX_ARCHIVE_MEMBERS = 500_000  # zip entries in one on-disk source, all levels
DEFAULT_MAX_ARCHIVE_READ_BYTES = 32 * _GiB  # decompressed from one on-disk source, all levels
DEFAULT_MAX_SYNC_BYTES = 64 * _GiB  # decompressed (zip and .gz) by one sync
DEFAULT_MAX_BATCH_BYTES = 256 * _MiB  # file bytes one sync batch holds before it decodes it
SPOOL_IN_MEMORY_BYTES = 64 * 1024 * 1024  # nested zips up to this stay in memory
MAX_EXPORT_CSV_BYTES = 256 * 1024 * 1024  # a Strava activities.csv
_CHUNK_BYTES = 1024 * 1024

ACTIVITY_SUFFIXES = (".fit", ".gpx", ".tcx")
# compressions footfall does not open; "<activity>.<one of these>" is reported, not skipped
_UNSUPPORTED_COMPRESSION = {".bz2", ".xz", ".lzma", ".zst", ".lz4", ".br", ".z", ".7z", ".rar"}
_COMPOUND_LAST = _UNSUPPORTED_COMPRESSION | {".gz", ".zip", ".tar"}
_MACOS_METADATA = "(macOS metadata: __MACOSX/, ._*)"
_SAME_ZIP = "(nested zip identical to one already read)"
EXPORT_CSV_NAME = "activities.csv"
STRAVA_EXPORT_SOURCE = "strava_activities_csv"

SkipSource = Callable[[Path, int, int], bool]  # (path, size_bytes, mtime_ns) -> skip unread?


# --------------------------------------------------------------------------------------------
# data model


@dataclass
class SourceFile:
    """One on-disk file to expand: an activity file, a .gz of one, or a .zip.

    ``kind`` is ``plain`` | ``gzip`` | ``zip`` | ``unsupported`` | ``export_csv``; ``size_bytes``
    and ``mtime_ns`` come from ``stat`` at listing time (symlinks followed). ``export_meta`` is
    set when the file sits in an extracted Strava export folder and ``activities.csv`` names it.
    An ``export_csv`` source (a Strava folder's activities.csv) carries what the listing found:
    ``export_rows`` (rows no file matched) or ``error`` (the csv could not be read).
    """

    path: Path
    size_bytes: int
    mtime_ns: int
    kind: str
    export_meta: dict | None = None
    export_rows: list[ExportRow] = field(default_factory=list)
    error: IngestError | None = None


@dataclass
class FoundFile:
    """One activity file's decompressed bytes and where they came from.

    ``member`` is ``None`` for an on-disk file (plain or .gz), else the '!'-joined chain of member
    names inside the archive at ``path`` (``'DI_CONNECT/.../UploadedFiles_0-_Part1.zip!1.fit'``).
    ``name`` is the leaf name without ``.gz``. ``size_bytes`` = ``len(data)``;
    ``source_size_bytes`` / ``source_mtime_ns`` describe the on-disk ``path``.
    """

    path: Path
    member: str | None
    name: str
    data: bytes = field(repr=False)
    size_bytes: int
    source_size_bytes: int
    source_mtime_ns: int
    export_meta: dict | None = None

    @property
    def location(self) -> str:
        return _location(self.path, self.member)


@dataclass
class Problem:
    """Something at ``path`` (``member`` inside an archive) that could not be delivered."""

    path: Path
    member: str | None
    error: IngestError

    @property
    def location(self) -> str:
        return _location(self.path, self.member)

    @property
    def error_class(self) -> str:
        return self.error.error_class

    @property
    def reason(self) -> str:
        """The error's message, with the backend's error appended when it adds something."""
        return error_reason(self.error)


def error_reason(err: IngestError) -> str:
    """``str(err)`` plus its ``__cause__`` (class and message) when that adds something."""
    reason = str(err) or err.error_class
    cause = err.__cause__
    if cause is not None and str(cause) and str(cause) not in reason:
        reason = f"{reason} ({type(cause).__name__}: {cause})"
    return reason


@dataclass
class ExportRow:
    """A row of an export's activity list (Strava ``activities.csv``) that no file matched.

    ``path``/``member`` locate the csv (as for ``FoundFile``); ``reason`` is ``no_file`` (the row
    names no file: a manual entry) or ``file_missing`` (the named file is not in the export).
    ``export_meta`` is the row as a ``FoundFile`` would have carried it.
    """

    path: Path
    member: str | None
    filename: str | None
    reason: str
    export_meta: dict

    @property
    def location(self) -> str:
        return _location(self.path, self.member)


@dataclass
class Summary:
    """What a walk saw besides the delivered files, so nothing is dropped silently.

    Counts are of files; ``skipped_by_ext`` keys are lower-case extensions (``.jpg``,
    ``.json.gz``, ``(no extension)``). ``merge`` adds another summary (from a worker) into this one.
    """

    sources: int = 0  # on-disk activity files and archives listed
    sources_skipped: int = 0  # not read because skip_source said so
    found: int = 0  # FoundFile items delivered
    problems: Counter = field(default_factory=Counter)  # Problem items by error_class
    skipped_by_ext: Counter = field(default_factory=Counter)
    export_csvs: int = 0  # Strava activities.csv files read
    export_rows_without_file: list[ExportRow] = field(default_factory=list)  # ExportRow items
    walk_errors: list[str] = field(default_factory=list)  # folders not listed, broken links, loops

    def merge(self, other: Summary) -> None:
        self.sources += other.sources
        self.sources_skipped += other.sources_skipped
        self.found += other.found
        self.problems.update(other.problems)
        self.skipped_by_ext.update(other.skipped_by_ext)
        self.export_csvs += other.export_csvs
        self.export_rows_without_file.extend(other.export_rows_without_file)
        self.walk_errors.extend(other.walk_errors)

    def as_dict(self) -> dict:
        """Plain types, for ``--json`` output."""
        return {
            "sources": self.sources,
            "sources_skipped": self.sources_skipped,
            "found": self.found,
            "problems": dict(sorted(self.problems.items())),
            "skipped_by_ext": dict(sorted(self.skipped_by_ext.items())),
            "export_csvs": self.export_csvs,
            "export_rows_without_file": [
                {"export": r.location, "filename": r.filename, "reason": r.reason,
                 "external_id": r.export_meta.get("external_id")}
                for r in self.export_rows_without_file
            ],
            "walk_errors": list(self.walk_errors),
        }


Item = FoundFile | Problem | ExportRow  # what iter_source/discover yield


def _location(path: Path, member: str | None) -> str:
    return f"{path}!{member}" if member else str(path)


# --------------------------------------------------------------------------------------------
# names


def classify(name: str) -> tuple[str, str]:
    """How a leaf file name is handled, case-insensitively.

    Returns ``(kind, key)``: ``('plain', name)`` for .fit/.gpx/.tcx, ``('gzip', name_without_gz)``,
    ``('zip', name)``, ``('unsupported', ext)`` for an activity in a compression footfall does
    not open (``.fit.bz2``), ``('skip', ext)`` for everything else (``ext`` as in
    ``Summary.skipped_by_ext``).
    """
    low = name.lower()
    if low.endswith(ACTIVITY_SUFFIXES):
        return "plain", name
    if low.endswith(".gz") and low[:-3].endswith(ACTIVITY_SUFFIXES):
        return "gzip", name[:-3]
    if low.endswith(".zip"):
        return "zip", name
    stem, dot, last = low.rpartition(".")
    if dot and "." + last in _UNSUPPORTED_COMPRESSION and stem.endswith(ACTIVITY_SUFFIXES):
        return "unsupported", _ext_key(low)
    return "skip", _ext_key(low)


def _ext_key(low: str) -> str:
    """'.jpg', '.json.gz', '.fit.bz2', '(no extension)' for a lower-case leaf name."""
    parts = low.lstrip(".").split(".")
    if len(parts) < 2:
        return low if low.startswith(".") else "(no extension)"
    last = "." + parts[-1]
    if last in _COMPOUND_LAST and len(parts) >= 3:
        return "." + parts[-2] + last
    return last


def _is_macos_metadata(member_path: str) -> bool:
    parts = member_path.split("/")
    return "__MACOSX" in parts[:-1] or parts[-1].startswith("._")


_DRIVE = re.compile(r"^[A-Za-z]:")
_S_IFLNK = 0o120000


def unsafe_member_reason(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member must not be read (its name escapes the archive, or it is a link), or None."""
    if (info.external_attr >> 16) & 0o170000 == _S_IFLNK:
        return "symbolic link entry"
    name = info.filename.replace("\\", "/")
    if "\x00" in name:
        return "NUL byte in name"
    if name.startswith("/"):
        return "absolute path"
    if _DRIVE.match(name):
        return "drive letter in path"
    if ".." in name.split("/"):
        return "parent-directory ('..') component"
    return None


def _match_key(relpath: str) -> str:
    """Compare export file names ignoring case, './' and a trailing '.gz'."""
    p = relpath.replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    p = p.lstrip("/").lower()
    return p[:-3] if p.endswith(".gz") else p


# --------------------------------------------------------------------------------------------
# Strava activities.csv


def _dedupe_header(header: list[str]) -> list[str]:
    """Unique column names: a repeated 'Distance' becomes 'Distance_2', 'Distance_3'."""
    out: list[str] = []
    used: set[str] = set()
    for i, raw in enumerate(header):
        base = raw.strip().lstrip("\ufeff") or f"column_{i + 1}"
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}_{n}"
        used.add(name)
        out.append(name)
    return out


def _float_or_none(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        x = float(text)
    except ValueError:
        try:
            x = float(text.replace(",", "."))
        except ValueError:
            return None
    return x if math.isfinite(x) else None


def _text_or_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


_ACTIVITY_PATH = re.compile(r"^\.?/?activities/[^/]+$", re.IGNORECASE)


def parse_activities_csv(data: bytes, export_path: str) -> list[dict] | None:
    """A Strava ``activities.csv`` as one ``export_meta`` dict per row; None if it is not one.

    Handles a UTF-8 BOM and repeated header names (kept as 'Distance', 'Distance_2'). The file
    column is 'Filename' or, for exports with translated headers, the column whose values look
    like 'activities/<name>'; the id is 'Activity ID' or the first column. ``perceived_exertion``
    is a float (Strava's 1-10 scale) or None. Raises ``CorruptFile`` when the CSV does not parse.
    """
    text = data.decode("utf-8-sig", errors="replace")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as err:
        raise CorruptFile(f"{export_path}: CSV does not parse") from err
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        return None
    header = _dedupe_header(rows[0])
    body = [dict(zip(header, r + [""] * (len(header) - len(r)))) | _extra(r, len(header))
            for r in rows[1:]]
    filename_col = "Filename" if "Filename" in header else _guess_filename_column(header, body)
    if filename_col is None:
        return None
    id_col = "Activity ID" if "Activity ID" in header else header[0]
    out = []
    for row in body:
        out.append({
            "export_source": STRAVA_EXPORT_SOURCE,
            "export_path": export_path,
            "filename": _text_or_none(row.get(filename_col)),
            "external_id": _text_or_none(row.get(id_col)),
            "activity_name": _text_or_none(row.get("Activity Name")),
            "activity_type": _text_or_none(row.get("Activity Type")),
            "gear": _text_or_none(row.get("Activity Gear")),
            "perceived_exertion": _float_or_none(row.get("Perceived Exertion")),
            "row": row,
        })
    return out


def _extra(values: list[str], n: int) -> dict:
    return {f"column_{i + 1}": v for i, v in enumerate(values[n:], start=n)}


def _guess_filename_column(header: list[str], body: list[dict]) -> str | None:
    for col in header:
        values = [v for row in body if (v := (row.get(col) or "").strip())]
        if values and sum(bool(_ACTIVITY_PATH.match(v)) for v in values) * 2 >= len(values):
            return col
    return None


class _ExportIndex:
    """The rows of one activities.csv keyed by file, remembering which were matched."""

    def __init__(self, path: Path, member: str | None, prefix: str, metas: list[dict]):
        self.path = path
        self.member = member  # the csv's member chain inside an archive, None on disk
        self.prefix = prefix  # folder of the csv: a member-name prefix ('' or 'x/') in a zip
        self.by_key: dict[str, dict] = {}
        self.no_file: list[dict] = []
        for meta in metas:
            if meta["filename"] is None:
                self.no_file.append(meta)
            else:
                self.by_key.setdefault(_match_key(meta["filename"]), meta)
        self.matched: set[str] = set()

    def lookup(self, relpath: str) -> dict | None:
        key = _match_key(relpath)
        meta = self.by_key.get(key)
        if meta is None:
            return None
        self.matched.add(key)
        return dict(meta)

    def unmatched(self) -> list[ExportRow]:
        rows = [ExportRow(self.path, self.member, None, "no_file", m) for m in self.no_file]
        rows += [ExportRow(self.path, self.member, m["filename"], "file_missing", m)
                 for k, m in self.by_key.items() if k not in self.matched]
        return rows


# --------------------------------------------------------------------------------------------
# listing on-disk sources


def _as_paths(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    return [Path(p) for p in paths]


class _Walker:
    def __init__(self, summary: Summary):
        self.summary = summary
        self.sources: list[SourceFile] = []
        self.seen_files: set[tuple[int, int]] = set()
        self.seen_dirs: set[tuple[int, int]] = set()

    def add_file(self, path: Path, st: os.stat_result, exports: list[tuple[Path, _ExportIndex]]) -> None:
        if path.name.startswith("._"):
            self.summary.skipped_by_ext[_MACOS_METADATA] += 1
            return
        kind, key = classify(path.name)
        if kind == "skip":
            self.summary.skipped_by_ext[key] += 1
            return
        ident = (st.st_dev, st.st_ino)
        if ident in self.seen_files:
            return  # the same file reached twice (overlapping arguments, a link): listed once
        self.seen_files.add(ident)
        meta = None
        for root, index in reversed(exports):  # innermost export folder first
            try:
                rel = path.relative_to(root).as_posix()
            except ValueError:
                continue
            meta = index.lookup(rel)
            if meta is not None:
                break
        self.sources.append(SourceFile(path, st.st_size, st.st_mtime_ns, kind, meta))

    def walk(self, folder: Path, st: os.stat_result, exports: list[tuple[Path, _ExportIndex]]) -> None:
        ident = (st.st_dev, st.st_ino)
        if ident in self.seen_dirs:
            self.summary.walk_errors.append(
                f"{folder}: folder already walked (symlink loop or repeated path)")
            return
        self.seen_dirs.add(ident)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            self.summary.walk_errors.append(f"{folder}: cannot list ({err.strerror or err})")
            return
        csv_entry = next((e for e in entries if e.name.lower() == EXPORT_CSV_NAME and _is_file(e)), None)
        csv_source, index = self._export_source(csv_entry) if csv_entry is not None else (None, None)
        if index is not None:
            exports = [*exports, (folder, index)]
        for entry in entries:
            if csv_source is not None and entry is csv_entry:
                self.sources.append(csv_source)
                continue
            path = Path(entry.path)
            try:
                if entry.is_dir():
                    self.walk(path, entry.stat(), exports)
                elif entry.is_file():
                    self.add_file(path, entry.stat(), exports)
                elif entry.is_symlink():
                    self.summary.walk_errors.append(f"{path}: broken symbolic link")
                else:
                    self.summary.skipped_by_ext["(not a regular file)"] += 1
            except OSError as err:
                self.summary.walk_errors.append(f"{path}: {err.strerror or err}")
        if index is not None:
            csv_source.export_rows = index.unmatched()

    def _export_source(self, entry: os.DirEntry) -> tuple[SourceFile | None, _ExportIndex | None]:
        """A folder's activities.csv as an ``export_csv`` source (None if not an activity list)."""
        path = Path(entry.path)
        try:
            st = entry.stat()
            with open(path, "rb") as fh:
                data = fh.read(MAX_EXPORT_CSV_BYTES + 1)
        except OSError as err:
            return SourceFile(path, 0, 0, "export_csv", error=_unreadable(path, err)), None
        source = SourceFile(path, st.st_size, st.st_mtime_ns, "export_csv")
        self.seen_files.add((st.st_dev, st.st_ino))
        if len(data) > MAX_EXPORT_CSV_BYTES:
            source.error = ArchiveTooLarge(f"{path.name}: larger than {MAX_EXPORT_CSV_BYTES} bytes")
            return source, None
        try:
            metas = parse_activities_csv(data, str(path))
        except IngestError as err:
            source.error = err
            return source, None
        if metas is None:
            return None, None
        self.summary.export_csvs += 1
        return source, _ExportIndex(path, None, "", metas)


def _is_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def list_sources(paths: str | os.PathLike | Iterable[str | os.PathLike], *,
                 summary: Summary | None = None) -> list[SourceFile]:
    """The on-disk activity files and archives under ``paths`` (files or folders), in order.

    Reads nothing but Strava ``activities.csv`` files; sizes are bytes, mtimes ns since the epoch.
    Raises ``FileNotFoundError`` for an argument that does not exist (a usage error); problems
    below an argument go to ``summary``.
    """
    summary = summary if summary is not None else Summary()
    walker = _Walker(summary)
    for path in _as_paths(paths):
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            walker.walk(path, st, [])
        elif stat.S_ISREG(st.st_mode):
            walker.add_file(path, st, [])
        else:
            summary.skipped_by_ext["(not a regular file)"] += 1
    summary.sources += len(walker.sources)
    return walker.sources


# --------------------------------------------------------------------------------------------
# expanding one source


@dataclass(frozen=True)
class Limits:
    """The size budgets of reading one on-disk source (bytes, unless named otherwise).

    Each is a memory or time guard that real files and exports never reach; a file or archive
    over one is a ``Problem`` whose reason names the budget (the config key of the same name).
    """

    max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES
    max_fit_bytes: int = DEFAULT_MAX_FIT_BYTES
    max_xml_bytes: int = DEFAULT_MAX_XML_BYTES
    max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH
    max_archive_members: int = DEFAULT_MAX_ARCHIVE_MEMBERS
    max_archive_read_bytes: int = DEFAULT_MAX_ARCHIVE_READ_BYTES


@dataclass
class SyncMeter:
    """Decompressed bytes read so far by one sync (shared by all its ``iter_source`` calls),
    against ``max_bytes``: past it, the member being read is refused, the rest of its archive
    and every later archive or .gz are left for the next sync (each gets a ``Problem``)."""

    max_bytes: int = DEFAULT_MAX_SYNC_BYTES
    read_bytes: int = 0

    @property
    def exhausted(self) -> bool:
        return self.read_bytes >= self.max_bytes


def _size(n: int) -> str:
    """'10000 bytes', or '536870912 bytes (512 MiB)' from 1 MiB on."""
    if n < 1024 * 1024:
        return f"{n} bytes"
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2)):
        if n >= scale:
            return f"{n} bytes ({n / scale:.3g} {unit})"
    return f"{n} bytes"


def _hint(key: str) -> str:
    return f"raise {key} in the config (footfall.toml) to read it"


class _Stop(Exception):
    """A per-source or per-sync budget ran out: stop reading this source (not an IngestError,
    so the per-member handlers let it through to ``_expand``)."""

    def __init__(self, error: IngestError, member: str | None):
        super().__init__(str(error))
        self.error = error
        self.member = member


class _Budget:
    """What one source has used of its budgets, and the sync's meter."""

    def __init__(self, source: SourceFile, limits: Limits, meter: SyncMeter | None):
        self.source = source
        self.limits = limits
        self.meter = meter
        self.read_bytes = 0  # decompressed from this source, all nesting levels
        self.members = 0  # zip entries opened in this source, all nesting levels
        self.at: str | None = None  # the member being read ('!'-joined chain), for the Problem
        self.nested_seen: set[tuple[int, int, int]] = set()  # (CRC, size, compressed) of nested zips

    def take(self, n: int) -> None:
        """Count ``n`` decompressed bytes; _Stop when the source's or the sync's budget is spent."""
        self.read_bytes += n
        name = self.source.path.name
        cap = self.limits.max_archive_read_bytes
        if self.read_bytes > cap:
            raise _Stop(ArchiveTooLarge(
                f"{name}: stopped here after decompressing {_size(cap)} from this archive, all"
                f" nesting levels counted (limit max_archive_read_bytes); the rest of it was not"
                f" read; {_hint('max_archive_read_bytes')}"), self.at)
        meter = self.meter
        if meter is not None:
            meter.read_bytes += n
            if meter.read_bytes > meter.max_bytes:
                raise _Stop(SyncBudgetExceeded(
                    f"{name}: stopped here: this sync has decompressed {_size(meter.max_bytes)}"
                    f" (limit max_sync_bytes); the rest is read by the next sync, or"
                    f" {_hint('max_sync_bytes')}"), self.at)


def iter_source(source: SourceFile, *,
                max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES,
                max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES,
                max_depth: int = DEFAULT_MAX_DEPTH,
                limits: Limits | None = None,
                meter: SyncMeter | None = None,
                summary: Summary | None = None) -> Iterator[Item]:
    """The activity files inside one on-disk source, one at a time, in member-name order.

    Items are ``FoundFile`` (bytes to decode), ``Problem`` (could not be delivered) or
    ``ExportRow`` (a Strava csv row with no file; after the zip's files, or from an
    ``export_csv`` source). Each is also counted in ``summary``.

    ``limits`` (all budgets; when given, the three keywords before it are ignored):
    ``max_member_bytes``: decompressed bytes of one file of any content (larger:
    ``ArchiveTooLarge``); ``max_fit_bytes`` / ``max_xml_bytes``: one FIT / GPX or TCX file, by
    its content (``FileTooLarge``; a FIT header declaring more is refused before reading on);
    ``max_archive_bytes``: one zip inside a zip; ``max_depth``: zip levels;
    ``max_archive_members``: zip entries in this source, all levels (checked from each zip's
    end record before its directory is loaded); ``max_archive_read_bytes``: decompressed bytes
    from this source, all levels (a 42.zip nest stops there). ``meter``: the sync's running
    total of decompressed bytes against ``max_sync_bytes``. When a per-source or per-sync budget
    runs out, the member being read is a ``Problem`` and the rest of the source is not read.
    Never raises for a bad file: every failure is a ``Problem``.
    """
    summary = summary if summary is not None else Summary()
    if limits is None:
        limits = Limits(max_member_bytes=max_member_bytes, max_archive_bytes=max_archive_bytes,
                        max_depth=max_depth)
    budget = _Budget(source, limits, meter)
    for item in _expand(source, budget, summary):
        if isinstance(item, FoundFile):
            summary.found += 1
        elif isinstance(item, Problem):
            summary.problems[item.error_class] += 1
        else:
            summary.export_rows_without_file.append(item)
        yield item


def discover(paths: str | os.PathLike | Iterable[str | os.PathLike], *,
             max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES,
             max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES,
             max_depth: int = DEFAULT_MAX_DEPTH,
             limits: Limits | None = None,
             meter: SyncMeter | None = None,
             skip_source: SkipSource | None = None,
             summary: Summary | None = None) -> Iterator[Item]:
    """Every item under ``paths``: ``list_sources`` then ``iter_source`` for each source.

    ``skip_source(path, size_bytes, mtime_ns)`` returning True skips an on-disk source unread
    (counted in ``summary.sources_skipped``). Pass a ``Summary`` to see what was skipped.
    """
    summary = summary if summary is not None else Summary()
    for source in list_sources(paths, summary=summary):
        if skip_source is not None and skip_source(source.path, source.size_bytes, source.mtime_ns):
            summary.sources_skipped += 1
            continue
        yield from iter_source(source, max_member_bytes=max_member_bytes,
                               max_archive_bytes=max_archive_bytes, max_depth=max_depth,
                               limits=limits, meter=meter, summary=summary)


def _expand(source: SourceFile, budget: _Budget, summary: Summary) -> Iterator[Item]:
    path = source.path

    def problem(err: IngestError) -> Problem:
        return Problem(path, None, err)

    if source.kind == "export_csv":
        if source.error is not None:
            yield problem(source.error)
        yield from source.export_rows
        return
    if source.kind == "unsupported":
        yield problem(UnsupportedFormat(
            f"{path.name}: compressed with a format footfall does not open; decompress it first"))
        return
    if source.size_bytes == 0:
        yield problem(EmptyFile(f"{path.name}: zero bytes"))
        return
    meter = budget.meter
    if source.kind in ("zip", "gzip") and meter is not None and meter.exhausted:
        yield problem(SyncBudgetExceeded(
            f"{path.name}: not read: this sync has already decompressed {_size(meter.max_bytes)}"
            f" (limit max_sync_bytes); the next sync reads it, or {_hint('max_sync_bytes')}"))
        return
    try:
        fh = open(path, "rb")
    except OSError as err:
        yield problem(_unreadable(path, err))
        return
    with fh:
        if source.kind == "zip":
            try:
                yield from _iter_zip(fh, source, "", 1, None, budget, summary)
            except _Stop as stop:
                yield Problem(path, stop.member, stop.error)
            return
        name = path.name
        try:
            if source.kind == "gzip":
                name = name[:-3]
                data = _gunzip(fh, name, path.name, budget)
            else:  # on disk, not decompressed: not counted against the decompression budgets
                data = _read_capped(fh, path.name, budget, name=name, declared=source.size_bytes,
                                    count=False)
        except _Stop as stop:
            yield problem(stop.error)
            return
        except IngestError as err:
            yield problem(err)
            return
        except OSError as err:  # raised by the disk, not by gzip (BadGzipFile is caught in _gunzip)
            yield problem(_unreadable(path, err))
            return
    if not data:
        yield problem(EmptyFile(f"{path.name}: decompresses to zero bytes"))
        return
    yield FoundFile(path, None, name, data, len(data), source.size_bytes, source.mtime_ns,
                    source.export_meta)


def _unreadable(path: Path, err: OSError) -> UnreadableFile:
    exc = UnreadableFile(f"{path}: cannot read ({err.strerror or type(err).__name__})")
    exc.__cause__ = err
    return exc


# errors zipfile/gzip/zlib/lzma raise for damaged or unsupported data
_BACKEND_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError,
                   RuntimeError, ValueError, NotImplementedError)


def _bad_archive(what: str, err: BaseException) -> BadArchive:
    if isinstance(err, gzip.BadGzipFile):
        why = "not a gzip file"
    elif isinstance(err, EOFError):
        why = "truncated: the compressed data ends before its end-of-stream marker"
    elif isinstance(err, zlib.error):
        why = "corrupt compressed data"
    elif isinstance(err, NotImplementedError):
        why = "compression method not supported by Python's zipfile (e.g. Deflate64); re-zip it"
    elif isinstance(err, RuntimeError) and "encrypted" in str(err):
        why = "encrypted (password-protected) zip member"
    elif isinstance(err, zipfile.BadZipFile) and "CRC" in str(err):
        why = "fails its CRC check (damaged)"
    elif isinstance(err, zipfile.BadZipFile):
        why = "not a zip file, or its directory is damaged"
    elif isinstance(err, UnicodeDecodeError):
        why = "a member name is not valid UTF-8 although the zip marks it so (re-zip it)"
    else:
        why = "damaged archive"
    exc = BadArchive(f"{what}: {why}")
    exc.__cause__ = err
    return exc


def _format_cap(head: bytes, name: str, limits: Limits) -> tuple[int, str, str | None]:
    """(cap, its config key, 'FIT'/'GPX'/'TCX' or None) for a file starting with ``head``."""
    from ingest.decode import sniff_format  # lazy: polars is not needed to list sources

    try:
        fmt = sniff_format(head, name)
    except IngestError:
        return limits.max_member_bytes, "max_member_bytes", None
    cap, key = (limits.max_fit_bytes, "max_fit_bytes") if fmt == "fit" else (
        limits.max_xml_bytes, "max_xml_bytes")
    if limits.max_member_bytes <= cap:
        return limits.max_member_bytes, "max_member_bytes", fmt.upper()
    return cap, key, fmt.upper()


def _too_large(what: str, cap: int, key: str, fmt: str | None, size: int | None,
               why: str = "") -> IngestError:
    if key == "max_member_bytes":
        got = f"declares {size} bytes, over {cap}" if size is not None else f"expands beyond {cap} bytes"
        return ArchiveTooLarge(f"{what}: {got} (limit max_member_bytes); {_hint(key)}")
    got = (f"{why or 'is'} {_size(size)}" if size is not None else "expands beyond")
    return FileTooLarge(
        f"{what}: a {fmt} file that {got}, over the {_size(cap)} footfall decodes (limit {key});"
        f" no real activity file is this large (a 24 h run at 1 Hz: ~7 MB as FIT, ~35 MB as GPX),"
        f" so it is not decoded; {_hint(key)}")


def _read_capped(stream: IO[bytes], what: str, budget: _Budget, *, name: str | None = None,
                 declared: int | None = None, count: bool = True,
                 cap: int | None = None) -> bytes:
    """All of ``stream`` (an activity file's bytes), refused once it passes its cap.

    With ``name``, the cap follows the content sniffed from the first chunk (``_format_cap``):
    ``max_fit_bytes`` for FIT (and a FIT header declaring more is refused at once),
    ``max_xml_bytes`` for GPX/TCX, else ``max_member_bytes``; without, ``cap`` (default
    ``max_member_bytes``). ``declared``: the size known beforehand (zip directory, file size),
    refused after the first chunk when over the cap. ``count``: decompressed bytes, counted
    against the source's and the sync's budgets (``_Budget.take``).
    """
    limits = budget.limits
    key, fmt = "max_member_bytes", None
    cap = limits.max_member_bytes if cap is None else cap
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(_CHUNK_BYTES, cap + 1 - total))
        if not chunk:
            return b"".join(chunks)
        if count:
            budget.take(len(chunk))
        total += len(chunk)
        if not chunks and name is not None:  # what it is says how large it may be
            cap, key, fmt = _format_cap(chunk, name, limits)
            if declared is not None and declared > cap:
                raise _too_large(what, cap, key, fmt, declared)
            if chunk[8:12] == b".FIT":  # header size + data size + CRC
                in_header = chunk[0] + int.from_bytes(chunk[4:8], "little") + 2
                if in_header > cap:
                    raise _too_large(what, cap, key, fmt, in_header, why="declares in its header")
        if total > cap:
            raise _too_large(what, cap, key, fmt, None)
        chunks.append(chunk)


def _copy_capped(stream: IO[bytes], out: IO[bytes], cap: int, what: str, budget: _Budget) -> None:
    """Copy ``stream`` into the spool ``out``; ArchiveTooLarge past ``cap`` bytes."""
    total = 0
    while chunk := stream.read(_CHUNK_BYTES):
        budget.take(len(chunk))
        total += len(chunk)
        if total > cap:
            raise ArchiveTooLarge(
                f"{what}: expands beyond {cap} bytes (limit max_archive_bytes); {_hint('max_archive_bytes')}")
        try:
            out.write(chunk)
        except OSError as err:  # the temp dir, not the archive: disk full, no temp dir
            raise UnreadableFile(
                f"{what}: cannot spool the nested zip to a temporary file ({err.strerror or err})"
            ) from err


def _gunzip(stream: IO[bytes], name: str, what: str, budget: _Budget) -> bytes:
    """Decompress a gzip stream (multi-member allowed), capped; BadArchive when damaged."""
    try:
        with gzip.GzipFile(fileobj=stream, mode="rb") as gz:
            return _read_capped(gz, what, budget, name=name)
    except IngestError:
        raise
    except _BACKEND_ERRORS as err:
        raise _bad_archive(what, err) from err


def _declared_entries(fileobj: IO[bytes]) -> int | None:
    """Entries a zip's end-of-central-directory record declares, read before ``ZipFile`` loads
    its directory (a ZipInfo each: a nested zip can declare millions); None if not found."""
    end_rec = getattr(zipfile, "_EndRecData", None)
    if end_rec is None:
        return None
    try:
        rec = end_rec(fileobj)
    except (OSError, ValueError, struct.error):
        return None
    finally:
        try:
            fileobj.seek(0)
        except OSError:
            pass
    return int(rec[zipfile._ECD_ENTRIES_TOTAL]) if rec else None


def _iter_zip(fileobj: IO[bytes], source: SourceFile, chain: str, depth: int,
              archive_member: str | None, budget: _Budget,
              summary: Summary) -> Iterator[Item]:
    """Members of one zip (``chain`` = '!'-joined member names leading to it, '' at the top)."""
    path = source.path
    limits = budget.limits

    def problem(member: str | None, err: IngestError) -> Problem:
        return Problem(path, member, err)

    label = archive_member or path.name
    declared = _declared_entries(fileobj)
    if declared is not None and budget.members + declared > limits.max_archive_members:
        yield problem(archive_member, ArchiveTooLarge(
            f"{label}: a zip of {declared} entries, with the {budget.members} before it in"
            f" {path.name} over {limits.max_archive_members} (limit max_archive_members); not"
            f" opened; {_hint('max_archive_members')}"))
        return
    try:
        zf = zipfile.ZipFile(fileobj)
    except _BACKEND_ERRORS as err:
        yield problem(archive_member, _bad_archive(label, err))
        return
    with zf:
        budget.members += len(zf.infolist())
        if budget.members > limits.max_archive_members:  # no end record read above
            yield problem(archive_member, ArchiveTooLarge(
                f"{label}: over {limits.max_archive_members} entries in {path.name}"
                f" (limit max_archive_members); not read; {_hint('max_archive_members')}"))
            return
        infos = sorted((i for i in zf.infolist() if not i.is_dir()), key=lambda i: i.filename)
        if not infos:
            yield problem(archive_member, EmptyFile(f"{label}: zip with no files"))
            return
        unsafe = {id(i): r for i in infos if (r := unsafe_member_reason(i))}
        exports, csv_items = _zip_exports(zf, infos, unsafe, source, chain, budget, summary)
        for info in infos:
            name = info.filename
            member = chain + name
            if id(info) in unsafe:
                yield problem(member, UnsafeArchiveMember(f"{name!r}: {unsafe[id(info)]}; not read"))
                continue
            if id(info) in csv_items:  # a Strava activities.csv, read above
                if csv_items[id(info)] is not None:
                    yield csv_items[id(info)]
                continue
            if _is_macos_metadata(name):
                summary.skipped_by_ext[_MACOS_METADATA] += 1
                continue
            leaf = name.rsplit("/", 1)[-1]
            kind, key = classify(leaf)
            if kind == "skip":
                summary.skipped_by_ext[key] += 1
                continue
            if kind == "unsupported":
                yield problem(member, UnsupportedFormat(
                    f"{leaf}: compressed with a format footfall does not open; decompress it first"))
                continue
            if kind == "zip":
                yield from _nested_zip(zf, info, source, member, depth, budget, summary)
                continue
            budget.at = member
            try:
                data = _read_member(zf, info, kind, key, budget)
            except IngestError as err:
                yield problem(member, err)
                continue
            if not data:
                yield problem(member, EmptyFile(f"{leaf}: zero bytes"))
                continue
            meta = None
            for index in exports:  # innermost (longest prefix) first
                if name.startswith(index.prefix):
                    meta = index.lookup(name[len(index.prefix):])
                    if meta is not None:
                        break
            yield FoundFile(path, member, key, data, len(data), source.size_bytes,
                            source.mtime_ns, meta)
        for index in exports:
            yield from index.unmatched()


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, kind: str, name: str | None,
                 budget: _Budget, cap: int | None = None) -> bytes:
    """One member's (decompressed) bytes; ``name`` (the leaf, without .gz) sniffs its cap."""
    what = info.filename
    member_cap = budget.limits.max_member_bytes if cap is None else cap
    if info.file_size > member_cap:
        raise ArchiveTooLarge(f"{what}: declares {info.file_size} bytes, over {member_cap}"
                              f" (limit max_member_bytes); {_hint('max_member_bytes')}")
    try:
        with zf.open(info) as raw:
            if kind == "gzip":
                return _gunzip(raw, name or what, what, budget)
            return _read_capped(raw, what, budget, name=name, declared=info.file_size, cap=cap)
    except IngestError:
        raise
    except _BACKEND_ERRORS as err:
        raise _bad_archive(what, err) from err


def _nested_zip(zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: SourceFile, member: str,
                depth: int, budget: _Budget, summary: Summary) -> Iterator[Item]:
    """A zip inside a zip: copy it (capped) to an anonymous spool file, then walk it.

    A copy of a nested zip already met in this source (same CRC-32, size and compressed size in
    the directory) is not read again: its files would be the same bytes, skipped by hash. This
    is what makes a 42.zip-style nest (16 identical copies per level) cost one path per level;
    counted in ``summary.skipped_by_ext``."""
    limits = budget.limits
    ident = (info.CRC, info.file_size, info.compress_size)
    if ident in budget.nested_seen:
        summary.skipped_by_ext[_SAME_ZIP] += 1
        return
    budget.nested_seen.add(ident)
    if depth + 1 > limits.max_depth:
        yield Problem(source.path, member, ArchiveTooLarge(
            f"{info.filename}: zip nested deeper than {limits.max_depth} levels (limit max_depth)"))
        return
    if info.file_size > limits.max_archive_bytes:
        yield Problem(source.path, member, ArchiveTooLarge(
            f"{info.filename}: declares {info.file_size} bytes, over {limits.max_archive_bytes}"
            f" (limit max_archive_bytes); {_hint('max_archive_bytes')}"))
        return
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)
    with spool:
        budget.at = member
        try:
            with zf.open(info) as raw:
                _copy_capped(raw, spool, limits.max_archive_bytes, info.filename, budget)
        except IngestError as err:
            yield Problem(source.path, member, err)
            return
        except _BACKEND_ERRORS as err:
            yield Problem(source.path, member, _bad_archive(info.filename, err))
            return
        spool.seek(0)
        yield from _iter_zip(spool, source, member + "!", depth + 1, member, budget, summary)


def _zip_exports(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], unsafe: dict[int, str],
                 source: SourceFile, chain: str, budget: _Budget,
                 summary: Summary) -> tuple[list[_ExportIndex], dict[int, Problem | None]]:
    """Strava activities.csv members of one zip, read before any activity member.

    Returns the export indexes (longest prefix first) and, keyed by ``id(info)``, each csv member
    that is an activity list (None) or could not be read as one (its Problem).
    """
    exports: list[_ExportIndex] = []
    csv_items: dict[int, Problem | None] = {}
    for info in infos:
        leaf = info.filename.rsplit("/", 1)[-1]
        if leaf.lower() != EXPORT_CSV_NAME or id(info) in unsafe or _is_macos_metadata(info.filename):
            continue
        member = chain + info.filename
        budget.at = member
        try:
            data = _read_member(zf, info, "plain", None, budget,
                                cap=min(budget.limits.max_member_bytes, MAX_EXPORT_CSV_BYTES))
            metas = parse_activities_csv(data, _location(source.path, member))
        except IngestError as err:
            csv_items[id(info)] = Problem(source.path, member, err)
            continue
        if metas is None:
            continue  # some other csv: counted as skipped
        summary.export_csvs += 1
        prefix = info.filename[: len(info.filename) - len(leaf)]
        exports.append(_ExportIndex(source.path, member, prefix, metas))
        csv_items[id(info)] = None
    exports.sort(key=lambda ix: len(ix.prefix), reverse=True)
    return exports, csv_items
