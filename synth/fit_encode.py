"""A small FIT *writer*: valid activity files for tests and the demo export.

Field numbers, base types, scales, offsets and enum values come from fitparse's profile
(``fitparse.profile.MESSAGE_TYPES``), so a value is written as ``raw = round((value + offset) *
scale)`` and fitparse reads back ``raw / scale - offset``. ``None`` (or NaN in a numpy column)
is written as the base type's invalid sentinel (0xFF.., 0x7F.. for signed, 0 for ``*z`` types),
which decoders read as "no value".

Two levels:

- :class:`FitWriter`: definition + data messages for any profile message, developer fields,
  compressed-timestamp headers, big-endian definitions, local-type reuse/redefinition; then
  :meth:`FitWriter.to_bytes` adds the 14-byte header (with header CRC) and the file CRC.
- :func:`encode_activity`: a whole activity file the way a Garmin watch lays it out (file_id,
  device_info, developer descriptions, timer events incl. pauses, records, laps, session,
  activity), with lap/session summaries computed from the records (:func:`summarize`) unless
  given.

Units of values are the profile's: m, m/s, s, mm, ms, percent, bpm, rpm (= strides/min for
running cadence), semicircles for positions (see :func:`semicircles`). Timestamps are
``datetime`` (aware, or naive meaning UTC) or ints (seconds since the FIT epoch 1989-12-31 UTC,
which lets tests write device-relative times < 0x10000000).

Pure: no I/O, no prefect, no duckdb.
"""

from __future__ import annotations

import bisect
import math
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from fitparse.profile import MESSAGE_TYPES
from fitparse.records import BASE_TYPES, FieldType

from ingest.fit_messages import FIT_EPOCH as _FIT_EPOCH_NAIVE
from ingest.fit_messages import FIT_EPOCH_S
from ingest.fit_messages import fit_crc16 as crc16  # the one FIT CRC (CRC-16/ARC); re-exported

#: 1989-12-31T00:00:00Z, the FIT epoch (``ingest.fit_messages.FIT_EPOCH``, made aware).
FIT_EPOCH = _FIT_EPOCH_NAIVE.replace(tzinfo=timezone.utc)
_ONE_S = timedelta(seconds=1)
#: unix seconds = FIT seconds + this.
FIT_EPOCH_UNIX_S = FIT_EPOCH_S
HEADER_SIZE = 14
PROTOCOL_VERSION = 0x20  # 2.0 (needed for developer fields)
PROFILE_VERSION = 2132  # 21.32, as written in the header

_BASE_BY_NAME = {bt.name: bt for bt in BASE_TYPES.values()}

# Invalid value (as an unsigned bit pattern for integer types) per base type name.
_INVALID = {
    "enum": 0xFF, "uint8": 0xFF, "sint8": 0x7F, "uint16": 0xFFFF, "sint16": 0x7FFF,
    "uint32": 0xFFFFFFFF, "sint32": 0x7FFFFFFF, "uint64": 0xFFFFFFFFFFFFFFFF,
    "sint64": 0x7FFFFFFFFFFFFFFF, "uint8z": 0, "uint16z": 0, "uint32z": 0, "uint64z": 0,
    "float32": 0xFFFFFFFF, "float64": 0xFFFFFFFFFFFFFFFF,
}
# Valid raw range (inclusive) for integer base types: the sentinel is excluded.
_RANGE = {
    "enum": (0, 0xFE), "uint8": (0, 0xFE), "sint8": (-0x80, 0x7E),
    "uint16": (0, 0xFFFE), "sint16": (-0x8000, 0x7FFE),
    "uint32": (0, 0xFFFFFFFE), "sint32": (-0x80000000, 0x7FFFFFFE),
    "uint64": (0, 0xFFFFFFFFFFFFFFFE), "sint64": (-(1 << 63), (1 << 63) - 2),
    "uint8z": (1, 0xFF), "uint16z": (1, 0xFFFF), "uint32z": (1, 0xFFFFFFFF),
    "uint64z": (1, 0xFFFFFFFFFFFFFFFF),
}
_FLOAT_BITS = {"float32": ("<f4", "<u4", "I"), "float64": ("<f8", "<u8", "Q")}


# --------------------------------------------------------------------------- helpers


def fit_seconds(value: datetime | int) -> int:
    """Seconds since the FIT epoch; ``value`` aware or naive-UTC datetime, or already an int."""
    if isinstance(value, (int, np.integer)):
        return int(value)
    epoch = _FIT_EPOCH_NAIVE if value.tzinfo is None else FIT_EPOCH
    return round((value - epoch) / _ONE_S)


def from_fit_seconds(seconds: int) -> datetime:
    """Naive UTC datetime of a FIT timestamp (what fitparse returns)."""
    return (FIT_EPOCH + timedelta(seconds=int(seconds))).replace(tzinfo=None)


def semicircles(degrees: float) -> int:
    """Degrees -> FIT semicircles (sint32): ``round(deg * 2**31 / 180)``."""
    return int(round(degrees * (2**31) / 180.0))


def degrees(semis: int) -> float:
    """FIT semicircles -> degrees."""
    return semis * 180.0 / (2**31)


@dataclass(frozen=True)
class DevFieldSpec:
    """One developer field (e.g. Stryd's 'Ground Time' in Milliseconds, uint16).

    ``name`` is both the field_description's field_name and the key of the values in the
    records passed to :func:`encode_activity`. ``field_number`` defaults to the spec's position.
    Scale/offset are not supported (fitparse ignores them for developer fields anyway).
    """

    name: str
    units: str
    base_type: str = "uint16"  # a fitparse base type name: uint8, uint16, sint32, float32, ...
    field_number: int | None = None
    native_field_num: int | None = None  # the native record field it mirrors, if any
    native_mesg: str = "record"


#: Stryd-like developer fields (names/units/types as Stryd writes them; see SCIENCE.md §2).
STRYD_FIELDS: tuple[DevFieldSpec, ...] = (
    DevFieldSpec("Power", "Watts", "uint16", 0, native_field_num=7),
    DevFieldSpec("Cadence", "RPM", "uint8", 2, native_field_num=4),
    DevFieldSpec("Ground Time", "Milliseconds", "uint16", 3, native_field_num=41),
    DevFieldSpec("Vertical Oscillation", "Centimeters", "float32", 4, native_field_num=39),
    DevFieldSpec("Form Power", "Watts", "uint16", 8),
    DevFieldSpec("Leg Spring Stiffness", "kN/m", "float32", 9),
)


# --------------------------------------------------------------------------- profile lookup


@dataclass(frozen=True)
class _Spec:
    """How to write one field: resolved from the profile (or a developer field)."""

    name: str
    def_num: int
    base: str  # base type name
    scale: float = 1.0
    offset: float = 0.0
    enum: Mapping[str, int] | None = None
    time_kind: str | None = None  # date_time | local_date_time
    dev_index: int | None = None  # developer data index for developer fields

    @property
    def base_id(self) -> int:
        return _BASE_BY_NAME[self.base].identifier


@lru_cache(maxsize=None)
def _mesg_num(mesg: str | int) -> int:
    if isinstance(mesg, int):
        return mesg
    for num, mt in MESSAGE_TYPES.items():
        if mt.name == mesg:
            return num
    raise KeyError(f"no FIT message named {mesg!r} in fitparse's profile")


@lru_cache(maxsize=None)
def _field_specs(mesg_num: int) -> dict[str, _Spec]:
    """name -> spec for every field and subfield of a profile message."""
    mt = MESSAGE_TYPES[mesg_num]
    out: dict[str, _Spec] = {}
    subs: dict[str, _Spec] = {}
    for def_num, field in mt.fields.items():
        base = field.type.base_type.name if isinstance(field.type, FieldType) else field.type.name
        out[field.name] = _spec_of(field, def_num, base)
        for sub in field.subfields or ():
            subs.setdefault(sub.name, _spec_of(sub, def_num, base))
    for name, spec in subs.items():
        out.setdefault(name, spec)
    return out


def _spec_of(field: Any, def_num: int, base: str) -> _Spec:
    ftype = field.type
    enum = None
    time_kind = None
    if isinstance(ftype, FieldType):
        if ftype.name in ("date_time", "local_date_time"):
            time_kind = ftype.name
        elif ftype.values:
            enum = {v: k for k, v in ftype.values.items()}
    scale = field.scale if isinstance(field.scale, (int, float)) and field.scale else 1.0
    offset = field.offset if isinstance(field.offset, (int, float)) and field.offset else 0.0
    return _Spec(field.name, def_num, base, float(scale), float(offset), enum, time_kind)


def field_spec(mesg: str | int, name: str) -> _Spec:
    """The write spec of ``mesg.name`` (field or subfield name) from fitparse's profile."""
    specs = _field_specs(_mesg_num(mesg))
    if name not in specs:
        raise KeyError(f"{mesg}: no field {name!r} in fitparse's profile")
    return specs[name]


# --------------------------------------------------------------------------- value -> raw


def _raw_column(spec: _Spec, values: Sequence[Any] | np.ndarray, where: str) -> list:
    """Physical values -> raw values ready for struct (ints, or bytes for string/byte)."""
    base = spec.base
    if base == "string":
        return [b"" if v is None else (v.encode("utf-8") if isinstance(v, str) else bytes(v))
                for v in values]
    if base == "byte":
        return [None if v is None else bytes(v) for v in values]
    n = len(values)
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        arr = values.astype(np.float64)
        missing = np.isnan(arr)
    else:
        vals = [_scalar(spec, v, where) for v in values]
        missing = np.fromiter((v is None for v in vals), dtype=bool, count=n)
        if base in ("uint64", "sint64", "uint64z"):  # beyond float64 precision: python ints
            return _raw_int64(spec, vals, where)
        arr = np.array([0.0 if v is None else float(v) for v in vals], dtype=np.float64)
        missing |= np.isnan(arr)
    if base in _FLOAT_BITS:
        ftype, utype, _ = _FLOAT_BITS[base]
        scaled = (np.where(missing, 0.0, arr) + spec.offset) * spec.scale
        bits = scaled.astype(ftype).view(utype).astype(np.uint64)
        bits[missing] = _INVALID[base]
        return bits.tolist()
    raw = np.rint((np.where(missing, 0.0, arr) + spec.offset) * spec.scale)
    lo, hi = _RANGE[base]
    bad = ~missing & ((raw < lo) | (raw > hi))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{where}.{spec.name}: value {arr[i]!r} -> raw {int(raw[i])} is outside {base} "
            f"[{lo}, {hi}] (the invalid sentinel is excluded)"
        )
    out = raw.astype(np.int64)
    out[missing] = _INVALID[base]
    return out.tolist()


def _raw_int64(spec: _Spec, vals: list, where: str) -> list:
    lo, hi = _RANGE[spec.base]
    out = []
    for v in vals:
        if v is None:
            out.append(_INVALID[spec.base])
            continue
        raw = int(round((v + spec.offset) * spec.scale))
        if not lo <= raw <= hi:
            raise ValueError(f"{where}.{spec.name}: raw {raw} outside {spec.base} [{lo}, {hi}]")
        out.append(raw)
    return out


def _scalar(spec: _Spec, v: Any, where: str) -> Any:
    """One physical value -> number (datetime and enum names resolved), or None."""
    if v is None:
        return None
    if isinstance(v, datetime):
        return fit_seconds(v)  # local_date_time: a naive wall-clock time counts the same way
    if isinstance(v, str):
        if spec.enum is None or v not in spec.enum:
            raise ValueError(f"{where}.{spec.name}: {v!r} is not a known value of this field")
        return spec.enum[v]
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


# --------------------------------------------------------------------------- the writer


@dataclass(frozen=True)
class _Layout:
    """One definition message: global number, fields, developer fields, endianness."""

    mesg_num: int
    fields: tuple[tuple[int, int, int], ...]  # (def_num, size, base type id)
    dev_fields: tuple[tuple[int, int, int], ...]  # (field number, size, developer data index)
    big_endian: bool

    def definition(self, local: int) -> bytes:
        e = ">" if self.big_endian else "<"
        header = 0x40 | (local & 0x0F) | (0x20 if self.dev_fields else 0)
        out = [struct.pack(e + "BBBHB", header, 0, 1 if self.big_endian else 0, self.mesg_num,
                           len(self.fields))]
        out += [struct.pack("BBB", *f) for f in self.fields]
        if self.dev_fields:
            out.append(struct.pack("B", len(self.dev_fields)))
            out += [struct.pack("BBB", *f) for f in self.dev_fields]
        return b"".join(out)


class _Rows:
    """Columns converted to raw rows once; written (possibly in slices) by FitWriter.write_rows."""

    def __init__(self, mesg_num: int, specs: list[_Spec], raw_cols: list[list], sizes: list[int],
                 n: int):
        self.mesg_num = mesg_num
        self.specs = specs
        self.sizes = sizes
        self.n = n
        self.rows: list[tuple] = list(zip(*raw_cols)) if raw_cols else [()] * n
        self.ts_pos = next((i for i, s in enumerate(specs) if s.def_num == 253 and s.dev_index is None), None)

    def present(self, lo: int, hi: int) -> list[int]:
        """Positions of the fields that have a valid value in rows[lo:hi]."""
        out = []
        for j, spec in enumerate(self.specs):
            inv = _invalid_raw(spec, self.sizes[j])
            if any(self.rows[i][j] != inv for i in range(lo, hi)):
                out.append(j)
        return out


def _invalid_raw(spec: _Spec, size: int) -> Any:
    if spec.base == "string":
        return b"\0" * size
    if spec.base == "byte":
        return b"\xff" * size
    return _INVALID[spec.base]


class FitWriter:
    """Definition and data messages in order, then header + CRCs by :meth:`to_bytes`.

    A local message type is (re)defined automatically whenever the layout written to it
    changes, so reusing local 0 for file_id and then records (as Garmin devices do) or
    redefining local 0 with more fields mid-file both come out as valid FIT.
    """

    def __init__(self, *, big_endian: bool = False, profile_version: int = PROFILE_VERSION):
        self.big_endian = big_endian
        self.profile_version = profile_version
        self._chunks: list[bytes] = []
        self._local: dict[int, _Layout] = {}
        self._dev: dict[str, tuple[int, DevFieldSpec]] = {}  # name -> (dev index, spec)
        self.last_timestamp: int | None = None  # last timestamp (FIT s) written, any message
        self.n_messages = 0
        self.n_definitions = 0

    # ---- developer fields

    def add_developer(self, fields: Sequence[DevFieldSpec], *, developer_data_index: int = 0,
                      application_id: bytes = bytes(range(16)), application_version: int = 1,
                      manufacturer: str | int | None = "development", local: int = 3,
                      description_local: int = 4) -> None:
        """Write developer_data_id + one field_description per field; register the fields."""
        self.add("developer_data_id", {
            "developer_id": None,
            "application_id": application_id,
            "manufacturer_id": manufacturer,
            "developer_data_index": developer_data_index,
            "application_version": application_version,
        }, local=local)
        for i, f in enumerate(fields):
            num = f.field_number if f.field_number is not None else i
            self.add("field_description", {
                "developer_data_index": developer_data_index,
                "field_definition_number": num,
                "fit_base_type_id": _BASE_BY_NAME[f.base_type].identifier,
                "field_name": f.name,
                "units": f.units,
                "native_mesg_num": _mesg_num(f.native_mesg) if f.native_field_num is not None else None,
                "native_field_num": f.native_field_num,
            }, local=description_local)
        self.register_developer(fields, developer_data_index=developer_data_index)

    def register_developer(self, fields: Sequence[DevFieldSpec], *,
                           developer_data_index: int = 0) -> None:
        """Make developer fields writable by name without writing their descriptions
        (add_developer does both; this alone makes a file whose descriptions are missing)."""
        for i, f in enumerate(fields):
            num = f.field_number if f.field_number is not None else i
            self._dev[f.name] = (developer_data_index, DevFieldSpec(
                f.name, f.units, f.base_type, num, f.native_field_num, f.native_mesg))

    # ---- data

    def prepare(self, mesg: str | int, columns: Mapping[str, Sequence[Any]]) -> _Rows:
        """Convert columns (field names or registered developer-field names) to raw rows."""
        num = _mesg_num(mesg)
        where = MESSAGE_TYPES[num].name if num in MESSAGE_TYPES else str(num)
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"{where}: columns have different lengths {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
        # timestamp first, developer fields last (the order of a definition message)
        names = sorted(columns, key=lambda k: (k != "timestamp", k in self._dev))
        specs, raws, sizes = [], [], []
        seen: set[tuple[int | None, int]] = set()
        for name in names:
            if name in self._dev:
                idx, dspec = self._dev[name]
                spec = _Spec(name, dspec.field_number, dspec.base_type, dev_index=idx)
            else:
                if num not in MESSAGE_TYPES:
                    raise KeyError(f"message {num} is not in the profile; name fields by profile")
                spec = field_spec(num, name)
            key = (spec.dev_index, spec.def_num)
            if key in seen:
                raise ValueError(f"{where}: field number {spec.def_num} given twice ({name!r})")
            seen.add(key)
            raw = _raw_column(spec, columns[name], where)
            if spec.base in ("string", "byte"):
                size = max([len(r) for r in raw if r is not None] + [0])
                size = max(size + (1 if spec.base == "string" else 0), 1)
                if size > 255:
                    raise ValueError(f"{where}.{name}: {size} bytes is longer than a FIT field")
                if spec.base == "string":
                    raw = [r.ljust(size, b"\0") for r in raw]
                else:
                    raw = [b"\xff" * size if r is None else r.ljust(size, b"\xff") for r in raw]
            else:
                size = _BASE_BY_NAME[spec.base].size
            specs.append(spec)
            raws.append(raw)
            sizes.append(size)
        return _Rows(num, specs, raws, sizes, n)

    def write_rows(self, rows: _Rows, lo: int = 0, hi: int | None = None, *, local: int = 0,
                   fields: Sequence[int] | None = None,
                   compressed_local: int | None = None) -> None:
        """Write rows[lo:hi] with local type ``local``.

        ``fields``: positions (into rows.specs) to write; default all. ``compressed_local``
        (0-3): write a row with a compressed-timestamp header (and without its timestamp
        field, under that local type) whenever its timestamp is 0-31 s after the last
        timestamp written; other rows keep their full timestamp.
        """
        hi = rows.n if hi is None else hi
        pos = list(range(len(rows.specs))) if fields is None else list(fields)
        full = self._layout(rows, pos)
        tpos = rows.ts_pos if rows.ts_pos in pos else None
        comp = None
        if compressed_local is not None:
            if not 0 <= compressed_local <= 3:
                raise ValueError("compressed-timestamp headers address local types 0-3 only")
            if tpos is None:
                raise ValueError("compressed timestamps need a timestamp column")
            comp_pos = [p for p in pos if p != tpos]
            comp = self._layout(rows, comp_pos)
        e = ">" if self.big_endian else "<"
        st_full = struct.Struct(e + "B" + self._fmt(rows, pos))
        st_comp = struct.Struct(e + "B" + self._fmt(rows, comp_pos)) if comp else None
        whole = fields is None
        out = self._chunks
        hdr = local & 0x0F
        for i in range(lo, hi):
            row = rows.rows[i]
            ts = row[tpos] if tpos is not None else None
            if ts is not None and ts == _INVALID["uint32"]:
                ts = None
            last = self.last_timestamp
            if comp is not None and ts is not None and last is not None and 0 <= ts - last < 32:
                self._ensure(compressed_local, comp)
                vals = [row[p] for p in comp_pos]
                out.append(st_comp.pack(0x80 | (compressed_local << 5) | (ts & 0x1F), *vals))
            else:
                self._ensure(local, full)
                vals = row if whole else [row[p] for p in pos]
                out.append(st_full.pack(hdr, *vals))
            if ts is not None:
                self.last_timestamp = ts
            self.n_messages += 1

    def add(self, mesg: str | int, values: Mapping[str, Any], *, local: int) -> None:
        """Write one message; ``values`` maps field (or developer-field) names to values."""
        rows = self.prepare(mesg, {k: [v] for k, v in values.items()})
        self.write_rows(rows, local=local)

    def add_columns(self, mesg: str | int, columns: Mapping[str, Sequence[Any]], *, local: int,
                    compressed_local: int | None = None) -> None:
        """Write one message per row of ``columns``."""
        self.write_rows(self.prepare(mesg, columns), local=local, compressed_local=compressed_local)

    def raw(self, data: bytes) -> None:
        """Append bytes as they are (to build deliberately broken files)."""
        self._chunks.append(bytes(data))

    def to_bytes(self) -> bytes:
        """Header (14 bytes, with header CRC) + records + file CRC."""
        body = b"".join(self._chunks)
        head = struct.pack("<BBHI4s", HEADER_SIZE, PROTOCOL_VERSION, self.profile_version,
                           len(body), b".FIT")
        head += struct.pack("<H", crc16(head))
        return head + body + struct.pack("<H", crc16(body, crc16(head)))

    # ---- internals

    def _layout(self, rows: _Rows, pos: Sequence[int]) -> _Layout:
        fields, dev = [], []
        for p in pos:
            s = rows.specs[p]
            if s.dev_index is None:
                fields.append((s.def_num, rows.sizes[p], s.base_id))
            else:
                dev.append((s.def_num, rows.sizes[p], s.dev_index))
        return _Layout(rows.mesg_num, tuple(fields), tuple(dev), self.big_endian)

    def _fmt(self, rows: _Rows, pos: Sequence[int]) -> str:
        # native fields first, then developer fields: the order of the definition
        order = [p for p in pos if rows.specs[p].dev_index is None] + \
                [p for p in pos if rows.specs[p].dev_index is not None]
        if order != list(pos):
            raise ValueError("developer fields must come after native fields")
        parts = []
        for p in pos:
            s = rows.specs[p]
            if s.base in ("string", "byte"):
                parts.append(f"{rows.sizes[p]}s")
            elif s.base in _FLOAT_BITS:
                parts.append(_FLOAT_BITS[s.base][2])
            else:
                parts.append(_BASE_BY_NAME[s.base].fmt)
        return "".join(parts)

    def _ensure(self, local: int, layout: _Layout) -> None:
        cur = self._local.get(local)
        if cur is not layout and cur != layout:
            self._chunks.append(layout.definition(local))
            self._local[local] = layout
            self.n_definitions += 1


# --------------------------------------------------------------------------- summaries


def _columns_of(records: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    if isinstance(records, Mapping):
        return dict(records)
    names: dict[str, None] = {}
    for r in records:
        for k in r:
            names.setdefault(k, None)
    return {k: [r.get(k) for r in records] for k in names}


def _float_col(values: Sequence[Any] | np.ndarray | None, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, np.nan)
    if isinstance(values, np.ndarray):
        return values.astype(np.float64)
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _ts_col(values: Sequence[Any]) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        return values.astype(np.int64)
    if any(v is None for v in values):
        raise ValueError("every record needs a timestamp")
    return np.array([fit_seconds(v) for v in values], dtype=np.int64)


def summarize(columns: Mapping[str, Sequence[Any]], t0: int, t1: int, *,
              pauses: Sequence[tuple[int, int]] = (), include_t0: bool = True) -> dict[str, Any]:
    """Lap/session summary fields of the records with ``t0 < timestamp <= t1`` (FIT seconds;
    plus a record at exactly ``t0`` when ``include_t0``: false for every lap but the first,
    whose boundary record belongs to the lap before), computed the way a watch does.

    - total_elapsed_time = t1 - t0; total_timer_time subtracts the paused spans.
    - total_distance = distance at the last record minus the distance before the span.
    - total_cycles (strides) = sum of (cadence + fractional_cadence)/60 x seconds running,
      pauses excluded; avg_cadence + avg_fractional_cadence = mean strides/min (1/128 steps).
    - averages are means of the records' valid values; total_ascent/descent sum the
      positive/negative altitude steps.
    ``columns`` are record columns (profile names, profile units; timestamps as datetimes or
    FIT seconds). Returns lap/session field names -> values, ready for FitWriter.add.
    """
    ts = _ts_col(columns["timestamp"])
    n = len(ts)
    sel = (ts > t0) & (ts <= t1)
    if include_t0:
        sel |= ts == t0
    idx = np.flatnonzero(sel)
    out: dict[str, Any] = {
        "start_time": int(t0),
        "timestamp": int(t1),
        "total_elapsed_time": float(t1 - t0),
    }
    paused = sum(max(0, min(b, t1) - max(a, t0)) for a, b in pauses)
    out["total_timer_time"] = float(t1 - t0 - paused)

    def col(name: str) -> np.ndarray:
        return _float_col(columns.get(name), n)

    dist = col("distance")
    if idx.size and not np.all(np.isnan(dist[idx])):
        prev = dist[: idx[0]]
        prev = prev[~np.isnan(prev)]
        base = float(prev[-1]) if prev.size else 0.0  # the distance before this span
        end = dist[idx][~np.isnan(dist[idx])][-1]
        out["total_distance"] = float(end - base)
    if idx.size:
        lat, lon = col("position_lat"), col("position_long")
        ok = idx[~np.isnan(lat[idx]) & ~np.isnan(lon[idx])]
        if ok.size:
            out["start_position_lat"] = int(lat[ok[0]])
            out["start_position_long"] = int(lon[ok[0]])
        hr = col("heart_rate")[idx]
        if not np.all(np.isnan(hr)):
            out["avg_heart_rate"] = int(round(np.nanmean(hr)))
            out["max_heart_rate"] = int(np.nanmax(hr))
        cad = col("cadence")
        frac = np.nan_to_num(col("fractional_cadence"))
        spm = cad + frac  # strides (cycles) per minute
        c = spm[idx]
        if not np.all(np.isnan(c)):
            mean = round(float(np.nanmean(c)) * 128) / 128
            out["avg_cadence"] = int(math.floor(mean))
            out["avg_fractional_cadence"] = mean - math.floor(mean)
            mx = float(np.nanmax(c))
            out["max_cadence"] = int(math.floor(mx))
            out["max_fractional_cadence"] = mx - math.floor(mx)
            # strides: cadence_i over the interval (ts[i-1], ts[i]], paused parts removed
            prev_ts = np.concatenate(([t0], ts[:-1]))
            dt = (ts - np.maximum(prev_ts, t0)).astype(np.float64)
            for a, b in pauses:
                lo = np.maximum(prev_ts, a)
                hi = np.minimum(ts, b)
                dt -= np.clip(hi - lo, 0, None)
            dt = np.clip(dt, 0, None)
            strides = np.nansum(c * dt[idx] / 60.0)
            out["total_cycles"] = int(round(strides))
        for src, dst in (("stance_time", "avg_stance_time"),
                         ("vertical_oscillation", "avg_vertical_oscillation"),
                         ("stance_time_balance", "avg_stance_time_balance"),
                         ("vertical_ratio", "avg_vertical_ratio"),
                         ("step_length", "avg_step_length"),
                         ("stance_time_percent", "avg_stance_time_percent")):
            v = col(src)[idx]
            if not np.all(np.isnan(v)):
                out[dst] = float(np.nanmean(v))
        pw = col("power")[idx]
        if not np.all(np.isnan(pw)):
            out["avg_power"] = int(round(np.nanmean(pw)))
            out["max_power"] = int(np.nanmax(pw))
        alt = col("enhanced_altitude")
        if np.all(np.isnan(alt)):
            alt = col("altitude")
        a = alt[idx]
        a = a[~np.isnan(a)]
        if a.size:
            d = np.diff(a)
            out["total_ascent"] = int(round(float(d[d > 0].sum())))
            out["total_descent"] = int(round(float(-d[d < 0].sum())))
        spd = col("enhanced_speed")
        if np.all(np.isnan(spd)):
            spd = col("speed")
        s = spd[idx]
        if not np.all(np.isnan(s)):
            out["enhanced_max_speed"] = float(np.nanmax(s))
            out["max_speed"] = out["enhanced_max_speed"]
    if "total_distance" in out and out["total_timer_time"] > 0:
        out["enhanced_avg_speed"] = out["total_distance"] / out["total_timer_time"]
        out["avg_speed"] = out["enhanced_avg_speed"]
    return out


def _merge(mesg: str, base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``override``; a key of ``override`` that names the same field
    number (e.g. the subfield ``avg_running_cadence`` for ``avg_cadence``) replaces it."""
    nums = {field_spec(mesg, k).def_num for k in override}
    out = {k: v for k, v in base.items() if field_spec(mesg, k).def_num not in nums}
    out.update(override)
    return out


_SUMMARY_SOURCES = frozenset({
    "distance", "position_lat", "position_long", "heart_rate", "cadence", "fractional_cadence",
    "stance_time", "vertical_oscillation", "stance_time_balance", "vertical_ratio", "step_length",
    "stance_time_percent", "power", "enhanced_altitude", "altitude", "enhanced_speed", "speed",
})


def _auto_lap_ends(ts: np.ndarray, dist: np.ndarray, lap_m: float, end: int) -> list[int]:
    """Lap end times: the first record at or past each multiple of ``lap_m``, then ``end``."""
    ends: list[int] = []
    k = 1
    for t, d in zip(ts.tolist(), dist.tolist()):
        if d != d:  # NaN
            continue
        while d >= k * lap_m:
            if not ends or t > ends[-1]:
                ends.append(int(t))
            k += 1
    if not ends or ends[-1] < end:
        ends.append(int(end))
    return ends


# --------------------------------------------------------------------------- activities

# Local message types used by encode_activity. file_id and records share local 0, as on
# Garmin devices, so a reader must honour redefinitions.
_L_FILE_ID, _L_RECORD, _L_RECORD_COMPRESSED = 0, 0, 1
_L_DEVICE, _L_DEV_ID, _L_FIELD_DESC, _L_EVENT, _L_LAP, _L_SESSION, _L_ACTIVITY = 2, 3, 4, 5, 6, 7, 8


def encode_activity(
    *,
    records: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
    start: datetime | int | None = None,
    end: datetime | int | None = None,
    laps: Sequence[Mapping[str, Any]] | None = None,
    auto_lap_m: float | None = None,
    session: Mapping[str, Any] | None = None,
    sport: str = "running",
    sub_sport: str = "generic",
    local_offset_s: int | None = None,
    device: tuple[str | int, int, int] = ("garmin", 2691, 3_912_345_678),
    software_version: float = 12.1,
    extra_devices: Sequence[Mapping[str, Any]] = (),
    developer_fields: Sequence[DevFieldSpec] | None = None,
    developer_data_index: int = 0,
    pauses: Sequence[tuple[datetime | int, datetime | int]] = (),
    compressed_timestamps: bool = False,
    big_endian: bool = False,
    redefine_records_at: int | None = None,
    omit: Iterable[str] = (),
    time_created: datetime | int | None = None,
    file_type: str = "activity",
) -> bytes:
    """One FIT activity file as bytes (fitparse reads it with CRC checking on).

    ``records``: list of dicts or dict of columns, keyed by record field names of fitparse's
    profile (``timestamp``, ``position_lat``/``position_long`` in semicircles, ``distance`` m,
    ``enhanced_speed`` m/s, ``enhanced_altitude`` m, ``heart_rate`` bpm, ``cadence`` +
    ``fractional_cadence`` strides/min, ``stance_time`` ms, ``stance_time_balance`` %,
    ``vertical_oscillation`` mm, ``vertical_ratio`` %, ``step_length`` mm, ``power`` W, ...)
    and by the names of ``developer_fields``. None/NaN = invalid sentinel.

    ``start``/``end``: timer start and stop (default first/last record). ``pauses``: (stop,
    resume) pairs written as timer stop_all/start events; leave the records out of the pause.
    ``laps``: lap dicts (each needs ``timestamp`` = lap end; ``start_time`` defaults to the
    previous lap's end); their fields override the summary computed from the records.
    ``auto_lap_m`` (e.g. 1000): laps by distance. Neither: one lap. ``session`` overrides the
    computed session fields. ``local_offset_s``: written as activity.local_timestamp -
    timestamp (None: no local_timestamp). ``device``: (manufacturer, product, serial number).
    ``compressed_timestamps``: records within 31 s of the previous timestamp get compressed
    headers (local 1). ``big_endian``: every definition big-endian. ``redefine_records_at=k``:
    records[:k] are defined with only the fields that have a value there, then local 0 is
    redefined with all fields. ``omit``: message names to leave out (device_info, event, lap,
    session, activity, developer_data_id).
    """
    omit = set(omit)
    cols = _columns_of(records) or {"timestamp": []}
    if "timestamp" not in cols:
        raise ValueError("records need a 'timestamp' column")
    dev_names = {f.name for f in developer_fields or ()}
    ts = _ts_col(cols["timestamp"])
    n = len(ts)
    cols["timestamp"] = ts  # FIT seconds from here on
    # the columns summaries read, as float arrays once (not once per lap)
    sums = {k: (ts if k == "timestamp" else _float_col(cols[k], n))
            for k in cols if k == "timestamp" or k in _SUMMARY_SOURCES}
    if n and np.any(np.diff(ts) < 0):
        raise ValueError("record timestamps must not go backwards")
    t_start = fit_seconds(start) if start is not None else (int(ts[0]) if n else None)
    if t_start is None:
        raise ValueError("give start= when there are no records")
    t_end = fit_seconds(end) if end is not None else (int(ts[-1]) if n else t_start)
    p_s = sorted((fit_seconds(a), fit_seconds(b)) for a, b in pauses)
    for a, b in p_s:
        if not t_start <= a < b <= t_end:
            raise ValueError(f"pause {from_fit_seconds(a)}..{from_fit_seconds(b)} is not inside the activity")
        if n and np.any((ts > a) & (ts < b)):
            raise ValueError("records inside a pause: leave them out (the timer was stopped)")
    manufacturer, product, serial = device
    w = FitWriter(big_endian=big_endian)

    # file_id, device_info
    w.add("file_id", {
        "serial_number": serial,
        "time_created": fit_seconds(time_created) if time_created is not None else t_start,
        "manufacturer": manufacturer,
        "product": product,
        "type": file_type,
    }, local=_L_FILE_ID)
    if "device_info" not in omit:
        w.add("device_info", {
            "timestamp": t_start, "serial_number": serial, "manufacturer": manufacturer,
            "product": product, "software_version": software_version, "device_index": "creator",
            "source_type": "local",
        }, local=_L_DEVICE)
        for extra in extra_devices:
            w.add("device_info", {"timestamp": t_start, **extra}, local=_L_DEVICE)
    if developer_fields and "developer_data_id" not in omit:
        w.add_developer(developer_fields, developer_data_index=developer_data_index,
                        local=_L_DEV_ID, description_local=_L_FIELD_DESC)
    elif developer_fields:  # descriptions left out on purpose: register only
        w.register_developer(developer_fields, developer_data_index=developer_data_index)
    unknown = [k for k in cols if k not in dev_names and k not in _field_specs(20)]
    if unknown:
        raise KeyError(f"record columns not in the profile nor developer fields: {unknown}")

    # laps and session (computed before writing, written at their end times)
    lap_dicts: list[dict[str, Any]] = []
    if "lap" not in omit:
        if laps is not None:
            prev_end = t_start
            for i, lap in enumerate(laps):
                lap = dict(lap)
                l_end = fit_seconds(lap.get("timestamp", t_end))
                l_start = fit_seconds(lap.get("start_time", prev_end))
                d = summarize(sums, l_start, l_end, pauses=p_s, include_t0=i == 0)
                d = _merge("lap", d, lap)
                d["start_time"], d["timestamp"] = l_start, l_end
                d.setdefault("lap_trigger", "manual")
                lap_dicts.append(d)
                prev_end = l_end
        else:
            ends = (_auto_lap_ends(ts, _float_col(cols.get("distance"), n), auto_lap_m, t_end)
                    if auto_lap_m else [t_end])
            prev_end = t_start
            for i, l_end in enumerate(ends):
                d = summarize(sums, prev_end, l_end, pauses=p_s, include_t0=i == 0)
                d["lap_trigger"] = "distance" if auto_lap_m and i < len(ends) - 1 else "session_end"
                lap_dicts.append(d)
                prev_end = l_end
        for i, d in enumerate(lap_dicts):
            d.setdefault("message_index", i)
            d.setdefault("event", "lap")
            d.setdefault("event_type", "stop")
            d.setdefault("sport", sport)
            d.setdefault("sub_sport", sub_sport)
    sess = summarize(sums, t_start, t_end, pauses=p_s)
    sess.update({
        "message_index": 0, "event": "session", "event_type": "stop", "trigger": "activity_end",
        "sport": sport, "sub_sport": sub_sport, "first_lap_index": 0,
        "num_laps": len(lap_dicts),
    })
    if session:
        sess = _merge("session", sess, session)

    # timeline: (time, order, kind, payload); records go between by time
    items: list[tuple[int, int, str, Any]] = []
    if "event" not in omit:
        items.append((t_start, 0, "event", ("timer", "start")))
        for a, b in p_s:
            items.append((a, 2, "event", ("timer", "stop_all")))
            items.append((b, 0, "event", ("timer", "start")))
        items.append((t_end, 2, "event", ("timer", "stop_all")))
    for d in lap_dicts:
        items.append((fit_seconds(d["timestamp"]), 3, "lap", d))
    items.sort(key=lambda it: (it[0], it[1]))

    rows = w.prepare("record", cols)
    comp_local = _L_RECORD_COMPRESSED if compressed_timestamps else None
    first_fields = None
    if redefine_records_at is not None:
        k = max(0, min(redefine_records_at, n))
        first_fields = rows.present(0, k)
        if rows.ts_pos is not None and rows.ts_pos not in first_fields:
            first_fields.insert(0, rows.ts_pos)
    ts_list = ts.tolist()
    i = 0

    def flush_records(upto: int) -> None:
        nonlocal i
        while i < upto:
            if first_fields is not None and i < redefine_records_at:
                j = min(upto, redefine_records_at)
                w.write_rows(rows, i, j, local=_L_RECORD, fields=first_fields,
                             compressed_local=comp_local)
            else:
                j = upto
                w.write_rows(rows, i, j, local=_L_RECORD, compressed_local=comp_local)
            i = j

    for t, order, kind, payload in items:
        # records strictly before t; records at t go before stop events/laps, after starts
        upto = bisect.bisect_right(ts_list, t) if order > 1 else bisect.bisect_left(ts_list, t)
        flush_records(max(upto, i))
        if kind == "event":
            ev, ev_type = payload
            w.add("event", {"timestamp": t, "event": ev, "event_type": ev_type,
                            "timer_trigger": "manual", "event_group": 0}, local=_L_EVENT)
        else:
            w.add("lap", payload, local=_L_LAP)
    flush_records(n)
    if "session" not in omit:
        w.add("session", sess, local=_L_SESSION)
    if "activity" not in omit:
        act = {
            "timestamp": t_end,
            "total_timer_time": sess.get("total_timer_time"),
            "num_sessions": 1 if "session" not in omit else 0,
            "type": "manual",
            "event": "activity",
            "event_type": "stop",
        }
        if local_offset_s is not None:
            act["local_timestamp"] = t_end + int(local_offset_s)
        w.add("activity", act, local=_L_ACTIVITY)
    return w.to_bytes()
