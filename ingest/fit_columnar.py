"""The fast FIT reader: the ``FitMessages`` of ``ingest.fit_fitparse.read_fit_messages`` (the
reference; contract in ``ingest.fit_messages``) without a Python object per field.

fitparse (the reference) builds a ``FieldData`` object per field of every message: roughly 10,000
records per second. Here bytes go to numpy arrays in bulk, in four steps:

1. **Walk** -- one Python loop over message *boundaries*, not fields: check each (chained) FIT
   header and its CRC (``ingest.fit_messages.fit_crc16``), parse definition messages into
   *layouts* (endianness, global message, field and developer-field definitions; an identical
   redefinition reuses its layout, and layouts without developer fields are shared across
   files), and note each data message's byte offset, layout and compressed-timestamp offset.
   Runs that repeat a short cycle of headers (record, record, ... or record, hrv, record, hrv,
   ...) are verified and skipped with numpy. ``developer_data_id`` and ``field_description``
   messages are applied on the spot (later definitions depend on them), with the reference
   reader's lenient rules. A field whose size is not a multiple of its base type's size (the
   Coros PACE 2's 1-byte uint32 ``event.data``) is read as bytes and its messages kept, as the
   FIT SDK's decoder (uint8) and fitdecode (byte) do; so does the reference reader.
2. **Gather** -- the messages of one layout have one size: their bytes become an ``(n, size)``
   uint8 array (a strided view when evenly spaced), and all scalar fields of one base type are
   decoded by one dtype view (``<``/``>`` per definition); invalid-value sentinels -> NULL.
3. **Profile** -- fitparse's own ``MESSAGE_TYPES`` (no copy): names, scale/offset, enum names,
   subfields chosen per row by their reference fields, components (``speed`` ->
   ``enhanced_speed``, ``altitude`` -> ``enhanced_altitude``, ``compressed_speed_distance``, gear
   changes, ...), accumulating components and compressed-timestamp headers (both as
   vectorised rollover scans in file order, with fitparse's resets at each definition and each
   chained header), developer fields (raw values, as fitparse).
4. **Frames** -- per message name, one row per data message in file order; per name the last
   non-null value of fitparse's field order wins; column kinds, order and types exactly as
   ``ingest.fit_messages`` types them (``date_time`` -> naive UTC ``Datetime('us')`` plus
   ``<name>__device_s`` for device-relative seconds, ``local_date_time``, ``bool``,
   ``localtime_into_day`` -> ``Time``, text, ``List(Float64)``, else ``Float64``).

Message names with only a few messages (``file_id``, ``session``, ``device_info``, ...: at most
``_TINY_MESSAGES``) skip steps 2-4: numpy's fixed cost per call would exceed the work, so each
message goes through fitparse's own steps (its ``render`` methods, subfield and scale/offset
rules) in Python and the frame is built row-wise by ``ingest.fit_messages.build_frame``. The
cost per field then no longer grows with the number of records.

What this reader cannot reproduce exactly raises :class:`FallbackNeeded` with a reason (the
caller, ``ingest.fit.decode_fit``, then decodes the file with the reference reader): damaged
files (CRC, truncation, bad or irregular headers: fitparse salvages what precedes the
damage), definitions fitparse itself refuses, and oddities no corpus file has (arrays or names
in date fields, float or array timestamps under compressed headers, components of float or
non-byte array fields, uint64 values beyond int64, text and arrays in one column).

Units are fitparse's (profile units after scale/offset: ``speed`` m/s, ``distance`` m,
``altitude`` m, ``stance_time`` ms, positions in semicircles); times are FIT seconds + 631065600
as naive UTC.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import polars as pl
from fitparse.profile import FIELD_TYPE_TIMESTAMP, MESSAGE_TYPES
from fitparse.records import BASE_TYPE_BYTE, BASE_TYPES

from ingest.fit_messages import (
    FIT_DEVICE_TIME_LIMIT,
    FIT_EPOCH_S,
    K_BOOL,
    K_DT,
    K_TOD,
    K_VALUE,
    MESG_DEVELOPER_DATA_ID,
    MESG_FIELD_DESCRIPTION,
    FitMessages,
    build_frame,
    developer_fields,
    file_type,
    fit_crc16,
    frame,
    kind_of,
    np_series,
)

__all__ = [
    "FallbackNeeded",
    "read_fit_messages_columnar",
]

DECODER = "columnar"  # FitMessages.decoder / Decoded.decoder of this path
TS_DEF_NUM = FIELD_TYPE_TIMESTAMP.def_num  # 253
_DEV_MESSAGES = (MESG_DEVELOPER_DATA_ID, MESG_FIELD_DESCRIPTION)


class FallbackNeeded(Exception):
    """The columnar path cannot reproduce fitparse for this file; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------------------------
# Base types: fitparse's BASE_TYPES (name, size) -> numpy decoding and invalid sentinel
# --------------------------------------------------------------------------------------------

#: base type name -> (kind, struct char, invalid raw value). kind: int | float | string | byte.
_BASE_KIND: dict[str, tuple[str, str, int | None]] = {
    "enum": ("int", "B", 0xFF),
    "sint8": ("int", "b", 0x7F),
    "uint8": ("int", "B", 0xFF),
    "sint16": ("int", "h", 0x7FFF),
    "uint16": ("int", "H", 0xFFFF),
    "sint32": ("int", "i", 0x7FFFFFFF),
    "uint32": ("int", "I", 0xFFFFFFFF),
    "string": ("string", "s", None),
    "float32": ("float", "f", None),
    "float64": ("float", "d", None),
    "uint8z": ("int", "B", 0),
    "uint16z": ("int", "H", 0),
    "uint32z": ("int", "I", 0),
    "byte": ("byte", "B", None),
    "sint64": ("int", "q", 0x7FFFFFFFFFFFFFFF),
    "uint64": ("int", "Q", 0xFFFFFFFFFFFFFFFF),
    "uint64z": ("int", "Q", 0),
}
for _bt in list(BASE_TYPES.values()) + [BASE_TYPE_BYTE]:
    if _bt.name not in _BASE_KIND:  # a newer fitparse with a base type this module does not know
        raise ImportError(f"fit_columnar: unknown fitparse base type {_bt.name!r}")


def _base_type(num: int):
    """fitparse's base type for a definition's base-type byte (unknown -> byte, as fitparse)."""
    return BASE_TYPES.get(num, BASE_TYPE_BYTE)


# --------------------------------------------------------------------------------------------
# Layouts (one per distinct definition) and the walk over message boundaries
# --------------------------------------------------------------------------------------------


class _DevField:
    """A developer field as fitparse's ``DevField`` at the time a definition referenced it."""

    __slots__ = ("dev_data_index", "def_num", "base_type", "name", "units", "native_field_num")

    def __init__(self, dev_data_index, def_num, base_type, name, units, native_field_num):
        self.dev_data_index = dev_data_index
        self.def_num = def_num
        self.base_type = base_type
        self.name = name
        self.units = units
        self.native_field_num = native_field_num


class _Layout:
    __slots__ = (
        "mesg_num", "mesg_type", "big", "fields", "devs", "size", "bad", "acc_keys", "plans",
    )

    def __init__(self, mesg_num, big, fdefs: bytes, ddefs: list):
        self.plans: dict = {}
        self.mesg_num = mesg_num
        self.mesg_type = MESSAGE_TYPES.get(mesg_num)
        self.big = big
        self.bad: str | None = None
        self.fields = []  # (def_num, offset, size, base_type, profile field or None)
        self.devs = []  # (def_num, offset, size, dev_data_index, _DevField)
        self.acc_keys: list[int] = []  # accumulating component def_nums reset by this definition
        off = 0
        fields = self.mesg_type.fields if self.mesg_type else {}
        for i in range(0, len(fdefs), 3):
            num, size, btn = fdefs[i], fdefs[i + 1], fdefs[i + 2]
            bt = _base_type(btn)
            if size % struct.calcsize(bt.fmt):
                # a size that is not a multiple of its base type's: read as bytes, keep the
                # message (FIT SDK decoder: uint8; fitdecode: byte), as the reference reader does
                bt = BASE_TYPE_BYTE
            if size == 0:
                self.bad = "zero-size field (fitparse refuses)"
            fld = fields.get(num)
            if fld is not None and fld.components:
                for comp in fld.components:
                    if comp.accumulate:
                        self.acc_keys.append(comp.def_num)
            self.fields.append((num, off, size, bt, fld))
            off += size
        for num, size, idx, dev in ddefs:
            bsize = struct.calcsize(dev.base_type.fmt)
            if size < bsize or size % bsize:
                self.bad = "developer field size does not fit its base type"
            self.devs.append((num, off, size, idx, dev))
            off += size
        self.size = off


#: Layouts without developer fields, shared across files (devices repeat their definitions).
_LAYOUT_CACHE: dict = {}
_LAYOUT_CACHE_MAX = 4096


@dataclass
class _Walk:
    starts: np.ndarray  # byte offset of each data message's content, file order
    lids: np.ndarray  # layout id of each data message
    comp_ord: np.ndarray  # ordinals of messages with a compressed-timestamp header
    comp_off: np.ndarray  # their 5-bit time offsets
    layouts: list
    seg_starts: list  # data-message ordinal at which each (chained) FIT segment starts
    def_events: list  # (data ordinal, mesg_num, acc component def_nums) for accumulator resets


def _check_header(data: bytes, pos: int) -> tuple[int, int]:
    """Validate a FIT header at ``pos`` as fitparse does; return (data start, data end)."""
    n = len(data)
    if n - pos < 12:
        raise FallbackNeeded("file shorter than a FIT header")
    if data[pos + 8 : pos + 12] != b".FIT":
        raise FallbackNeeded("invalid FIT header signature")
    header_size = data[pos]
    (data_size,) = struct.unpack_from("<I", data, pos + 4)
    if header_size < 12 or header_size == 13:
        raise FallbackNeeded(f"irregular FIT header size {header_size}")
    start = pos + header_size
    if header_size >= 14:
        (hcrc,) = struct.unpack_from("<H", data, pos + 12)
        if hcrc != 0 and hcrc != fit_crc16(data[pos : pos + 12]):
            raise FallbackNeeded("header CRC mismatch")
    end = start + data_size
    if end + 2 > n:
        raise FallbackNeeded("truncated file (data size beyond the end)")
    return start, end


def _raw_one(data: bytes, off: int, size: int, bt, big: bool):
    """One field's raw value exactly as fitparse parses it (used for the few dev-data messages)."""
    kind, ch, inv = _BASE_KIND[bt.name]
    if kind == "string":
        s = data[off : off + size]
        z = s.find(b"\x00")
        if z >= 0:
            s = s[:z]
        return s.decode("utf-8", errors="replace") or None
    if kind == "byte":
        t = tuple(data[off : off + size])
        return None if all(b == 0xFF for b in t) else t
    cnt = size // struct.calcsize(ch)
    vals = struct.unpack_from((">" if big else "<") + str(cnt) + ch, data, off)
    if kind == "float":
        vals = tuple(None if v != v else v for v in vals)
    else:
        vals = tuple(None if v == inv else v for v in vals)
    return vals if cnt > 1 else vals[0]


def _first_raw(layout: _Layout, data: bytes, start: int, def_num: int):
    """fitparse's ``get_raw_value(name)``: the first field of the message with that number."""
    for num, off, size, bt, fld in layout.fields:
        if num == def_num and fld is not None:
            return _raw_one(data, start + off, size, bt, layout.big)
    return None


def _walk(data: bytes) -> _Walk:
    """One loop over message boundaries of every (chained) FIT segment; see the module doc.

    Runs of data messages repeating a short cycle of headers (a record after a record, or a
    record and an hrv message in turn) are skipped in bulk: the header bytes a cycle predicts
    are checked with numpy, and every check that holds proves the sequential parse would have
    found exactly those messages there.
    """
    n = len(data)
    buf = np.frombuffer(data, dtype=np.uint8)
    starts: list[int] = []
    lids: list[int] = []
    chunks: list[tuple[np.ndarray, np.ndarray]] = []  # flushed (starts, lids), in file order
    base = 0  # messages in ``chunks``
    comp_ord: list = []  # ints and arrays
    comp_off: list = []
    layouts: list[_Layout] = []
    by_key: dict = {}
    seg_starts: list[int] = []
    def_events: list = []
    dev_types: dict = {}
    append_start = starts.append
    append_lid = lids.append
    hist: list[int] = []  # header keys of recent data messages (cycle detection)
    window = _CYCLE_EVERY  # grows while cycles turn out short (runs broken by other messages)

    pos = 0
    while True:
        start, end = _check_header(data, pos)
        crc = fit_crc16(buf[pos:end])
        if crc != struct.unpack_from("<H", data, end)[0]:
            raise FallbackNeeded("file CRC mismatch")
        seg_starts.append(base + len(starts))
        loc_size = [-1] * 16
        loc_lid = [-1] * 16
        special = set()  # layout ids of developer_data_id / field_description definitions
        hist.clear()
        pos = start
        while pos < end:
            h = data[pos]
            if h & 0x80:  # compressed timestamp header
                ln = (h >> 5) & 3
                size = loc_size[ln]
                if size < 0:
                    raise FallbackNeeded(_undefined(layouts, loc_lid[ln], ln))
                lid = loc_lid[ln]
                comp_ord.append(base + len(starts))
                comp_off.append(h & 0x1F)
                append_start(pos + 1)
                append_lid(lid)
                if lid in special:
                    _dev_message(layouts[lid], data, pos + 1, end, dev_types)
                pos += size + 1
                hist.append(h & 0xE0)
            elif h & 0x40:  # definition
                ln = h & 0x0F
                if pos + 6 > end:
                    raise FallbackNeeded("definition message runs past the data")
                big = data[pos + 2] != 0
                mesg_num = struct.unpack_from(">H" if big else "<H", data, pos + 3)[0]
                nf = data[pos + 5]
                q = pos + 6 + 3 * nf
                fdefs = data[pos + 6 : q]
                ddefs = []
                dkey: tuple = ()
                if h & 0x20:
                    if q + 1 + 3 * data[min(q, n - 1)] > end:
                        raise FallbackNeeded("definition message runs past the data")
                    nd = data[q]
                    raw = data[q + 1 : q + 1 + 3 * nd]
                    q = q + 1 + 3 * nd
                    for i in range(0, len(raw), 3):
                        num, size, idx = raw[i], raw[i + 1], raw[i + 2]
                        ddefs.append((num, size, idx, _dev_field(dev_types, idx, num)))
                    dkey = tuple((num, size, idx, id(dv)) for num, size, idx, dv in ddefs)
                if q > end:
                    raise FallbackNeeded("definition message runs past the data")
                key = (big, mesg_num, fdefs, dkey)
                lid = by_key.get(key)
                if lid is None:
                    layout = _LAYOUT_CACHE.get(key) if not dkey else None
                    if layout is None:
                        layout = _Layout(mesg_num, big, fdefs, ddefs)
                        if not dkey:
                            if len(_LAYOUT_CACHE) >= _LAYOUT_CACHE_MAX:
                                _LAYOUT_CACHE.clear()
                            _LAYOUT_CACHE[key] = layout
                    lid = by_key[key] = len(layouts)
                    layouts.append(layout)
                else:
                    layout = layouts[lid]
                if layout.acc_keys:
                    def_events.append((base + len(starts), mesg_num, layout.acc_keys))
                loc_size[ln] = -1 if layout.bad else layout.size
                loc_lid[ln] = lid
                if layout.mesg_type and mesg_num in _DEV_MESSAGES:
                    special.add(lid)
                else:
                    special.discard(lid)
                pos = q
                continue
            else:  # normal data message
                ln = h & 0x0F
                size = loc_size[ln]
                if size < 0:
                    raise FallbackNeeded(_undefined(layouts, loc_lid[ln], ln))
                lid = loc_lid[ln]
                append_start(pos + 1)
                append_lid(lid)
                if lid in special:
                    _dev_message(layouts[lid], data, pos + 1, end, dev_types)
                pos += size + 1
                hist.append(h)
            if len(hist) >= window:
                cycle = _cycle_of(hist[-_CYCLE_WINDOW:])
                hist.clear()
                if cycle is None or pos >= end:
                    continue
                skipped = _skip_cycles(buf, pos, end, cycle, loc_size, loc_lid, special)
                if skipped is None:
                    window = min(window * 4, _CYCLE_EVERY_MAX)
                    continue
                s_starts, s_lids, s_comp, s_off, pos = skipped
                window = _CYCLE_EVERY if s_starts.size >= _CYCLE_LONG else min(
                    window * 4, _CYCLE_EVERY_MAX)
                chunks.append((np.array(starts, dtype=np.int64), np.array(lids, dtype=np.int64)))
                base += len(starts)
                starts.clear()
                lids.clear()
                if s_comp is not None:
                    comp_ord.append(s_comp + base)
                    comp_off.append(s_off)
                chunks.append((s_starts, s_lids))
                base += s_starts.size
        if pos != end:
            raise FallbackNeeded("last message runs past the declared data size")
        pos = end + 2
        if pos >= n:
            break
    chunks.append((np.array(starts, dtype=np.int64), np.array(lids, dtype=np.int64)))
    return _Walk(
        starts=np.concatenate([c[0] for c in chunks]),
        lids=np.concatenate([c[1] for c in chunks]),
        comp_ord=_ints(comp_ord),
        comp_off=_ints(comp_off),
        layouts=layouts,
        seg_starts=seg_starts,
        def_events=def_events,
    )


#: Cycle skipping pays off for long runs only (a numpy check costs ~100 parsed messages):
#: look for a cycle (<= _CYCLE_MAX messages, in the last _CYCLE_WINDOW headers) every
#: _CYCLE_EVERY data messages, 4x less often after each short skip (< _CYCLE_LONG messages).
#: (32 and 128, measured: a run of records between two laps, 200-400 messages, is mostly
#: skipped; with 64 and 512 the window grew after the first lap and most of the archive's
#: records were parsed one by one: _walk 1.5 -> 1.0 ms per archive file, the corpus unchanged.)
_CYCLE_WINDOW = 16
_CYCLE_EVERY = 32
_CYCLE_EVERY_MAX = 4096
_CYCLE_MAX = 4
_CYCLE_LONG = 128


def _ints(parts: list) -> np.ndarray:
    """Concatenate a list of ints and int arrays, in order."""
    if not parts:
        return np.zeros(0, dtype=np.int64)
    out, run = [], []
    for x in parts:
        if isinstance(x, np.ndarray):
            if run:
                out.append(np.array(run, dtype=np.int64))
                run = []
            out.append(x.astype(np.int64))
        else:
            run.append(x)
    if run:
        out.append(np.array(run, dtype=np.int64))
    return np.concatenate(out)


def _cycle_of(hist: list[int]) -> list[int] | None:
    """The shortest cycle (<= _CYCLE_MAX header keys) the recent headers repeat, ending now."""
    for p in range(1, _CYCLE_MAX + 1):
        if hist[p:] == hist[:-p]:
            return hist[-p:]
    return None


def _skip_cycles(buf, pos, end, cycle, loc_size, loc_lid, special):
    """Verify how many times ``cycle`` repeats from ``pos``; None if not even twice.

    Returns (content starts, layout ids, compressed ordinals relative to the skipped run,
    their time offsets, new position).

    The bytes from ``pos`` are viewed as rows of one cycle's length: the header bytes the cycle
    predicts are one column per message of the cycle (a strided view for a cycle of one
    message, the archive's only kind), checked all at once up to the first mismatch. (Checking
    in growing probes, 64 then 512 ... cycles, cost ~60 us a call in numpy call overhead for
    runs of 128-1024 records; this is ~4x less, measured on 300 archive files.)
    """
    locs = [(k >> 5) & 3 if k & 0x80 else k & 0x0F for k in cycle]
    if any(loc_size[ln] < 0 or loc_lid[ln] in special for ln in locs):
        return None
    steps = [loc_size[ln] + 1 for ln in locs]
    length = sum(steps)
    total = (end - pos) // length
    if total < 2:
        return None
    p = len(cycle)
    rows = buf[pos : pos + total * length].reshape(total, length)
    if p == 1:
        k0 = cycle[0]
        hb = rows[:, :1]
        bad = (hb[:, 0] & (0xE0 if k0 & 0x80 else 0xFF)) != k0
    else:
        offs = np.cumsum([0] + steps[:-1])
        keys = np.array(cycle, dtype=np.uint8)
        masks = np.array([0xE0 if k & 0x80 else 0xFF for k in cycle], dtype=np.uint8)
        hb = rows[:, offs]
        bad = np.any((hb & masks) != keys, axis=1)
    got = int(bad.argmax()) if bad.any() else total  # cycles before the first mismatch
    if got < 2:
        return None
    if p == 1:
        starts = np.arange(got, dtype=np.int64) * length + (pos + 1)
        lids = np.full(got, loc_lid[locs[0]], dtype=np.int64)
    else:
        starts = (np.arange(got, dtype=np.int64)[:, None] * length + (offs + pos + 1)[None, :]
                  ).reshape(-1)
        lids = np.tile(np.array([loc_lid[ln] for ln in locs], dtype=np.int64), got)
    comp_cols = [j for j, k in enumerate(cycle) if k & 0x80]
    comp = off = None
    if comp_cols:
        ords = np.arange(got)[:, None] * p + np.array(comp_cols)[None, :]
        comp = ords.reshape(-1)
        off = (hb[:got, comp_cols] & 0x1F).astype(np.int64).reshape(-1)
    return starts, lids, comp, off, pos + got * length


def _undefined(layouts, lid, ln) -> str:
    if lid >= 0 and layouts[lid].bad:
        return layouts[lid].bad
    return f"data message with undefined local message type {ln}"


def _dev_field(dev_types: dict, idx: int, num: int) -> _DevField:
    """fitparse's ``get_dev_type`` under the reference reader's lenient DEV_TYPES: a field nobody
    described becomes bytes named ``unknown_dev_<idx>_<num>`` (and is remembered)."""
    fields = dev_types.setdefault(idx, {})
    dev = fields.get(num)
    if dev is None:
        name = f"unknown_dev_{idx}_{num}"
        dev = fields[num] = _DevField(idx, num, BASE_TYPE_BYTE, name, None, None)
    return dev


def _dev_message(layout: _Layout, data: bytes, start: int, end: int, dev_types: dict):
    """Apply a developer_data_id / field_description message as fitparse's DEV_TYPES does."""
    if start + layout.size > end:
        raise FallbackNeeded("last message runs past the declared data size")
    if layout.mesg_num == MESG_DEVELOPER_DATA_ID:
        idx = _first_raw(layout, data, start, 3)  # developer_data_index
        if isinstance(idx, tuple):
            raise FallbackNeeded("developer_data_id with an array index")
        dev_types[idx] = {}
        return
    idx = _first_raw(layout, data, start, 0)  # developer_data_index
    num = _first_raw(layout, data, start, 1)  # field_definition_number
    btid = _first_raw(layout, data, start, 2)  # fit_base_type_id
    name = _first_raw(layout, data, start, 3)  # field_name
    units = _first_raw(layout, data, start, 8)  # units
    native = _first_raw(layout, data, start, 15)  # native_field_num
    if not isinstance(idx, int):
        raise FallbackNeeded("field_description without a developer_data_index (fitparse fails)")
    if isinstance(btid, tuple) or btid not in BASE_TYPES:
        raise FallbackNeeded(f"field_description with unknown base type {btid!r} (fitparse fails)")
    if not isinstance(name, (str, type(None))) or not isinstance(units, (str, type(None))):
        raise FallbackNeeded("field_description with a non-string name or units")
    if isinstance(num, tuple) or isinstance(native, tuple):
        raise FallbackNeeded("field_description with array numbers")
    name = name or f"unnamed_dev_field_{num}"
    dev = _DevField(idx, num, BASE_TYPES[btid], name, units, native)
    dev_types.setdefault(idx, {})[num] = dev


# --------------------------------------------------------------------------------------------
# Per-row values ("pieces"): tag + numbers + strings + lists, combined with numpy
# --------------------------------------------------------------------------------------------

NUL, NUM, STR, LST = 0, 1, 2, 3

class _Piece:
    """The values fitparse gives one named field, for the rows of one layout (or one frame).

    ``tag`` per row: NULL, a number (``num``; ``flt`` marks Python floats, else ints; ``True``
    for all rows), a string
    (``s``) or a tuple (``lv`` values with ``lm`` element validity, padded to one width; ``lw``
    the per-row lengths when they differ).
    """

    __slots__ = ("tag", "num", "s", "lv", "lm", "flt", "lw", "nn")

    def __init__(self, tag, num=None, s=None, lv=None, lm=None, flt=None, lw=None, nn=None):
        self.tag = tag
        self.nn = nn  # tag != NUL when already at hand (bool array), else None
        self.num = num
        self.s = s
        self.lv = lv
        self.lm = lm
        self.flt = flt
        self.lw = lw  # per-row tuple lengths when they differ (lv/lm padded), else None

    def widths(self) -> np.ndarray:
        if self.lw is not None:
            return self.lw
        return np.full(self.n, self.lv.shape[1] if self.lv is not None else 0, dtype=np.int64)

    @property
    def n(self) -> int:
        return self.tag.shape[0]


def _nonnull(p: _Piece) -> np.ndarray:
    return p.nn if p.nn is not None else p.tag != NUL


def _null_piece(n: int) -> _Piece:
    return _Piece(np.zeros(n, dtype=np.int8))


def _override(base: _Piece, new: _Piece, mask: np.ndarray | None) -> _Piece:
    """``new`` where ``mask`` (all rows if None), else ``base``."""
    if mask is None:
        return new
    n = base.n
    tag = np.where(mask, new.tag, base.tag)
    num = s = lv = lm = flt = None
    if base.num is not None or new.num is not None:
        num = np.where(mask, _nums(new, n), _nums(base, n))
    if base.flt is not None or new.flt is not None:
        flt = np.where(mask, _flts(new, n), _flts(base, n))
    if base.s is not None or new.s is not None:
        s = np.where(mask, _strs(new, n), _strs(base, n))
    lw = None
    if base.lv is not None or new.lv is not None:
        w = max(x.lv.shape[1] for x in (base, new) if x.lv is not None)
        m2 = mask[:, None]
        lv = np.where(m2, _lvs(new, n, w), _lvs(base, n, w))
        lm = np.where(m2, _lms(new, n, w), _lms(base, n, w))
        if base.lv is None or new.lv is None or base.lw is not None or new.lw is not None or (
            base.lv.shape[1] != new.lv.shape[1]
        ):
            lw = np.where(mask, _lws(new, n), _lws(base, n))
    return _Piece(tag, num, s, lv, lm, flt, lw)


def _nums(p: _Piece, n: int) -> np.ndarray:
    return p.num if p.num is not None else np.zeros(n)


def _flts(p: _Piece, n: int) -> np.ndarray:
    if p.flt is None:
        return np.zeros(n, dtype=bool)
    if p.flt is True:
        return np.ones(n, dtype=bool)
    return p.flt


def _strs(p: _Piece, n: int) -> np.ndarray:
    return p.s if p.s is not None else np.full(n, None, dtype=object)


def _lvs(p: _Piece, n: int, w: int) -> np.ndarray:
    if p.lv is None:
        return np.zeros((n, w))
    if p.lv.shape[1] < w:
        return np.pad(p.lv, ((0, 0), (0, w - p.lv.shape[1])))
    return p.lv


def _lms(p: _Piece, n: int, w: int) -> np.ndarray:
    if p.lm is None:
        return np.zeros((n, w), dtype=bool)
    if p.lm.shape[1] < w:
        return np.pad(p.lm, ((0, 0), (0, w - p.lm.shape[1])))
    return p.lm


def _lws(p: _Piece, n: int) -> np.ndarray:
    return p.widths() if p.lv is not None else np.zeros(n, dtype=np.int64)


_ENUM_CACHE: dict = {}


def _lookup(vals: np.ndarray, valid: np.ndarray, values: dict):
    """Rows whose value is a key of the enum ``values``: (hit mask, names object array)."""
    if vals.shape[0] <= 8:  # a few rows: dict look-ups (as fitparse's ``raw in values``)
        names = np.array([values.get(v) if ok else None
                          for v, ok in zip(vals.tolist(), valid.tolist())], dtype=object)
        return names != None, names  # noqa: E711 - element-wise
    c = _ENUM_CACHE.get(id(values))
    if c is None or c[0] is not values:
        ks = sorted(values)
        names = np.array([values[k] for k in ks], dtype=object)
        c = (values, np.array(ks, dtype=np.float64), names)
        _ENUM_CACHE[id(values)] = c
    _, keys, names = c
    fv = vals.astype(np.float64, copy=False)
    i = np.minimum(np.searchsorted(keys, fv), len(keys) - 1)
    hit = valid & (keys[i] == fv)
    return hit, names[i]


def _scalar_piece(vals, valid, ftype, scale, offset, render_first: bool, isflt: bool) -> _Piece:
    """A scalar number column through fitparse's render (enum names) and scale/offset.

    Fields render first (the enum lookup uses the raw value), components scale first.
    """
    tag = valid.astype(np.int8)  # NUM == 1, NUL == 0
    values = getattr(ftype, "values", None)
    hit = names = None
    if values and render_first:
        hit, names = _lookup(vals, valid, values)
    num = vals.astype(np.float64)
    flt = isflt
    if scale:
        num = num / scale
        flt = True
    if offset:
        num = num - offset
        flt = flt or isinstance(offset, float)
    if values and not render_first:
        hit, names = _lookup(num, valid, values)
    s = None
    if hit is not None and hit.any():
        tag[hit] = STR
        s = np.where(hit, names, None)
    return _Piece(tag, num, s, flt=True if flt else None, nn=valid)


def _array_piece(vals2d, valid2d, rowvalid, scale, offset) -> _Piece:
    """A tuple value (array field or byte field): scale/offset per element, never an enum name."""
    lv = vals2d.astype(np.float64)
    if scale:
        lv = lv / scale
    if offset:
        lv = lv - offset
    tag = np.where(rowvalid, LST, NUL).astype(np.int8)
    return _Piece(tag, lv=lv, lm=valid2d, nn=rowvalid)


def _string_piece(strs: np.ndarray) -> _Piece:
    valid = np.array([x is not None for x in strs], dtype=bool) if strs.size else np.zeros(0, bool)
    return _Piece(np.where(valid, STR, NUL).astype(np.int8), s=strs, nn=valid)


# --------------------------------------------------------------------------------------------
# Raw columns of one layout
# --------------------------------------------------------------------------------------------


class _Raw:
    """Raw values of one field def for all rows of a layout, as fitparse's ``raw_value``."""

    __slots__ = ("kind", "vals", "valid", "rowvalid", "strs", "count", "isflt", "num", "tag")

    def __init__(self, kind, vals=None, valid=None, rowvalid=None, strs=None, count=1, isflt=False,
                 num=None, tag=None):
        self.kind = kind  # scalar | array | byte | string
        self.vals = vals  # (n,) int64/float64 for scalar, (n, c) for array/byte
        self.valid = valid  # (n,) or (n, c)
        self.rowvalid = rowvalid  # arrays/bytes: row not None
        self.strs = strs
        self.count = count
        self.isflt = isflt
        self.num = num  # scalars: the values as float64
        self.tag = tag  # scalars: NUM where valid else NUL (int8)


def _decode_plan(specs: list, big: bool) -> tuple[list, list]:
    """How to decode specs [(key, offset, size, base type)]: (singles, groups by base type)."""
    singles: list = []
    groups: dict = {}
    for key, off, size, bt in specs:
        kind, ch, inv = _BASE_KIND[bt.name]
        if kind in ("int", "float") and size == struct.calcsize(ch):
            groups.setdefault(bt.name, []).append((key, off))
        else:
            singles.append((key, off, size, bt))
    plan = []
    for name, items in groups.items():
        kind, ch, inv = _BASE_KIND[name]
        dt = np.dtype((">" if big else "<") + ch)
        offs = np.array([o for _k, o in items], dtype=np.int64)
        cols = offs if dt.itemsize == 1 else (offs[:, None] + np.arange(dt.itemsize)).reshape(-1)
        plan.append((kind, ch, inv, dt, cols, [k for k, _o in items]))
    return singles, plan


def _decode_many(rows: np.ndarray, plan: tuple, big: bool) -> dict:
    """Raw columns of many fields: {key: _Raw}, following a :func:`_decode_plan`.

    Scalar numbers of one base type are decoded together: one gather of their bytes, one
    dtype view, one sentinel comparison and one conversion for all of them.
    """
    singles, groups = plan
    out: dict = {}
    for key, off, size, bt in singles:
        out[key] = _decode_raw(rows, off, size, bt, big)
    for kind, ch, inv, dt, cols, keys in groups:
        if dt.itemsize == 1:
            arr = rows[:, cols].view(dt)
        else:
            arr = np.ascontiguousarray(rows[:, cols]).view(dt)
        if kind == "float":
            valid = ~np.isnan(arr)
            vals = num = arr.astype(np.float64)
        else:
            valid = arr != inv
            if ch == "Q" and np.any(valid & (arr > np.uint64(0x7FFFFFFFFFFFFFFF))):
                raise FallbackNeeded("uint64 value beyond int64")
            vals = arr.astype(np.int64)
            num = arr.astype(np.float64)
        tag = valid.view(np.int8)  # NUM == 1, NUL == 0
        isflt = kind == "float"
        for j, key in enumerate(keys):
            out[key] = _Raw("scalar", vals=vals[:, j], valid=valid[:, j], isflt=isflt,
                            num=num[:, j], tag=tag[:, j])
    return out


def _decode_raw(rows: np.ndarray, off: int, size: int, bt, big: bool) -> _Raw:
    kind, ch, inv = _BASE_KIND[bt.name]
    n = rows.shape[0]
    block = rows[:, off : off + size]
    if kind == "string":
        return _Raw("string", strs=_decode_strings(block))
    if kind == "byte":
        vals = block.astype(np.int64)
        rowvalid = ~np.all(block == 0xFF, axis=1)
        return _Raw("byte", vals=vals, valid=np.ones(vals.shape, dtype=bool), rowvalid=rowvalid,
                    count=size)
    dt = np.dtype((">" if big else "<") + ch)
    cnt = size // dt.itemsize
    arr = np.ascontiguousarray(block).view(dt).reshape(n, cnt)
    if kind == "float":
        valid = ~np.isnan(arr)
        vals = arr.astype(np.float64)
        isflt = True
    else:
        valid = arr != inv
        if ch == "Q":
            if np.any(valid & (arr > np.uint64(0x7FFFFFFFFFFFFFFF))):
                raise FallbackNeeded("uint64 value beyond int64")
        vals = arr.astype(np.int64)
        isflt = False
    if cnt == 1:
        v = valid[:, 0]
        return _Raw("scalar", vals=vals[:, 0], valid=v, isflt=isflt,
                    num=vals[:, 0].astype(np.float64), tag=v.view(np.int8))
    return _Raw("array", vals=vals, valid=valid, rowvalid=np.ones(n, dtype=bool), count=cnt,
                isflt=isflt)


def _decode_strings(block: np.ndarray) -> np.ndarray:
    """fitparse's ``parse_string`` per row: up to the first NUL, UTF-8 with replacement."""
    n = block.shape[0]
    out = np.full(n, None, dtype=object)
    if n == 0:
        return out
    if n <= 32:
        for i, row in enumerate(block):
            b = row.tobytes()
            z = b.find(b"\x00")
            if z >= 0:
                b = b[:z]
            out[i] = b.decode("utf-8", errors="replace") or None
        return out
    uniq, inv = np.unique(block, axis=0, return_inverse=True)
    dec = []
    for row in uniq:
        b = row.tobytes()
        z = b.find(b"\x00")
        if z >= 0:
            b = b[:z]
        dec.append(b.decode("utf-8", errors="replace") or None)
    out[:] = np.array(dec + [None], dtype=object)[:-1][inv.reshape(-1)]
    return out


def _field_piece(raw: _Raw, fld) -> _Piece:
    """The value fitparse gives a (resolved) profile field or subfield."""
    if raw.kind == "scalar":
        if not getattr(fld.type, "values", None):
            num = raw.num
            flt = raw.isflt
            if fld.scale:
                num = num / fld.scale
                flt = True
            if fld.offset:
                num = num - fld.offset
                flt = flt or isinstance(fld.offset, float)
            return _Piece(raw.tag, num, flt=True if flt else None, nn=raw.valid)
        return _scalar_piece(raw.vals, raw.valid, fld.type, fld.scale, fld.offset, True, raw.isflt)
    if raw.kind in ("array", "byte"):
        return _array_piece(raw.vals, raw.valid, raw.rowvalid, fld.scale, fld.offset)
    return _string_piece(raw.strs)


def _dev_piece(raw: _Raw) -> _Piece:
    """A developer field's value: fitparse's raw value (no scale, offset or names)."""
    if raw.kind == "scalar":
        return _Piece(raw.tag, raw.num, flt=True if raw.isflt else None, nn=raw.valid)
    if raw.kind in ("array", "byte"):
        return _array_piece(raw.vals, raw.valid, raw.rowvalid, None, None)
    return _string_piece(raw.strs)


def _component_raw(raw: _Raw, comp) -> tuple[np.ndarray, np.ndarray] | None:
    """``ComponentField.render`` of a source field: (int64 values, valid) or None (skipped)."""
    mask = (1 << comp.bits) - 1
    if raw.kind == "scalar":
        if raw.isflt:
            raise FallbackNeeded("component of a float field")
        return (raw.vals >> comp.bit_offset) & mask, raw.valid.copy()
    if raw.kind == "byte":
        nbytes = raw.count
        if comp.bit_offset and comp.bit_offset >= nbytes * 8:
            return None  # fitparse: ValueError -> component skipped
        b0 = comp.bit_offset // 8
        b1 = min(nbytes, (comp.bit_offset + comp.bits + 7) // 8)
        if b1 - b0 > 7:
            raise FallbackNeeded("component wider than 56 bits")
        acc = np.zeros(raw.vals.shape[0], dtype=np.int64)
        for j in range(b1 - 1, b0 - 1, -1):
            acc = (acc << 8) | raw.vals[:, j]
        return (acc >> (comp.bit_offset - 8 * b0)) & mask, raw.rowvalid.copy()
    raise FallbackNeeded(f"component of a {raw.kind} field")


# --------------------------------------------------------------------------------------------
# Decoding one layout (two passes around the file-order scans)
# --------------------------------------------------------------------------------------------


class _LayoutRows:
    """The rows of one layout: raw columns, subfield choices, deferred accumulating values."""

    def __init__(self, lid: int, layout: _Layout, ordinals: np.ndarray, rows: np.ndarray,
                 want_values: bool):
        self.lid = lid
        self.layout = layout
        self.ordinals = ordinals
        self.n = ordinals.shape[0]
        self.raws: list[_Raw | None] = []
        self.ts = None  # (vals, valid) of the explicit timestamp raw (last 253 field), or None
        self.ts_odd = False
        self.acc_updates: list = []  # (key, field pos, comp index, vals, valid, bits)
        self.acc_values: dict = {}  # (field pos, comp index) -> accumulated int64 values
        plan = layout.plans.get(want_values)
        if plan is None:
            specs = [
                (pos, off, size, bt)
                for pos, (num, off, size, bt, fld) in enumerate(layout.fields)
                if (want_values and fld is not None) or num == TS_DEF_NUM
            ]
            specs += [(-1 - i, off, size, dev.base_type)
                      for i, (num, off, size, idx, dev) in enumerate(layout.devs)]
            plan = layout.plans[want_values] = _decode_plan(specs, layout.big)
        raws = _decode_many(rows, plan, layout.big)
        self.raws = [raws.get(pos) for pos in range(len(layout.fields))]
        self.dev_raws = [raws[-1 - i] for i in range(len(layout.devs))]
        for (num, *_r), raw in zip(layout.fields, self.raws):
            if num == TS_DEF_NUM and raw is not None:
                self._note_ts(raw)
        for (num, *_r), raw in zip(layout.devs, self.dev_raws):
            if num == TS_DEF_NUM:
                self._note_ts(raw)
        if want_values:
            self.layout_static = _static(layout)
            self._choose_subfields()
            self._collect_acc()

    def _note_ts(self, raw: _Raw):
        if raw.kind == "scalar" and not raw.isflt:
            if self.ts is None:
                self.ts = (raw.vals.copy(), raw.valid.copy())
            else:
                v, m = self.ts
                self.ts = (np.where(raw.valid, raw.vals, v), m | raw.valid)
        elif raw.kind == "string":  # fitparse would set its clock to a str, a float, a tuple
            self.ts_odd |= any(x is not None for x in raw.strs)
        elif raw.kind in ("byte", "array"):
            self.ts_odd |= bool(raw.rowvalid.any())
        else:
            self.ts_odd |= bool(raw.valid.any())

    def _ref_match(self, ref) -> np.ndarray | None:
        m = None
        for pos in self.layout_static.positions.get(ref.def_num, ()):
            raw = self.raws[pos]
            if raw is None:
                raise FallbackNeeded("subfield reference to an unknown field")
            if raw.kind == "scalar":
                hit = raw.valid & (raw.vals == ref.raw_value)
                m = hit if m is None else m | hit
        return m

    def _choose(self, fld) -> np.ndarray | None:
        """Per row: -1 for the field itself, i for ``fld.subfields[i]``; None = all -1."""
        if not fld.subfields:
            return None
        sel = None
        for i, sf in enumerate(fld.subfields):
            m = None
            for ref in sf.ref_fields:
                hit = self._ref_match(ref)
                if hit is not None:
                    m = hit if m is None else m | hit
            if m is None or not m.any():
                continue
            if sel is None:
                sel = np.full(self.n, -1, dtype=np.int64)
            sel = np.where((sel == -1) & m, i, sel)
        return sel

    def _choose_subfields(self):
        self.sel = [None] * len(self.layout.fields)
        for pos in self.layout_static.sub_pos:
            self.sel[pos] = self._choose(self.layout.fields[pos][4])

    def _candidates(self, pos):
        """(resolved field, row mask or None) for a field def position."""
        fld = self.layout.fields[pos][4]
        sel = self.sel[pos]
        if sel is None:
            return [(fld, None)]
        out = []
        for i in range(-1, len(fld.subfields)):
            m = sel == i
            if m.any():
                out.append((fld if i < 0 else fld.subfields[i], None if m.all() else m))
        return out

    def _collect_acc(self):
        mnum = self.layout.mesg_num
        for pos in self.layout_static.comp_pos:
            fld = self.layout.fields[pos][4]
            for res, rmask in self._candidates(pos):
                if not res.components:
                    continue
                for ci, comp in enumerate(res.components):
                    if not comp.accumulate:
                        continue
                    if res is not fld:
                        raise FallbackNeeded("accumulating component of a subfield")
                    cr = _component_raw(self.raws[pos], comp)
                    if cr is None:
                        continue
                    vals, valid = cr
                    self.acc_updates.append(((mnum, comp.def_num), pos, ci, vals, valid, comp.bits))

    # ---- pass 2: named entries
    def entries(self, comp_ts: tuple | None) -> list:
        """[(column, row mask or None, piece, kind)] in fitparse's FieldData order."""
        out = []
        mt = self.layout.mesg_type
        for pos, (num, off, size, bt, fld) in enumerate(self.layout.fields):
            if fld is None:
                continue
            raw = self.raws[pos]
            for res, rmask in self._candidates(pos):
                if res.components:
                    for ci, comp in enumerate(res.components):
                        cr = _component_raw(raw, comp)
                        if cr is None:
                            continue
                        vals, valid = cr
                        if comp.accumulate:
                            vals = self.acc_values[(pos, ci)]
                        cfld = mt.fields[comp.def_num]
                        for cres, cmask in self._component_targets(cfld):
                            p = _scalar_piece(vals, valid, cres.type, comp.scale, comp.offset,
                                              False, False)
                            out.append((cres.name, _and(rmask, cmask), p, kind_of(cres)))
                out.append((res.name, rmask, _field_piece(raw, res), kind_of(res)))
        for (num, off, size, idx, dev), raw in zip(self.layout.devs, self.dev_raws):
            out.append((f"dev:{dev.dev_data_index}:{dev.name}", None, _dev_piece(raw), K_VALUE))
        if comp_ts is not None:
            vals, mask = comp_ts
            p = _scalar_piece(vals, mask, FIELD_TYPE_TIMESTAMP.type, None, None, True, False)
            out.append((FIELD_TYPE_TIMESTAMP.name, None if mask.all() else mask, p,
                        kind_of(FIELD_TYPE_TIMESTAMP)))
        return out

    def _component_targets(self, cfld):
        sel = self._choose(cfld)
        if sel is None:
            return [(cfld, None)]
        out = []
        for i in range(-1, len(cfld.subfields)):
            m = sel == i
            if m.any():
                out.append((cfld if i < 0 else cfld.subfields[i], None if m.all() else m))
        return out


class _LayoutStatic:
    """What a layout's rows need that does not depend on the rows (computed once per layout)."""

    __slots__ = ("positions", "sub_pos", "comp_pos")

    def __init__(self, layout: _Layout):
        self.positions: dict = {}
        self.sub_pos: list = []  # field positions whose profile field has subfields
        self.comp_pos: list = []  # field positions with components (in the field or a subfield)
        for pos, (num, off, size, bt, fld) in enumerate(layout.fields):
            self.positions.setdefault(num, []).append(pos)
            if fld is None:
                continue
            if fld.subfields:
                self.sub_pos.append(pos)
            if fld.components or any(sf.components for sf in fld.subfields or ()):
                self.comp_pos.append(pos)


def _static(layout: _Layout) -> _LayoutStatic:
    st = layout.plans.get("static")
    if st is None:
        st = layout.plans["static"] = _LayoutStatic(layout)
    return st


def _and(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a & b


# --------------------------------------------------------------------------------------------
# Message names with a few messages (file_id, session, device_info, ...): fitparse's own steps
# --------------------------------------------------------------------------------------------

#: A message name with at most this many messages (and no accumulating component) is decoded
#: message by message: numpy's per-call cost would exceed the work. The steps are fitparse's
#: (its ``render`` methods, subfield and scale/offset rules) and the frame is built as
#: the reference reader builds it; the bulk path decodes everything else.
_TINY_MESSAGES = 16


def _tiny_parser(bt, big: bool):
    """A function bytes, offset -> fitparse's raw value for one field of base type ``bt``."""
    kind, ch, inv = _BASE_KIND[bt.name]
    if kind == "string":
        def parse_string(data, off, size):
            s = data[off : off + size]
            z = s.find(b"\x00")
            return (s[:z] if z >= 0 else s).decode("utf-8", errors="replace") or None
        return parse_string
    if kind == "byte":
        def parse_byte(data, off, size):
            t = tuple(data[off : off + size])
            return None if all(b == 0xFF for b in t) else t
        return parse_byte
    itemsize = struct.calcsize(ch)
    endian = ">" if big else "<"
    one = struct.Struct(endian + ch)
    isnan = kind == "float"

    def parse_number(data, off, size):
        if size == itemsize:
            (v,) = one.unpack_from(data, off)
            return None if (v != v if isnan else v == inv) else v
        vals = struct.unpack_from(f"{endian}{size // itemsize}{ch}", data, off)
        return tuple(None if (v != v if isnan else v == inv) else v for v in vals)
    return parse_number


def _tiny_plan(layout: _Layout) -> tuple:
    """How to parse a layout's messages one by one: (one ``struct.Struct`` for all its scalar
    number fields, or None; their (position, invalid value, float?); the other fields'
    (position, offset, size, parser); the developer fields' (offset, size, parser)).

    One unpack per message for the scalars instead of a parser call per field (the same
    values: standard sizes, no alignment; the other fields are skipped as pad bytes).
    """
    plan = layout.plans.get("tiny")
    if plan is None:
        codes, scalars, others = [], [], []
        for pos, (_n, off, size, bt, _f) in enumerate(layout.fields):
            kind, ch, inv = _BASE_KIND[bt.name]
            if kind in ("int", "float") and size == struct.calcsize(ch):
                codes.append(ch)
                scalars.append((pos, inv, kind == "float"))
            else:
                codes.append(f"{size}x")
                others.append((pos, off, size, _tiny_parser(bt, layout.big)))
        combo = struct.Struct((">" if layout.big else "<") + "".join(codes)) if scalars else None
        plan = layout.plans["tiny"] = (
            combo, scalars, others,
            [(off, size, _tiny_parser(dev.base_type, layout.big))
             for _n, off, size, _i, dev in layout.devs],
        )
    return plan


def _tiny_static(layout: _Layout) -> tuple:
    """What the tiny path needs of a layout, once per layout: per profile field (position,
    field, None if it has subfields or components else (name, enum values or None, whether it
    has a scale or offset)); positions of fields and developer fields numbered 253."""
    st = layout.plans.get("tiny_static")
    if st is None:
        plan = []
        for pos, (num, _o, _s, _bt, fld) in enumerate(layout.fields):
            if fld is None:
                continue
            plain = None
            if not fld.subfields and not fld.components:
                plain = (fld.name, fld.type.values or None, bool(fld.scale or fld.offset))
            plan.append((pos, fld, plain))
        st = layout.plans["tiny_static"] = (
            plan,
            [pos for pos, f in enumerate(layout.fields) if f[0] == TS_DEF_NUM],
            [pos for pos, d in enumerate(layout.devs) if d[0] == TS_DEF_NUM],
        )
    return st


def _scale_offset(fld, value):
    """fitparse's ``FitFile._apply_scale_offset``."""
    if isinstance(value, tuple):
        return tuple(_scale_offset(fld, x) for x in value)
    if isinstance(value, (int, float)):
        if fld.scale:
            value = float(value) / fld.scale
        if fld.offset:
            value = value - fld.offset
    return value


def _resolve_subfield(fld, nums: list, raws: list):
    """fitparse's ``FitFile._resolve_subfield``: the first subfield whose reference matches."""
    if fld.subfields:
        for sub in fld.subfields:
            for ref in sub.ref_fields:
                for num, raw in zip(nums, raws):
                    if num == ref.def_num and ref.raw_value == raw:
                        return sub
    return fld


class _TinyRows:
    """The messages of one layout of a tiny message name, as fitparse's (value, field) lists."""

    def __init__(self, lid: int, layout: _Layout, ordinals: np.ndarray, data: bytes,
                 starts: np.ndarray):
        self.lid = lid
        self.layout = layout
        self.ordinals = ordinals
        self.n = ordinals.shape[0]
        self.acc_updates: list = []
        combo, scalars, others, dplan = _tiny_plan(layout)
        nf = len(layout.fields)
        self.raws, self.dev_raws = [], []
        ts, ts_valid, self.ts_odd = [], [], False
        ts_pos, dev_ts_pos = _tiny_static(layout)[1:]
        for start in starts.tolist():
            raws = [None] * nf
            if combo is not None:
                for (pos, inv, isnan), v in zip(scalars, combo.unpack_from(data, start)):
                    if not (v != v if isnan else v == inv):
                        raws[pos] = v
            for pos, off, size, parse in others:
                raws[pos] = parse(data, start + off, size)
            devs = [parse(data, start + off, size) for off, size, parse in dplan]
            self.raws.append(raws)
            self.dev_raws.append(devs)
            last = None  # fitparse: every non-None raw of a field numbered 253 sets the clock
            for pos in ts_pos:
                if raws[pos] is not None:
                    last = raws[pos]
            for pos in dev_ts_pos:
                if devs[pos] is not None:
                    last = devs[pos]
            if last is not None and type(last) is not int:
                self.ts_odd = True
            ts.append(last if type(last) is int else 0)
            ts_valid.append(type(last) is int)
        self.ts = (np.array(ts, dtype=np.int64), np.array(ts_valid, dtype=bool)) if any(
            ts_valid) else None

    def messages(self, comp_ts: tuple | None):
        """Per message: [(field object, column name, value)] in fitparse's FieldData order.

        A field without subfields or components and without a value is left out (the frame
        skips values that are None); one with a value is rendered and scaled inline, as
        ``render`` and ``_scale_offset`` do (without calling them: ~1/3 of this method's time).
        """
        layout = self.layout
        fields = layout.mesg_type.fields
        nums = [f[0] for f in layout.fields]
        plan = _tiny_static(layout)[0]
        ts_vals = comp_ts[0].tolist() if comp_ts is not None else None
        ts_mask = comp_ts[1].tolist() if comp_ts is not None else None
        for i in range(self.n):
            raws = self.raws[i]
            out = []
            for pos, fld, plain in plan:
                raw = raws[pos]
                if plain is not None:
                    if raw is None:
                        continue
                    name, values, scaled = plain
                    if values and raw in values:  # fitparse's render
                        raw = values[raw]
                    out.append((fld, name, _scale_offset(fld, raw) if scaled else raw))
                    continue
                res = _resolve_subfield(fld, nums, raws)
                if res.components:
                    for comp in res.components:
                        try:
                            craw = comp.render(raw)
                        except ValueError:
                            continue
                        except TypeError as err:  # fitparse fails the same way
                            raise FallbackNeeded(f"component of an odd value ({err})") from err
                        cfld = _resolve_subfield(fields[comp.def_num], nums, raws)
                        cval = cfld.render(_scale_offset(comp, craw))
                        out.append((cfld, cfld.name, cval))
                out.append((res, res.name, _scale_offset(res, res.render(raw))))
            for (_n, _o, _s, _idx, dev), raw in zip(layout.devs, self.dev_raws[i]):
                out.append((dev, f"dev:{dev.dev_data_index}:{dev.name}", raw))
            if ts_mask is not None and ts_mask[i]:
                ts = ts_vals[i]
                out.append((FIELD_TYPE_TIMESTAMP, FIELD_TYPE_TIMESTAMP.name,
                            FIELD_TYPE_TIMESTAMP.render(ts)))
            yield out


def _tiny_frame(gs: list, comp_ts_by_lid: dict) -> pl.DataFrame:
    """A frame built as the reference reader builds it (``ingest.fit_messages.build_frame``): a
    row dict per message, last non-null value of a name kept, columns (and their kind)
    registered by their first non-null value."""
    msgs = []
    for g in gs:
        for ordinal, fds in zip(g.ordinals.tolist(), g.messages(comp_ts_by_lid.get(g.lid))):
            msgs.append((ordinal, fds))
    msgs.sort(key=lambda m: m[0])
    rows, kinds = [], {}
    for ordinal, fds in msgs:
        row = {"_message_index": ordinal}
        for fld, key, value in fds:
            if value is None:
                continue
            if key not in kinds:
                kinds[key] = K_VALUE if isinstance(fld, _DevField) else kind_of(fld)
            row[key] = value
        rows.append(row)
    for key, kind in kinds.items():
        if kind == K_VALUE:
            vals = [r.get(key) for r in rows]
            if not any(type(v) is str for v in vals) and any(
                    type(v) is tuple and any(isinstance(x, str) for x in v) for v in vals):
                raise FallbackNeeded(f"column {key} holds text in arrays")
    return build_frame(rows, kinds)


# --------------------------------------------------------------------------------------------
# File-order scans: compressed timestamps and accumulating components
# --------------------------------------------------------------------------------------------


def _rollover_scan(kind: np.ndarray, val: np.ndarray, bits: int) -> np.ndarray:
    """fitparse's ``_apply_compressed_accumulation`` over a stream of events, vectorised.

    ``kind`` 0 = set the accumulator to ``val``; 1 = roll forward to the low bits ``val``
    (acc = (acc & ~mask) + val, + 2**bits if val < acc & mask). Returns the accumulator after
    each event. The first event must be a set.
    """
    m = (1 << bits) - 1
    prev_kind = np.concatenate([[0], kind[:-1]])
    prev_val = np.concatenate([[0], val[:-1]])
    prev_low = np.where(prev_kind == 0, prev_val & m, prev_val)
    delta = np.where(kind == 1, (val - prev_low) & m, 0)
    grp = np.cumsum(kind == 0) - 1
    csum = np.cumsum(delta)
    set_idx = np.flatnonzero(kind == 0)
    base = val[set_idx] - csum[set_idx]  # at a set, delta = 0, so csum there is the group's start
    return base[grp] + csum


def _compressed_timestamps(walk: _Walk, ts_vals: np.ndarray, ts_valid: np.ndarray) -> np.ndarray:
    """Timestamp raw value of each compressed-header message (in ``walk.comp_ord`` order)."""
    nmsg = walk.starts.shape[0]
    # events in file order: segment start (set 0), explicit timestamps (set), compressed (roll)
    seg = np.zeros(nmsg, dtype=bool)
    seg[[s for s in walk.seg_starts if s < nmsg]] = True
    key_parts = []
    # order key: ordinal * 3 + (0 segment reset, 1 explicit set, 2 compressed roll)
    seg_ord = np.flatnonzero(seg)
    exp_ord = np.flatnonzero(ts_valid)
    key_parts = [seg_ord * 3, exp_ord * 3 + 1, walk.comp_ord * 3 + 2]
    kinds = [np.zeros(seg_ord.size, np.int64), np.zeros(exp_ord.size, np.int64),
             np.ones(walk.comp_ord.size, np.int64)]
    vals = [np.zeros(seg_ord.size, np.int64), ts_vals[exp_ord], walk.comp_off]
    key = np.concatenate(key_parts)
    order = np.argsort(key, kind="stable")
    kind = np.concatenate(kinds)[order]
    val = np.concatenate(vals)[order]
    acc = _rollover_scan(kind, val, 5)
    return acc[kind == 1]


def _accumulate(walk: _Walk, groups: list[_LayoutRows]):
    """Fill ``acc_values`` of every layout: accumulating components in file order."""
    by_key: dict = {}
    for g in groups:
        for key, pos, ci, vals, valid, bits in g.acc_updates:
            by_key.setdefault(key, []).append((g, pos, ci, vals, valid, bits))
    if not by_key:
        return
    resets: dict = {}
    for ordinal, mnum, comps in walk.def_events:
        for c in comps:
            resets.setdefault((mnum, c), []).append(ordinal)
    nf = 1 + max(len(g.layout.fields) for g in groups)
    for key, ups in by_key.items():
        bits = {u[5] for u in ups}
        if len(bits) != 1:
            raise FallbackNeeded("accumulating component with different bit widths")
        bits = bits.pop()
        ncomp = 1 + max(len(g.layout.mesg_type.fields[g.layout.fields[pos][0]].components)
                        for g, pos, *_ in ups)
        r = np.array(resets.get(key, []), dtype=np.int64)
        okeys = [r * nf * ncomp]  # resets come before any update at the same ordinal
        okind = [np.zeros(r.size, np.int64)]
        oval = [np.zeros(r.size, np.int64)]
        slots = []
        for g, pos, ci, vals, valid, _b in ups:
            idx = np.flatnonzero(valid)
            okeys.append(g.ordinals[idx] * nf * ncomp + (pos + 1) * ncomp + ci)
            okind.append(np.ones(idx.size, np.int64))
            oval.append(vals[idx])
            slots.append((g, pos, ci, vals, idx))
        keyarr = np.concatenate(okeys)
        order = np.argsort(keyarr, kind="stable")
        kind = np.concatenate(okind)[order]
        val = np.concatenate(oval)[order]
        if kind.size and kind[0] != 0:
            raise FallbackNeeded("accumulating component before its definition")
        # an update right after a reset starts from 0: the scan's "set 0" does exactly that
        acc = _rollover_scan(kind, val, bits) if kind.size else kind
        back = np.empty_like(acc)
        back[order] = acc
        o = r.size
        for g, pos, ci, vals, idx in slots:
            out = vals.copy()
            out[idx] = back[o : o + idx.size]
            o += idx.size
            g.acc_values[(pos, ci)] = out


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------


def _resolve_layout(entries: list, ordinals: np.ndarray) -> dict:
    """name -> [piece, (first ordinal, entry index), kind] for the rows of one layout.

    As the reference reader: the last non-null value of a name wins; the column is registered (which
    fixes its kind and its place) by the first non-null value in file and field order.
    """
    n = ordinals.shape[0]
    out: dict = {}
    o0 = int(ordinals[0])
    for e, (name, mask, piece, kind) in enumerate(entries):
        nonnull = _nonnull(piece)
        if mask is not None:
            nonnull = nonnull & mask
        if n == 1:
            if not nonnull[0]:
                continue
            reg = (o0, e)
        else:
            first = int(nonnull.argmax())
            if not nonnull[first]:
                continue
            reg = (int(ordinals[first]), e)
        cur = out.get(name)
        if cur is None:
            base = piece if mask is None else _override(_null_piece(n), piece, nonnull)
            out[name] = [base, reg, kind]
        else:
            cur[0] = _override(cur[0], piece, nonnull)
            if reg < cur[1]:
                cur[1], cur[2] = reg, kind
    return out


def _scatter(pieces: list, positions: list, total: int) -> _Piece:
    """One frame column from the pieces of several layouts (``positions`` = their rows)."""
    if len(pieces) == 1 and positions[0] is None:
        return pieces[0]
    tag = np.zeros(total, dtype=np.int8)
    has = lambda a: any(getattr(p, a) is not None for p in pieces if p is not None)  # noqa: E731
    num = np.zeros(total) if has("num") else None
    flt = np.zeros(total, dtype=bool) if has("flt") else None
    s = np.full(total, None, dtype=object) if has("s") else None
    lv = lm = lw = None
    if has("lv"):
        lists = [p for p in pieces if p is not None and p.lv is not None]
        w = max(p.lv.shape[1] for p in lists)
        lv = np.zeros((total, w))
        lm = np.zeros((total, w), dtype=bool)
        if any(p.lw is not None or p.lv.shape[1] != w for p in lists):
            lw = np.zeros(total, dtype=np.int64)
    for p, pos in zip(pieces, positions):
        if p is None:
            continue
        if pos is None:
            pos = slice(None)
        tag[pos] = p.tag
        if p.num is not None:
            num[pos] = p.num
        if p.flt is not None:
            flt[pos] = _flts(p, p.n)
        if p.s is not None:
            s[pos] = p.s
        if p.lv is not None:
            k = p.lv.shape[1]
            lv[pos, :k] = p.lv
            lm[pos, :k] = p.lm
            if lw is not None:
                lw[pos] = p.widths()
    return _Piece(tag, num, s, lv, lm, flt, lw)


def _list_series(name: str, p: _Piece) -> pl.Series:
    """A ``List(Float64)`` column; a scalar in it is a one-element list (as ``ingest.fit_messages.typed_series``)."""
    tag = p.tag
    n = p.n
    isnum = tag == NUM
    wr = np.where(tag == LST, p.widths(), 0)
    wr[isnum] = 1
    w = max(p.lv.shape[1], 1)
    lv = _lvs(p, n, w)
    lm = _lms(p, n, w)
    if isnum.any():
        lv = lv.copy()
        lm = lm.copy()
        lv[isnum, 0] = p.num[isnum]
        lm[isnum, 0] = True
    keep = np.arange(w) < wr[:, None]
    import pyarrow as pa  # here, not at the top: ~18 ms of a decode worker's start-up, for a rare column

    values = pa.array(lv[keep], mask=~lm[keep])
    offsets = pa.array(np.concatenate([[0], np.cumsum(wr)]).astype(np.int32))
    arr = pa.ListArray.from_arrays(offsets, values, mask=pa.array(tag == NUL))
    return pl.from_arrow(arr).alias(name).cast(pl.List(pl.Float64))


def _float_series(name: str, values: np.ndarray, null: np.ndarray) -> pl.Series:
    """Float64 with NULL where ``null`` (FIT values are never NaN: NaN is the invalid value)."""
    if null.any():
        values = np.where(null, np.nan, values)
    return np_series(name, values, nan_to_null=True)


def _int_rows(p: _Piece) -> np.ndarray:
    """Rows holding a Python int in fitparse (not a float, string or tuple)."""
    isint = p.tag == NUM
    if p.flt is True:
        return np.zeros(p.n, dtype=bool)
    if p.flt is not None:
        isint &= ~p.flt
    return isint


def _series(name: str, p: _Piece, kind: int) -> list[pl.Series]:
    """A column (or two: ``<name>__device_s``) typed as ``ingest.fit_messages.typed_series``."""
    tag = p.tag
    if kind == K_VALUE:
        has_str = p.s is not None and bool(np.any(tag == STR))
        if not has_str and (p.lv is None or not np.any(tag == LST)):
            return [_float_series(name, _nums(p, p.n), tag != NUM)]
        if p.lv is None:  # text: enum names, strings, and numbers written with str()
            isnum = tag == NUM
            if not isnum.any():
                return [pl.Series(name, p.s.tolist(), dtype=pl.Utf8)]
            vals = p.s.copy()
            flt = _flts(p, p.n)
            for i in np.flatnonzero(isnum):
                v = float(p.num[i])
                vals[i] = str(v) if flt[i] else str(int(v))
            return [pl.Series(name, vals.tolist(), dtype=pl.Utf8)]
        if has_str:
            raise FallbackNeeded(f"column {name} mixes text and arrays")
        return [_list_series(name, p)]
    isint = _int_rows(p)
    secs = np.where(isint, p.num, 0.0) if p.num is not None else np.zeros(p.n)
    if kind == K_BOOL:
        val = np.where(tag == NUM, secs != 0, True).astype(np.float64)
        return [_float_series(name, val, tag == NUL).cast(pl.Boolean)]
    if kind == K_TOD:
        ok = isint & (secs >= 0) & (secs < 86400)
        ns = _float_series(name, secs * 1e9, ~ok).cast(pl.Int64)
        return [ns.cast(pl.Time)]
    # K_DT / K_LOCAL_DT: FIT seconds -> naive UTC datetime; device-relative seconds aside
    if kind == K_DT:
        dev = isint & (secs < FIT_DEVICE_TIME_LIMIT)
        ok = isint & ~dev
    else:
        dev = None
        ok = isint
    if np.any(np.abs(secs[ok]) >= 2.0**32):  # float microseconds exact below 2**53: else ints
        us = (secs.astype(np.int64) + FIT_EPOCH_S) * 1_000_000
        import pyarrow as pa  # see _list_series

        dts = pl.from_arrow(pa.array(us, type=pa.timestamp("us"), mask=~ok)).alias(name)
    else:
        us = (secs + FIT_EPOCH_S) * 1e6
        dts = _float_series(name, us, ~ok).cast(pl.Int64).cast(pl.Datetime("us"))
    out = [dts]
    if dev is not None and dev.any():
        out.append(_float_series(f"{name}__device_s", secs, ~dev))
    return out


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def read_fit_messages_columnar(data: bytes) -> FitMessages:
    """FIT bytes -> ``FitMessages`` decoded in bulk; raise :class:`FallbackNeeded`.

    The same frames as the reference reader (``ingest.fit_fitparse.read_fit_messages``) for
    every file it accepts; ``error`` is always None (damaged files are refused: the caller,
    ``ingest.fit.decode_fit``, decides what to do with a refused file).
    """
    frames, n_messages = decode_frames(data)
    return FitMessages(
        frames=frames,
        developer_fields=developer_fields(frames.get("field_description")),
        n_messages=n_messages,
        error=None,
        file_type=file_type(frames.get("file_id")),
        decoder=DECODER,
    )


def decode_frames(data: bytes) -> tuple[dict[str, pl.DataFrame], int]:
    """The columnar decode: (frames by message name, number of data messages)."""
    data = bytes(data)
    walk = _walk(data)
    buf = np.frombuffer(data, dtype=np.uint8)
    nmsg = walk.starts.shape[0]
    has_comp = walk.comp_ord.size > 0
    # group data messages by layout (ordinals stay sorted within a layout)
    order = np.argsort(walk.lids, kind="stable")
    counts = np.bincount(walk.lids, minlength=len(walk.layouts))
    bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    # message names with few messages and no accumulating component: per message, in Python
    per_mesg: dict = {}
    for lid, layout in enumerate(walk.layouts):
        if counts[lid] and layout.mesg_type is not None:
            tot, acc = per_mesg.get(layout.mesg_num, (0, False))
            per_mesg[layout.mesg_num] = (tot + int(counts[lid]), acc or bool(layout.acc_keys))
    tiny = {m for m, (tot, acc) in per_mesg.items() if tot <= _TINY_MESSAGES and not acc}
    groups: list = []
    for lid, layout in enumerate(walk.layouts):
        a, b = bounds[lid], bounds[lid + 1]
        if b <= a:
            continue
        known = layout.mesg_type is not None
        if not known and not (has_comp and _has_ts_field(layout)):
            continue
        ordinals = order[a:b]
        if known and layout.mesg_num in tiny:
            groups.append(_TinyRows(lid, layout, ordinals, data, walk.starts[ordinals]))
            continue
        rows = _gather(buf, walk.starts[ordinals], layout.size)
        groups.append(_LayoutRows(lid, layout, ordinals, rows, want_values=known))

    comp_ts_by_lid = _compressed_ts_by_layout(walk, groups) if has_comp else {}
    known_groups = [g for g in groups if g.layout.mesg_type is not None]
    _accumulate(walk, [g for g in known_groups if isinstance(g, _LayoutRows)])

    by_mesg: dict = {}
    for g in known_groups:
        by_mesg.setdefault(g.layout.mesg_num, []).append(g)
    frames: dict[str, pl.DataFrame] = {}
    for mnum in sorted(by_mesg, key=lambda m: min(int(g.ordinals[0]) for g in by_mesg[m])):
        gs = by_mesg[mnum]
        build = _tiny_frame if mnum in tiny else _frame
        frames[MESSAGE_TYPES[mnum].name] = build(gs, comp_ts_by_lid)
    return frames, nmsg


def _has_ts_field(layout: _Layout) -> bool:
    return any(f[0] == TS_DEF_NUM for f in layout.fields) or any(
        d[0] == TS_DEF_NUM for d in layout.devs
    )


def _gather(buf: np.ndarray, starts: np.ndarray, size: int) -> np.ndarray:
    """The ``(n, size)`` bytes of n messages starting at ``starts``."""
    if size == 0:
        return np.zeros((starts.size, 0), dtype=np.uint8)
    if starts.size > 1:
        step = starts[1] - starts[0]
        if step >= size and np.all(np.diff(starts) == step):  # evenly spaced: a strided view
            view = np.lib.stride_tricks.as_strided(
                buf[starts[0] :], shape=(starts.size, size), strides=(int(step), 1)
            )
            return np.ascontiguousarray(view)
    # rows of a sliding-window view picked by start: one index per message, not per byte
    # (0.22 -> 0.06 ms per archive file, measured; no archive layout is evenly spaced)
    win = np.lib.stride_tricks.as_strided(buf, shape=(buf.size - size + 1, size), strides=(1, 1))
    return win[starts]


def _compressed_ts_by_layout(walk: _Walk, groups: list) -> dict:
    nmsg = walk.starts.shape[0]
    ts_vals = np.zeros(nmsg, dtype=np.int64)
    ts_valid = np.zeros(nmsg, dtype=bool)
    for g in groups:
        if g.ts_odd:
            raise FallbackNeeded("timestamp field that is not an integer, with compressed headers")
        if g.ts is not None:
            ts_vals[g.ordinals] = g.ts[0]
            ts_valid[g.ordinals] = g.ts[1]
    full = np.zeros(nmsg, dtype=np.int64)
    full[walk.comp_ord] = _compressed_timestamps(walk, ts_vals, ts_valid)
    isc = np.zeros(nmsg, dtype=bool)
    isc[walk.comp_ord] = True
    out = {}
    for g in groups:
        m = isc[g.ordinals]
        if m.any():
            out[g.lid] = (full[g.ordinals], m)
    return out


def _frame(gs: list, comp_ts_by_lid: dict) -> pl.DataFrame:
    """The frame of one message name from the layouts that carry it."""
    per_layout = [_resolve_layout(g.entries(comp_ts_by_lid.get(g.lid)), g.ordinals)
                  for g in gs]
    if len(gs) == 1:
        ords = gs[0].ordinals
        positions = [None]
    else:
        allord = np.concatenate([g.ordinals for g in gs])
        srt = np.argsort(allord, kind="stable")
        rank = np.empty(allord.size, dtype=np.int64)
        rank[srt] = np.arange(allord.size)
        positions, o = [], 0
        for g in gs:
            positions.append(rank[o : o + g.n])
            o += g.n
        ords = allord[srt]
    regs: dict = {}
    for res in per_layout:
        for name, (_piece, reg, kind) in res.items():
            cur = regs.get(name)
            if cur is None or reg < cur[0]:
                regs[name] = (reg, kind)
    names = sorted(regs, key=lambda k: regs[k][0])
    cols = [pl.Series("_message_index", ords, dtype=pl.Int64)]
    for name in names:
        pieces = [res[name][0] if name in res else None for res in per_layout]
        cols.extend(_series(name, _scatter(pieces, positions, ords.size), regs[name][1]))
    return frame(cols)
