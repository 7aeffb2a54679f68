"""ingest.tcx: every corpus TCX through decode_bytes, checked against CATALOG.tsv and an independent
count of Lap/Trackpoint elements, plus small TCX documents written here."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import date, datetime

import polars as pl
import pytest

from ingest import schema
from ingest.decode import decode_bytes
from ingest.errors import XmlError
from ingest.tcx import decode_tcx, parse_time
from models.thresholds import reader_options

READ = reader_options()  # the readers' settings: models/thresholds.py, no overrides

from tests.conftest import MANIFEST, corpus_member

POLAR = MANIFEST.one("tcx_polar")
MALFORMED = MANIFEST.one("tcx_malformed")
GARMIN_RUN = MANIFEST.one("tcx_garmin_run")
FITBIT = MANIFEST.one("tcx_fitbit")

NS = 'xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2" ' \
     'xmlns:ns3="http://www.garmin.com/xmlschemas/ActivityExtension/v2"'


@pytest.fixture(scope="module")
def decoded(corpus_dir, catalog):
    """Every corpus TCX decoded once: {path: Decoded}; prints the status tally and wall time."""
    out = {}
    t0 = time.perf_counter()
    for path, row in catalog.items():
        if row["format"] == "tcx":
            out[path] = decode_bytes((corpus_dir / path).read_bytes(), path, READ)
    wall = time.perf_counter() - t0
    tally = Counter(d.status for d in out.values())
    n_rec = sum(d.records.height for d in out.values())
    print(f"\nTCX corpus: {len(out)} files, {dict(tally)}, {n_rec} records, {wall:.2f} s")
    return out


def _count(path, local):
    return sum(1 for el in ET.parse(path).getroot().iter() if el.tag.rsplit("}", 1)[-1] == local)


def test_the_corpus_holds_the_tcx_files_of_the_manifest(decoded):
    assert len(decoded) >= 15
    assert sorted(decoded) == MANIFEST.files("tcx")


@pytest.mark.parametrize("corpus_file", MANIFEST.files("tcx"))
def test_every_corpus_tcx_gets_a_status(decoded, catalog, corpus_file):
    path, d = corpus_file, corpus_member(decoded, corpus_file)
    assert d.status in schema.STATUSES and d.status != "duplicate", path
    assert d.format == "tcx"
    for table in schema.TABLES:
        assert getattr(d, table).schema == schema.empty(table).schema, (path, table)
    if d.status == "quarantined":
        assert d.reason and d.error_class, path
    assert (d.status == "landed") == (catalog[path]["parse_ok"] == "yes"), (path, d.reason)


def test_the_malformed_tcx_is_quarantined_as_xml_error(decoded, catalog):
    assert catalog[MALFORMED]["parse_ok"] == "no"
    d = decoded[MALFORMED]
    assert (d.status, d.error_class) == ("quarantined", "XmlError")
    assert "unbound prefix" in d.reason and "line 4653" in d.reason
    assert d.activities.height == d.records.height == 0


@pytest.mark.parametrize("corpus_file", MANIFEST.files("tcx"))
def test_counts_match_catalog_and_the_xml(decoded, catalog, corpus_dir, corpus_file):
    path, d = corpus_file, corpus_member(decoded, corpus_file)
    if d.status != "landed":
        return
    row, r, a = catalog[path], d.records, d.activities
    assert a.height == int(row["n_sessions"]), path
    assert r.height == int(row["n_records"]) == _count(corpus_dir / path, "Trackpoint"), path
    assert d.laps.height == a["n_laps"].sum() == _count(corpus_dir / path, "Lap"), path
    assert r["heart_rate_bpm"].is_not_null().sum() == int(row["rec_heart_rate"]), path
    assert r["cadence_raw"].is_not_null().sum() == int(row["rec_cadence"]), path
    assert r["power_w"].is_not_null().sum() == int(row["rec_power"]), path
    assert r["latitude_deg"].is_not_null().sum() == int(row["rec_position"]), path
    assert a["distance_m"][0] == pytest.approx(float(row["total_distance_m"]), abs=0.06), path
    assert a["timer_time_s"][0] == pytest.approx(float(row["duration_s"]), abs=0.06), path
    assert r["record_index"].to_list() == list(range(r.height))
    assert a["ended_at"][0] >= a["started_at"][0]
    assert a["sport"][0] == {"Running": "running", "Biking": "cycling"}[row["sport"]], path


def test_polar_sample_values(decoded):
    d = decoded[POLAR]
    r, a = d.records, d.activities.row(0, named=True)
    assert r.height == 3507
    first, last = r.row(0, named=True), r.row(-1, named=True)
    assert first["recorded_at"] == datetime(2019, 1, 29, 10, 25, 13)
    assert (first["latitude_deg"], first["longitude_deg"]) == (48.05249767, 6.9482215)
    assert (first["altitude_m"], first["heart_rate_bpm"]) == (926.146, 109)
    assert first["distance_m"] == pytest.approx(0.6000000238418579)
    assert last["recorded_at"] == datetime(2019, 1, 29, 11, 30, 16, 719000)  # fractional seconds
    assert (last["latitude_deg"], last["longitude_deg"], last["altitude_m"]) == (48.05205833, 6.94414883, 909.991)
    assert (last["distance_m"], last["heart_rate_bpm"]) == (4508.5, 121)
    assert a["started_at"] == datetime(2019, 1, 29, 10, 25, 12)  # the Id
    assert (a["product"], a["manufacturer"]) == ("Polar M400", "polar")
    assert a["creator"] == "Polar Flow Mobile Viewer Android"
    assert a["cadence_raw_unit"] == "unknown"  # Trackpoint/Cadence, not RunCadence
    assert a["local_offset_s"] is None and a["local_date"] == date(2019, 1, 29)


def test_garmin_run_cadence_and_lap_summaries(decoded):
    d = decoded[GARMIN_RUN]
    a = d.activities.row(0, named=True)
    assert a["cadence_raw_unit"] == "strides_min"
    assert (a["product"], a["creator"], a["serial_number"]) == ("Garmin Forerunner 620", "Connect Api", "3878368635")
    lap0 = d.laps.row(0, named=True)
    assert (lap0["distance_m"], lap0["timer_time_s"], lap0["avg_heart_rate_bpm"]) == (1000.0, 390.0, 137)
    # LX AvgRunCadence is strides/min: 87, 86, 84 in the file
    assert d.laps["avg_cadence_spm"].to_list() == [174, 172, 168]
    assert (lap0["intensity"], lap0["lap_trigger"]) == ("active", "manual")
    assert d.records["cadence_raw"][0] == 70
    fs = dict(zip(d.field_sources["column_name"], d.field_sources["source"]))
    assert fs["cadence_raw"] == "tcx_ext:RunCadence" and fs["sport"] == "tcx:Activity@Sport='Running'"
    assert fs["distance_m"] == "tcx:Trackpoint/DistanceMeters"


def test_offset_times_give_utc_and_the_local_offset(decoded):
    a = decoded[FITBIT].activities.row(0, named=True)
    assert a["started_at"] == datetime(2020, 12, 27, 14, 43, 49)  # Id 15:43:49+01:00
    assert a["local_offset_s"] == 3600 and a["local_date"] == date(2020, 12, 27)
    assert decoded[FITBIT].records["recorded_at"][0] == datetime(2020, 12, 27, 14, 59, 36)
    assert a["distance_m"] == pytest.approx(6839.97)  # the lap's, not the partial track's 3980 m


def test_parse_time():
    assert parse_time("2019-01-29T10:25:13.000Z") == (datetime(2019, 1, 29, 10, 25, 13), 0)
    assert parse_time("2020-12-27T15:59:36.5+01:00") == (datetime(2020, 12, 27, 14, 59, 36, 500000), 3600)
    assert parse_time("2020-01-01T00:00:00.1234567Z")[0] == datetime(2020, 1, 1, 0, 0, 0, 123456)
    assert parse_time("2020-01-01T00:00:00")[0] == datetime(2020, 1, 1)
    assert parse_time("soon") == (None, None) and parse_time(None) == (None, None)


# ------------------------------------------------------------------------- written here

TWO_ACTIVITIES = f"""<?xml version="1.0" encoding="UTF-8"?>
<TrainingCenterDatabase {NS}>
 <Activities>
  <Activity Sport="Running">
   <Id>2024-04-01T06:00:00.000Z</Id>
   <Lap StartTime="2024-04-01T06:00:00.000Z">
    <TotalTimeSeconds>10.0</TotalTimeSeconds><DistanceMeters>30.0</DistanceMeters>
    <Calories>2</Calories><AverageHeartRateBpm><Value>140</Value></AverageHeartRateBpm>
    <MaximumHeartRateBpm><Value>150</Value></MaximumHeartRateBpm>
    <Intensity>Active</Intensity><TriggerMethod>Distance</TriggerMethod>
    <Track>
     <Trackpoint><Time>2024-04-01T06:00:00.250Z</Time>
      <Position><LatitudeDegrees>47.0</LatitudeDegrees><LongitudeDegrees>8.0</LongitudeDegrees></Position>
      <AltitudeMeters>400</AltitudeMeters><DistanceMeters>0</DistanceMeters>
      <HeartRateBpm><Value>139</Value></HeartRateBpm>
      <Extensions><ns3:TPX><ns3:Speed>3.0</ns3:Speed><ns3:RunCadence>85</ns3:RunCadence></ns3:TPX></Extensions>
     </Trackpoint>
     <Trackpoint><Time>2024-04-01T08:00:10+02:00</Time>
      <Position><LatitudeDegrees>47.0002</LatitudeDegrees><LongitudeDegrees>8.0</LongitudeDegrees></Position>
      <DistanceMeters>30</DistanceMeters><HeartRateBpm><Value>150</Value></HeartRateBpm>
      <Extensions><ns3:TPX><ns3:Speed>3.1</ns3:Speed><ns3:RunCadence>86</ns3:RunCadence></ns3:TPX></Extensions>
     </Trackpoint>
    </Track>
    <Extensions><ns3:LX><ns3:AvgSpeed>3.0</ns3:AvgSpeed><ns3:AvgRunCadence>85</ns3:AvgRunCadence></ns3:LX></Extensions>
   </Lap>
   <Creator><Name>Forerunner 265</Name><UnitId>42</UnitId></Creator>
  </Activity>
  <Activity Sport="Biking">
   <Id>2024-04-01T17:00:00Z</Id>
   <Lap StartTime="2024-04-01T17:00:00Z">
    <TotalTimeSeconds>20</TotalTimeSeconds>
    <Track>
     <Trackpoint><Time>2024-04-01T17:00:00Z</Time>
      <Position><LatitudeDegrees>0</LatitudeDegrees><LongitudeDegrees>0</LongitudeDegrees></Position>
      <Cadence>90</Cadence><Extensions><ns3:TPX><ns3:Watts>200</ns3:Watts></ns3:TPX></Extensions></Trackpoint>
     <Trackpoint><Time>2024-04-01T17:00:20Z</Time>
      <Position><LatitudeDegrees>0</LatitudeDegrees><LongitudeDegrees>0.001</LongitudeDegrees></Position>
      <Cadence>92</Cadence></Trackpoint>
    </Track>
   </Lap>
  </Activity>
 </Activities>
 <Author><Name>Test Exporter</Name></Author>
</TrainingCenterDatabase>"""


def test_two_activities_in_one_tcx():
    d = decode_bytes(TWO_ACTIVITIES.encode(), "two.tcx", READ)
    assert d.status == "landed" and d.reason is None
    a, r = d.activities, d.records
    assert a["session_index"].to_list() == [0, 1]
    assert a["sport"].to_list() == ["running", "cycling"]
    assert a["n_records"].to_list() == [2, 2] and a["n_laps"].to_list() == [1, 1]
    assert a["cadence_raw_unit"].to_list() == ["strides_min", "unknown"]
    assert a["creator"].to_list() == ["Test Exporter", "Test Exporter"]
    run, ride = a.row(0, named=True), a.row(1, named=True)
    assert (run["product"], run["manufacturer"], run["serial_number"]) == ("Forerunner 265", "garmin", "42")
    assert run["distance_m"] == 30.0 and run["timer_time_s"] == 10.0
    assert run["device_avg_cadence_spm"] == 170 and run["device_total_calories_kcal"] == 2
    assert run["device_max_heart_rate_bpm"] == 150 and run["device_avg_speed_mps"] == 3.0
    assert run["ended_at"] == datetime(2024, 4, 1, 6, 0, 10)
    rr = r.filter(pl.col("activity_id") == run["activity_id"])
    assert rr["recorded_at"].to_list() == [datetime(2024, 4, 1, 6, 0, 0, 250000), datetime(2024, 4, 1, 6, 0, 10)]
    assert rr["cadence_raw"].to_list() == [85, 86] and rr["speed_mps"].to_list() == [3.0, 3.1]
    assert d.laps.row(0, named=True)["lap_trigger"] == "distance"
    # no DistanceMeters on the ride's trackpoints: derived along the track, and said so
    br = r.filter(pl.col("activity_id") == ride["activity_id"])
    assert br["distance_m"][0] == 0 and br["distance_m"][1] == pytest.approx(111.3, abs=0.1)
    assert ride["distance_m"] == pytest.approx(br["distance_m"][1])
    assert br["cadence_raw"].to_list() == [90, 92] and br["power_w"].to_list() == [200, None]
    fs = d.field_sources.filter(pl.col("activity_id") == ride["activity_id"])
    assert dict(zip(fs["column_name"], fs["source"]))["distance_m"] == "derived:haversine"


def test_courses_only_and_time_less_tcx():
    course = f"""<TrainingCenterDatabase {NS}><Courses><Course><Name>Loop</Name><Track>
      <Trackpoint><Position><LatitudeDegrees>1</LatitudeDegrees><LongitudeDegrees>2</LongitudeDegrees>
      </Position></Trackpoint></Track></Course></Courses></TrainingCenterDatabase>"""
    d = decode_bytes(course.encode(), "course.tcx", READ)
    assert d.status == "not_activity" and "courses" in d.reason
    no_time = f"""<TrainingCenterDatabase {NS}><Activities><Activity Sport="Running"><Id>later</Id>
      <Lap><Track><Trackpoint><DistanceMeters>5</DistanceMeters></Trackpoint></Track></Lap>
      </Activity></Activities></TrainingCenterDatabase>"""
    d = decode_bytes(no_time.encode(), "t.tcx", READ)
    assert d.status == "no_timestamps" and "none with a time" in d.reason


def test_broken_and_empty_tcx():
    d = decode_bytes(TWO_ACTIVITIES[:2000].encode(), "cut.tcx", READ)
    assert (d.status, d.error_class) == ("quarantined", "XmlError")
    with pytest.raises(XmlError) as info:
        decode_tcx(TWO_ACTIVITIES[:2000].encode(), "0" * 64, READ)
    assert isinstance(info.value.__cause__, ET.ParseError)
    d = decode_bytes(b"", "x.tcx", READ)
    assert (d.status, d.error_class) == ("quarantined", "EmptyFile")
    d = decode_bytes(b"<?xml version='1.0'?><Workouts/>", "w.tcx", READ)
    assert (d.status, d.error_class) == ("quarantined", "UnsupportedFormat")
