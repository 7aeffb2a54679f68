"""One root error for everything ingest refuses, a subclass per failure kind.

The backend's own exception (fitparse, gpxpy, zipfile, gzip, XML) is kept as ``__cause__``;
``error_class`` is what lands in ``files.error_class``.
"""

from __future__ import annotations


class IngestError(Exception):
    """Root of every failure to read a user's file."""

    @property
    def error_class(self) -> str:
        return type(self).__name__


class UnreadableFile(IngestError):
    """The operating system refused to read the file (vanished, permission, I/O error)."""


class UnsupportedFormat(IngestError):
    """Not a FIT, GPX or TCX file (by content), or an extension footfall does not read."""


class EmptyFile(IngestError):
    """Zero bytes, or a container with nothing in it."""


class CorruptFile(IngestError):
    """Bytes that claim a format but cannot be decoded (bad header, CRC, truncated, bad XML)."""


class BadHeader(CorruptFile):
    """FIT header invalid (size, '.FIT' signature, protocol)."""


class CrcMismatch(CorruptFile):
    """FIT file CRC does not match the data."""


class TruncatedFile(CorruptFile):
    """The file ends in the middle of a message."""


class XmlError(CorruptFile):
    """GPX/TCX XML that does not parse."""


class ImplausibleData(IngestError):
    """Decoded, but impossible: a time span outside 1989-12-31..now, longer than 30 days, or a
    date too far out to represent (bounds in models/thresholds.py)."""


class BadArchive(IngestError):
    """A .gz or .zip that is not one, or is damaged."""


class UnsafeArchiveMember(IngestError):
    """A zip member whose name escapes the archive (``../``, absolute path) or is a link."""


class TooLarge(IngestError):
    """Over one of footfall's size budgets (memory and time guards, ``ingest/discover.py``).

    The message names the config key to raise (``max_xml_bytes``, ``max_sync_bytes``...)."""


class ArchiveTooLarge(TooLarge):
    """A compressed member that expands beyond the configured limit (zip bomb guard), or an
    archive over its member count, nesting depth or decompression work."""


class FileTooLarge(TooLarge):
    """An activity file far larger than any real one (``max_fit_bytes``, ``max_xml_bytes``)."""


class SyncBudgetExceeded(TooLarge):
    """This sync already decompressed ``max_sync_bytes``; the rest waits for the next sync."""


#: Failures that say "not read this time", not "this content is bad": a later sync reads the
#: source again (``pipelines.sync.iter_batches``) and, once it reads, the old quarantine row goes
#: (``pipelines.land``).
RETRIED = (UnreadableFile, TooLarge)


def retried_error_classes() -> tuple[str, ...]:
    """``files.error_class`` values of the ``RETRIED`` kinds (their subclasses included)."""
    out, todo = [], list(RETRIED)
    while todo:
        cls = todo.pop(0)
        out.append(cls.__name__)
        todo.extend(cls.__subclasses__())
    return tuple(out)
