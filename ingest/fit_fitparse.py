"""The reference FIT reader: bytes -> ``FitMessages`` with fitparse 1.2.0.

``read_fit_messages(data) -> FitMessages`` returns one polars frame per FIT message name, by the
contract in ``ingest.fit_messages``. It is the reference the fast reader
(``ingest.fit_columnar``) is diff-tested against, and the reader ``ingest.fit.decode_fit`` falls
back to for every file the fast one refuses (damaged files among them: fitparse salvages what
precedes the damage and ``FitMessages.error`` says what stopped it).

Decoding is not thread-safe: fitparse keeps developer definitions in the module global
``fitparse.records.DEV_TYPES``; we replace it per file (so definitions do not leak from one file
to the next) and parallelise across processes, not threads.
"""

from __future__ import annotations

import io

import fitparse
import fitparse.records as _fitparse_records
from fitparse.records import BASE_TYPE_BYTE, DevField
from fitparse.records import BASE_TYPES as _BASE_TYPES
from fitparse.utils import FitCRCError, FitEOFError, FitHeaderError, FitParseError

from ingest.errors import (
    BadHeader,
    CorruptFile,
    CrcMismatch,
    EmptyFile,
    IngestError,
    TruncatedFile,
)
from ingest.fit_messages import (
    K_VALUE,
    FitMessages,
    build_frame,
    developer_fields,
    file_type,
    fit_crc16,
    kind_of,
)

DECODER = "fitparse"  # FitMessages.decoder / Decoded.decoder of this reader


def read_fit_messages(data: bytes) -> FitMessages:
    """Decode FIT ``data`` into one frame per message name (contract in the module docstring).

    Raises ``EmptyFile`` (no bytes), ``BadHeader`` (not a FIT header, or shorter than one) and,
    when the damage comes before the first data message, the error it maps to.
    """
    if not data:
        raise EmptyFile("zero-byte FIT file")
    col, err, crc_err = _parse(data)
    if err is not None:
        mapped = _map_error(err, col.n_messages)
        if crc_err is not None:
            mapped.args = (f"{mapped.args[0]}; also {crc_err}",)
        if col.n_messages == 0:
            raise mapped from err
        return col.finish(mapped)
    if crc_err is not None:
        # The bytes parse, but they are not the bytes the device wrote: keep everything, say so.
        return col.finish(_map_error(crc_err, col.n_messages))
    return col.finish(None)


def _map_error(err: BaseException, n_messages: int) -> IngestError:
    """fitparse's exception -> ours, with the backend error as ``__cause__``."""
    where = f"after {n_messages} data messages" if n_messages else "before any data message"
    if isinstance(err, FitCRCError):
        out: IngestError = CrcMismatch(f"CRC mismatch ({err}); all {n_messages} data messages kept")
    elif isinstance(err, FitHeaderError):
        out = BadHeader(f"invalid FIT header {where}: {err}")
    elif isinstance(err, FitEOFError):
        out = TruncatedFile(f"file ends mid-message {where}: {err}")
    elif isinstance(err, FitParseError):
        out = CorruptFile(f"undecodable FIT data {where}: {err}")
    else:  # struct.error, KeyError on a bad base type, ...: data fitparse cannot handle
        out = CorruptFile(f"undecodable FIT data {where}: {type(err).__name__}: {err}")
    out.__cause__ = err
    return out


def _parse(data: bytes) -> tuple[_Collector, BaseException | None, FitCRCError | None]:
    """Run fitparse message by message.

    Returns what was collected, the error that stopped decoding (None when it ran to the end)
    and the first CRC mismatch (header or file CRC of any chained file decoded).
    """
    col = _Collector()
    _fitparse_records.DEV_TYPES = _LenientDevTypes()  # per file: no definitions from earlier files
    try:
        try:
            ff = _FitFile(data)
        except FitEOFError as err:
            raise BadHeader(f"file shorter than a FIT header ({len(data)} bytes)") from err
        except FitHeaderError as err:
            raise BadHeader(f"not a FIT file: {err}") from err
        except Exception as err:  # noqa: BLE001 - anything fitparse raises on a header
            raise BadHeader(f"unreadable FIT header: {type(err).__name__}: {err}") from err
        stop = None
        try:
            col.run(ff)
        except Exception as err:  # noqa: BLE001 - fitparse's own or a struct/KeyError on bad bytes
            stop = err
        return col, stop, ff.crc_mismatch(data)
    finally:
        _fitparse_records.DEV_TYPES = {}


class _FitFile(fitparse.FitFile):
    """fitparse's FitFile with the CRCs checked once per span at the end, not byte by byte.

    fitparse's ``check_crc=True`` feeds every small read through a pure-Python CRC (about a
    sixth of its time). Here fitparse runs with ``check_crc=False`` and we note where it reads
    each CRC (the header CRC and the file CRC of every chained file, at fitparse's own
    positions); ``crc_mismatch`` then checks those spans with a table-driven CRC. The verdict is
    fitparse's; only the time differs.
    """

    def __init__(self, data: bytes):
        self.crc_spans: list[tuple[int, int, int, bool]] = []  # start, end, CRC read, zero ok
        self._span_start = 0
        super().__init__(io.BytesIO(data), check_crc=False, data_processor=_RAW)

    def _parse_file_header(self):
        self._span_start = self._file.tell()
        super()._parse_file_header()

    #: native field definitions still to read in the definition message being parsed
    _native_defs_left = 0

    def _parse_definition_message(self, header):
        self._native_defs_left = -1  # set when fitparse reads (global message number, fields)
        try:
            return super()._parse_definition_message(header)
        finally:
            self._native_defs_left = 0

    def _read_struct(self, fmt, endian="<", data=None, always_tuple=False):
        """fitparse's ``_read_struct``; in a definition message, a field whose size is not a
        multiple of its base type's is declared ``byte``.

        fitparse 1.2.0 raises "Invalid field size" there and stops the file; the FIT SDK's
        decoder reads such a field as uint8 and fitdecode as byte, keeping the message (the
        Coros PACE 2 writes ``event.data`` with 1 byte for a uint32). The columnar reader does
        the same (``ingest.fit_columnar._Layout``).
        """
        out = super()._read_struct(fmt, endian, data, always_tuple)
        left = self._native_defs_left
        if left and data is None:
            if left < 0 and fmt == "HB":  # (global message number, number of native fields)
                self._native_defs_left = out[1]
            elif left > 0 and fmt == "3B":  # (field number, size, base type)
                self._native_defs_left = left - 1
                num, size, btn = out
                bt = _BASE_TYPES.get(btn, BASE_TYPE_BYTE)
                if size % bt.size:
                    out = (num, size, BASE_TYPE_BYTE.identifier)
        return out

    def _read_and_assert_crc(self, allow_zero=False):
        end = self._file.tell()
        crc_read = self._read_struct("H")
        self.crc_spans.append((self._span_start, end, crc_read, allow_zero))

    def crc_mismatch(self, data: bytes) -> FitCRCError | None:
        """The first CRC that does not match its bytes (fitparse's message), else None."""
        for start, end, crc_read, allow_zero in self.crc_spans:
            computed = fit_crc16(data[start:end])
            if computed != crc_read and not (allow_zero and crc_read == 0):
                return FitCRCError(f"CRC Mismatch [computed: 0x{computed:04X}, read: 0x{crc_read:04X}]")
        return None


class _RawProcessor:
    """A fitparse data processor that does nothing.

    fitparse's default ``FitFileDataProcessor`` only converts four profile types (bool, date_time,
    local_date_time, localtime_into_day), one value at a time, through ``getattr`` look-ups that
    mostly fail. We leave values raw and convert those four types per column at the end (same
    values, less time).
    """
    def run_type_processor(self, field_data):  # noqa: D102
        pass

    def run_field_processor(self, field_data):  # noqa: D102
        pass

    def run_unit_processor(self, field_data):  # noqa: D102
        pass

    def run_message_processor(self, data_message):  # noqa: D102
        pass


_RAW = _RawProcessor()


class _LenientFields(dict):
    """Developer fields of one developer index; an undescribed field gets a placeholder."""
    def __init__(self, dev_data_index, *args):
        super().__init__(*args)
        self.dev_data_index = dev_data_index

    def __contains__(self, key):  # fitparse checks membership before the look-up
        return True

    def __missing__(self, field_def_num):
        idx = self.dev_data_index
        placeholder = DevField(
            dev_data_index=idx,
            def_num=field_def_num,
            type=BASE_TYPE_BYTE,
            name=f"unknown_dev_{idx}_{field_def_num}",
            units=None,
            native_field_num=None,
        )
        dict.__setitem__(self, field_def_num, placeholder)
        return placeholder


class _LenientDevTypes(dict):
    """Stand-in for ``fitparse.records.DEV_TYPES`` that never raises on a missing definition.

    fitparse 1.2.0 raises FitParseError for a developer field (or description) whose developer
    index was never declared; newer fitparse has ``check_developer_data=False`` for this. We get
    the same effect: the field is kept as bytes named ``unknown_dev_<index>_<number>``.
    """
    def __contains__(self, key):
        return True

    def __setitem__(self, key, value):
        fields = value.get("fields") if isinstance(value, dict) else None
        if isinstance(fields, dict) and not isinstance(fields, _LenientFields):
            value = dict(value, fields=_LenientFields(key, fields))
        super().__setitem__(key, value)

    def __missing__(self, key):
        entry = {"dev_data_index": key, "application_id": None, "fields": _LenientFields(key)}
        dict.__setitem__(self, key, entry)
        return entry


# kinds of columns converted at the end
class _Collector:
    """Collects fitparse's messages as one row dict per message, then builds frames by column."""
    def __init__(self):
        self.rows: dict[str, list[dict]] = {}
        # per message name: {column: kind}, in order of first non-null value
        self.kinds: dict[str, dict[str, int]] = {}
        # per message name: {fitparse field object: column}
        self._keys: dict[str, dict] = {}
        self.n_messages = 0

    def run(self, ff) -> None:
        parse = ff._parse_message  # incremental: every message decoded before an error is kept
        messages = ff._messages  # fitparse keeps every message; we don't need them twice
        rows, kinds, keys = self.rows, self.kinds, self._keys
        while True:
            msg = parse()
            if msg is None:
                return
            messages.clear()
            if msg.type != "data":
                continue
            idx = self.n_messages
            self.n_messages = idx + 1
            mesg_type = msg.def_mesg.mesg_type
            if mesg_type is None:  # a message number the profile does not name
                continue
            name = mesg_type.name
            mkeys = keys.get(name)
            if mkeys is None:
                mkeys = keys[name] = {}
                kinds[name] = {}
                rows[name] = []
            row = {"_message_index": idx}
            for fd in msg.fields:
                f = fd.field
                if f is None:  # unknown_<num>
                    continue
                v = fd.value
                if v is None:
                    continue
                key = mkeys.get(f)
                if key is None:
                    key = mkeys[f] = self._register(name, f)
                row[key] = v
            rows[name].append(row)

    def _register(self, name: str, f) -> str:
        if f.field_type == "devfield":
            key, kind = f"dev:{f.dev_data_index}:{f.name}", K_VALUE
        else:
            key, kind = f.name, kind_of(f)
        self.kinds[name].setdefault(key, kind)
        return key

    def finish(self, error: IngestError | None) -> FitMessages:
        frames = {name: build_frame(rows, self.kinds[name]) for name, rows in self.rows.items()}
        return FitMessages(
            frames=frames,
            developer_fields=developer_fields(frames.get("field_description")),
            n_messages=self.n_messages,
            error=error,
            decoder=DECODER,
            file_type=file_type(frames.get("file_id")),
        )
