"""The demo export: deterministic, every file readable, and the story it is meant to tell
(one large single-session spike, one >30% weekly ramp, a Strava copy of one FIT run)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

import fitparse
import gpxpy
import pytest
from fitparse.processors import FitFileDataProcessor

from synth.sample import eu_offset_s, make_sample_export, plan_runs
from models.thresholds import value

from tests.conftest import TODAY

END = date(2026, 11, 25)  # the 12 weeks before it cross the end of summer time (25 Oct)
MAX_EXPORT_BYTES = 5_000_000


class _DatesOnly(FitFileDataProcessor):
    """fitparse's processor minus the per-field name/unit hooks (no values change here but
    datetimes): ~40% less time for the ~50k records of the export."""

    def run_type_processor(self, field_data):
        if field_data.type.name == "date_time":
            self.process_type_date_time(field_data)
        elif field_data.type.name == "local_date_time":
            self.process_type_local_date_time(field_data)

    def run_field_processor(self, field_data):
        pass

    def run_unit_processor(self, field_data):
        pass


@pytest.fixture(scope="module")
def export() -> dict[str, bytes]:
    return make_sample_export(seed=7, weeks=12, end_date=END)


@pytest.fixture(scope="module")
def fit_runs(export):
    """Every FIT file decoded once: session, activity and per-record cadence."""
    out = {}
    for name, data in export.items():
        if not name.endswith(".fit"):
            continue
        msgs = list(fitparse.FitFile(data, check_crc=True, data_processor=_DatesOnly()).get_messages())
        recs = [m for m in msgs if m.name == "record"]
        out[name] = {
            "session": next(m for m in msgs if m.name == "session").get_values(),
            "activity": next(m for m in msgs if m.name == "activity").get_values(),
            "file_id": next(m for m in msgs if m.name == "file_id").get_values(),
            "n_laps": sum(m.name == "lap" for m in msgs),
            "n_events": sum(m.name == "event" for m in msgs),
            "spm": [2 * (m.get_value("cadence") + m.get_value("fractional_cadence")) for m in recs],
            "stance": [m.get_value("stance_time") for m in recs],
            "dev": any(m.get("Ground Time") is not None for m in recs),
            "n_records": len(recs),
        }
    return out


@pytest.fixture(scope="module")
def gpx_runs(export):
    out = {}
    for name, data in export.items():
        if name.endswith(".gpx"):
            g = gpxpy.parse(data.decode("utf-8"))
            out[name] = (g, [p for t in g.tracks for s in t.segments for p in s.points])
    return out


def test_layout_and_size(export, fit_runs, gpx_runs):
    assert all(n.startswith(("garmin/", "strava/")) for n in export)
    for name in fit_runs:  # Garmin device names: local start time
        datetime.strptime(name, "garmin/%Y-%m-%d-%H-%M-%S.fit")
    assert len(gpx_runs) == 4
    assert 36 <= len(fit_runs) <= 60  # 12 weeks x 3-5 runs, less the Strava-only ones
    assert sum(len(b) for b in export.values()) < MAX_EXPORT_BYTES
    assert 30_000 <= sum(r["n_records"] for r in fit_runs.values()) <= 80_000


def test_deterministic():
    a = make_sample_export(seed=3, weeks=3, end_date=END)
    b = make_sample_export(seed=3, weeks=3, end_date=END)
    assert a == b
    c = make_sample_export(seed=4, weeks=3, end_date=END)
    assert a.keys() != c.keys()


def test_last_run_is_on_end_date_default_today(monkeypatch):
    class FixedClock(date):  # the demo ends on the real today for users; here on TODAY
        @classmethod
        def today(cls):
            return TODAY

    monkeypatch.setitem(plan_runs.__globals__, "date", FixedClock)
    assert plan_runs(weeks=2)[-1].local_start.date() == TODAY
    assert plan_runs(weeks=2, end_date=END)[-1].local_start.date() == END


def test_fit_sessions_summarise_their_records(fit_runs):
    for name, r in fit_runs.items():
        s = r["session"]
        device_spm = 2 * (s["avg_running_cadence"] + s["avg_fractional_cadence"])
        mean_spm = sum(r["spm"]) / len(r["spm"])
        assert device_spm == pytest.approx(mean_spm, abs=2 / 128), name
        assert s["total_strides"] == pytest.approx(
            mean_spm / 2 * s["total_timer_time"] / 60, rel=0.02), name
        assert s["sport"] == "running" and s["num_laps"] == r["n_laps"]
        assert s["num_laps"] == -(-s["total_distance"] // 1000)  # a lap per km
        assert r["file_id"]["manufacturer"] == "garmin" and r["file_id"]["type"] == "activity"
        # local offset = activity.local_timestamp - timestamp, by the central European rule
        off = (r["activity"]["local_timestamp"] - r["activity"]["timestamp"]).total_seconds()
        assert off == eu_offset_s(s["start_time"]), name
        assert s["total_elapsed_time"] >= s["total_timer_time"]
    offsets = {(r["activity"]["local_timestamp"] - r["activity"]["timestamp"]).total_seconds()
               for r in fit_runs.values()}
    assert offsets == {3600.0, 7200.0}


def test_running_and_walking_dynamics(fit_runs):
    running = [x for r in fit_runs.values() for x, st in zip(r["spm"], r["stance"]) if st is not None]
    walking = [x for r in fit_runs.values() for x, st in zip(r["spm"], r["stance"]) if st is None]
    assert min(running) >= 160 and max(running) <= 182
    assert walking and 100 <= sum(walking) / len(walking) <= 125  # walk breaks ~110 spm
    stance = [st for r in fit_runs.values() for st in r["stance"] if st is not None]
    assert 220 <= sum(stance) / len(stance) <= 280
    paused = [n for n, r in fit_runs.items() if r["n_events"] > 2]  # stop_all/start pairs
    assert paused and all(
        fit_runs[n]["session"]["total_elapsed_time"] > fit_runs[n]["session"]["total_timer_time"]
        for n in paused)
    assert 0 < sum(r["dev"] for r in fit_runs.values()) < len(fit_runs)  # some carry a Stryd


def test_gpx_files_strava_style(gpx_runs):
    for name, (g, pts) in gpx_runs.items():
        assert g.creator == "StravaGPX" and len(pts) > 500
        assert all(p.time is not None and p.elevation is not None for p in pts)
        ext = [{c.tag.split("}")[1]: c.text for c in p.extensions[0]} for p in pts]
        assert all(set(e) == {"hr", "cad"} for e in ext), name  # no power
        cad = [int(e["cad"]) for e in ext]
        assert 150 <= sum(cad) / len(cad) <= 185  # steps/min, as Strava writes it


def test_one_gpx_is_a_strava_copy_of_a_fit_run(fit_runs, gpx_runs):
    fit_starts = [r["session"]["start_time"] for r in fit_runs.values()]
    near = {}
    for name, (g, pts) in gpx_runs.items():
        start = pts[0].time.replace(tzinfo=None)
        near[name] = min(abs((start - f).total_seconds()) for f in fit_starts)
    copies = [n for n, d in near.items() if d <= 10]
    assert len(copies) == 1
    assert all(d > 6 * 3600 for n, d in near.items() if n not in copies)  # other days
    g, pts = gpx_runs[copies[0]]
    fit = next(r for r in fit_runs.values()
               if abs((r["session"]["start_time"] - pts[0].time.replace(tzinfo=None)).total_seconds()) <= 10)
    assert g.length_2d() == pytest.approx(fit["session"]["total_distance"], rel=0.02)


def _spike_ratios(fit_runs):
    """Frandsen spike per run: distance / longest run in the previous lookback days - 1."""
    days = value("spike_lookback_days")
    runs = sorted((r["session"]["start_time"], r["session"]["total_distance"], n)
                  for n, r in fit_runs.items())
    out = {}
    for start, dist, name in runs:
        prev = [d for s, d, _ in runs if start - timedelta(days=days) <= s < start]
        if prev:
            out[name] = dist / max(prev) - 1
    return out


def test_exactly_one_large_single_session_spike(fit_runs):
    ratios = _spike_ratios(fit_runs)
    large = {n: r for n, r in ratios.items() if r > value("spike_alert_ratio")}
    assert len(large) == 1
    (name, ratio), = large.items()
    assert ratio + 1 > 2.2  # the spike run is > 2.2x its 30-day longest
    assert max(r["session"]["total_distance"] for r in fit_runs.values()) == \
        fit_runs[name]["session"]["total_distance"]
    # no other run is even a small spike
    assert all(r <= value("spike_caution_ratio") for n, r in ratios.items() if n != name)
    # and it is recent: within the last 10 days of the export
    assert (END - fit_runs[name]["session"]["start_time"].date()).days <= 10


def test_one_weekly_ramp_in_the_last_weeks(fit_runs, gpx_runs):
    # weekly running distance by ISO week of the local date; the Strava copy counts once
    week_m: dict[tuple[int, int], float] = defaultdict(float)
    for r in fit_runs.values():
        off = timedelta(seconds=eu_offset_s(r["session"]["start_time"]))
        week_m[(r["session"]["start_time"] + off).isocalendar()[:2]] += r["session"]["total_distance"]
    fit_starts = [r["session"]["start_time"] for r in fit_runs.values()]
    for g, pts in gpx_runs.values():
        start = pts[0].time.replace(tzinfo=None)
        if min(abs((start - f).total_seconds()) for f in fit_starts) > 10:
            week_m[(start + timedelta(seconds=eu_offset_s(start))).isocalendar()[:2]] += g.length_2d()
    weeks = sorted(week_m)
    assert len(weeks) == 12
    ramps = {b: (week_m[b] / week_m[a] - 1) * 100 for a, b in zip(weeks, weeks[1:])}
    over = [w for w, pct in ramps.items() if pct > value("weekly_ramp_pct")]
    assert over == [weeks[-2]]  # the spike's week, the last complete week
