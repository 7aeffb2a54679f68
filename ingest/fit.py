"""FIT: the meaning layer, and ``decode_fit()``, which picks the reader.

A FIT file is decoded in two layers with a seam between them. Layer 1, a *reader*, turns the
bytes into ``FitMessages`` (one polars frame per FIT message name; the contract, the constants
and the helpers both readers share are in ``ingest.fit_messages``). Two readers honour it:

- ``ingest.fit_columnar.read_fit_messages_columnar``: the fast one (bytes -> numpy in bulk);
  refuses with ``FallbackNeeded`` what it cannot reproduce exactly;
- ``ingest.fit_fitparse.read_fit_messages``: the reference (fitparse 1.2.0), which also
  salvages what precedes the damage in a damaged file.

Layer 2, ``fit_messages_to_decoded(msgs, file_id) -> Decoded`` (this module), gives the frames
their meaning (sessions -> activities, units, developer fields, sources) in numpy and polars
(no fitparse, no bytes; records, laps and events in numpy, see "layer 2 in numpy"); it
accepts either reader's ``FitMessages``. ``decode_fit(data, file_id)`` runs the fast reader and
falls back to the reference one.
"""

from __future__ import annotations

import re
import struct
from datetime import date, datetime, timedelta
from typing import Callable

import numpy as np
import polars as pl

from ingest import schema
from ingest.fit_columnar import FallbackNeeded, read_fit_messages_columnar
from ingest.fit_fitparse import read_fit_messages
from ingest.errors import BadHeader, IngestError
from ingest.fit_messages import FitMessages, fit_crc16, frame, new_series, np_series, null_series, text_col
from ingest.schema import Decoded

#: semicircles -> degrees
SEMICIRCLE_TO_DEG = 180.0 / 2**31
#: UTC offsets that exist (UTC-12 .. UTC+14), seconds; an activity offset outside is not a zone.
_UTC_OFFSET_RANGE_S = (-12 * 3600, 14 * 3600)


# --------------------------------------------------------------------------------------------
# Layer 2: FitMessages -> Decoded (numpy and polars; accepts either decoder's FitMessages)
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
    reader: Callable[[bytes], FitMessages] | None = None,
) -> Decoded:
    """FIT bytes -> ``Decoded``: a reader (bytes -> ``FitMessages``), then the meaning layer.

    By default the fast reader (``ingest.fit_columnar``), and the reference reader
    (``ingest.fit_fitparse``) for every file the fast one refuses (``FallbackNeeded``: damaged
    files, structures it does not reproduce exactly) or fails on with an unexpected error: a
    file is never lost to the fast path. ``Decoded.decoder`` says which: ``'columnar'``, or
    ``'fitparse-fallback:<reason>'``. With ``reader`` given, that reader alone (its
    ``FitMessages.decoder`` is copied).

    Raises ``IngestError`` subclasses for files nothing can be kept from (the reference
    reader's: ``EmptyFile``, ``BadHeader``, ``TruncatedFile``, ``CorruptFile``).

    A header that declares 0 data bytes in a file that holds more (``zero_size_header``) is read
    as if it declared them all: whatever decodes is kept as ``salvaged`` with a ``BadHeader``
    saying so; when nothing decodes, ``BadHeader`` with the same words.
    """
    fixed = zero_size_header(data)
    if fixed is None:
        return fit_messages_to_decoded(_read_messages(data, reader), file_id)
    patched, note = fixed
    try:
        msgs = _read_messages(patched, reader)
    except IngestError as err:
        raise BadHeader(f"{note}, but nothing there reads as FIT messages ({err})") from err
    prior = msgs.error
    msgs.error = BadHeader(f"{note}; {prior}" if prior is not None else note)
    msgs.error.__cause__ = prior
    return fit_messages_to_decoded(msgs, file_id)


def _read_messages(data: bytes, reader: Callable[[bytes], FitMessages] | None) -> FitMessages:
    """``reader(data)``, or the fast reader with the reference one as fallback (``decode_fit``)."""
    if reader is not None:
        return reader(data)
    try:
        return read_fit_messages_columnar(data)
    except FallbackNeeded as err:
        reason = err.reason
    except Exception as err:  # noqa: BLE001 - a bug there must not lose a file: fitparse decides
        reason = f"columnar error {type(err).__name__}: {err}"
    msgs = read_fit_messages(data)
    msgs.decoder = f"fitparse-fallback:{reason}"
    return msgs


def zero_size_header(data: bytes) -> tuple[bytes, str] | None:
    """(the file with its header's data size set to what follows the header, the note saying
    so) when a FIT header declares 0 data bytes but more than a CRC follows it; else None.

    A device writes the header first and its data size when it closes the file; a file never
    closed (a crash, a flat battery) keeps 0 there, and every reader then stops at the header
    ("invalid header") although the messages are all there. The data are taken to run to the
    end of the file, less the last 2 bytes when they are the file's CRC (it checks out over the
    bytes before it); the patched copy gets a size, a header CRC (when the header had one) and a
    file CRC of its own so the readers read it whole. Not this case: a size other than 0, a
    header of 0 data bytes followed by a CRC only, or by a chained FIT file (an empty file,
    as declared).
    """
    n = len(data)
    if n < 12 or data[8:12] != b".FIT":
        return None
    hs = data[0]
    if hs < 12 or n < hs or struct.unpack_from("<I", data, 4)[0] != 0:
        return None
    rest = n - hs
    if rest <= 2:
        return None
    nxt = hs + 2
    if n >= nxt + 12 and data[nxt + 8 : nxt + 12] == b".FIT":
        return None  # an empty FIT file, then a chained one
    crc_ok = fit_crc16(data) == 0  # the last 2 bytes are the CRC of everything before them
    body = data[hs:-2] if crc_ok else data[hs:]
    head = bytearray(data[:hs])
    head[4:8] = struct.pack("<I", len(body))
    if hs >= 14 and head[12:14] != b"\0\0":
        head[12:14] = struct.pack("<H", fit_crc16(bytes(head[:12])))
    patched = bytes(head) + body
    patched += struct.pack("<H", fit_crc16(patched))
    end = ("the file CRC at the end checks out" if crc_ok
           else "no file CRC at the end checks out, so all of it is read as data")
    note = (f"FIT header declares 0 data bytes but the file holds {rest:,} after its {hs}-byte "
            f"header: read them to the end of the file ({end})")
    return patched, note


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


def _num_list(df: pl.DataFrame, name: str) -> list:
    """``_num`` as a Python list."""
    if name in df.columns:
        dt = df.schema[name]
        if dt.is_numeric() or dt == pl.Utf8 or dt == pl.Boolean:
            return df.get_column(name).cast(pl.Float64, strict=False).to_list()
    return [None] * df.height


def _lap_start_us(laps: pl.DataFrame):
    """Lap start_time, else timestamp, as float64 microseconds (NaN: neither) for ``_assign``."""
    dtypes = dict(zip(laps.columns, laps.dtypes))
    st, st_ok = _np_time(laps, dtypes, "start_time")
    ts, ts_ok = _np_time(laps, dtypes, "timestamp")
    out = np.where(st_ok, st, ts).astype(np.float64)
    out[~(st_ok | ts_ok)] = np.nan
    return out


def _time_series(df: pl.DataFrame, name: str) -> pl.Series:
    """A Datetime column as a Series of df.height (all NULL when absent)."""
    if name in df.columns and isinstance(df.schema[name], pl.Datetime):
        return df[name].cast(schema.UTC_DT)
    return null_series(name, schema.UTC_DT, df.height)


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
    usable = [j for j, w in enumerate(windows) if w[0] is not None]
    if len(usable) == 1:
        # the first window compared wins every timed row (its first key, 0 or 1, beats the
        # initial inf), and no other follows: the keys need not be computed (most files have
        # one session; 0.39 -> ~0.05 ms per archive file for the three calls, measured)
        out[timed] = usable[0]
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
    if s.dtype == schema.UTC_DT:
        v = s.to_numpy()
        if v.dtype == np.dtype("datetime64[us]"):
            out = v.view(np.int64).astype(np.float64)
            out[np.isnat(v)] = np.nan
            return out
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


def _mapped_dev_fields(rec: pl.DataFrame, dtypes, msgs) -> list[tuple[str, str, str, float]]:
    """(canonical column, record column, field name, factor) for each numeric developer field
    that ``DEV_FIELD_MAP`` maps by name and whose units it knows, in (developer index, column)
    order: what both the numpy and the polars record paths fill the ``dev_*`` columns from."""
    info = _dev_info(msgs)
    out = []
    for c, idx, name in sorted(_dev_columns(rec), key=lambda t: (t[1], t[0])):
        m = DEV_FIELD_MAP.get(name.strip().lower())
        if m is None or not dtypes[c].is_numeric():
            continue
        target, factors = m
        units = _norm_units(_dev_meta(info, idx, name)[1])
        factor = factors["*"] if "*" in factors else factors.get(units)
        if factor is not None:
            out.append((target, c, name, factor))
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
        for msg, start, ts, el in zip(ses.get_column("_message_index").to_list(),
                                      _time_series(ses, "start_time").to_list(),
                                      _time_series(ses, "timestamp").to_list(),
                                      _num_list(ses, "total_elapsed_time")):
            src = "fit:session.start_time"
            if start is None and ts is not None and el is not None:
                start, src = ts - timedelta(seconds=el), "fit:session.timestamp-total_elapsed_time"
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
    records, rec_sources, rec_stats = _records(msgs, rec, rec_act, act_ids)

    # --- laps ---
    lap_frame = schema.empty("laps")
    lap_act = np.zeros(0, dtype=np.int64)
    if laps is not None and laps.height:
        lap_act = np.zeros(laps.height, dtype=np.int64) if synthetic else _fill_assignment(
            _assign(_lap_start_us(laps), laps["_message_index"], windows, file_starts))
        lap_frame = _laps(laps, lap_act, act_ids, sports)

    # --- events ---
    event_frame = schema.empty("events")
    if events is not None and events.height:
        ev_ts = _time_series(events, "timestamp")
        ev_act = np.zeros(events.height, dtype=np.int64) if synthetic else _fill_assignment(
            _assign(_us(ev_ts), events["_message_index"], windows, file_starts))
        try:
            event_frame = _events(events, ev_act, act_ids)
        except _Slow:
            event_frame = _events_polars(events, ev_act, act_ids)

    # --- activities ---
    activities, act_sources = _activities(msgs, file_id, ses, sessions, sports, synthetic, act_ids,
                                          records, lap_frame, rec_stats)

    # --- developer values ---
    dev_values = _developer_values(msgs, windows, file_starts, synthetic, act_ids, rec_act, lap_act)

    if schema.is_canonical(rec_sources, "field_sources") and schema.is_canonical(act_sources, "field_sources"):
        sources = rec_sources.vstack(act_sources)
    else:
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
        sp, sub = text_col(ses, "sport"), text_col(ses, "sub_sport")
        return list(zip(sp.to_list(), sub.to_list()))
    sport_msg = msgs.frames.get("sport")
    for df in (sport_msg, laps):
        if df is not None and df.height:
            sp = text_col(df, "sport").drop_nulls()
            if len(sp):
                sub = text_col(df, "sub_sport").drop_nulls()
                return [(sp[0], sub[0] if len(sub) else None)] * n
    return [("generic", None)] * n


def _records_polars(msgs, rec: pl.DataFrame, rec_act, act_ids) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The records frame and its field_sources rows (polars expressions: ``_records`` when it
    cannot be exact in numpy)."""
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
    targets: dict[str, list[tuple[str, pl.Expr]]] = {}
    for target, c, name, factor in _mapped_dev_fields(rec, rec.schema, msgs):
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



# --- layer 2 in numpy ---------------------------------------------------------------------
# The frames are small (thousands of rows), so polars' per-expression cost (planning, a collect
# per call) outweighs the work: records, laps and events are computed as numpy arrays (values +
# a validity mask standing for polars' NULL) and each frame is made once, in schema order with
# the schema's dtypes. The arithmetic is the same IEEE float64 arithmetic as the polars
# expressions (``*_polars``), which remain for what numpy cannot reproduce exactly (``_Slow``).


class _Slow(Exception):
    """A value the numpy path cannot reproduce exactly: use the polars expressions."""


def _np_f64(s: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """A Float64 Series -> (float64 values, valid mask); NaN values (not NULL) stay valid."""
    v = s.to_numpy()
    nn = s.null_count()
    if nn == 0:
        return v, np.ones(v.shape[0], dtype=bool)
    isn = np.isnan(v)
    if int(isn.sum()) == nn:
        return v, ~isn
    return v, ~s.is_null().to_numpy()


def _np_num(df: pl.DataFrame, dtypes: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``_num`` in numpy: (values, valid), all invalid when absent or not numeric."""
    dt = dtypes.get(name)
    if dt is not None and (dt.is_numeric() or dt == pl.Utf8 or dt == pl.Boolean):
        s = df.get_column(name)
        return _np_f64(s if dt == pl.Float64 else s.cast(pl.Float64, strict=False))
    return np.full(df.height, np.nan), np.zeros(df.height, dtype=bool)


def _np_time(df: pl.DataFrame, dtypes: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``_time`` in numpy: (int64 microseconds since 1970, valid)."""
    dt = dtypes.get(name)
    if dt is not None and isinstance(dt, pl.Datetime):
        s = df.get_column(name)
        if dt != schema.UTC_DT:
            s = s.cast(schema.UTC_DT)
        v = s.to_numpy()
        if v.dtype != np.dtype("datetime64[us]"):
            raise _Slow(f"{name} as {v.dtype}")
        return v.view(np.int64), ~np.isnat(v)
    return np.zeros(df.height, dtype=np.int64), np.zeros(df.height, dtype=bool)


def _f64_series(name: str, v: np.ndarray, ok: np.ndarray) -> pl.Series:
    """Float64 Series of ``v``, NULL where not ``ok``."""
    if ok.all():
        return np_series(name, v)
    if not ok.any():
        return null_series(name, pl.Float64, ok.shape[0])
    w = np.where(ok, v, np.nan)
    if np.isnan(v[ok]).any():  # NaN values to keep beside the NULLs
        return np_series(name, w).scatter(np.flatnonzero(~ok), None)
    return np_series(name, w, nan_to_null=True)


def _dt_series(name: str, us: np.ndarray, ok: np.ndarray) -> pl.Series:
    """Datetime('us') Series of int64 microseconds, NULL where not ``ok``."""
    if not ok.any():
        return null_series(name, schema.UTC_DT, ok.shape[0])
    s = np_series(name, us).cast(schema.UTC_DT)
    return s if ok.all() else s.scatter(np.flatnonzero(~ok), None)


def _np_coalesce(cands: list[tuple[str, np.ndarray, np.ndarray]]):
    """``_coalesce_sources`` in numpy: (values, valid, [(label, used mask)])."""
    if not cands:
        return None, None, []
    _, v, ok = cands[0]
    used = [(cands[0][0], ok)]
    prev_null = ~ok
    for label, cv, cok in cands[1:]:
        u = prev_null & cok
        used.append((label, u))
        v = np.where(u, cv, v)
        ok = ok | cok
        prev_null = prev_null & ~cok
    return v, ok, used


def _index_within(act: np.ndarray, k: int) -> np.ndarray:
    """``int_range(len).over(activity)``: each row's position among the rows of its activity."""
    n = act.shape[0]
    if k <= 1 or n == 0 or (act == act[0]).all():
        return np.arange(n, dtype=np.int32)
    order = np.argsort(act, kind="stable")
    counts = np.bincount(act, minlength=k)
    starts = np.cumsum(counts) - counts
    out = np.empty(n, dtype=np.int64)
    out[order] = np.arange(n) - starts[act[order]]
    return out.astype(np.int32)


def _counts_by_activity(act: np.ndarray, masks: list[np.ndarray], k: int) -> list[list[int]]:
    """Per mask: ``np.bincount(act[mask], minlength=k).tolist()`` (how many rows of each of the
    ``k`` activities it holds; ``act`` in [0, k)). When one activity has every row, a count of
    the mask: a boolean gather and a bincount per mask were ~0.1 ms per archive file."""
    if act.shape[0] and (act == act[0]).all() and all(m.dtype == np.bool_ for m in masks):
        a0 = int(act[0])
        out = []
        for m in masks:
            c = [0] * max(k, a0 + 1)
            c[a0] = int(np.count_nonzero(m))
            out.append(c)
        return out
    return [np.bincount(act[m], minlength=k).tolist() for m in masks]


def _ids_series(act_ids: list[str], act: np.ndarray) -> pl.Series:
    """The activity_id column of rows assigned to activities ``act``."""
    n = act.shape[0]
    if n and (act == act[0]).all():
        return new_series("activity_id", [act_ids[int(act[0])]], pl.Utf8).new_from_index(0, n)
    return new_series("activity_id", [act_ids[j] for j in act.tolist()], pl.Utf8)


def _frame_of(table: str, cols: dict[str, pl.Series], n: int) -> pl.DataFrame:
    """A canonical frame from the columns computed (the others NULL), in schema order."""
    out = []
    for name, dtype in schema.TABLES[table].items():
        s = cols.get(name)
        if s is None:
            s = null_series(name, dtype, n)
        elif s.dtype != dtype:  # as schema.conform
            s = s.cast(dtype, strict=False)
        out.append(s)
    return frame(out)


def _records(msgs, rec: pl.DataFrame, rec_act, act_ids):
    """The records frame, its field_sources rows, and per activity the numbers ``_activities``
    needs (records, any position, max distance; None: ``_activities`` computes them)."""
    if rec.height == 0:
        return schema.empty("records"), schema.empty("field_sources"), {}
    try:
        return _records_numpy(msgs, rec, rec_act, act_ids)
    except _Slow:
        records, sources = _records_polars(msgs, rec, rec_act, act_ids)
        return records, sources, None


def _records_numpy(msgs, rec: pl.DataFrame, rec_act, act_ids):
    n = rec.height
    k = len(act_ids)
    dtypes = dict(zip(rec.columns, rec.dtypes))
    cols: dict[str, pl.Series] = {}
    ts, ts_ok = _np_time(rec, dtypes, "timestamp")
    cols["recorded_at"] = _dt_series("recorded_at", ts, ts_ok)
    used: list[tuple[str, str, np.ndarray]] = [("recorded_at", "fit:record.timestamp", ts_ok)]
    vals: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for col, cands in RECORD_FIELDS.items():
        exprs = []
        for f, kf in cands:
            if f in dtypes:
                v, ok = _np_num(rec, dtypes, f)
                exprs.append((f"fit:record.{f}", v * kf if kf != 1.0 else v, ok))
        v, ok, u = _np_coalesce(exprs)
        if v is not None:
            vals[col] = (v, ok)
            cols[col] = _f64_series(col, v, ok)
        used.extend((col, label, m) for label, m in u)
    # cadence: cadence + fractional_cadence, else cadence, else cadence256
    cad_cands = []
    if "cadence" in dtypes:
        cad, cad_ok = _np_num(rec, dtypes, "cadence")
        if "fractional_cadence" in dtypes:
            frac, frac_ok = _np_num(rec, dtypes, "fractional_cadence")
            cad_cands.append(("fit:record.cadence+fractional_cadence", cad + frac, cad_ok & frac_ok))
        cad_cands.append(("fit:record.cadence", cad, cad_ok))
    if "cadence256" in dtypes:
        cad_cands.append(("fit:record.cadence256", *_np_num(rec, dtypes, "cadence256")))
    v, ok, u = _np_coalesce(cad_cands)
    if v is not None:
        cols["cadence_raw"] = _f64_series("cadence_raw", v, ok)
    used.extend(("cadence_raw", label, m) for label, m in u)

    # developer fields mapped by name
    targets: dict[str, list] = {}
    for target, c, name, factor in _mapped_dev_fields(rec, dtypes, msgs):
        v, ok = _np_f64(rec.get_column(c).cast(pl.Float64))
        targets.setdefault(target, []).append((f"fit_dev:{name}", v * factor, ok))
    for target, exprs in targets.items():
        v, ok, u = _np_coalesce(exprs)
        cols[target] = _f64_series(target, v, ok)
        used.extend((target, label, m) for label, m in u)

    act = np.asarray(rec_act, dtype=np.int64)
    cols["activity_id"] = _ids_series(act_ids, act)
    cols["record_index"] = np_series("record_index", _index_within(act, k))
    records = _frame_of("records", cols, n)

    # field_sources: per activity (in order of its first record), per column, the fields used
    first = np.full(k, n, dtype=np.int64)
    np.minimum.at(first, act, np.arange(n))
    order = [j for j in np.argsort(first, kind="stable").tolist() if first[j] < n]
    counts = _counts_by_activity(act, [m for _, _, m in used], k)
    rows = []
    for j in order:
        per_col: dict[str, list[tuple[str, int]]] = {}
        for (col, label, _), cnt in zip(used, counts):
            if cnt[j]:
                per_col.setdefault(col, []).append((label, cnt[j]))
        for col, parts in per_col.items():
            rows.append({"activity_id": act_ids[j], "column_name": col,
                         "source": "|".join(label for label, _ in parts),
                         "n_values": sum(c for _, c in parts)})
    sources = pl.DataFrame(rows, schema=schema.FIELD_SOURCES) if rows else schema.empty("field_sources")

    # per activity: records, any row with both coordinates, max distance (NULL: none)
    stats = None
    lat, lon, dist = vals.get("latitude_deg"), vals.get("longitude_deg"), vals.get("distance_m")
    if dist is None or not np.isnan(dist[0][dist[1]]).any():  # polars' max of NaN: not here
        n_per = np.bincount(act, minlength=k)
        pos = (lat[1] & lon[1]) if lat is not None and lon is not None else np.zeros(n, dtype=bool)
        pos_per = np.bincount(act[pos], minlength=k)
        stats = {}
        for j in order:
            st = {"n": int(n_per[j]), "pos": bool(pos_per[j]), "dist": None}
            if dist is not None:
                sel = (act == j) & dist[1]
                if sel.any():
                    st["dist"] = float(dist[0][sel].max())
            stats[act_ids[j]] = st
    return records, sources, stats


def _laps(laps: pl.DataFrame, lap_act, act_ids, sports) -> pl.DataFrame:
    try:
        return _laps_numpy(laps, lap_act, act_ids, sports)
    except _Slow:
        return _laps_polars(laps, lap_act, act_ids, sports)


def _np_duration_us(secs: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """``_duration``: float seconds -> int64 microseconds, rounded half to even."""
    x = np.round(secs[ok] * 1e6)
    if not np.isfinite(x).all() or (np.abs(x) >= 2.0**62).any():  # polars' strict cast: raise
        raise _Slow("duration out of range")
    out = np.zeros(secs.shape[0], dtype=np.int64)
    out[ok] = x.astype(np.int64)
    return out


def _laps_numpy(laps: pl.DataFrame, lap_act, act_ids, sports) -> pl.DataFrame:
    n = laps.height
    dtypes = dict(zip(laps.columns, laps.dtypes))
    act = np.asarray(lap_act, dtype=np.int64)
    lap_sport = text_col(laps, "sport").to_list()
    is_stride = np.array([(ls if ls is not None else sports[j][0]) in STRIDE_SPORTS
                          for ls, j in zip(lap_sport, act.tolist())], dtype=bool)

    def num(f):
        return _np_num(laps, dtypes, f)

    def first(*cands):
        v, ok, _ = _np_coalesce([("", *c) for c in cands])
        return v, ok

    el, el_ok = num("total_elapsed_time")
    el_us = _np_duration_us(el, el_ok)
    st, st_ok = _np_time(laps, dtypes, "start_time")
    ts, ts_ok = _np_time(laps, dtypes, "timestamp")
    start, start_ok = first((st, st_ok), (ts - el_us, ts_ok & el_ok))
    cols: dict[str, pl.Series] = {
        "activity_id": _ids_series(act_ids, act),
        "lap_index": np_series("lap_index", _index_within(act, len(act_ids))),
        "started_at": _dt_series("started_at", start, start_ok),
        "ended_at": _dt_series("ended_at", start + el_us, start_ok & el_ok),
    }
    cad, cad_ok = first(num("avg_running_cadence"), num("avg_cadence"))
    frac, frac_ok = num("avg_fractional_cadence")
    frac = np.where(frac_ok, frac, 0.0)
    cols["avg_cadence_spm"] = _f64_series("avg_cadence_spm", 2.0 * (cad + frac), is_stride & cad_ok)
    strides, strides_ok = first(num("total_strides"), num("total_cycles"))
    strides_ok = strides_ok & is_stride
    x = strides[strides_ok]
    if not np.isfinite(x).all() or (np.abs(x) >= 2.0**62).any():  # conform's cast: NULL
        raise _Slow("strides out of range")
    si = np.zeros(n, dtype=np.int64)
    si[strides_ok] = x.astype(np.int64)  # Float64 -> Int64 truncates, as polars' cast
    s = np_series("total_strides", si)
    cols["total_strides"] = s if strides_ok.all() else s.scatter(np.flatnonzero(~strides_ok), None)
    cols["intensity"] = text_col(laps, "intensity").alias("intensity")
    cols["lap_trigger"] = text_col(laps, "lap_trigger").alias("lap_trigger")
    for col, fields in LAP_FIELDS.items():
        v, ok = first(*(num(f) for f in fields))
        cols[col] = _f64_series(col, v, ok)
    return _frame_of("laps", cols, n)


def _events_polars(events: pl.DataFrame, ev_act, act_ids) -> pl.DataFrame:
    """The events frame in polars expressions (``_events`` when it cannot be exact in numpy)."""
    data = [_num(events, c) for c in EVENT_DATA_FIELDS if c in events.columns]
    return schema.conform(events.select(
        pl.Series("activity_id", [act_ids[j] for j in ev_act], dtype=pl.Utf8),
        _time(events, "timestamp").alias("recorded_at"),
        pl.Series("event", text_col(events, "event")),
        pl.Series("event_type", text_col(events, "event_type")),
        (pl.coalesce(data) if data else pl.lit(None, dtype=pl.Float64)).alias("data"),
    ), "events")


def _events(events: pl.DataFrame, ev_act, act_ids) -> pl.DataFrame:
    """The events frame (numpy; the same as the polars select it replaces)."""
    n = events.height
    dtypes = dict(zip(events.columns, events.dtypes))
    act = np.asarray(ev_act, dtype=np.int64)
    ts, ts_ok = _np_time(events, dtypes, "timestamp")
    cands = [("", *_np_num(events, dtypes, c)) for c in EVENT_DATA_FIELDS if c in dtypes]
    v, ok, _ = _np_coalesce(cands)
    cols = {
        "activity_id": _ids_series(act_ids, act),
        "recorded_at": _dt_series("recorded_at", ts, ts_ok),
        "event": text_col(events, "event").alias("event"),
        "event_type": text_col(events, "event_type").alias("event_type"),
    }
    if v is not None:
        cols["data"] = _f64_series("data", v, ok)
    return _frame_of("events", cols, n)


def _duration(seconds: pl.Expr) -> pl.Expr:
    """Float seconds -> a Duration (microseconds, rounded)."""
    return pl.duration(microseconds=(seconds * 1e6).round().cast(pl.Int64))


def _stride_sport(sport: str | None) -> bool:
    return sport in STRIDE_SPORTS


def _laps_polars(laps: pl.DataFrame, lap_act, act_ids, sports) -> pl.DataFrame:
    """The laps frame in polars expressions (``_laps`` when it cannot be exact in numpy)."""
    lap_sport = text_col(laps, "sport")
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
        pl.Series("intensity", text_col(laps, "intensity")),
        pl.Series("lap_trigger", text_col(laps, "lap_trigger")),
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
    for local, utc in zip(act.get_column("local_timestamp").to_list(), act.get_column("timestamp").to_list()):
        if local is not None and utc is not None:
            break
    else:
        return None
    off = int(round((local - utc).total_seconds()))
    lo, hi = _UTC_OFFSET_RANGE_S
    return off if lo <= off <= hi else None


def _device(msgs: FitMessages) -> tuple[dict[str, str | None], dict[str, str]]:
    """manufacturer, product, serial_number (file_id, else the creator device_info) + sources."""
    out: dict[str, str | None] = {"manufacturer": None, "product": None, "serial_number": None}
    src: dict[str, str] = {}
    fid = msgs.frames.get("file_id")
    di = msgs.frames.get("device_info")
    creator = None  # the rows of the creator device (device_index 'creator' or 0)
    if di is not None and di.height:
        creator = [v in ("creator", "0") for v in text_col(di, "device_index").to_list()]
    for name, df, rows in (("file_id", fid, None), ("device_info", di, creator)):
        if df is None or df.height == 0 or (rows is not None and not any(rows)):
            continue
        for col, fields in (("manufacturer", ("manufacturer",)),
                            ("product", ("product_name", "garmin_product", "favero_product", "product")),
                            ("serial_number", ("serial_number",))):
            if out[col] is not None:
                continue
            for f in fields:
                if f in df.columns:
                    vals = text_col(df, f).to_list()
                    v = [x for i, x in enumerate(vals) if x is not None and (rows is None or rows[i])]
                    if v:
                        out[col], src[col] = v[0], f"fit:{name}.{f}"
                        break
    return out, src


def _activities(msgs, file_id, ses, sessions, sports, synthetic, act_ids, records, laps, rec_stats=None):
    offset = _local_offset(msgs)
    device, dev_src = _device(msgs)
    creator = " ".join(v for v in (device["manufacturer"], device["product"]) if v) or None
    sport_msg = msgs.frames.get("sport")
    rows, src_rows = [], []
    srows = ses.iter_rows(named=True) if not synthetic else iter([{}])
    if rec_stats is None:
        rec_stats = {}
    if not rec_stats and records.height:
        for r in records.group_by("activity_id").agg(
            pl.len().alias("n"),
            (pl.col("latitude_deg").is_not_null() & pl.col("longitude_deg").is_not_null()).any().alias("pos"),
            pl.col("distance_m").max().alias("dist"),
        ).iter_rows(named=True):
            rec_stats[r["activity_id"]] = r
    lap_counts: dict[str, int] = {}
    for aid in laps.get_column("activity_id").to_list():
        lap_counts[aid] = lap_counts.get(aid, 0) + 1
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
            names = [nm for sp, nm in zip(text_col(sport_msg, "sport").to_list(),
                                          sport_msg.get_column("name").to_list())
                     if sp == sport and nm is not None]
            if names:
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
    acts = _rows_frame(rows, "activities") if rows else schema.empty("activities")
    srcs = pl.DataFrame(src_rows, schema=schema.FIELD_SOURCES) if src_rows else schema.empty("field_sources")
    return acts, srcs


_ROW_DTYPES = (pl.Utf8, pl.Float64, pl.Int64, pl.Int32, pl.Boolean)
_UNIX_EPOCH = datetime(1970, 1, 1)
_UNIX_DATE = date(1970, 1, 1)
_ONE_US = timedelta(microseconds=1)


def _rows_frame(rows: list[dict], table: str) -> pl.DataFrame:
    """A canonical frame from row dicts, column by column in the table's dtypes (what
    ``pl.DataFrame(rows, schema_overrides=<the table>)`` and ``schema.conform`` made)."""
    cols = []
    for name, dtype in schema.TABLES[table].items():
        vals = [r.get(name) for r in rows]
        if dtype in _ROW_DTYPES:
            cols.append(new_series(name, vals, dtype))
        elif dtype == schema.UTC_DT and all(v is None or type(v) is datetime for v in vals):
            us = [None if v is None else (v - _UNIX_EPOCH) // _ONE_US for v in vals]
            cols.append(new_series(name, us, pl.Int64).cast(dtype))
        elif dtype == pl.Date and all(v is None or type(v) is date for v in vals):
            days = [None if v is None else (v - _UNIX_DATE).days for v in vals]
            cols.append(new_series(name, days, pl.Int32).cast(dtype))
        else:
            cols.append(pl.Series(name, vals, dtype=dtype))
    return frame(cols)


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


def _const(name: str, value, dtype, n: int) -> pl.Series:
    """``n`` times ``value`` (``pl.lit(value, dtype)`` in a frame of ``n`` rows); the one-value
    Series through ``new_series`` (~5 us less a call than ``pl.Series``, measured)."""
    return new_series(name, [value], dtype).new_from_index(0, n)


def _developer_values(msgs, windows, file_starts, synthetic, act_ids, rec_act, lap_act) -> pl.DataFrame:
    """Every developer-field value, long format (see schema.DEVELOPER_VALUES): one row per
    non-null value of a developer column, message by message name, column by column."""
    info = _dev_info(msgs)
    parts: list[pl.DataFrame] = []
    for mesg, df in msgs.frames.items():
        devs = _dev_columns(df)
        if not devs or df.height == 0:
            continue
        n = df.height
        dtypes = dict(zip(df.columns, df.dtypes))
        ts_us, ts_ok = _np_time(df, dtypes, "timestamp")
        if mesg == "record":
            act = rec_act
        elif mesg == "lap":
            act = lap_act
        elif mesg == "session" and not synthetic:
            act = np.arange(n, dtype=np.int64)
        elif synthetic:
            act = np.zeros(n, dtype=np.int64)
        else:
            ts = _time_series(df, "timestamp")
            act = _fill_assignment(_assign(_us(ts), df["_message_index"], windows, file_starts))
        act = np.minimum(np.asarray(act, dtype=np.int64), len(act_ids) - 1)
        if mesg == "session" and not synthetic:
            msg_index = act.astype(np.int32)
        else:  # position among the messages of its activity
            msg_index = _index_within(act, len(act_ids))
        for c, idx, name in devs:
            num, units = _dev_meta(info, idx, name)
            s = df.get_column(c)
            if dtypes[c].is_numeric():
                value, keep = _np_f64(s.cast(pl.Float64))
                text = None
            else:
                text = text_col(df, c).to_list()
                keep = np.array([t is not None for t in text], dtype=bool)
            if not keep.any():
                continue
            rows = np.flatnonzero(keep)
            m = rows.shape[0]
            cols = [
                _ids_series(act_ids, act[rows]),
                _const("message", mesg, pl.Utf8, m),
                np_series("message_index", msg_index[rows]),
                _dt_series("recorded_at", ts_us[rows], ts_ok[rows]),
                _const("developer_data_index", idx, pl.Int32, m),
                _const("field_number", num, pl.Int32, m),
                _const("field_name", name, pl.Utf8, m),
                _const("units", units, pl.Utf8, m),
            ]
            if text is None:
                cols.append(_f64_series("value", value[rows], np.ones(m, dtype=bool)))
                cols.append(null_series("value_text", pl.Utf8, m))
            else:
                cols.append(null_series("value", pl.Float64, m))
                cols.append(new_series("value_text", [text[i] for i in rows.tolist()], pl.Utf8))
            parts.append(frame(cols))
    if not parts:
        return schema.empty("developer_values")
    out = parts[0]
    for part in parts[1:]:
        out = out.vstack(part)
    return schema.conform(out, "developer_values")
