"""A GPX logger left running in ONE segment overnight (the corpus's runpandas 720bf570: a morning
run, then a drive 15 h later in the same <trkseg>) becomes two activities, like two segments that
far apart; short gaps inside a segment stay one activity."""

from __future__ import annotations

from datetime import datetime, timedelta

from ingest.decode import decode_bytes
from models.thresholds import reader_options


def gpx(times: list[datetime]) -> bytes:
    pts = "".join(
        f'<trkpt lat="{47 + i * 1e-4:.6f}" lon="8.0"><time>{t:%Y-%m-%dT%H:%M:%SZ}</time></trkpt>'
        for i, t in enumerate(times))
    return (f'<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">'
            f"<trk><trkseg>{pts}</trkseg></trk></gpx>").encode()


T0 = datetime(2021, 1, 17, 8, 0, 0)


def test_a_gap_of_hours_inside_one_segment_splits_the_activity():
    times = [T0 + timedelta(seconds=s) for s in range(600)]
    times += [T0 + timedelta(hours=15, seconds=s) for s in range(300)]
    dec = decode_bytes(gpx(times), "logger.gpx", reader_options())
    assert dec.activities.height == 2
    assert dec.records.group_by("activity_id").len().sort("activity_id")["len"].to_list() == [600, 300]
    assert "2 activities" in dec.reason


def test_a_pause_inside_one_segment_stays_one_activity():
    times = [T0 + timedelta(seconds=s) for s in range(600)]
    times += [T0 + timedelta(minutes=40, seconds=s) for s in range(300)]
    dec = decode_bytes(gpx(times), "pause.gpx", reader_options())
    assert dec.activities.height == 1 and dec.records.height == 900
