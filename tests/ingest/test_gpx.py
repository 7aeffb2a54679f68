"""ingest.gpx: every corpus GPX through decode_bytes, checked against CATALOG.tsv and gpxpy itself,
plus small GPX documents written here for the edge cases (encodings, broken XML, untimed points)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime

import gpxpy
import gpxpy.geo
import polars as pl
import pytest

from ingest import schema
from ingest.decode import decode_bytes
from ingest.geo import haversine_steps_m
from ingest.gpx import decode_gpx, xml_text
from ingest.xml_common import map_sport, utc_naive
from models.thresholds import reader_options

READ = reader_options()  # the readers' settings: models/thresholds.py, no overrides

from tests.conftest import MANIFEST, corpus_member

GARMIN = MANIFEST.one("gpx_garmin")
STRAVA = MANIFEST.one("gpx_strava")
OPENTRACKS = MANIFEST.one("gpx_opentracks_extensions")


@pytest.fixture(scope="module")
def decoded(corpus_dir, catalog):
    """Every corpus GPX decoded once: {path: Decoded}; prints the status tally and wall time."""
    out = {}
    t0 = time.perf_counter()
    for path, row in catalog.items():
        if row["format"] == "gpx":
            out[path] = decode_bytes((corpus_dir / path).read_bytes(), path, READ)
    wall = time.perf_counter() - t0
    tally = Counter(d.status for d in out.values())
    n_rec = sum(d.records.height for d in out.values())
    print(f"\nGPX corpus: {len(out)} files, {dict(tally)}, {n_rec} records, {wall:.2f} s")
    return out


def _gpx(body: str, head: str = '<?xml version="1.0" encoding="UTF-8"?>') -> str:
    return (f'{head}\n<gpx version="1.1" creator="footfall-test" '
            f'xmlns="http://www.topografix.com/GPX/1/1" '
            f'xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v2">{body}</gpx>')


def _pt(lat, lon, t=None, ext="", ele=None):
    time_el = f"<time>{t}</time>" if t else ""
    ele_el = f"<ele>{ele}</ele>" if ele is not None else ""
    ext_el = f"<extensions>{ext}</extensions>" if ext else ""
    return f'<trkpt lat="{lat}" lon="{lon}">{ele_el}{time_el}{ext_el}</trkpt>'


def _assert_canonical(d):
    for table in schema.TABLES:
        assert getattr(d, table).schema == schema.empty(table).schema, table


# ----------------------------------------------------------------------------------- corpus


def test_the_corpus_holds_the_gpx_files_of_the_manifest(decoded):
    assert len(decoded) >= 100
    assert sorted(decoded) == MANIFEST.files("gpx")


@pytest.mark.parametrize("corpus_file", MANIFEST.files("gpx"))
def test_every_corpus_gpx_gets_the_status_catalog_implies(decoded, catalog, corpus_file):
    path, d = corpus_file, corpus_member(decoded, corpus_file)
    row = catalog[path]
    assert d.status in schema.STATUSES and d.status != "duplicate", path
    assert d.format == "gpx"
    _assert_canonical(d)
    if d.status == "quarantined":
        assert d.reason and d.error_class, path
    if row["parse_ok"] != "yes":
        assert d.status == "quarantined", path
    elif int(row["pts_with_time"]) > 0:
        assert d.status == "landed", (path, d.reason)
    elif int(row["n_points"]) + int(row["n_route_points"]) + int(row["n_waypoints"]) == 0:
        assert d.status == "not_activity", (path, d.reason)
    else:
        assert d.status == "no_timestamps", (path, d.reason)
        assert "no track point has a time" in d.reason
    if d.status != "landed":
        assert d.activities.height == d.records.height == 0, path


@pytest.mark.parametrize("corpus_file", MANIFEST.files("gpx"))
def test_record_and_extension_counts_match_catalog(decoded, catalog, corpus_dir, corpus_file):
    path, d = corpus_file, corpus_member(decoded, corpus_file)
    if d.status != "landed":
        return
    row = catalog[path]
    r = d.records
    assert r["recorded_at"].is_not_null().sum() == int(row["pts_with_time"]), path
    assert r["heart_rate_bpm"].is_not_null().sum() == int(row["pts_with_ext_hr"]), path
    assert r["cadence_raw"].is_not_null().sum() == int(row["pts_with_ext_cad"]), path
    n_power = r["power_w"].is_not_null().sum()
    if "PowerInWatts" in row["extension_tags"]:  # the catalog counts only <power>
        assert n_power > int(row["pts_with_ext_power"]), path
    else:
        assert n_power == int(row["pts_with_ext_power"]), path
    if int(row["pts_with_time"]) == int(row["n_points"]):
        assert r.height == int(row["n_points"]), path
    else:  # whole segments without time are skipped; untimed points in timed segments kept
        g = gpxpy.parse((corpus_dir / path).read_bytes().decode("utf-8-sig"))
        kept = sum(len(s.points) for t in g.tracks for s in t.segments
                   if any(p.time is not None for p in s.points))
        assert r.height == kept <= int(row["n_points"]), path
    # frames agree with each other
    a = d.activities
    assert a["n_records"].sum() == r.height
    assert a["n_laps"].sum() == d.laps.height
    assert a["source_format"].to_list() == ["gpx"] * a.height
    assert a["session_index"].to_list() == list(range(a.height))
    for act in a.iter_rows(named=True):
        rows = r.filter(pl.col("activity_id") == act["activity_id"])
        assert rows["record_index"].to_list() == list(range(act["n_records"]))
        assert act["started_at"] == rows["recorded_at"].min()
        assert act["ended_at"] == rows["recorded_at"].max()
        assert act["distance_m"] == pytest.approx(rows["distance_m"].max())
        assert act["local_date"] is not None and act["cadence_raw_unit"] == "unknown"


def test_first_and_last_point_match_gpxpy(corpus_dir, decoded):
    d = decoded[GARMIN]
    g = gpxpy.parse((corpus_dir / GARMIN).read_text(encoding="utf-8"))
    pts = [p for t in g.tracks for s in t.segments for p in s.points]
    r = d.records
    assert r.height == len(pts) == 8357
    for i in (0, -1):
        p, row = pts[i], r.row(i, named=True)
        assert row["latitude_deg"] == p.latitude
        assert row["longitude_deg"] == p.longitude
        assert row["altitude_m"] == p.elevation
        assert row["recorded_at"] == utc_naive(p.time)[0]
        hr = next(e.text for x in p.extensions for e in x.iter() if e.tag.endswith("}hr"))
        assert row["heart_rate_bpm"] == float(hr)
    assert r["recorded_at"][0] == datetime(2019, 9, 20, 14, 10, 3)
    # distance: haversine along the track, the same as summing gpxpy's own haversine
    expected = sum(gpxpy.geo.haversine_distance(a.latitude, a.longitude, b.latitude, b.longitude)
                   for a, b in zip(pts, pts[1:]))
    assert r["distance_m"][-1] == pytest.approx(expected, rel=1e-9)
    assert d.activities["distance_m"][0] == pytest.approx(expected, rel=1e-9)
    assert d.activities["sport"][0] == "cycling"  # <type>cycling</type>
    fs = {row["column_name"]: row for row in d.field_sources.iter_rows(named=True)}
    assert fs["heart_rate_bpm"]["source"] == "gpx_ext:hr" and fs["heart_rate_bpm"]["n_values"] == 8357
    assert fs["distance_m"]["source"] == "derived:haversine"


def test_strava_gpx_cadence_power_and_type_code(decoded):
    d = decoded[STRAVA]
    r, a = d.records, d.activities.row(0, named=True)
    assert a["creator"] == "StravaGPX"
    assert (a["sport"], a["name"]) == ("cycling", "De benen op spanning zetten met Martijn")  # <type>1</type>
    assert r["power_w"].is_not_null().sum() == r["cadence_raw"].is_not_null().sum() == 8357
    assert r["power_w"].max() > 100 and r["cadence_raw"].max() > 50
    fs = dict(zip(d.field_sources["column_name"], d.field_sources["source"]))
    assert fs["power_w"] == "gpx_ext:power" and fs["cadence_raw"] == "gpx_ext:cad"
    assert fs["sport"] == "gpx:trk/type='1'"
    # the Garmin Connect GPX of the same ride carries the same samples
    g = decoded[GARMIN].records
    for col in ("recorded_at", "heart_rate_bpm", "cadence_raw", "temperature_c"):
        assert (g[col] == r[col]).all(), col


def test_multi_track_and_multi_segment_files(decoded):
    # three tracks on three days -> three activities, one lap each
    d = decoded["tmcw+togeojson/test/data/multitrackgpx.gpx"]
    assert d.activities.height == 3 and d.activities["n_laps"].to_list() == [1, 1, 1]
    assert d.activities["name"].to_list() == ["Tag 1", "Tag 2", "Tag 3"]
    assert d.activities["activity_id"].n_unique() == 3
    # three tracks months apart (and out of order), 14 segments -> 3 activities, laps 9 + 2 + 3
    d = decoded["tmcw+togeojson/test/data/blue_hills.gpx"]
    assert d.activities["n_laps"].to_list() == [9, 2, 3]
    assert d.laps.group_by("activity_id").agg(pl.col("lap_index").max())["lap_index"].sort().to_list() == [1, 2, 8]
    # eight Garmin "ACTIVE LOG" tracks minutes apart on one day -> one activity, 7 non-empty laps
    d = decoded["tkrajina+gpxpy/test_files/cerknicko-jezero.gpx"]
    assert d.activities.height == 1 and d.activities["n_laps"][0] == 7 and d.records.height == 296
    assert d.laps["lap_index"].to_list() == list(range(7))
    # one track, three segments -> three laps; hr only where the file has it
    d = decoded["tmcw+togeojson/test/data/missing_hr.gpx"]
    assert d.activities["n_laps"][0] == 3 and d.laps["distance_m"].sum() == pytest.approx(
        d.activities["distance_m"][0])
    # the ~222 km jump between OpenTracks segments is not distance; +01:00 times give the offset
    d = decoded[OPENTRACKS]
    a = d.activities.row(0, named=True)
    assert a["n_laps"] == 3 and 200 < a["distance_m"] < 250
    assert a["local_offset_s"] == 3600 and a["started_at"] == datetime(2020, 2, 2, 2, 2, 3)
    assert (a["sport"], a["sub_sport"]) == ("cycling", "mountain")  # <type>mountain biking</type>
    assert d.records["power_w"].drop_nulls().to_list() == [50.0]  # pwr:PowerInWatts
    assert d.records["speed_mps"].is_not_null().sum() == 5  # gpxtpx:speed (v2)


def test_time_less_route_and_waypoint_files(decoded):
    for name in ("tkrajina+gpxpy/test_files/route.gpx", "tmcw+togeojson/test/data/trek.gpx"):
        assert decoded[name].status == "no_timestamps" and "1 routes" in decoded[name].reason
    d = decoded["tmcw+togeojson/test/data/wpt.gpx"]
    assert d.status == "no_timestamps" and "40 waypoints" in d.reason
    d = decoded["tkrajina+gpxpy/test_files/track-with-extremes.gpx"]
    assert d.status == "no_timestamps" and "(25 points)" in d.reason
    for name in ("tkrajina+gpxpy/test_files/custom_schema_locations.gpx", "tmcw+togeojson/test/data/empty_trk.gpx"):
        assert decoded[name].status == "not_activity"
    # partly timed: the time-less segments are skipped and said so
    d = decoded["tmcw+togeojson/test/data/osm.gpx"]
    assert d.status == "landed" and d.records.height == 175 and "245 points" in d.reason


# ------------------------------------------------------------------------- written here


def test_empty_bytes_are_quarantined_as_empty_file():
    d = decode_bytes(b"", "x.gpx", READ)
    assert (d.status, d.format, d.error_class) == ("quarantined", "gpx", "EmptyFile")
    assert d.reason


def test_bom_and_declared_latin1_encoding():
    body = "<trk><name>Läufchen am Wörthsee</name><trkseg>" + _pt(48.1, 11.2, "2024-05-01T06:00:00Z") + \
           _pt(48.1005, 11.2, "2024-05-01T06:00:10Z") + "</trkseg></trk>"
    with_bom = b"\xef\xbb\xbf" + _gpx(body).encode("utf-8")
    latin1 = _gpx(body, '<?xml version="1.0" encoding="ISO-8859-1"?>').encode("latin-1")
    assert b"L\xe4ufchen" in latin1
    for data in (with_bom, latin1):
        d = decode_bytes(data, "run.gpx", READ)
        assert d.status == "landed", d.reason
        assert d.activities["name"][0] == "Läufchen am Wörthsee"
        assert d.records.height == 2 and d.reason is None
        assert d.records["distance_m"][1] == pytest.approx(55.66, abs=0.05)  # 0.0005 deg of latitude
    # declared UTF-8 but written in Latin-1: still read, and the reason says how
    wrong = _gpx(body).encode("latin-1")
    d = decode_bytes(wrong, "run.gpx", READ)
    assert d.status == "landed" and "read as cp1252" in d.reason
    assert d.activities["name"][0] == "Läufchen am Wörthsee"
    # UTF-16 with its byte-order mark
    utf16 = _gpx(body).replace("UTF-8", "UTF-16").encode("utf-16")
    text, note = xml_text(utf16)
    assert "Läufchen" in text and note is None
    d = decode_bytes(utf16, "run.gpx", READ)
    assert d.status == "landed" and d.activities["name"][0] == "Läufchen am Wörthsee"


def test_malformed_xml_is_quarantined_with_the_parser_message():
    bad = _gpx("<trk><trkseg>" + _pt(1, 2, "2024-01-01T00:00:00Z") + "</trk>")
    d = decode_bytes(bad.encode(), "bad.gpx", READ)
    assert (d.status, d.error_class) == ("quarantined", "XmlError")
    assert "mismatched tag" in d.reason and "line" in d.reason
    # the error keeps gpxpy's exception as its cause
    from ingest.errors import XmlError

    with pytest.raises(XmlError) as info:
        decode_gpx(bad.encode(), "0" * 64, READ)
    assert isinstance(info.value.__cause__, gpxpy.gpx.GPXXMLSyntaxException)


def test_not_a_gpx_root_and_bad_numbers():
    d = decode_bytes(b'<?xml version="1.0"?><kml><Document/></kml>', "renamed.gpx", READ)
    assert (d.status, d.error_class) == ("quarantined", "UnsupportedFormat")
    bad_lat = _gpx("<trk><trkseg>" + _pt("north", 2, "2024-01-01T00:00:00Z") + "</trkseg></trk>")
    d = decode_bytes(bad_lat.encode(), "t.gpx", READ)
    assert (d.status, d.error_class) == ("quarantined", "CorruptFile") and "north" in d.reason
    # gpxpy reads a <time> it cannot parse as no time at all
    bad_time = _gpx("<trk><trkseg>" + _pt(1, 2, "yesterday") + "</trkseg></trk>")
    assert decode_bytes(bad_time.encode(), "t.gpx", READ).status == "no_timestamps"


def test_point_without_time_inside_a_timed_track_is_kept():
    body = "<trk><trkseg>" + _pt(0, 0, "2024-01-01T08:00:00Z") + _pt(0, 0.001) + \
           _pt(0, 0.002, "2024-01-01T08:00:20Z") + "</trkseg></trk>"
    d = decode_gpx(_gpx(body).encode(), "a" * 64, READ)
    r = d.records
    assert r["record_index"].to_list() == [0, 1, 2]
    assert r["recorded_at"].to_list() == [datetime(2024, 1, 1, 8), None, datetime(2024, 1, 1, 8, 0, 20)]
    step = gpxpy.geo.haversine_distance(0, 0, 0, 0.001)
    assert r["distance_m"].to_list() == pytest.approx([0, step, 2 * step])
    a = d.activities.row(0, named=True)
    assert a["elapsed_time_s"] == 20 and a["n_records"] == 3 and a["sport"] is None
    fs = dict(zip(d.field_sources["column_name"], d.field_sources["n_values"]))
    assert fs["recorded_at"] == 2 and fs["latitude_deg"] == 3
    assert d.status == "landed" and "1 point(s) without time kept" in d.reason


def test_extensions_any_prefix_naive_times_and_splitting():
    ext_v2 = ("<gpxtpx:TrackPointExtension><gpxtpx:hr>150</gpxtpx:hr><gpxtpx:cad>88</gpxtpx:cad>"
              "<gpxtpx:speed>3.2</gpxtpx:speed><gpxtpx:atemp>21.5</gpxtpx:atemp></gpxtpx:TrackPointExtension>")
    ext_ns3 = ('<ns3:TrackPointExtension xmlns:ns3="http://www.garmin.com/xmlschemas/TrackPointExtension/v1">'
               "<ns3:hr>151</ns3:hr></ns3:TrackPointExtension><power>250</power>")
    ext_plain = "<TrackPointExtension><hr>152</hr><cad>89</cad></TrackPointExtension>"
    body = (
        "<trk><name>Morning Run</name><type>9</type><trkseg>"
        + _pt(0, 0, "2024-03-01T07:00:00", ext_v2, ele=10) + _pt(0, 0.0001, "2024-03-01T07:00:01", ext_ns3)
        + "</trkseg><trkseg>" + _pt(0, 0.5, "2024-03-01T07:10:00", ext_plain) + "</trkseg></trk>"
        + "<trk><name>Evening Run</name><type>running</type><trkseg>"
        + _pt(1, 1, "2024-03-01T18:00:00Z") + _pt(1, 1.0001, "2024-03-01T18:00:05Z")
        + "</trkseg></trk>"
    )
    d = decode_gpx(_gpx(body).encode(), "b" * 64, READ)
    a, r = d.activities, d.records
    assert a["name"].to_list() == ["Morning Run", "Evening Run"]  # 11 h apart: two activities
    assert a["sport"].to_list() == ["running", "running"]
    assert a["n_laps"].to_list() == [2, 1] and a["n_records"].to_list() == [3, 2]
    assert a["started_at"][0] == datetime(2024, 3, 1, 7)  # naive time taken as UTC
    assert a["local_offset_s"].to_list() == [None, None]
    assert "2 activities" in d.reason
    first = r.filter(pl.col("activity_id") == a["activity_id"][0])
    assert first["heart_rate_bpm"].to_list() == [150, 151, 152]
    assert first["cadence_raw"].to_list() == [88, None, 89]
    assert first["speed_mps"].to_list() == [3.2, None, None]
    assert first["temperature_c"].to_list() == [21.5, None, None]
    assert first["power_w"].to_list() == [None, 250, None]
    # the segment jump (0.0001 -> 0.5 deg) is not added
    assert first["distance_m"][2] == first["distance_m"][1] == pytest.approx(
        gpxpy.geo.haversine_distance(0, 0, 0, 0.0001))


def test_sport_mapping():
    assert map_sport("9") == ("running", None)
    assert map_sport("Running") == ("running", None)
    assert map_sport("mountain biking") == ("cycling", "mountain")
    assert map_sport("1") == ("cycling", None)
    assert map_sport("Biking") == ("cycling", None)
    assert map_sport("WM R Paved") == ("generic", None)
    assert map_sport(None) == (None, None) and map_sport("  ") == (None, None)


def test_haversine_steps_reset_at_segment_starts():
    import numpy as np

    lat = np.array([0.0, 0.0, 10.0, 10.0])
    lon = np.array([0.0, 1.0, 0.0, np.nan])
    steps = haversine_steps_m(lat, lon, np.array([True, False, True, False]),
                              READ.latitude_range_deg, READ.longitude_range_deg)
    assert steps[0] == 0 and steps[2] == 0 and steps[3] == 0
    assert steps[1] == pytest.approx(gpxpy.geo.haversine_distance(0, 0, 0, 1))


def test_earth_radius_is_gpxpys():
    """ingest.geo writes gpxpy's radius out (so FIT-only workers need not import gpxpy): the
    same float, or GPX distances would drift from gpxpy's own."""
    from ingest.geo import EARTH_RADIUS_M

    assert EARTH_RADIUS_M == float(gpxpy.geo.EARTH_RADIUS)
