"""The FIT contract both readers honour, and what they share: constants, the one CRC, column typing.

Two readers turn FIT bytes into ``FitMessages``: ``ingest.fit_fitparse.read_fit_messages`` (the
reference, fitparse 1.2.0) and ``ingest.fit_columnar.read_fit_messages_columnar`` (the fast one,
diff-tested against the reference field by field with ``compare_fit_messages``).
``ingest.fit.fit_messages_to_decoded`` gives the frames their meaning; ``ingest.fit.decode_fit``
picks the reader. This module imports neither reader (nor fitparse).

The ``FitMessages`` contract (both readers)
-------------------------------------------
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
    are checked after decoding, see ``ingest.fit_fitparse._FitFile``). The backend's exception
    is ``error.__cause__``. Damage before the first data message is raised instead
    (``BadHeader``, ``TruncatedFile``, ``CorruptFile``; ``EmptyFile`` for b'').

``file_type: str | None``
    ``file_id.type`` of the first ``file_id`` message: ``activity``, ``settings``,
    ``monitoring_b``, ``workout``, ``course``, ... (a number the profile does not name as
    ``str(int)``).

``decoder: str``
    Which reader made the frames (``fitparse``, ``columnar``; ``fitparse-fallback:<reason>``
    when ``ingest.fit.decode_fit`` fell back); layer 2 copies it to ``Decoded.decoder``.

The helpers ``developer_fields(field_description_frame)`` and ``file_type(file_id_frame)``
build the two derived members from the frames, so both readers derive them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from ingest.errors import IngestError

#: FIT time zero, 1989-12-31T00:00:00Z, in Unix seconds (FIT SDK; fitparse UTC_REFERENCE).
FIT_EPOCH_S = 631_065_600
#: FIT time zero as a naive UTC datetime.
FIT_EPOCH = datetime(1989, 12, 31)
#: FIT date_time values below this are device-relative system time (FIT profile ``date_time.min``).
FIT_DEVICE_TIME_LIMIT = 0x10000000
#: global message numbers of the two developer-data messages (FIT profile)
MESG_FIELD_DESCRIPTION = 206
MESG_DEVELOPER_DATA_ID = 207


@dataclass
class FitMessages:
    """What a FIT reader returns: frames by message name (see the module docstring)."""
    frames: dict[str, pl.DataFrame]
    developer_fields: pl.DataFrame
    n_messages: int
    error: IngestError | None = None
    file_type: str | None = None
    decoder: str = "fitparse"


DEVELOPER_FIELDS_SCHEMA: dict[str, pl.DataType] = {
    "developer_data_index": pl.Int32,
    "field_number": pl.Int32,
    "field_name": pl.Utf8,
    "units": pl.Utf8,
    "native_field_num": pl.Int32,
    "base_type": pl.Utf8,
}


# --------------------------------------------------------------------------------------------
# CRC-16 (FIT = CRC-16/ARC), vectorised: equal chunks in lockstep, then combined linearly
# --------------------------------------------------------------------------------------------

def _crc_table() -> np.ndarray:
    t = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        t[i] = c
    return t


_CRC_T = _crc_table()
_CRC_T_LIST = [int(x) for x in _CRC_T]


def _crc_word_table() -> np.ndarray:
    """State after XOR-ing a little-endian 16-bit word into it and feeding two bytes."""
    x = np.arange(65536, dtype=np.uint32)
    for _ in range(2):
        x = (x >> 8) ^ _CRC_T[x & 0xFF]
    return x.astype(np.uint16)


_CRC_T2 = _crc_word_table()
_CRC_WORDS = 16  # words per chunk: chunks of 32 bytes run in lockstep
_CRC_SHIFT: dict[int, tuple[np.ndarray, np.ndarray]] = {}
_CRC_ZERO = np.zeros(1, dtype=np.uint16)


def _crc_shift(level: int) -> tuple[np.ndarray, np.ndarray]:
    """Low/high-byte tables of the linear map 'feed (32 << level) zero bytes' on a CRC state."""
    if level not in _CRC_SHIFT:
        if level == 0:
            s = np.arange(256, dtype=np.uint32)
            s = np.concatenate([s, s << 8])
            for _ in range(2 * _CRC_WORDS):
                s = (s >> 8) ^ _CRC_T[s & 0xFF]
            _CRC_SHIFT[0] = (s[:256].astype(np.uint16), s[256:].astype(np.uint16))
        else:
            lo, hi = _crc_shift(level - 1)
            _CRC_SHIFT[level] = (lo[lo & 0xFF] ^ hi[lo >> 8], lo[hi & 0xFF] ^ hi[hi >> 8])
    return _CRC_SHIFT[level]


def fit_crc16(data: bytes | np.ndarray, crc: int = 0) -> int:
    """FIT CRC (CRC-16/ARC: poly 0xA001 reflected, as ``fitparse.records.Crc``) of ``data``,
    continuing from the state ``crc`` (0 to start: ``fit_crc16(b, fit_crc16(a)) ==
    fit_crc16(a + b)``).

    The one CRC of footfall: both readers check with it, the FIT writer signs with it. Short
    inputs go through the byte table; longer ones are cut into 32-byte chunks whose CRCs run in
    lockstep with numpy, a 16-bit word per step; CRC-16/ARC is linear and starts at 0, so chunk
    CRCs combine pairwise (``shift(left, len(right)) ^ right``) in log2(chunks) numpy steps, and
    leading zero bytes (the padding, and a zero chunk put in front of an odd count) change
    nothing; a start state is XOR-ed into the first two bytes.
    (0.34 -> 0.24 ms per archive file of ~150 kB, measured, from np.take and from padding to
    a whole number of chunks instead of a power of two of them.)
    """
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    n = buf.size
    if n < 64:
        t = _CRC_T_LIST
        for b in buf.tolist():
            crc = (crc >> 8) ^ t[(crc ^ b) & 0xFF]
        return crc
    if crc:  # a reflected CRC without final XOR: a start state is the same as XOR-ing it into
        buf = buf.copy()  # the first two bytes (little-endian) and starting from 0
        buf[0] ^= crc & 0xFF
        buf[1] ^= (crc >> 8) & 0xFF
    chunk = 2 * _CRC_WORDS
    k = -(-n // chunk)  # chunks; not rounded up to a power of two (see the combine below)
    padded = np.zeros(k * chunk, dtype=np.uint8)
    padded[k * chunk - n :] = buf
    words = np.ascontiguousarray(padded.view("<u2").reshape(k, _CRC_WORDS).T)
    c = np.zeros(k, dtype=np.uint16)
    t2 = _CRC_T2
    take = np.take  # np.take rather than t2[c]: the same gather, ~30% less CRC time (measured)
    for j in range(_CRC_WORDS):
        c ^= words[j]
        c = take(t2, c)
    level = 0
    while c.size > 1:
        if c.size & 1:  # a zero chunk in front: leading zero bytes change nothing
            c = np.concatenate([_CRC_ZERO, c])
        lo, hi = _crc_shift(level)
        a = c[0::2]
        c = take(lo, a & 0xFF) ^ take(hi, a >> 8) ^ c[1::2]
        level += 1
    return int(c[0])


# --------------------------------------------------------------------------------------------
# Column typing (the rules of the contract, for readers that collect values per message)
# --------------------------------------------------------------------------------------------

#: column kinds, decided by the profile type of the field that names the column
K_VALUE, K_DT, K_LOCAL_DT, K_BOOL, K_TOD = range(5)
KIND_BY_TYPE = {
    "date_time": K_DT,
    "local_date_time": K_LOCAL_DT,
    "bool": K_BOOL,
    "localtime_into_day": K_TOD,
}


def kind_of(field) -> int:
    """The column kind of a profile field (fitparse ``Field``: its ``type.name``)."""
    return KIND_BY_TYPE.get(getattr(field.type, "name", ""), K_VALUE)


def build_frame(rows: list[dict], kinds: dict[str, int]) -> pl.DataFrame:
    """One message name's frame from a row dict per message (``_message_index`` + values) and
    its columns' kinds in order of registration (first non-null value)."""
    cols: list[pl.Series] = [
        new_series("_message_index", [r["_message_index"] for r in rows], pl.Int64)
    ]
    for key, kind in kinds.items():
        vals = [r.get(key) for r in rows]
        cols.extend(typed_series(key, vals, kind))
    return frame(cols)


# Series and frames through polars' own constructors, without the generic ``pl.Series`` /
# ``pl.DataFrame`` front ends (most of a small column's cost): each helper calls the binding the
# front end itself picks for such input (and its fallback), so the result is the same; the front
# end when this polars has no such binding. The binding module is ``polars._plr`` in recent
# polars, ``polars.polars`` in older ones.
try:
    import polars._plr as _plr
except ImportError:  # pragma: no cover - depends on the polars version
    try:
        import polars.polars as _plr
    except ImportError:
        _plr = None
_PySeries = getattr(_plr, "PySeries", None)
_PyDataFrame = getattr(_plr, "PyDataFrame", None)
_CTORS = {}
if _PySeries is not None and hasattr(pl.Series, "_from_pyseries"):
    for _dt, _name in ((pl.Float64, "new_opt_f64"), (pl.Int64, "new_opt_i64"), (pl.Int32, "new_opt_i32"),
                       (pl.Boolean, "new_opt_bool"), (pl.Utf8, "new_str")):
        if hasattr(_PySeries, _name):
            _CTORS[_dt] = getattr(_PySeries, _name)
_wrap = pl.Series._from_pyseries if _CTORS else None


def new_series(name: str, values: list, dtype, strict: bool = True) -> pl.Series:
    """``pl.Series(name, values, dtype=dtype, strict=strict)`` for a list of Python scalars
    (None, int, float, str, bool) and dtype Float64, Int64, Int32, Boolean or Utf8."""
    ctor = _CTORS.get(dtype)
    if ctor is not None:
        try:
            return _wrap(ctor(name, values, strict))
        except (TypeError, OverflowError):  # pl.Series' own fallback (any-values) decides
            pass
    return pl.Series(name, values, dtype=dtype, strict=strict)


_NP_CTORS = {}
if _CTORS:
    for _np_dt, _name in ((np.dtype(np.float64), "new_f64"), (np.dtype(np.int64), "new_i64"),
                          (np.dtype(np.int32), "new_i32")):
        if hasattr(_PySeries, _name):
            _NP_CTORS[_np_dt] = getattr(_PySeries, _name)


def np_series(name: str, values: np.ndarray, nan_to_null: bool = False) -> pl.Series:
    """``pl.Series(name, values, nan_to_null=nan_to_null)`` for a 1-D float64, int64 or int32
    array, through the constructor ``pl.Series`` picks for it."""
    ctor = _NP_CTORS.get(values.dtype)
    if ctor is None or values.ndim != 1:
        return pl.Series(name, values, nan_to_null=nan_to_null)
    if not (values.flags.c_contiguous and values.flags.aligned):
        values = np.require(values, requirements=["A", "C"])
    try:
        return _wrap(ctor(name, values, nan_to_null if values.dtype.kind == "f" else True))
    except TypeError:  # pragma: no cover - another polars' binding: its front end decides
        return pl.Series(name, values, nan_to_null=nan_to_null)


def frame(cols: list[pl.Series]) -> pl.DataFrame:
    """``pl.DataFrame(cols)`` for named Series: the PyDataFrame it ends in, made directly."""
    if _PyDataFrame is not None and hasattr(pl.DataFrame, "_from_pydf") and all(s.name for s in cols):
        try:
            return pl.DataFrame._from_pydf(_PyDataFrame([s._s for s in cols]))
        except TypeError:  # pragma: no cover - another polars' binding: its front end decides
            pass
    return pl.DataFrame(cols)


_NULL_ONE: dict = {}


def null_series(name: str, dtype, n: int) -> pl.Series:
    """``n`` NULLs of ``dtype`` (the same as ``pl.Series(name, [None] * n, dtype=dtype)``)."""
    one = _NULL_ONE.get((name, dtype))
    if one is None:
        one = _NULL_ONE[(name, dtype)] = pl.Series(name, [None], dtype=dtype)
    if _CTORS and hasattr(one._s, "new_from_index"):
        return _wrap(one._s.new_from_index(0, n))
    return pl.Series(name, [None] * n, dtype=dtype)


#: below this magnitude, FIT seconds -> microseconds and to float are exact in Int64/Float64
_SMALL_INT = 1 << 40


def typed_series(key: str, vals: list, kind: int) -> list[pl.Series]:
    """A column's Python values (fitparse's, ``None`` for invalid) typed by the contract: one
    Series, or two for a ``date_time`` column with device-relative values (``<key>__device_s``)."""
    if kind == K_DT or kind == K_LOCAL_DT:
        ints = [v if type(v) is int else None for v in vals]
        if all(v is None or -_SMALL_INT < v < _SMALL_INT for v in ints):
            # the same as the Int64 arithmetic below, in Python ints (no overflow here)
            lim = FIT_DEVICE_TIME_LIMIT if kind == K_DT else -_SMALL_INT
            us = [None if v is None or v < lim else (v + FIT_EPOCH_S) * 1_000_000 for v in ints]
            out = [new_series(key, us, pl.Int64).cast(pl.Datetime("us"))]
            dev = [None if v is None or v >= lim else float(v) for v in ints]
            if kind == K_DT and any(v is not None for v in dev):
                out.append(new_series(f"{key}__device_s", dev, pl.Float64))
            return out
        s = pl.Series(key, ints, dtype=pl.Int64)
        if kind == K_LOCAL_DT:
            return [fit_seconds_to_datetime(s)]
        is_dev = s < FIT_DEVICE_TIME_LIMIT
        out = [fit_seconds_to_datetime(s.zip_with(~is_dev.fill_null(True), pl.Series([None] * len(s), dtype=pl.Int64)))]
        if is_dev.any():
            dev = s.zip_with(is_dev.fill_null(False), pl.Series([None] * len(s), dtype=pl.Int64))
            out.append(dev.cast(pl.Float64).alias(f"{key}__device_s"))
        return out
    if kind == K_BOOL:
        return [new_series(key, [None if v is None else bool(v) for v in vals], pl.Boolean)]
    if kind == K_TOD:
        ns = [v * 1_000_000_000 if type(v) is int and 0 <= v < 86400 else None for v in vals]
        return [new_series(key, ns, pl.Int64).cast(pl.Time)]
    types = set(map(type, vals))
    if str in types:
        return [new_series(key, [None if v is None else str(v) for v in vals], pl.Utf8)]
    if tuple in types or list in types:
        seqs = [None if v is None else (v if isinstance(v, (tuple, list)) else (v,)) for v in vals]
        has_text = any(isinstance(x, str) for s in seqs if s is not None for x in s)
        if has_text:
            seqs = [None if s is None else [None if x is None else str(x) for x in s] for s in seqs]
            return [pl.Series(key, seqs, dtype=pl.List(pl.Utf8))]
        return [pl.Series(key, seqs, dtype=pl.List(pl.Float64), strict=False)]
    return [new_series(key, vals, pl.Float64, strict=False)]


def fit_seconds_to_datetime(s: pl.Series) -> pl.Series:
    """FIT seconds (Int64) -> naive UTC pl.Datetime('us')."""
    return ((s + FIT_EPOCH_S) * 1_000_000).cast(pl.Datetime("us")).alias(s.name)


# --------------------------------------------------------------------------------------------
# The derived members: developer_fields and file_type, from the frames (both readers)
# --------------------------------------------------------------------------------------------


def developer_fields(df: pl.DataFrame | None) -> pl.DataFrame:
    """developer_fields from the field_description frame (one row per description message)."""
    if df is None or df.height == 0:
        return pl.DataFrame(schema=DEVELOPER_FIELDS_SCHEMA)
    # a damaged description can carry a non-number here: treat it as missing, not as a crash
    num = num_col(df, "field_definition_number") if "field_definition_number" in df.columns else None
    names = text_col(df, "field_name")
    if num is not None:
        names = new_series("field_name", [
            name if name is not None else None if n is None else f"unnamed_dev_field_{int(n)}"
            for name, n in zip(names.to_list(), num.to_list())], pl.Utf8)
    cols = {
        "developer_data_index": num_col(df, "developer_data_index"),
        "field_number": num if num is not None else num_col(df, "field_definition_number"),
        "field_name": names,
        "units": text_col(df, "units"),
        "native_field_num": num_col(df, "native_field_num"),
        "base_type": text_col(df, "fit_base_type_id"),
    }
    return pl.DataFrame(
        [cols[c].cast(t, strict=False).alias(c) for c, t in DEVELOPER_FIELDS_SCHEMA.items()]
    )


def file_type(df: pl.DataFrame | None) -> str | None:
    """``type`` of the first ``file_id`` message that has one (text), else None."""
    if df is None or "type" not in df.columns:
        return None
    return next((v for v in text_col(df, "type").to_list() if v is not None), None)


def num_col(df: pl.DataFrame, name: str) -> pl.Series:
    """A column as Float64 (all NULL when absent or not numeric)."""
    if name in df.columns and df[name].dtype.is_numeric():
        return df[name].cast(pl.Float64)
    return new_series(name, [None] * df.height, pl.Float64)


def text_col(df: pl.DataFrame, name: str) -> pl.Series:
    """A column as text; numbers (enum values the profile does not name) as int strings."""
    if name not in df.columns:
        return new_series(name, [None] * df.height, pl.Utf8)
    s = df[name]
    if s.dtype == pl.Utf8:
        return s
    if s.dtype.is_numeric():
        return new_series(name, [None if v is None else _num_text(v) for v in s], pl.Utf8)
    if isinstance(s.dtype, pl.List):
        return pl.Series(name, [None if v is None else ",".join(_num_text(x) for x in v if x is not None) for v in s], dtype=pl.Utf8)
    return s.cast(pl.Utf8, strict=False)


def _num_text(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


# --------------------------------------------------------------------------------------------
# Differential check of two readers (tests, benchmark)
# --------------------------------------------------------------------------------------------

def compare_fit_messages(ref, got, rtol: float = 1e-9) -> list[str]:
    """Differences between two ``FitMessages`` (empty = the same), for the differential test.

    Same message names, same columns (order ignored) with the same dtypes, same nulls, equal
    values (Float64 within ``rtol`` relative, lists element by element), same ``n_messages``,
    ``file_type`` and ``developer_fields``.
    """
    out: list[str] = []
    if set(ref.frames) != set(got.frames):
        only_ref = sorted(set(ref.frames) - set(got.frames))
        only_got = sorted(set(got.frames) - set(ref.frames))
        out.append(f"message names differ: only in reference {only_ref}, "
                   f"only in columnar {only_got}")
    for name, a in ref.frames.items():
        b = got.frames.get(name)
        if b is None:
            continue
        if set(a.columns) != set(b.columns):
            only_ref = sorted(set(a.columns) - set(b.columns))
            only_got = sorted(set(b.columns) - set(a.columns))
            out.append(f"{name}: columns only in reference {only_ref}, only in columnar {only_got}")
        if a.height != b.height:
            out.append(f"{name}: {a.height} rows vs {b.height}")
            continue
        for col in a.columns:
            if col in b.columns:
                diff = _compare_series(a[col], b[col], rtol)
                if diff:
                    out.append(f"{name}.{col}: {diff}")
    if ref.n_messages != got.n_messages:
        out.append(f"n_messages {ref.n_messages} vs {got.n_messages}")
    if ref.file_type != got.file_type:
        out.append(f"file_type {ref.file_type!r} vs {got.file_type!r}")
    if not ref.developer_fields.equals(got.developer_fields):
        out.append("developer_fields differ")
    return out


def _compare_series(a: pl.Series, b: pl.Series, rtol: float) -> str | None:
    if a.dtype != b.dtype:
        return f"dtype {a.dtype} vs {b.dtype}"
    na, nb = a.is_null().to_numpy(), b.is_null().to_numpy()
    if not np.array_equal(na, nb):
        i = int(np.argmax(na != nb))
        return f"null differs at row {i}: {a[i]!r} vs {b[i]!r}"
    if a.dtype == pl.Float64 or a.dtype == pl.List(pl.Float64):
        if a.dtype != pl.Float64:
            if not (a.list.len() == b.list.len()).fill_null(True).all():
                return "list lengths differ"
            a, b = a.explode(), b.explode()
            if not np.array_equal(a.is_null().to_numpy(), b.is_null().to_numpy()):
                return "null list elements differ"
        x = a.fill_null(0.0).to_numpy()
        y = b.fill_null(0.0).to_numpy()
        ok = (x == y) | (np.abs(x - y) <= rtol * np.maximum(np.abs(x), np.abs(y)))
        if not ok.all():
            i = int(np.argmin(ok))
            return f"value differs at {i}: {x[i]!r} vs {y[i]!r}"
        return None
    if not a.equals(b, check_names=False, null_equal=True):
        bad = [(i, u, v) for i, (u, v) in enumerate(zip(a.to_list(), b.to_list())) if u != v]
        return f"values differ, e.g. {bad[:3]}"
    return None
