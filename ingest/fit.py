"""FIT bytes -> canonical frames, in two layers with a seam between them.

Layer 1, ``read_fit_messages(data) -> FitMessages``, turns the bytes into one polars frame per FIT
message name, with fitparse 1.2.0 as the decoder. Layer 2, ``fit_messages_to_decoded(msgs,
file_id) -> Decoded``, gives those frames their meaning (sessions -> activities, units, developer
fields, sources) in pure polars. A second decoder (``ingest/fit_columnar.py``,
``read_fit_messages_columnar(data) -> FitMessages``) plugs into the seam: it must return the same
``FitMessages``, value for value, and is diff-tested against this one field by field.

The ``FitMessages`` contract (both decoders)
--------------------------------------------
``frames: dict[str, pl.DataFrame]``
    Key: the message name of fitparse's profile (SDK 20.8): ``file_id``, ``record``, ``lap``,
    ``session``, ``event``, ``device_info``, ``activity``, ``sport``, ``field_description``, ...
    Messages whose global number the profile does not name (fitparse's ``unknown_<num>``) are
    left out. A name is present only if the file holds at least one such message.

    Rows: one per data message of that name, in file order (chained FIT files continue).

    Columns:

    - ``_message_index`` (Int64): position of the message among ALL data messages of the file,
      from 0, counting the unknown messages that are left out and continuing across chained files.
    - one column per field name after fitparse's processing: sub-fields resolved by their
      reference field (``avg_cadence`` -> ``avg_running_cadence`` when sport is running,
      ``total_cycles`` -> ``total_strides``, ``event.data`` -> ``timer_trigger``, ...), components
      expanded (``speed`` -> ``enhanced_speed``, ``altitude`` -> ``enhanced_altitude``,
      ``compressed_speed_distance`` -> ``speed`` + ``distance`` with fitparse's accumulation,
      compressed timestamp headers -> ``timestamp``), scale and offset applied (so
      ``stance_time`` is ms, ``vertical_oscillation`` mm, ``enhanced_altitude`` m,
      ``position_lat`` still semicircles), enum values rendered to their profile names.
    - fields fitparse calls ``unknown_<num>`` (not in its profile) are left out.
    - when one message carries the same name twice (a component and the native field, e.g.
      ``enhanced_speed`` from ``speed`` and a native ``enhanced_speed``), the value is the LAST
      non-null one in fitparse's field order (fitparse's ``get_values()`` keeps the last one even
      when it is null; we do not let an invalid value hide a valid one).
    - a column exists only if at least one message of that name has a non-null fitparse value
      for it (before the typing below: a ``date_time`` column whose values are all
      device-relative exists, all NULL, beside its ``__device_s``); column order is not part of
      the contract.

    Column types (nulls where fitparse gives ``None``, i.e. the FIT invalid value):

    - profile type ``date_time`` -> ``pl.Datetime('us')``, naive UTC
      (``1989-12-31T00:00Z + value s``). Values below ``0x10000000`` (device-relative system
      time, which fitparse leaves as ints) are NULL there, and the int goes to a Float64 column
      ``<name>__device_s`` (which exists only when such a value occurs).
    - profile type ``local_date_time`` -> ``pl.Datetime('us')`` the same way, for every value
      (fitparse converts these all; it is the device's local wall time, not UTC).
    - profile type ``bool`` -> ``pl.Boolean``.
    - profile type ``localtime_into_day`` -> ``pl.Time`` (NULL if >= 86400 s).
    - any other column, by the values in it: any string -> ``pl.Utf8`` (numbers in such a
      column, e.g. an enum value the profile does not name, are written with Python ``str()``
      of fitparse's value: ``'53'``, ``'1.5'``); else any tuple (array fields, ``byte`` fields)
      -> ``pl.List(pl.Float64)`` (``pl.List(pl.Utf8)`` if an element is a string; a scalar in
      such a column becomes a one-element list); else ``pl.Float64`` (all numbers, ints
      included).
    - developer fields -> ``dev:<developer_data_index>:<field_name>`` with the same value rules
      (Float64, Utf8 for strings, List for arrays/bytes). A developer field with no
      ``field_description`` is kept as ``dev:<i>:unknown_dev_<i>_<field_number>`` holding its
      bytes as a list (fitparse's ``check_developer_data=False`` naming); a description without a
      name is named ``unnamed_dev_field_<field_number>`` (fitparse's rule).

``developer_fields: pl.DataFrame``
    One row per ``field_description`` message: ``developer_data_index`` (Int32),
    ``field_number`` (Int32), ``field_name`` (Utf8, fitparse's fallback name when missing),
    ``units`` (Utf8), ``native_field_num`` (Int32), ``base_type`` (Utf8, the profile name:
    ``uint16``, ``float32``, ``string``, ...). Undescribed developer fields have no row.

``n_messages: int``
    Data messages decoded, the left-out unknown ones included (so every ``_message_index`` is
    below it).

``error: IngestError | None``
    Set when decoding stopped early (``TruncatedFile``, ``CorruptFile``, ``BadHeader`` for a bad
    chained header) or the file CRC did not match (``CrcMismatch``); the frames then hold every
    message decoded before the damage (for a CRC mismatch: all of them; fitparse's CRC verdicts
    are checked after decoding, see ``_FitFile``). The backend's exception is ``error.__cause__``. Damage before the first data message
    is raised instead (``BadHeader``, ``TruncatedFile``, ``CorruptFile``; ``EmptyFile`` for b'').

``file_type: str | None``
    ``file_id.type`` of the first ``file_id`` message: ``activity``, ``settings``,
    ``monitoring_b``, ``workout``, ``course``, ... (a number the profile does not name as
    ``str(int)``).

``decoder: str``
    Which decoder made the frames (``fitparse`` here); layer 2 copies it to ``Decoded.decoder``.

The helpers ``_developer_fields(field_description_frame)`` and ``_file_type(file_id_frame)``
build the two derived members from the frames, so both decoders derive them the same way.

Decoding is not thread-safe: fitparse keeps developer definitions in the module global
``fitparse.records.DEV_TYPES``; we replace it per file (so definitions do not leak from one file
to the next) and parallelise across processes, not threads.

Layer 2 (meaning) is documented on ``fit_messages_to_decoded``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

import fitparse
import fitparse.records as _fitparse_records
import numpy as np
import polars as pl
from fitparse.records import BASE_TYPE_BYTE, DevField
from fitparse.utils import FitCRCError, FitEOFError, FitHeaderError, FitParseError

from ingest import schema
from ingest.decode import Decoded
from ingest.errors import (
    BadHeader,
    CorruptFile,
    CrcMismatch,
    EmptyFile,
    IngestError,
    TruncatedFile,
)

#: FIT time zero, 1989-12-31T00:00:00Z, in Unix seconds (FIT SDK; fitparse UTC_REFERENCE).
FIT_EPOCH_S = 631_065_600
#: FIT date_time values below this are device-relative system time (FIT profile ``date_time.min``).
FIT_DEVICE_TIME_LIMIT = 0x10000000
#: semicircles -> degrees
SEMICIRCLE_TO_DEG = 180.0 / 2**31
#: UTC offsets that exist (UTC-12 .. UTC+14), seconds; an activity offset outside is not a zone.
_UTC_OFFSET_RANGE_S = (-12 * 3600, 14 * 3600)

DECODER = "fitparse"


@dataclass
class FitMessages:
    """What a FIT decoder returns: frames by message name (see the module docstring)."""
    frames: dict[str, pl.DataFrame]
    developer_fields: pl.DataFrame
    n_messages: int
    error: IngestError | None = None
    file_type: str | None = None
    decoder: str = DECODER


DEVELOPER_FIELDS_SCHEMA: dict[str, pl.DataType] = {
    "developer_data_index": pl.Int32,
    "field_number": pl.Int32,
    "field_name": pl.Utf8,
    "units": pl.Utf8,
    "native_field_num": pl.Int32,
    "base_type": pl.Utf8,
}


# --------------------------------------------------------------------------------------------
# Layer 1: bytes -> FitMessages (fitparse)
# --------------------------------------------------------------------------------------------


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


def _crc16_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_CRC16_TABLE = _crc16_table()


def fit_crc16(data: bytes, crc: int = 0) -> int:
    """The FIT CRC (CRC-16/ARC: poly 0xA001 reflected, init 0) of ``data``, byte-table driven."""
    table = _CRC16_TABLE
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc


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
_K_VALUE, _K_DT, _K_LOCAL_DT, _K_BOOL, _K_TOD = range(5)
_KIND_BY_TYPE = {
    "date_time": _K_DT,
    "local_date_time": _K_LOCAL_DT,
    "bool": _K_BOOL,
    "localtime_into_day": _K_TOD,
}


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
            key, kind = f"dev:{f.dev_data_index}:{f.name}", _K_VALUE
        else:
            key, kind = f.name, _KIND_BY_TYPE.get(getattr(f.type, "name", ""), _K_VALUE)
        self.kinds[name].setdefault(key, kind)
        return key

    def finish(self, error: IngestError | None) -> FitMessages:
        frames = {name: _build_frame(rows, self.kinds[name]) for name, rows in self.rows.items()}
        return FitMessages(
            frames=frames,
            developer_fields=_developer_fields(frames.get("field_description")),
            n_messages=self.n_messages,
            error=error,
            file_type=_file_type(frames.get("file_id")),
        )


def _build_frame(rows: list[dict], kinds: dict[str, int]) -> pl.DataFrame:
    cols: list[pl.Series] = [
        pl.Series("_message_index", [r["_message_index"] for r in rows], dtype=pl.Int64)
    ]
    for key, kind in kinds.items():
        vals = [r.get(key) for r in rows]
        cols.extend(_typed_series(key, vals, kind))
    return pl.DataFrame(cols)


def _typed_series(key: str, vals: list, kind: int) -> list[pl.Series]:
    if kind == _K_DT or kind == _K_LOCAL_DT:
        ints = [v if type(v) is int else None for v in vals]
        s = pl.Series(key, ints, dtype=pl.Int64)
        if kind == _K_LOCAL_DT:
            return [_fit_seconds_to_datetime(s)]
        is_dev = s < FIT_DEVICE_TIME_LIMIT
        out = [_fit_seconds_to_datetime(s.zip_with(~is_dev.fill_null(True), pl.Series([None] * len(s), dtype=pl.Int64)))]
        if is_dev.any():
            dev = s.zip_with(is_dev.fill_null(False), pl.Series([None] * len(s), dtype=pl.Int64))
            out.append(dev.cast(pl.Float64).alias(f"{key}__device_s"))
        return out
    if kind == _K_BOOL:
        return [pl.Series(key, [None if v is None else bool(v) for v in vals], dtype=pl.Boolean)]
    if kind == _K_TOD:
        secs = pl.Series(key, [v if type(v) is int and 0 <= v < 86400 else None for v in vals], dtype=pl.Int64)
        return [(secs * 1_000_000_000).cast(pl.Time).alias(key)]
    types = set(map(type, vals))
    if str in types:
        return [pl.Series(key, [None if v is None else str(v) for v in vals], dtype=pl.Utf8)]
    if tuple in types or list in types:
        seqs = [None if v is None else (v if isinstance(v, (tuple, list)) else (v,)) for v in vals]
        has_text = any(isinstance(x, str) for s in seqs if s is not None for x in s)
        if has_text:
            seqs = [None if s is None else [None if x is None else str(x) for x in s] for s in seqs]
            return [pl.Series(key, seqs, dtype=pl.List(pl.Utf8))]
        return [pl.Series(key, seqs, dtype=pl.List(pl.Float64), strict=False)]
    return [pl.Series(key, vals, dtype=pl.Float64, strict=False)]


def _fit_seconds_to_datetime(s: pl.Series) -> pl.Series:
    """FIT seconds (Int64) -> naive UTC pl.Datetime('us')."""
    return ((s + FIT_EPOCH_S) * 1_000_000).cast(pl.Datetime("us")).alias(s.name)


def _developer_fields(df: pl.DataFrame | None) -> pl.DataFrame:
    """developer_fields from the field_description frame (one row per description message)."""
    if df is None or df.height == 0:
        return pl.DataFrame(schema=DEVELOPER_FIELDS_SCHEMA)
    # a damaged description can carry a non-number here: treat it as missing, not as a crash
    num = _num_col(df, "field_definition_number") if "field_definition_number" in df.columns else None
    names = _text_col(df, "field_name")
    if num is not None:
        fallback = pl.Series([None if n is None else f"unnamed_dev_field_{int(n)}" for n in num])
        names = names.zip_with(names.is_not_null(), fallback)
    out = pl.DataFrame(
        {
            "developer_data_index": _num_col(df, "developer_data_index"),
            "field_number": num if num is not None else _num_col(df, "field_definition_number"),
            "field_name": names,
            "units": _text_col(df, "units"),
            "native_field_num": _num_col(df, "native_field_num"),
            "base_type": _text_col(df, "fit_base_type_id"),
        }
    )
    return out.select(
        [pl.col(c).cast(t, strict=False) for c, t in DEVELOPER_FIELDS_SCHEMA.items()]
    )


def _num_col(df: pl.DataFrame, name: str) -> pl.Series:
    if name in df.columns and df[name].dtype.is_numeric():
        return df[name].cast(pl.Float64)
    return pl.Series(name, [None] * df.height, dtype=pl.Float64)


def _text_col(df: pl.DataFrame, name: str) -> pl.Series:
    """A column as text; numbers (enum values the profile does not name) as int strings."""
    if name not in df.columns:
        return pl.Series(name, [None] * df.height, dtype=pl.Utf8)
    s = df[name]
    if s.dtype == pl.Utf8:
        return s
    if s.dtype.is_numeric():
        return pl.Series(name, [None if v is None else _num_text(v) for v in s], dtype=pl.Utf8)
    if isinstance(s.dtype, pl.List):
        return pl.Series(name, [None if v is None else ",".join(_num_text(x) for x in v if x is not None) for v in s], dtype=pl.Utf8)
    return s.cast(pl.Utf8, strict=False)


def _num_text(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _file_type(df: pl.DataFrame | None) -> str | None:
    if df is None or "type" not in df.columns:
        return None
    vals = _text_col(df, "type").drop_nulls()
    return vals[0] if len(vals) else None


# --------------------------------------------------------------------------------------------
# Layer 2: FitMessages -> Decoded (pure polars; accepts either decoder's FitMessages)
# --------------------------------------------------------------------------------------------

#: Developer fields mapped into ``records`` by name (case-insensitive), whatever their number:
#: field name -> (records column, {normalised units: factor to the column's unit}).
#: ``None`` units (no units string) take the Stryd default; unknown units are not mapped (the
#: values stay in ``developer_values``). Names and units: SCIENCE.md §2 (Stryd).
DEV_FIELD_MAP: dict[str, tuple[str, dict[str | None, float]]] = {
    "ground time": ("dev_ground_contact_time_ms",
                    {"milliseconds": 1.0, "millisecond": 1.0, "ms": 1.0, "msec": 1.0,
                     "seconds": 1000.0, "second": 1000.0, "s": 1000.0, None: 1.0}),
    "vertical oscillation": ("dev_vertical_oscillation_mm",
                             {"centimeters": 10.0, "centimeter": 10.0, "cm": 10.0,
                              "millimeters": 1.0, "millimeter": 1.0, "mm": 1.0,
                              "meters": 1000.0, "meter": 1000.0, "m": 1000.0, None: 10.0}),
    "power": ("dev_power_w", {"watts": 1.0, "watt": 1.0, "w": 1.0, None: 1.0}),
    "form power": ("dev_form_power_w", {"watts": 1.0, "watt": 1.0, "w": 1.0, None: 1.0}),
    "leg spring stiffness": ("dev_leg_spring_stiffness_kn_m",
                             {"kn/m": 1.0, "n/m": 0.001, None: 1.0}),
    # cadence is kept as recorded (Stryd writes per-foot RPM); any units string is accepted
    "cadence": ("dev_cadence_raw", {"*": 1.0}),
}

#: Sports whose FIT cadence counts strides (one foot) per minute.
STRIDE_SPORTS = frozenset({"running", "walking", "hiking"})
#: sub_sports (and sports) with no GPS expected.
INDOOR_SUB_SPORTS = frozenset({"treadmill", "indoor_running", "virtual_activity", "indoor_cycling",
                               "indoor_rowing", "indoor_walking", "indoor_skiing", "spin",
                               "indoor_climbing", "elliptical", "stair_climbing"})
INDOOR_SPORTS = frozenset({"fitness_equipment"})

#: Numeric sub-fields of ``event.data`` (the profile resolves ``data`` into these by event).
EVENT_DATA_FIELDS = ("data", "data16", "battery_level", "cad_high_alert", "cad_low_alert",
                     "calorie_duration_alert", "course_point_index", "distance_duration_alert",
                     "gear_change_data", "hr_high_alert", "hr_low_alert", "power_high_alert",
                     "power_low_alert", "speed_high_alert", "speed_low_alert", "sport_point",
                     "time_duration_alert", "virtual_partner_speed")

#: records column -> candidate (field, factor) in order of preference.
RECORD_FIELDS: dict[str, list[tuple[str, float]]] = {
    "latitude_deg": [("position_lat", SEMICIRCLE_TO_DEG)],
    "longitude_deg": [("position_long", SEMICIRCLE_TO_DEG)],
    "altitude_m": [("enhanced_altitude", 1.0), ("altitude", 1.0)],
    "distance_m": [("distance", 1.0)],
    "speed_mps": [("enhanced_speed", 1.0), ("speed", 1.0)],
    "heart_rate_bpm": [("heart_rate", 1.0)],
    "power_w": [("power", 1.0)],
    "temperature_c": [("temperature", 1.0)],
    "ground_contact_time_ms": [("stance_time", 1.0)],
    "stance_time_pct": [("stance_time_percent", 1.0)],
    "gct_balance_left_pct": [("stance_time_balance", 1.0)],
    "vertical_oscillation_mm": [("vertical_oscillation", 1.0)],
    "vertical_ratio_pct": [("vertical_ratio", 1.0)],
    "step_length_mm": [("step_length", 1.0)],
}

#: activities column <- session field (plain copies; units already those of the column).
SESSION_FIELDS: dict[str, tuple[str, ...]] = {
    "elapsed_time_s": ("total_elapsed_time",),
    "timer_time_s": ("total_timer_time",),
    "distance_m": ("total_distance",),
    "device_avg_ground_contact_time_ms": ("avg_stance_time",),
    "device_avg_gct_balance_left_pct": ("avg_stance_time_balance",),
    "device_avg_vertical_oscillation_mm": ("avg_vertical_oscillation",),
    "device_avg_vertical_ratio_pct": ("avg_vertical_ratio",),
    "device_avg_step_length_mm": ("avg_step_length",),
    "device_avg_heart_rate_bpm": ("avg_heart_rate",),
    "device_max_heart_rate_bpm": ("max_heart_rate",),
    "device_avg_speed_mps": ("enhanced_avg_speed", "avg_speed"),
    "device_avg_power_w": ("avg_power",),
    "device_total_ascent_m": ("total_ascent",),
    "device_total_descent_m": ("total_descent",),
    "device_total_calories_kcal": ("total_calories",),
}

#: laps column <- lap field(s), in order of preference.
LAP_FIELDS: dict[str, tuple[str, ...]] = {
    "elapsed_time_s": ("total_elapsed_time",),
    "timer_time_s": ("total_timer_time",),
    "distance_m": ("total_distance",),
    "avg_ground_contact_time_ms": ("avg_stance_time",),
    "avg_vertical_oscillation_mm": ("avg_vertical_oscillation",),
    "avg_heart_rate_bpm": ("avg_heart_rate",),
    "max_heart_rate_bpm": ("max_heart_rate",),
    "avg_speed_mps": ("enhanced_avg_speed", "avg_speed"),
    "avg_power_w": ("avg_power",),
    "total_ascent_m": ("total_ascent",),
    "total_descent_m": ("total_descent",),
}


def decode_fit(
    data: bytes,
    file_id: str,
    reader: Callable[[bytes], FitMessages] = read_fit_messages,
) -> Decoded:
    """FIT bytes -> ``Decoded`` (layer 1 ``reader``, then layer 2). Raises IngestError subclasses."""
    return fit_messages_to_decoded(reader(data), file_id)


def fit_messages_to_decoded(msgs: FitMessages, file_id: str) -> Decoded:
    """Give the message frames their meaning: activities, laps, records, events, developer values.

    - **Statuses**: ``msgs.error`` set -> ``salvaged`` (reason and error class from it;
      ``n_messages_salvaged`` = messages kept). No data message at all -> ``quarantined``
      (``EmptyFile``). ``file_id.type`` other than ``activity`` -> ``not_activity`` ("settings
      file"), even with records (a course's records are a plan, not a run). An activity (or
      untyped) file with neither records nor sessions -> ``not_activity`` when it decoded cleanly,
      ``quarantined`` when it was damaged (nothing before the damage is usable). No UTC time
      anywhere (device-relative timestamps only) -> ``no_timestamps`` with empty frames.
    - **Activities**: one per ``session`` message, in file order (``session_index`` from 0).
      ``started_at`` = start_time (else timestamp - total_elapsed_time, else the first record);
      ``ended_at`` = started_at + total_elapsed_time (never the session's own timestamp; the last
      record when the elapsed time is missing). Records, laps, events (and developer values of
      other messages) go to a session of their own chained FIT file (``file_id`` starts one)
      whose [start, end] holds their time (both ends inclusive; at a shared boundary the later
      session wins); anything outside every session goes to the nearest one; untimed messages
      follow the message before them in the file (see ``_assign``). Nothing is dropped. No
      session but records: one activity from the records (sport from the ``sport`` message,
      else the laps, else ``generic``; elapsed time and distance from the first/last record).
      ``is_indoor``: sub_sport in ``INDOOR_SUB_SPORTS`` or sport ``fitness_equipment``.
    - **Units**: positions semicircles -> degrees; ``enhanced_*`` preferred; cadence_raw =
      cadence + fractional_cadence (strides/min for running/walking/hiking: ``cadence_raw_unit``
      ``strides_min``, else ``rpm``). Device summary cadence: ``device_avg_cadence_spm`` =
      2 x (avg_running_cadence | avg_cadence + avg_fractional_cadence) for stride sports, else
      ``device_avg_cadence_rpm`` = avg_cadence + avg_fractional_cadence. ``local_offset_s`` =
      activity.local_timestamp - activity.timestamp (NULL when missing or not a real UTC offset).
    - **Developer fields**: every value -> ``developer_values``; Stryd-style names
      (``DEV_FIELD_MAP``) also -> ``records.dev_*`` in the column's unit.
    - **field_sources**: one row per (activity, filled records/activities column) naming the
      FIT field(s) it came from and how many values.
    """
    base = {"file_id": file_id, "format": "fit", "decoder": msgs.decoder}
    err = msgs.error
    if err is not None:
        base.update(error_class=err.error_class, n_messages_salvaged=msgs.n_messages)
    damage = f"; {err}" if err is not None else ""
    frames = msgs.frames
    rec = frames.get("record")
    ses = frames.get("session")
    n_rec = 0 if rec is None else rec.height
    n_ses = 0 if ses is None else ses.height

    if msgs.n_messages == 0:
        if err is not None:
            return Decoded(**base, status="quarantined", reason=str(err))
        return Decoded(**{**base, "error_class": "EmptyFile"}, status="quarantined",
                       reason="FIT file holds no data messages")
    if msgs.file_type not in (None, "activity"):
        return Decoded(**base, status="not_activity",
                       reason=f"{msgs.file_type} file, not an activity ({n_rec} records){damage}")
    if n_rec == 0 and n_ses == 0:
        if err is not None:
            return Decoded(**base, status="quarantined",
                           reason=f"no session or record before the damage{damage}")
        what = "activity file" if msgs.file_type else "FIT file without a file type"
        return Decoded(**base, status="not_activity",
                       reason=f"{what} with no sessions and no records ({msgs.n_messages} messages)")

    built = _build(msgs, file_id)
    if built is None:
        n_dev = 0 if rec is None or "timestamp__device_s" not in rec.columns else int(
            rec["timestamp__device_s"].is_not_null().sum())
        return Decoded(**base, status="no_timestamps",
                       reason=(f"no session or record has a UTC time ({n_ses} sessions, {n_rec} "
                               f"records, {n_dev} with device-relative time only){damage}"))
    status = "salvaged" if err is not None else "landed"
    return Decoded(**base, status=status, reason=str(err) if err is not None else None, **built)


# --- layer 2 helpers ------------------------------------------------------------------------


def _num(df: pl.DataFrame, name: str) -> pl.Expr:
    """A column as Float64 (NULL when absent or not numeric)."""
    if name in df.columns:
        dt = df.schema[name]
        if dt.is_numeric() or dt == pl.Utf8 or dt == pl.Boolean:
            return pl.col(name).cast(pl.Float64, strict=False)
    return pl.lit(None, dtype=pl.Float64)


def _time(df: pl.DataFrame, name: str) -> pl.Expr:
    if name in df.columns and isinstance(df.schema[name], pl.Datetime):
        return pl.col(name).cast(schema.UTC_DT)
    return pl.lit(None, dtype=schema.UTC_DT)


def _time_series(df: pl.DataFrame, name: str) -> pl.Series:
    """A Datetime column as a Series of df.height (all NULL when absent)."""
    if name in df.columns and isinstance(df.schema[name], pl.Datetime):
        return df[name].cast(schema.UTC_DT)
    return pl.Series(name, [None] * df.height, dtype=schema.UTC_DT)


def _coalesce_sources(cands: list[tuple[str, pl.Expr]]) -> tuple[pl.Expr, list[tuple[str, pl.Expr]]]:
    """The first non-null candidate, and per candidate 'was used' booleans (for field_sources)."""
    used = []
    prev_null = pl.lit(True)
    for label, expr in cands:
        used.append((label, prev_null & expr.is_not_null()))
        prev_null = prev_null & expr.is_null()
    return pl.coalesce([e for _, e in cands]) if cands else pl.lit(None, dtype=pl.Float64), used


def _assign(ts_us, msg_idx, windows: list[tuple[int | None, int | None, int]], starts_of_files):
    """Index of the window holding each time (numpy int64 array; -1 for untimed).

    ``windows`` are (start_us, end_us, session _message_index); ``starts_of_files`` the sorted
    ``_message_index`` of the ``file_id`` messages (each starts a chained FIT file). The choice
    minimises, in order: 1 if the session is in another chained file (chained files that repeat
    a time span keep their own records); the distance to the window (0 inside, ends inclusive;
    else to the nearer edge); -start for windows that hold the time (at a shared boundary the
    later session wins); the distance in file order to the session message.
    """
    n = len(ts_us)
    out = np.full(n, -1, dtype=np.int64)
    timed = ~np.isnan(ts_us)
    if not timed.any():
        return out
    msg = np.asarray(msg_idx, dtype=np.float64)
    bounds = np.asarray(starts_of_files, dtype=np.float64)
    seg = np.searchsorted(bounds, msg, side="right")
    best = tuple(np.full(n, np.inf) for _ in range(4))
    for j, (s, e, m) in enumerate(windows):
        if s is None:
            continue
        e = s if e is None else e
        inside = (ts_us >= s) & (ts_us <= e)
        key = (np.where(seg == np.searchsorted(bounds, m, side="right"), 0.0, 1.0),
               np.where(inside, 0.0, np.minimum(np.abs(ts_us - s), np.abs(ts_us - e))),
               np.where(inside, -float(s), 0.0),
               np.abs(msg - m))
        better = np.zeros(n, dtype=bool)
        equal = np.ones(n, dtype=bool)
        for k, b in zip(key, best):
            better |= equal & (k < b)
            equal &= k == b
        better &= timed
        out[better] = j
        best = tuple(np.where(better, k, b) for k, b in zip(key, best))
    return out


def _fill_assignment(idx, default: int = 0):
    """Untimed (-1) entries follow the entry before them (file order), else after, else default."""
    if len(idx) == 0 or (idx >= 0).all():
        return idx
    s = pl.Series(np.where(idx >= 0, idx, None).tolist(), dtype=pl.Int64)
    s = s.fill_null(strategy="forward").fill_null(strategy="backward").fill_null(default)
    return s.to_numpy()


def _us(s: pl.Series):
    """Datetime series -> float64 numpy microseconds (NaN for NULL)."""
    return s.cast(pl.Int64).cast(pl.Float64).fill_null(float("nan")).to_numpy()


def _dt_us(v: datetime | None) -> int | None:
    if v is None:
        return None
    return int((v - datetime(1970, 1, 1)) / timedelta(microseconds=1))


def _dev_columns(df: pl.DataFrame) -> list[tuple[str, int, str]]:
    """(column, developer_data_index, field_name) of the developer columns of a frame."""
    out = []
    for c in df.columns:
        if c.startswith("dev:"):
            _, idx, name = c.split(":", 2)
            try:
                out.append((c, int(idx), name))
            except ValueError:
                continue
    return out


def _dev_info(msgs: FitMessages) -> dict[tuple[int, str], tuple[int | None, str | None]]:
    """(developer_data_index, field_name) -> (field_number, units), first description wins."""
    info: dict[tuple[int, str], tuple[int | None, str | None]] = {}
    df = msgs.developer_fields
    if df is not None and df.height:
        for r in df.iter_rows(named=True):
            if r["developer_data_index"] is None or r["field_name"] is None:
                continue
            info.setdefault((int(r["developer_data_index"]), r["field_name"]),
                            (r["field_number"], r["units"]))
    return info


_UNKNOWN_DEV = re.compile(r"^unknown_dev_(\d+)_(\d+)$")
_UNNAMED_DEV = re.compile(r"^unnamed_dev_field_(\d+)$")


def _dev_meta(info, idx: int, name: str) -> tuple[int | None, str | None]:
    if (idx, name) in info:
        return info[(idx, name)]
    m = _UNKNOWN_DEV.match(name) or _UNNAMED_DEV.match(name)
    return (int(m.groups()[-1]) if m else None, None)


def _norm_units(u: str | None) -> str | None:
    if u is None:
        return None
    u = u.strip().lower().replace(" ", "")
    return u or None


def _build(msgs: FitMessages, file_id: str) -> dict | None:
    """The frames of an activity file; None when nothing carries a UTC time."""
    frames = msgs.frames
    rec = frames.get("record")
    ses = frames.get("session")
    laps = frames.get("lap")
    events = frames.get("event")
    rec = rec if rec is not None else pl.DataFrame({"_message_index": pl.Series([], dtype=pl.Int64)})
    n_rec = rec.height

    rec_ts = _time_series(rec, "timestamp")
    rec_us = _us(rec_ts)

    # --- sessions: windows ---
    sessions: list[dict] = []
    if ses is not None and ses.height:
        sdf = ses.select(
            pl.col("_message_index"),
            _time(ses, "start_time").alias("start_time"),
            _time(ses, "timestamp").alias("timestamp"),
            _num(ses, "total_elapsed_time").alias("elapsed"),
        )
        for r in sdf.iter_rows(named=True):
            msg = r["_message_index"]
            start, el = r["start_time"], r["elapsed"]
            src = "fit:session.start_time"
            if start is None and r["timestamp"] is not None and el is not None:
                start, src = r["timestamp"] - timedelta(seconds=el), "fit:session.timestamp-total_elapsed_time"
            end = start + timedelta(seconds=el) if start is not None and el is not None else None
            sessions.append({"start": start, "end": end, "start_src": src if start else None,
                             "msg": msg})
        synthetic = False
    else:
        synthetic = True
        sessions.append({"start": None, "end": None, "start_src": None, "msg": 0})

    windows = [(_dt_us(s["start"]), _dt_us(s["end"]), s["msg"]) for s in sessions]
    fid = frames.get("file_id")
    file_starts = sorted(fid["_message_index"].to_list()) if fid is not None else []
    if synthetic:
        rec_act = np.zeros(n_rec, dtype=np.int64)
    else:
        rec_act = _fill_assignment(_assign(rec_us, rec["_message_index"], windows, file_starts))

    # sessions without a start: from their records
    for j, s in enumerate(sessions):
        mine = rec_us[(rec_act == j) & ~np.isnan(rec_us)]
        s["first_rec"] = _from_us(mine.min()) if len(mine) else None
        s["last_rec"] = _from_us(mine.max()) if len(mine) else None
        if s["start"] is None and s["first_rec"] is not None:
            s["start"], s["start_src"] = s["first_rec"], "fit:record.timestamp(first)"
    if all(s["start"] is None for s in sessions):
        return None

    act_ids = [schema.activity_id_for(file_id, j) for j in range(len(sessions))]
    sports = _session_sports(msgs, ses, laps, synthetic, len(sessions))

    # --- records ---
    records, rec_sources = _records(msgs, rec, rec_act, act_ids)

    # --- laps ---
    lap_frame = schema.empty("laps")
    lap_act = np.zeros(0, dtype=np.int64)
    if laps is not None and laps.height:
        lap_start = _time_series(laps, "start_time").fill_null(_time_series(laps, "timestamp"))
        lap_act = np.zeros(laps.height, dtype=np.int64) if synthetic else _fill_assignment(
            _assign(_us(lap_start), laps["_message_index"], windows, file_starts))
        lap_frame = _laps(laps, lap_act, act_ids, sports)

    # --- events ---
    event_frame = schema.empty("events")
    if events is not None and events.height:
        ev_ts = _time_series(events, "timestamp")
        ev_act = np.zeros(events.height, dtype=np.int64) if synthetic else _fill_assignment(
            _assign(_us(ev_ts), events["_message_index"], windows, file_starts))
        data = [_num(events, c) for c in EVENT_DATA_FIELDS if c in events.columns]
        event_frame = schema.conform(events.select(
            pl.Series("activity_id", [act_ids[j] for j in ev_act], dtype=pl.Utf8),
            _time(events, "timestamp").alias("recorded_at"),
            pl.Series("event", _text_col(events, "event")),
            pl.Series("event_type", _text_col(events, "event_type")),
            (pl.coalesce(data) if data else pl.lit(None, dtype=pl.Float64)).alias("data"),
        ), "events")

    # --- activities ---
    activities, act_sources = _activities(msgs, file_id, ses, sessions, sports, synthetic, act_ids,
                                          records, lap_frame)

    # --- developer values ---
    dev_values = _developer_values(msgs, windows, file_starts, synthetic, act_ids, rec_act, lap_act)

    sources = pl.concat([rec_sources, act_sources], how="vertical_relaxed")
    return {
        "activities": activities,
        "laps": lap_frame,
        "records": records,
        "events": event_frame,
        "developer_values": dev_values,
        "field_sources": schema.conform(sources, "field_sources"),
    }


def _from_us(v) -> datetime:
    return datetime(1970, 1, 1) + timedelta(microseconds=int(v))


def _session_sports(msgs, ses, laps, synthetic: bool, n: int) -> list[tuple[str | None, str | None]]:
    """(sport, sub_sport) per activity."""
    if not synthetic:
        sp, sub = _text_col(ses, "sport"), _text_col(ses, "sub_sport")
        return list(zip(sp.to_list(), sub.to_list()))
    sport_msg = msgs.frames.get("sport")
    for df in (sport_msg, laps):
        if df is not None and df.height:
            sp = _text_col(df, "sport").drop_nulls()
            if len(sp):
                sub = _text_col(df, "sub_sport").drop_nulls()
                return [(sp[0], sub[0] if len(sub) else None)] * n
    return [("generic", None)] * n


def _records(msgs, rec: pl.DataFrame, rec_act, act_ids) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The records frame and its field_sources rows."""
    if rec.height == 0:
        return schema.empty("records"), schema.empty("field_sources")
    cols: list[pl.Expr] = [
        pl.Series("activity_id", [act_ids[j] for j in rec_act], dtype=pl.Utf8).alias("activity_id"),
        _time(rec, "timestamp").alias("recorded_at"),
    ]
    used: list[tuple[str, str, pl.Expr]] = [("recorded_at", "fit:record.timestamp",
                                             _time(rec, "timestamp").is_not_null())]
    for col, cands in RECORD_FIELDS.items():
        exprs = [(f"fit:record.{f}", _num(rec, f) * k if k != 1.0 else _num(rec, f))
                 for f, k in cands if f in rec.columns]
        value, u = _coalesce_sources(exprs)
        cols.append(value.alias(col))
        used.extend((col, label, e) for label, e in u)
    # cadence: cadence + fractional_cadence, else cadence, else cadence256
    cad, frac = _num(rec, "cadence"), _num(rec, "fractional_cadence")
    cad_cands = []
    if "cadence" in rec.columns:
        if "fractional_cadence" in rec.columns:
            cad_cands.append(("fit:record.cadence+fractional_cadence",
                              pl.when(frac.is_not_null()).then(cad + frac)))
        cad_cands.append(("fit:record.cadence", cad))
    if "cadence256" in rec.columns:
        cad_cands.append(("fit:record.cadence256", _num(rec, "cadence256")))
    value, u = _coalesce_sources(cad_cands)
    cols.append(value.alias("cadence_raw"))
    used.extend(("cadence_raw", label, e) for label, e in u)

    # developer fields mapped by name
    info = _dev_info(msgs)
    targets: dict[str, list[tuple[str, pl.Expr]]] = {}
    for c, idx, name in sorted(_dev_columns(rec), key=lambda t: (t[1], t[0])):
        m = DEV_FIELD_MAP.get(name.strip().lower())
        if m is None or not rec.schema[c].is_numeric():
            continue
        target, factors = m
        units = _norm_units(_dev_meta(info, idx, name)[1])
        factor = factors["*"] if "*" in factors else factors.get(units)
        if factor is None:
            continue
        targets.setdefault(target, []).append(
            (f"fit_dev:{name}", pl.col(c).cast(pl.Float64) * factor))
    for target, exprs in targets.items():
        value, u = _coalesce_sources(exprs)
        cols.append(value.alias(target))
        used.extend((target, label, e) for label, e in u)

    flags = [e.alias(f"__u{i}") for i, (_, _, e) in enumerate(used)]
    out = rec.select(*cols, *flags).with_columns(
        pl.int_range(pl.len(), dtype=pl.Int32).over("activity_id").alias("record_index")
    )
    counts = out.group_by("activity_id", maintain_order=True).agg(
        [pl.col(f"__u{i}").sum() for i in range(len(used))]
    )
    rows = []
    for r in counts.iter_rows(named=True):
        per_col: dict[str, list[tuple[str, int]]] = {}
        for i, (col, label, _) in enumerate(used):
            n = r[f"__u{i}"] or 0
            if n:
                per_col.setdefault(col, []).append((label, n))
        for col, parts in per_col.items():
            rows.append({"activity_id": r["activity_id"], "column_name": col,
                         "source": "|".join(label for label, _ in parts),
                         "n_values": sum(n for _, n in parts)})
    sources = pl.DataFrame(rows, schema=schema.FIELD_SOURCES) if rows else schema.empty("field_sources")
    return schema.conform(out.drop([f"__u{i}" for i in range(len(used))]), "records"), sources


def _duration(seconds: pl.Expr) -> pl.Expr:
    """Float seconds -> a Duration (microseconds, rounded)."""
    return pl.duration(microseconds=(seconds * 1e6).round().cast(pl.Int64))


def _stride_sport(sport: str | None) -> bool:
    return sport in STRIDE_SPORTS


def _laps(laps: pl.DataFrame, lap_act, act_ids, sports) -> pl.DataFrame:
    lap_sport = _text_col(laps, "sport")
    act_sport = pl.Series([sports[j][0] for j in lap_act], dtype=pl.Utf8)
    sport = lap_sport.zip_with(lap_sport.is_not_null(), act_sport)
    is_stride = sport.is_in(pl.Series(sorted(STRIDE_SPORTS), dtype=pl.Utf8).implode()).fill_null(False)
    start = pl.coalesce(_time(laps, "start_time"),
                        _time(laps, "timestamp") - _duration(_num(laps, "total_elapsed_time")))
    cad = pl.coalesce(_num(laps, "avg_running_cadence"), _num(laps, "avg_cadence"))
    frac = _num(laps, "avg_fractional_cadence").fill_null(0.0)
    strides = pl.coalesce(_num(laps, "total_strides"), _num(laps, "total_cycles"))
    exprs = [
        pl.Series("activity_id", [act_ids[j] for j in lap_act], dtype=pl.Utf8),
        start.alias("started_at"),
        (start + _duration(_num(laps, "total_elapsed_time"))).alias("ended_at"),
        pl.when(pl.lit(is_stride)).then(2.0 * (cad + frac)).alias("avg_cadence_spm"),
        pl.when(pl.lit(is_stride)).then(strides).alias("total_strides"),
        pl.Series("intensity", _text_col(laps, "intensity")),
        pl.Series("lap_trigger", _text_col(laps, "lap_trigger")),
    ]
    for col, fields in LAP_FIELDS.items():
        exprs.append(pl.coalesce([_num(laps, f) for f in fields]).alias(col))
    out = laps.select(exprs).with_columns(
        pl.int_range(pl.len(), dtype=pl.Int32).over("activity_id").alias("lap_index")
    )
    return schema.conform(out, "laps")


def _local_offset(msgs: FitMessages) -> int | None:
    """activity.local_timestamp - activity.timestamp, seconds (first activity message with both)."""
    act = msgs.frames.get("activity")
    if act is None or "local_timestamp" not in act.columns or "timestamp" not in act.columns:
        return None
    if not isinstance(act.schema["local_timestamp"], pl.Datetime) or not isinstance(act.schema["timestamp"], pl.Datetime):
        return None
    both = act.filter(pl.col("local_timestamp").is_not_null() & pl.col("timestamp").is_not_null())
    if both.height == 0:
        return None
    d = both.row(0, named=True)
    off = int(round((d["local_timestamp"] - d["timestamp"]).total_seconds()))
    lo, hi = _UTC_OFFSET_RANGE_S
    return off if lo <= off <= hi else None


def _device(msgs: FitMessages) -> tuple[dict[str, str | None], dict[str, str]]:
    """manufacturer, product, serial_number (file_id, else the creator device_info) + sources."""
    out: dict[str, str | None] = {"manufacturer": None, "product": None, "serial_number": None}
    src: dict[str, str] = {}
    fid = msgs.frames.get("file_id")
    di = msgs.frames.get("device_info")
    creator_rows = None
    if di is not None and di.height:
        dev_idx = _text_col(di, "device_index")
        creator_rows = di.filter((dev_idx == "creator") | (dev_idx == "0"))
    for name, df in (("file_id", fid), ("device_info", creator_rows)):
        if df is None or df.height == 0:
            continue
        for col, fields in (("manufacturer", ("manufacturer",)),
                            ("product", ("product_name", "garmin_product", "favero_product", "product")),
                            ("serial_number", ("serial_number",))):
            if out[col] is not None:
                continue
            for f in fields:
                if f in df.columns:
                    v = _text_col(df, f).drop_nulls()
                    if len(v):
                        out[col], src[col] = v[0], f"fit:{name}.{f}"
                        break
    return out, src


def _activities(msgs, file_id, ses, sessions, sports, synthetic, act_ids, records, laps):
    offset = _local_offset(msgs)
    device, dev_src = _device(msgs)
    creator = " ".join(v for v in (device["manufacturer"], device["product"]) if v) or None
    sport_msg = msgs.frames.get("sport")
    rows, src_rows = [], []
    srows = ses.iter_rows(named=True) if not synthetic else iter([{}])
    rec_stats = {}
    if records.height:
        for r in records.group_by("activity_id").agg(
            pl.len().alias("n"),
            (pl.col("latitude_deg").is_not_null() & pl.col("longitude_deg").is_not_null()).any().alias("pos"),
            pl.col("distance_m").max().alias("dist"),
        ).iter_rows(named=True):
            rec_stats[r["activity_id"]] = r
    lap_counts = dict(laps.group_by("activity_id").len().iter_rows()) if laps.height else {}
    for j, (s, srow) in enumerate(zip(sessions, srows)):
        aid = act_ids[j]
        sport, sub = sports[j]
        st = rec_stats.get(aid, {})
        row: dict = {"activity_id": aid, "file_id": file_id, "session_index": j,
                     "source_format": "fit", "sport": sport, "sub_sport": sub}
        src: dict[str, str] = {}
        sess = "fit:session." if not synthetic else None
        if sport is not None:
            src["sport"] = f"{sess}sport" if sess else "fit:sport.sport|lap.sport"
        if sub is not None:
            src["sub_sport"] = f"{sess}sub_sport" if sess else "fit:sport.sub_sport|lap.sub_sport"
        # name: the sport message of this sport, if it names it (no sport: nothing to match;
        # polars refuses ``Utf8 == None``)
        if sport is not None and sport_msg is not None and "name" in sport_msg.columns:
            names = sport_msg.filter(pl.Series(_text_col(sport_msg, "sport") == sport).fill_null(False))["name"].drop_nulls()
            if len(names):
                row["name"], src["name"] = str(names[0]), "fit:sport.name"
        start = s["start"]
        row["started_at"] = start
        src["started_at"] = s["start_src"]
        el = srow.get("total_elapsed_time") if not synthetic else None
        el = float(el) if isinstance(el, (int, float)) else None
        if start is not None and el is not None:
            row["ended_at"] = start + timedelta(microseconds=round(el * 1e6))
            src["ended_at"] = "fit:session.start_time+total_elapsed_time"
        elif s["last_rec"] is not None:
            row["ended_at"] = s["last_rec"]
            src["ended_at"] = "fit:record.timestamp(last)"
        if synthetic and start is not None and s["last_rec"] is not None:
            row["elapsed_time_s"] = (s["last_rec"] - start).total_seconds()
            src["elapsed_time_s"] = "fit:record.timestamp(last-first)"
            if st.get("dist") is not None:
                row["distance_m"], src["distance_m"] = st["dist"], "fit:record.distance(max)"
        row["local_offset_s"] = offset
        if offset is not None:
            src["local_offset_s"] = "fit:activity.local_timestamp-timestamp"
        if start is not None:
            row["local_date"] = (start + timedelta(seconds=offset or 0)).date()
        if not synthetic:
            for col, fields in SESSION_FIELDS.items():
                for f in fields:
                    v = srow.get(f)
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        row[col], src[col] = float(v), f"fit:session.{f}"
                        break
            _session_cadence(srow, sport, row, src)
        row["is_indoor"] = (sub in INDOOR_SUB_SPORTS) or (sport in INDOOR_SPORTS)
        row["has_position"] = bool(st.get("pos", False))
        row["cadence_raw_unit"] = "strides_min" if _stride_sport(sport) else "rpm"
        row.update(device)
        src.update(dev_src)
        row["creator"] = creator
        if creator:
            src["creator"] = "+".join(dev_src[k] for k in ("manufacturer", "product") if k in dev_src)
        row["n_records"] = int(st.get("n", 0))
        row["n_laps"] = int(lap_counts.get(aid, 0))
        rows.append(row)
        for col, label in src.items():
            if label and row.get(col) is not None:
                src_rows.append({"activity_id": aid, "column_name": col, "source": label, "n_values": 1})
    acts = schema.conform(pl.DataFrame(rows, schema_overrides={k: v for k, v in schema.ACTIVITIES.items()}), "activities") if rows else schema.empty("activities")
    srcs = pl.DataFrame(src_rows, schema=schema.FIELD_SOURCES) if src_rows else schema.empty("field_sources")
    return acts, srcs


def _session_cadence(srow: dict, sport: str | None, row: dict, src: dict) -> None:
    """Device summary cadence and strides from a session row (see fit_messages_to_decoded)."""
    def num(name):
        v = srow.get(name)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    frac = num("avg_fractional_cadence")
    frac_label = "+avg_fractional_cadence" if frac is not None else ""
    if _stride_sport(sport):
        for f in ("avg_running_cadence", "avg_cadence"):
            cad = num(f)
            if cad is not None:
                row["device_avg_cadence_spm"] = 2.0 * (cad + (frac or 0.0))
                src["device_avg_cadence_spm"] = f"fit:session.2*({f}{frac_label})"
                break
        for f in ("total_strides", "total_cycles"):
            v = num(f)
            if v is not None:
                row["device_total_strides"], src["device_total_strides"] = int(round(v)), f"fit:session.{f}"
                break
    else:
        for f in ("avg_cadence", "avg_running_cadence"):
            cad = num(f)
            if cad is not None:
                row["device_avg_cadence_rpm"] = cad + (frac or 0.0)
                src["device_avg_cadence_rpm"] = f"fit:session.{f}{frac_label}"
                break
        v = num("total_strides")
        if v is not None:
            row["device_total_strides"], src["device_total_strides"] = int(round(v)), "fit:session.total_strides"


def _developer_values(msgs, windows, file_starts, synthetic, act_ids, rec_act, lap_act) -> pl.DataFrame:
    """Every developer-field value, long format (see schema.DEVELOPER_VALUES)."""
    info = _dev_info(msgs)
    parts: list[pl.DataFrame] = []
    for mesg, df in msgs.frames.items():
        devs = _dev_columns(df)
        if not devs or df.height == 0:
            continue
        ts = _time_series(df, "timestamp")
        if mesg == "record":
            act = rec_act
        elif mesg == "lap":
            act = lap_act
        elif mesg == "session" and not synthetic:
            act = np.arange(df.height, dtype=np.int64)
        elif synthetic:
            act = np.zeros(df.height, dtype=np.int64)
        else:
            act = _fill_assignment(_assign(_us(ts), df["_message_index"], windows, file_starts))
        act = np.minimum(act, len(act_ids) - 1)
        ids = pl.Series("activity_id", [act_ids[j] for j in act], dtype=pl.Utf8)
        base = pl.DataFrame([ids, ts.alias("recorded_at")]).with_columns(
            pl.int_range(pl.len(), dtype=pl.Int32).over("activity_id").alias("message_index")
        )
        if mesg == "session" and not synthetic:
            base = base.with_columns(pl.Series("message_index", act, dtype=pl.Int32))
        for c, idx, name in devs:
            num, units = _dev_meta(info, idx, name)
            s = df[c]
            if s.dtype.is_numeric():
                value, text = s.cast(pl.Float64), pl.Series([None] * df.height, dtype=pl.Utf8)
            else:
                value, text = pl.Series([None] * df.height, dtype=pl.Float64), _text_col(df, c)
            part = base.with_columns(
                pl.lit(mesg).alias("message"),
                pl.lit(idx, dtype=pl.Int32).alias("developer_data_index"),
                pl.lit(num, dtype=pl.Int32).alias("field_number"),
                pl.lit(name).alias("field_name"),
                pl.lit(units, dtype=pl.Utf8).alias("units"),
                value.alias("value"),
                text.alias("value_text"),
            ).filter(pl.col("value").is_not_null() | pl.col("value_text").is_not_null())
            if part.height:
                parts.append(part)
    if not parts:
        return schema.empty("developer_values")
    return schema.conform(pl.concat(parts, how="vertical_relaxed"), "developer_values")
