"""The dispatch from format to reader: bytes in, ``ingest.schema.Decoded`` out."""

from __future__ import annotations

import hashlib

from ingest.errors import ImplausibleData, IngestError, UnsupportedFormat
from ingest.options import ReaderOptions
from ingest.schema import Decoded


def file_id_of(data: bytes) -> str:
    """sha256 hex digest of the decompressed bytes: the file's identity."""
    return hashlib.sha256(data).hexdigest()


def sniff_format(data: bytes, name: str = "") -> str:
    """fit | gpx | tcx from the bytes (the name only breaks ties); raise UnsupportedFormat."""
    if len(data) >= 12 and data[8:12] == b".FIT":
        return "fit"
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<") or b"<?xml" in head[:100]:
        if b"<gpx" in head:
            return "gpx"
        if b"trainingcenterdatabase" in head:
            return "tcx"
    low = name.lower()
    for fmt in ("fit", "gpx", "tcx"):
        if low.endswith("." + fmt):
            return fmt
    raise UnsupportedFormat(f"not a FIT, GPX or TCX file: {name or '<bytes>'}")


def quarantine(file_id: str, fmt: str, err: BaseException) -> Decoded:
    """A Decoded with nothing in it, carrying the error's class and message."""
    cls = err.error_class if isinstance(err, IngestError) else type(err).__name__
    cause = err.__cause__
    reason = str(err) or cls
    if cause is not None and str(cause) and str(cause) not in reason:
        reason = f"{reason} ({type(cause).__name__}: {cause})"
    return Decoded(file_id=file_id, format=fmt, status="quarantined", reason=reason, error_class=cls)


def decode_bytes(data: bytes, name: str, options: ReaderOptions, fmt: str | None = None) -> Decoded:
    """Decode one file's (decompressed) bytes. Never raises: failures come back quarantined.

    ``options``: the readers' settings (``models.thresholds.reader_options(overrides)``).
    """
    fid = file_id_of(data)
    try:
        fmt = fmt or sniff_format(data, name)
    except IngestError as err:
        return quarantine(fid, fmt or "unknown", err)
    try:
        # readers imported here, not above: listing sources (ingest.discover) needs only
        # sniff_format, not fitparse, gpxpy or numpy
        if fmt == "fit":
            # the columnar reader; fitparse (said in Decoded.decoder) for anything it does not
            # handle, including every damaged file
            from ingest.fit import decode_fit

            return decode_fit(data, fid)
        if fmt == "gpx":
            from ingest.gpx import decode_gpx

            return decode_gpx(data, fid, options)
        if fmt == "tcx":
            from ingest.tcx import decode_tcx

            return decode_tcx(data, fid, options)
        raise UnsupportedFormat(f"unsupported format {fmt!r}")
    except IngestError as err:
        return quarantine(fid, fmt, err)
    except OverflowError as err:  # a date (or number) beyond what Python can represent
        return quarantine(fid, fmt, ImplausibleData(f"a time or value out of range ({err})"))
    except Exception as err:  # a reader bug must not stop the sync: quarantine with the class
        return quarantine(fid, fmt, err)
