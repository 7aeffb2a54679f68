"""GPX bytes -> the canonical frames (``ingest.schema``), read with gpxpy.

What a GPX file becomes (choices where GPX itself says nothing):

- **Activities.** Track segments that hold at least one timed point, in file order, make up the
  activities. A new activity starts where the next segment begins more than
  ``options.gpx_activity_split_gap_s`` (models/thresholds.py, or the user's override) after the
  previous one ended, or before it ended (time going backwards): multi-day files (one track per
  day) become one activity per day, while a watch's pauses ("ACTIVE LOG", "ACTIVE LOG #2"
  minutes apart) stay one activity. A gap that long between two points of ONE segment cuts it
  the same way (a logger left running in one segment until the next day's drive).
  ``session_index`` counts the activities in file order from 0.
- **Laps** are the segments, ``lap_index`` in order across the activity's tracks.
- **Records**: one per track point of the kept segments, in file order. A point without ``<time>``
  inside a timed segment is kept with ``recorded_at`` NULL (its position still counts for distance);
  segments in which no point has a time (drawn paths, planned tracks) are skipped and counted in
  ``Decoded.reason``.
- **distance_m** is the cumulative haversine distance (metres, ``ingest/geo.py``: gpxpy's earth
  radius) along each segment, summed over the activity; the jump between two segments (a pause,
  a gap in reception) is *not* added.
- **speed_mps** from an extension ``speed`` (TrackPointExtension v2, OsmAnd, Apple Health) or a
  GPX 1.0 ``<speed>``; otherwise NULL (models derive speed later).
- **Extensions** are walked generically by local tag name, any namespace prefix or none:
  hr/heartrate -> heart_rate_bpm, cad/cadence -> cadence_raw (``cadence_raw_unit`` 'unknown':
  models decide strides or steps), atemp/temp -> temperature_c, speed -> speed_mps,
  power/PowerInWatts/watts -> power_w.
- **Times**: gpxpy gives naive or offset-aware datetimes; naive means UTC, aware ones are converted
  to naive UTC. ``local_offset_s`` is the offset the first timed point states when it is not UTC
  (OpenTracks writes +01:00); otherwise NULL, for the landing to fill from config.
- **Sport** from the first track's ``<type>`` mapped to FIT names (Strava's numeric codes too);
  an unknown type gives ``generic``, no type gives NULL. The raw type is kept in ``field_sources``
  (column ``sport``, source ``gpx:trk/type='...'``).
- gpxpy reads a ``<time>`` it cannot parse as no time (the point is then untimed).
- **Statuses**: no track point with a time (route-only, waypoint-only, time-less tracks) ->
  ``no_timestamps`` with counts in the reason; a GPX with nothing in it -> ``not_activity``;
  zero bytes -> ``EmptyFile``; XML that does not parse -> ``XmlError``; other gpxpy refusals
  (bad numbers, bad times) -> ``CorruptFile``.
- **Repairs** (``ingest/xml_common.py``; each said in ``Decoded.reason`` as "repaired: ..."):
  whitespace or byte-order marks before ``<?xml`` are removed; namespace prefixes used without a
  declaration are declared on ``<gpx>`` when they are well known (``WELL_KNOWN_PREFIXES``:
  gpxtpx, gpxx, gpxdata, ns3, xsi...). An unknown undeclared prefix stays an ``XmlError``.
"""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import timedelta

import gpxpy
import gpxpy.gpx
import numpy as np
import polars as pl

from ingest import schema
from ingest.schema import Decoded
from ingest.errors import CorruptFile, EmptyFile, UnsupportedFormat, XmlError
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

DECODER = f"gpxpy {getattr(gpxpy, '__version__', '')}".strip()

#: Local extension tag name (lower case) -> canonical record column.
EXTENSION_COLUMNS: dict[str, str] = {
    "hr": "heart_rate_bpm",
    "heartrate": "heart_rate_bpm",
    "cad": "cadence_raw",
    "cadence": "cadence_raw",
    "atemp": "temperature_c",
    "temp": "temperature_c",
    "speed": "speed_mps",
    "power": "power_w",
    "powerinwatts": "power_w",
    "watts": "power_w",
}

_EXT_VALUE_COLUMNS = ("heart_rate_bpm", "cadence_raw", "temperature_c", "speed_mps", "power_w")

_ENCODING_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")

_TIME_SOURCES = {
    "recorded_at": "gpx:trkpt/time",
    "latitude_deg": "gpx:trkpt@lat",
    "longitude_deg": "gpx:trkpt@lon",
    "altitude_m": "gpx:trkpt/ele",
}


# --------------------------------------------------------------------------------------------
# XML text (shared helpers of both XML readers: ingest/xml_common.py)
# --------------------------------------------------------------------------------------------


def xml_text(data: bytes) -> tuple[str, str | None]:
    """Decode XML bytes to text the way an XML parser would; return (text, note or None).

    A byte-order mark decides first (UTF-8, UTF-16, UTF-32), then the declaration's
    ``encoding=``, then UTF-8. Bytes the declared encoding cannot decode are read as UTF-8, then
    Windows-1252 (names may be garbled, numbers are not); the note says so.
    """
    boms = (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    )
    for bom, enc in boms:
        if data.startswith(bom):
            try:
                return data.decode(enc), None
            except UnicodeDecodeError as err:
                raise XmlError(f"bytes after the {enc} byte-order mark do not decode") from err
    m = _ENCODING_DECL.match(data[:512])
    declared = m.group(1).decode("ascii").lower() if m else "utf-8"
    try:
        codecs.lookup(declared)
    except LookupError:
        declared = "utf-8"
    same = codecs.lookup(declared).name
    tried = [declared] + [e for e in ("utf-8", "cp1252") if codecs.lookup(e).name != same]
    for enc in tried:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        note = None if enc == declared else f"bytes are not valid {declared}; read as {enc}"
        return text, note
    return data.decode("latin-1"), f"bytes are not valid {declared}; read as latin-1"


def root_local_name(text: str) -> str | None:
    """Local name of the document's first element, or None when the XML breaks before it."""
    parser = ET.XMLPullParser(events=("start",))
    try:
        for i in range(0, len(text), 65536):
            parser.feed(text[i : i + 65536])
            for _, el in parser.read_events():
                return local_name(el.tag)
    except ET.ParseError:
        return None
    return None


# --------------------------------------------------------------------------------------------
# the reader
# --------------------------------------------------------------------------------------------


def _unbound_prefix_at(err: BaseException) -> tuple[int, int] | None:
    """expat's (line, column) when gpxpy's parse failed on an unbound namespace prefix, else None."""
    cause = getattr(err, "original_exception", None) or err.__cause__  # gpxpy keeps expat's there
    if isinstance(cause, ET.ParseError) and getattr(cause, "code", None) == UNBOUND_PREFIX_CODE:
        return cause.position
    return None



def decode_gpx(data: bytes, file_id: str, options: ReaderOptions) -> Decoded:
    """Decode one GPX file's bytes into canonical frames (see the module docstring)."""
    if not data.strip(b" \t\r\n\x00"):
        raise EmptyFile("GPX file is empty (0 bytes or whitespace only)")
    text, encoding_note = xml_text(data)
    text, lead_note = strip_before_declaration(text)
    root = root_local_name(text)
    if root is not None and root != "gpx":
        raise UnsupportedFormat(f"XML root element is <{root}>, not <gpx>")
    try:
        gpx, ns_note = parse_declaring_prefixes(
            text, "gpx", gpxpy.parse, _unbound_prefix_at,
            lambda msg, err: XmlError(f"GPX XML does not parse: {msg}"))
    except gpxpy.gpx.GPXXMLSyntaxException as err:
        cause = getattr(err, "original_exception", None) or err
        raise XmlError(f"GPX XML does not parse: {cause}") from err
    except (gpxpy.gpx.GPXException, ValueError, TypeError) as err:
        raise CorruptFile(f"gpxpy refused the GPX: {err}") from err

    notes = [n for n in (lead_note, ns_note, encoding_note) if n]
    segments, skipped = _timed_segments(gpx, options.gpx_activity_split_gap_s)
    if not segments:
        return _nothing_timed(gpx, file_id, notes)
    if skipped["segments"]:
        notes.append(
            f"{skipped['segments']} track segment(s) without any timestamp skipped "
            f"({skipped['points']} points)"
        )

    n_untimed = sum(utc_naive(p.time)[0] is None for seg in segments for p in seg.points)
    if n_untimed:
        notes.append(f"{n_untimed} point(s) without time kept with recorded_at NULL")
    groups = _group_activities(segments, options.gpx_activity_split_gap_s)
    if len(groups) > 1:
        notes.append(f"{len(groups)} activities: segments (or points within one) more than "
                     f"{options.gpx_activity_split_gap_s:.0f} s apart or out of time order")

    acts, laps, recs, sources = [], [], [], []
    for session_index, group in enumerate(groups):
        a, lp, rc, fs = _activity(gpx, file_id, session_index, group, options)
        acts.append(a)
        laps.append(lp)
        recs.append(rc)
        sources.extend(fs)
    return Decoded(
        file_id=file_id,
        format="gpx",
        status="landed",
        reason="; ".join(notes) or None,
        activities=schema.conform(pl.DataFrame(acts), "activities"),
        laps=schema.conform(pl.concat(laps, how="vertical"), "laps"),
        records=schema.conform(pl.concat(recs, how="vertical"), "records"),
        field_sources=schema.conform(
            pl.DataFrame(sources, schema=schema.FIELD_SOURCES) if sources else None, "field_sources"
        ),
        decoder=DECODER,
    )


class _Segment:
    """One kept track segment: its track, points and first/last time (naive UTC)."""

    __slots__ = ("track", "points", "first", "last")

    def __init__(self, track, points, first, last):
        self.track, self.points, self.first, self.last = track, points, first, last


def _timed_segments(gpx, gap_s: float | None = None) -> tuple[list[_Segment], dict[str, int]]:
    """The track segments holding a timed point, each cut where its own points are more than
    ``gap_s`` apart in time (a logger left running overnight in one segment: the pieces are then
    grouped like separate segments, so a next-day drive is not part of the morning's run)."""
    kept, skipped = [], {"segments": 0, "points": 0}
    for track in gpx.tracks:
        for seg in track.segments:
            if not seg.points:
                continue
            times = [utc_naive(p.time)[0] if p.time is not None else None for p in seg.points]
            timed = [t for t in times if t is not None]
            if not timed:
                skipped["segments"] += 1
                skipped["points"] += len(seg.points)
                continue
            for lo, hi in _cut_at_gaps(times, gap_s):
                piece = [t for t in times[lo:hi] if t is not None]
                kept.append(_Segment(track, seg.points[lo:hi], min(piece), max(piece)))
    return kept, skipped


def _cut_at_gaps(times: list, gap_s: float | None) -> list[tuple[int, int]]:
    """[lo, hi) point ranges of one segment, cut before a timed point more than ``gap_s`` after
    the previous timed point (untimed points stay with the piece before them)."""
    if gap_s is None:
        return [(0, len(times))]
    gap = timedelta(seconds=gap_s)
    cuts, prev = [0], None
    for i, t in enumerate(times):
        if t is None:
            continue
        if prev is not None and t - prev > gap:
            cuts.append(i)
        prev = t
    cuts.append(len(times))
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if any(t is not None for t in times[a:b])]


def _group_activities(segments: list[_Segment], gap_s: float) -> list[list[_Segment]]:
    """Split the kept segments into activities at gaps over ``gap_s`` or where time goes backwards."""
    gap = timedelta(seconds=gap_s)
    groups: list[list[_Segment]] = [[segments[0]]]
    end = segments[0].last
    for seg in segments[1:]:
        if seg.first < end or seg.first - end > gap:
            groups.append([seg])
            end = seg.last
        else:
            groups[-1].append(seg)
            end = max(end, seg.last)
    return groups


def _nothing_timed(gpx, file_id: str, notes: list[str]) -> Decoded:
    n_trk = len(gpx.tracks)
    n_trkpt = sum(len(s.points) for t in gpx.tracks for s in t.segments)
    n_rte, n_rtept = len(gpx.routes), sum(len(r.points) for r in gpx.routes)
    n_wpt = len(gpx.waypoints)
    if n_trkpt == 0 and n_rtept == 0 and n_wpt == 0:
        status = "not_activity"
        reason = f"GPX holds no points ({n_trk} tracks, {n_rte} routes, 0 waypoints)"
    else:
        status = "no_timestamps"
        reason = (f"no track point has a time: {n_trk} tracks ({n_trkpt} points), "
                  f"{n_rte} routes ({n_rtept} points), {n_wpt} waypoints")
    return Decoded(file_id=file_id, format="gpx", status=status,
                   reason="; ".join([reason] + notes), decoder=DECODER)


def _activity(gpx, file_id: str, session_index: int, group: list[_Segment], options: ReaderOptions):
    """(activity row dict, laps frame, records frame, field_sources rows) of one activity."""
    activity_id = schema.activity_id_for(file_id, session_index)
    cols: dict[str, list] = {c: [] for c in (
        "recorded_at", "latitude_deg", "longitude_deg", "altitude_m", *_EXT_VALUE_COLUMNS)}
    starts: list[bool] = []
    counts: dict[str, Counter] = {c: Counter() for c in (*_TIME_SOURCES, "distance_m", *_EXT_VALUE_COLUMNS)}
    tag_column: dict[str, str | None] = {}
    offset_s: int | None = None
    seen_offset = False
    lap_bounds: list[tuple[int, int]] = []

    rec_at, lat, lon = cols["recorded_at"], cols["latitude_deg"], cols["longitude_deg"]
    ele = cols["altitude_m"]
    ext_lists = [cols[c] for c in _EXT_VALUE_COLUMNS]
    for seg in group:
        first_row = len(rec_at)
        for i, p in enumerate(seg.points):
            t, off = utc_naive(p.time)
            if t is not None and not seen_offset:
                seen_offset, offset_s = True, off
            rec_at.append(t)
            lat.append(p.latitude)
            lon.append(p.longitude)
            ele.append(p.elevation)
            starts.append(i == 0)
            values = dict.fromkeys(_EXT_VALUE_COLUMNS)
            if p.extensions:
                for ext in p.extensions:
                    for el in ext.iter():
                        tag = el.tag
                        if not isinstance(tag, str):
                            continue
                        col = tag_column.get(tag, "?")
                        if col == "?":
                            col = tag_column[tag] = EXTENSION_COLUMNS.get(local_name(tag))
                        if col is None or values[col] is not None or not el.text:
                            continue
                        try:
                            values[col] = float(el.text)
                        except ValueError:
                            continue
                        counts[col]["gpx_ext:" + tag.rsplit("}", 1)[-1]] += 1
            if values["speed_mps"] is None and p.speed is not None:
                values["speed_mps"] = p.speed
                counts["speed_mps"]["gpx:speed"] += 1
            for lst, c in zip(ext_lists, _EXT_VALUE_COLUMNS):
                lst.append(values[c])
        lap_bounds.append((first_row, len(rec_at)))

    n = len(rec_at)
    lat_a = np.array([np.nan if v is None else v for v in lat], dtype=np.float64)
    lon_a = np.array([np.nan if v is None else v for v in lon], dtype=np.float64)
    steps = haversine_steps_m(lat_a, lon_a, np.array(starts, dtype=bool),
                              options.latitude_range_deg, options.longitude_range_deg)
    distance = np.cumsum(steps)
    has_pos = ~(np.isnan(lat_a) | np.isnan(lon_a))

    for c, src in _TIME_SOURCES.items():
        counts[c][src] = sum(v is not None for v in cols[c])
    counts["distance_m"]["derived:haversine"] = int(has_pos.sum())

    records = pl.DataFrame(
        {
            "activity_id": [activity_id] * n,
            "record_index": np.arange(n, dtype=np.int32),
            "recorded_at": pl.Series(rec_at, dtype=schema.UTC_DT),
            **{c: pl.Series(cols[c], dtype=pl.Float64) for c in
               ("latitude_deg", "longitude_deg", "altitude_m", *_EXT_VALUE_COLUMNS)},
            "distance_m": distance,
        }
    )

    lap_rows = []
    for lap_index, (seg, (lo, hi)) in enumerate(zip(group, lap_bounds)):
        elapsed = (seg.last - seg.first).total_seconds()
        lap_rows.append({
            "activity_id": activity_id,
            "lap_index": lap_index,
            "started_at": seg.first,
            "ended_at": seg.last,
            "elapsed_time_s": elapsed,
            "timer_time_s": elapsed,
            "distance_m": float(steps[lo:hi].sum()),
        })
    laps = pl.DataFrame(lap_rows, schema={k: schema.LAPS[k] for k in lap_rows[0]})

    started = min(s.first for s in group)
    ended = max(s.last for s in group)
    type_raw = group[0].track.type
    sport, sub_sport = map_sport(type_raw)
    name = next((s.track.name for s in group if s.track.name), None) or gpx.name
    activity = {
        "activity_id": activity_id,
        "file_id": file_id,
        "session_index": session_index,
        "source_format": "gpx",
        "sport": sport,
        "sub_sport": sub_sport,
        "name": name,
        "started_at": started,
        "ended_at": ended,
        "local_offset_s": offset_s if offset_s else None,
        "local_date": (started + timedelta(seconds=offset_s or 0)).date(),
        "elapsed_time_s": (ended - started).total_seconds(),
        "timer_time_s": float(sum(r["timer_time_s"] for r in lap_rows)),
        "distance_m": float(distance[-1]) if n else 0.0,
        "has_position": bool(has_pos.any()),
        "cadence_raw_unit": "unknown",
        "creator": gpx.creator,
        "n_records": n,
        "n_laps": len(lap_rows),
    }
    sources = field_source_rows(activity_id, counts)
    if type_raw is not None and type_raw.strip():
        sources.append({"activity_id": activity_id, "column_name": "sport",
                        "source": f"gpx:trk/type={type_raw.strip()!r}", "n_values": 1})
    return activity, laps, records, sources
