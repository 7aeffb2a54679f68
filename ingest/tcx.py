"""TCX (Garmin TrainingCenterDatabase v2) bytes -> the canonical frames, with the standard library.

Elements are matched by local name (namespace and prefix ignored: ``ns3:TPX``, ``<LX xmlns=..>``,
no namespace at all all read the same). Choices where TCX leaves room:

- **Activities**: every ``Activity`` element (also inside ``MultiSportSession``), in document order,
  is one activity; ``session_index`` counts them from 0. An activity with no time anywhere (no
  parseable ``Id``, lap ``StartTime`` or trackpoint ``Time``) is skipped and counted in the reason.
- **started_at** is the earliest of the ``Id`` (the device's start time), the first lap's
  ``StartTime`` and the first trackpoint time (Fitbit's Id can precede the track by minutes).
  **ended_at** is the later of the last trackpoint time and the last lap's
  ``StartTime + TotalTimeSeconds``. ``timer_time_s`` is the sum of the laps'
  ``TotalTimeSeconds`` (Garmin writes timer time there).
- **distance_m** of the activity is the sum of the laps' ``DistanceMeters`` when every lap has one,
  else the largest trackpoint ``DistanceMeters``, else the haversine length of the track.
  Records keep the trackpoint ``DistanceMeters`` as the file says; only when no trackpoint of the
  activity has one is it derived (haversine along each ``Track``, gaps between tracks not added).
- **Cadence**: ``Extensions/TPX/RunCadence`` (Garmin running, strides/min) -> ``cadence_raw`` with
  ``cadence_raw_unit`` 'strides_min'; otherwise ``Trackpoint/Cadence`` with unit 'unknown' (bike
  rpm, or running as Polar writes it). One source per activity, never mixed.
- **Lap summaries** (the device's): AverageHeartRateBpm, MaximumHeartRateBpm, LX AvgSpeed,
  LX AvgWatts, 2 x LX AvgRunCadence -> avg_cadence_spm, Intensity, TriggerMethod (lower case).
  Activity ``device_*`` values are the laps' values weighted by ``TotalTimeSeconds`` (max for max,
  sum for calories).
- **Times** with ``Z`` or an offset become naive UTC; fractional seconds are kept. A non-zero
  offset on the ``Id`` (or first timed trackpoint) gives ``local_offset_s``; otherwise NULL.
- **Who**: ``Activity/Creator/Name`` -> product (UnitId -> serial_number when not 0),
  ``Author/Name`` -> creator (else the product), manufacturer guessed from the product name.
- **Statuses**: no ``Activity`` (a Courses or Workouts file) -> ``not_activity``; activities but no
  time anywhere -> ``no_timestamps``; XML that does not parse -> ``XmlError``; a root that is not
  ``TrainingCenterDatabase`` -> ``UnsupportedFormat``; zero bytes -> ``EmptyFile``.
- **Repairs** (``ingest/xml_common.py``; each said in ``Decoded.reason`` as "repaired: ..."):
  whitespace or byte-order marks before ``<?xml`` are removed; well-known namespace prefixes
  used without a declaration (ns2..ns5, xsi: Garmin Connect's) are declared on the root. An
  unknown undeclared prefix, or a root that is not ``TrainingCenterDatabase``, stays an
  ``XmlError``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from ingest import schema
from ingest.schema import Decoded
from ingest.errors import EmptyFile, UnsupportedFormat, XmlError
from ingest.geo import haversine_steps_m
from ingest.options import ReaderOptions
from ingest.xml_common import (
    UNBOUND_PREFIX_CODE,
    field_source_rows,
    local_name,
    map_sport,
    parse_declaring_prefixes,
    strip_before_declaration,
    utc_naive,
)

DECODER = "xml.etree"

#: First word(s) of a TCX Creator name -> FIT-style manufacturer name.
_BRANDS = {
    "garmin": "garmin", "forerunner": "garmin", "edge": "garmin", "fenix": "garmin",
    "polar": "polar", "suunto": "suunto", "fitbit": "fitbit", "wahoo": "wahoo_fitness",
    "tomtom": "tomtom", "coros": "coros", "apple": "apple", "samsung": "samsung",
}

_RECORD_FLOATS = ("latitude_deg", "longitude_deg", "altitude_m", "distance_m", "speed_mps",
                  "heart_rate_bpm", "power_w")


def parse_time(text: str | None) -> tuple[datetime | None, int | None]:
    """(naive UTC datetime, stated offset s) of an ISO 8601 TCX time; (None, None) if unreadable."""
    if not text:
        return None, None
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None, None
    return utc_naive(dt)


def _plus_seconds(t: datetime | None, seconds: float | None) -> datetime | None:
    """``t + seconds``, or None when either is missing or the sum is no time (inf, NaN, a
    duration beyond datetime's range: a damaged TotalTimeSeconds)."""
    if t is None or not seconds:
        return None
    try:
        return t + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        return None


def _float(el: ET.Element | None) -> float | None:
    if el is None or el.text is None:
        return None
    try:
        return float(el.text)
    except ValueError:
        return None


def _children(el: ET.Element) -> dict[str, ET.Element]:
    """Direct children by lower-case local name (the first of each name)."""
    out: dict[str, ET.Element] = {}
    for c in el:
        if isinstance(c.tag, str):
            out.setdefault(local_name(c.tag), c)
    return out


def _value_of(el: ET.Element | None) -> float | None:
    """A TCX ``<HeartRateBpm><Value>n</Value></HeartRateBpm>`` number (or a bare number)."""
    if el is None:
        return None
    for c in el:
        if isinstance(c.tag, str) and local_name(c.tag) == "value":
            return _float(c)
    return _float(el)


def _ext_values(ext: ET.Element | None) -> dict[str, float]:
    """Leaf values anywhere under an ``Extensions`` element, by lower-case local name."""
    out: dict[str, float] = {}
    if ext is None:
        return out
    for el in ext.iter():
        if isinstance(el.tag, str) and len(el) == 0 and el.text:
            name = local_name(el.tag)
            if name not in out:
                try:
                    out[name] = float(el.text)
                except ValueError:
                    pass
    return out


def _text(el: ET.Element | None) -> str | None:
    """An element's stripped text, None when absent or blank."""
    text = (el.text or "").strip() if el is not None else ""
    return text or None


def _lower_text(el: ET.Element | None) -> str | None:
    text = _text(el)
    return text.lower() if text else None


def _weighted(values: list[float | None], weights: list[float | None]) -> float | None:
    pairs = [(v, w) for v, w in zip(values, weights) if v is not None and w]
    total = sum(w for _, w in pairs)
    if not pairs or total <= 0:
        vals = [v for v in values if v is not None]
        return sum(vals) / len(vals) if vals else None
    return sum(v * w for v, w in pairs) / total


def _manufacturer(product: str | None) -> str | None:
    if not product:
        return None
    first = product.strip().split()[0].lower() if product.strip() else ""
    for key, brand in _BRANDS.items():
        if first.startswith(key):
            return brand
    return None


def _unbound_prefix_at(err: BaseException) -> tuple[int, int] | None:
    """expat's (line, column) when ``err`` is an unbound namespace prefix, else None."""
    if isinstance(err, ET.ParseError) and getattr(err, "code", None) == UNBOUND_PREFIX_CODE:
        return err.position
    return None


def decode_tcx(data: bytes, file_id: str, options: ReaderOptions) -> Decoded:
    """Decode one TCX file's bytes into canonical frames (see the module docstring)."""
    if not data.strip(b" \t\r\n\x00"):
        raise EmptyFile("TCX file is empty (0 bytes or whitespace only)")
    data, lead_note = strip_before_declaration(data)
    try:
        root, ns_note = parse_declaring_prefixes(
            data, "tcx", ET.fromstring, _unbound_prefix_at,
            lambda msg, err: XmlError(f"TCX XML does not parse: {msg}"))
    except (ET.ParseError, LookupError) as err:  # LookupError: an unknown declared encoding
        raise XmlError(f"TCX XML does not parse: {err}") from err
    repairs = [n for n in (lead_note, ns_note) if n]
    if local_name(root.tag) != "trainingcenterdatabase":
        raise UnsupportedFormat(f"XML root element is <{root.tag}>, not <TrainingCenterDatabase>")

    activities = [el for el in root.iter() if isinstance(el.tag, str) and local_name(el.tag) == "activity"]
    if not activities:
        kinds = Counter(local_name(c.tag) for c in root if isinstance(c.tag, str))
        what = ", ".join(f"{k} ({v})" for k, v in sorted(kinds.items())) or "nothing"
        return Decoded(file_id=file_id, format="tcx", status="not_activity",
                       reason="; ".join([f"TCX holds no Activity: {what}", *repairs]), decoder=DECODER)

    author = _children(root).get("author")
    creator = _text(_children(author).get("name")) if author is not None else None

    acts, laps, recs, sources, skipped = [], [], [], [], 0
    for act_el in activities:
        built = _activity(act_el, file_id, len(acts), creator, options)
        if built is None:
            skipped += 1
            continue
        a, lp, rc, fs = built
        acts.append(a)
        laps.append(lp)
        recs.append(rc)
        sources.extend(fs)
    if not acts:
        return Decoded(file_id=file_id, format="tcx", status="no_timestamps",
                       reason="; ".join([f"{skipped} TCX Activity element(s), none with a time",
                                         *repairs]), decoder=DECODER)
    return Decoded(
        file_id=file_id,
        format="tcx",
        status="landed",
        reason="; ".join(repairs + ([f"{skipped} TCX Activity element(s) without any time skipped"]
                                    if skipped else [])) or None,
        activities=schema.conform(pl.DataFrame(acts), "activities"),
        laps=schema.conform(pl.concat(laps, how="vertical"), "laps"),
        records=schema.conform(pl.concat(recs, how="vertical"), "records"),
        field_sources=schema.conform(
            pl.DataFrame(sources, schema=schema.FIELD_SOURCES) if sources else None, "field_sources"
        ),
        decoder=DECODER,
    )


def _activity(act: ET.Element, file_id: str, session_index: int, creator: str | None,
              options: ReaderOptions):
    """(activity row, laps frame, records frame, field_sources rows) or None when no time at all."""
    activity_id = schema.activity_id_for(file_id, session_index)
    kids = _children(act)
    id_at, id_off = parse_time(kids["id"].text if "id" in kids else None)

    cols: dict[str, list] = {c: [] for c in ("recorded_at", *_RECORD_FLOATS, "run_cadence", "cadence")}
    starts: list[bool] = []
    offsets: list[int | None] = []
    lap_rows: list[dict] = []
    calories: list[float | None] = []

    for lap in (c for c in act if isinstance(c.tag, str) and local_name(c.tag) == "lap"):
        lk = _children(lap)
        lap_start, _ = parse_time(lap.get("StartTime"))
        first = len(cols["recorded_at"])
        for track in (c for c in lap if isinstance(c.tag, str) and local_name(c.tag) == "track"):
            first_in_track = True
            for tp in track:
                if not isinstance(tp.tag, str) or local_name(tp.tag) != "trackpoint":
                    continue
                _trackpoint(tp, cols, offsets)
                starts.append(first_in_track)
                first_in_track = False
        last = len(cols["recorded_at"])
        lx = _ext_values(lk.get("extensions"))
        timer = _float(lk.get("totaltimeseconds"))
        lap_times = [t for t in cols["recorded_at"][first:last] if t is not None]
        started = lap_start or (min(lap_times) if lap_times else None)
        ends = [t for t in (max(lap_times) if lap_times else None, _plus_seconds(started, timer)) if t]
        ended = max(ends) if ends else started
        run_cad = lx.get("avgruncadence")
        lap_rows.append({
            "activity_id": activity_id,
            "lap_index": len(lap_rows),
            "started_at": started,
            "ended_at": ended,
            "elapsed_time_s": (ended - started).total_seconds() if started and ended else None,
            "timer_time_s": timer,
            "distance_m": _float(lk.get("distancemeters")),
            "avg_heart_rate_bpm": _value_of(lk.get("averageheartratebpm")),
            "max_heart_rate_bpm": _value_of(lk.get("maximumheartratebpm")),
            "avg_speed_mps": lx.get("avgspeed"),
            "avg_power_w": lx.get("avgwatts"),
            "avg_cadence_spm": 2 * run_cad if run_cad is not None else None,
            "intensity": _lower_text(lk.get("intensity")),
            "lap_trigger": _lower_text(lk.get("triggermethod")),
        })
        calories.append(_float(lk.get("calories")))

    rec_times = [t for t in cols["recorded_at"] if t is not None]
    lap_starts = [r["started_at"] for r in lap_rows if r["started_at"] is not None]
    candidates = [t for t in (id_at, lap_starts[0] if lap_starts else None,
                              min(rec_times) if rec_times else None) if t is not None]
    if not candidates:
        return None
    started = min(candidates)
    ends = [t for t in ([max(rec_times)] if rec_times else []) +
            [r["ended_at"] for r in lap_rows if r["ended_at"] is not None]]
    ended = max([started, *ends])
    offset_s = id_off if id_at is not None else next((o for o in offsets if o is not None), None)

    n = len(cols["recorded_at"])
    counts: dict[str, Counter] = {c: Counter() for c in (
        "recorded_at", "latitude_deg", "longitude_deg", "altitude_m", "distance_m",
        "speed_mps", "heart_rate_bpm", "cadence_raw", "power_w")}
    lat_a = np.array([np.nan if v is None else v for v in cols["latitude_deg"]], dtype=np.float64)
    lon_a = np.array([np.nan if v is None else v for v in cols["longitude_deg"]], dtype=np.float64)
    has_pos = ~(np.isnan(lat_a) | np.isnan(lon_a))
    steps = haversine_steps_m(lat_a, lon_a, np.array(starts, dtype=bool),
                              options.latitude_range_deg, options.longitude_range_deg)

    distance = pl.Series("distance_m", cols["distance_m"], dtype=pl.Float64)
    if n and distance.null_count() == n and has_pos.any():
        distance = pl.Series("distance_m", np.cumsum(steps))
        counts["distance_m"]["derived:haversine"] = int(has_pos.sum())
    else:
        counts["distance_m"]["tcx:Trackpoint/DistanceMeters"] = n - distance.null_count()

    if any(v is not None for v in cols["run_cadence"]):
        cadence, cadence_unit, cad_source = cols["run_cadence"], "strides_min", "tcx_ext:RunCadence"
    else:
        cadence, cadence_unit, cad_source = cols["cadence"], "unknown", "tcx:Trackpoint/Cadence"
    for col, src in (("recorded_at", "tcx:Trackpoint/Time"),
                     ("latitude_deg", "tcx:Position/LatitudeDegrees"),
                     ("longitude_deg", "tcx:Position/LongitudeDegrees"),
                     ("altitude_m", "tcx:Trackpoint/AltitudeMeters"),
                     ("heart_rate_bpm", "tcx:HeartRateBpm/Value"),
                     ("speed_mps", "tcx_ext:Speed"),
                     ("power_w", "tcx_ext:Watts")):
        counts[col][src] = sum(v is not None for v in cols[col])
    counts["cadence_raw"][cad_source] = sum(v is not None for v in cadence)

    records = pl.DataFrame({
        "activity_id": [activity_id] * n,
        "record_index": np.arange(n, dtype=np.int32),
        "recorded_at": pl.Series(cols["recorded_at"], dtype=schema.UTC_DT),
        **{c: pl.Series(cols[c], dtype=pl.Float64) for c in _RECORD_FLOATS if c != "distance_m"},
        "distance_m": distance,
        "cadence_raw": pl.Series(cadence, dtype=pl.Float64),
    })
    laps = schema.conform(
        pl.DataFrame(lap_rows, schema={k: schema.LAPS[k] for k in lap_rows[0]}) if lap_rows else None,
        "laps",
    )

    lap_dist = [r["distance_m"] for r in lap_rows]
    if lap_rows and all(d is not None for d in lap_dist):
        total_distance = float(sum(lap_dist))
    elif distance.drop_nulls().len():
        total_distance = float(distance.max())
    else:
        total_distance = float(steps.sum()) if n else None
    timers = [r["timer_time_s"] for r in lap_rows]
    device = _children(kids["creator"]) if "creator" in kids else {}
    product = _text(device.get("name"))
    serial = _text(device.get("unitid"))
    serial = None if serial == "0" else serial
    timer_values = [t for t in timers if t is not None]
    sport_raw = act.get("Sport")
    sport, sub_sport = map_sport(sport_raw)
    cal = [c for c in calories if c is not None]
    max_hr = [r["max_heart_rate_bpm"] for r in lap_rows if r["max_heart_rate_bpm"] is not None]

    activity = {
        "activity_id": activity_id,
        "file_id": file_id,
        "session_index": session_index,
        "source_format": "tcx",
        "sport": sport,
        "sub_sport": sub_sport,
        "name": _text(kids.get("notes")),
        "started_at": started,
        "ended_at": ended,
        "local_offset_s": offset_s if offset_s else None,
        "local_date": (started + timedelta(seconds=offset_s or 0)).date(),
        "elapsed_time_s": (ended - started).total_seconds(),
        "timer_time_s": float(sum(timer_values)) if timer_values else None,
        "distance_m": total_distance,
        "has_position": bool(has_pos.any()),
        "cadence_raw_unit": cadence_unit,
        "device_avg_cadence_spm": _weighted([r["avg_cadence_spm"] for r in lap_rows], timers),
        "device_avg_heart_rate_bpm": _weighted([r["avg_heart_rate_bpm"] for r in lap_rows], timers),
        "device_max_heart_rate_bpm": max(max_hr) if max_hr else None,
        "device_avg_speed_mps": _weighted([r["avg_speed_mps"] for r in lap_rows], timers),
        "device_avg_power_w": _weighted([r["avg_power_w"] for r in lap_rows], timers),
        "device_total_calories_kcal": float(sum(cal)) if cal else None,
        "manufacturer": _manufacturer(product),
        "product": product,
        "serial_number": serial,
        "creator": creator or product,
        "n_records": n,
        "n_laps": len(lap_rows),
    }
    sources = field_source_rows(activity_id, counts)
    if sport_raw:
        sources.append({"activity_id": activity_id, "column_name": "sport",
                        "source": f"tcx:Activity@Sport={sport_raw!r}", "n_values": 1})
    return activity, laps, records, sources


def _trackpoint(tp: ET.Element, cols: dict[str, list], offsets: list[int | None]) -> None:
    """Append one Trackpoint's values to the column lists (None where absent)."""
    t = off = lat = lon = alt = dist = hr = cad = speed = run_cad = watts = None
    for c in tp:
        if not isinstance(c.tag, str):
            continue
        name = local_name(c.tag)
        if name == "time":
            t, off = parse_time(c.text)
        elif name == "position":
            for p in c:
                if isinstance(p.tag, str):
                    pn = local_name(p.tag)
                    if pn == "latitudedegrees":
                        lat = _float(p)
                    elif pn == "longitudedegrees":
                        lon = _float(p)
        elif name == "altitudemeters":
            alt = _float(c)
        elif name == "distancemeters":
            dist = _float(c)
        elif name == "heartratebpm":
            hr = _value_of(c)
        elif name == "cadence":
            cad = _float(c)
        elif name == "extensions":
            ext = _ext_values(c)
            speed, run_cad, watts = ext.get("speed"), ext.get("runcadence"), ext.get("watts")
    if lat is None or lon is None:
        lat = lon = None
    cols["recorded_at"].append(t)
    cols["latitude_deg"].append(lat)
    cols["longitude_deg"].append(lon)
    cols["altitude_m"].append(alt)
    cols["distance_m"].append(dist)
    cols["speed_mps"].append(speed)
    cols["heart_rate_bpm"].append(hr)
    cols["power_w"].append(watts)
    cols["run_cadence"].append(run_cad)
    cols["cadence"].append(cad)
    if t is not None:
        offsets.append(off)
