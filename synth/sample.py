"""A deterministic, realistic demo export: a runner's Garmin FIT files and Strava GPX files.

``make_sample_export(seed, weeks, end_date)`` returns ``{relative path: bytes}``; the caller
writes them. The story (for the default 12 weeks):

- build weeks: 3-5 runs a week, easy runs 5-9 km at ~5:30-6:30 min/km, a Sunday long run growing
  gently from 10 to 12 km; weekly distance 27-35 km;
- the 4 weeks (33 days) before the spike: a cut-back after a niggle, 3-4 runs of 4.5-7 km, some
  with walk breaks (run/walk);
- the spike: the Saturday of the second-to-last week, a run ~2.25x the longest run of the
  previous 30 days (Frandsen et al. 2025 "large" band), with walk breaks late in the run; its
  week is ~40% more distance than the week before (Nielsen et al. 2014 ramp > 30%);
- the last (partial) week: easy runs up to and including ``end_date``.

Every FIT run: 1 record / 2 s with GPS (a loop near Munich), distance, speed, altitude, heart
rate, cadence (strides/min + fractional 0.5), stance time, balance, vertical oscillation,
vertical ratio, step length; laps per km; a session summary computed like a watch; the local
UTC offset (Europe/Berlin rules, +3600 / +7200) in the activity message. About a third also carry
Stryd developer fields; a few have a timer pause. Three runs exist only as Strava GPX (cad in
steps/min, hr; no power), and one GPX is Strava's copy of a FIT run (starts 2 s later), so
duplicate detection has work to do.

File names as the sources write them: ``garmin/2026-09-01-07-12-03.fit`` (local start time),
``strava/<activity id>.gpx``. Same ``seed`` and ``end_date`` -> same bytes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from synth.fit_encode import STRYD_FIELDS, encode_activity

SEMICIRCLES_PER_DEG = 2**31 / 180.0

#: Seconds between records (FIT) and between Strava GPX points of the phone-recorded runs.
RECORD_INTERVAL_S = 2
GPX_INTERVAL_S = 3
#: Garmin Forerunner 935 (product id known to fitparse's profile), and its sensors.
DEVICE = ("garmin", 2691, 3_987_654_321)
HRM = {"device_index": 1, "device_type": 120, "manufacturer": "garmin", "product": 3299,
       "serial_number": 1_234_567_890, "source_type": "antplus", "software_version": 13.1}
STRYD_POD = {"device_index": 2, "device_type": 124, "manufacturer": "stryd", "product": 4660,
             "serial_number": 92_016_116, "source_type": "antplus"}
CENTER = (48.1520, 11.5920)  # a park near Munich: Europe/Berlin local time
WEIGHT_KG = 68.0

_DAY_PATTERNS = {3: (1, 3, 6), 4: (1, 2, 4, 6), 5: (0, 1, 3, 4, 6)}  # Monday = 0


@dataclass
class PlannedRun:
    """One run of the plan (distance in m, local start as a naive datetime)."""

    local_start: datetime
    distance_m: float
    kind: str  # easy | long | spike | recovery | cutback
    source: str = "fit"  # fit | gpx (a run that exists only as a Strava GPX)
    walk_breaks: int = 0
    pause: bool = False
    stryd: bool = False
    route: int = 0
    pace_s_per_km: float = 360.0
    seed: int = 0
    duplicate_gpx: bool = False  # Strava also has a copy of this FIT run


# --------------------------------------------------------------------------- time zone


def _last_sunday(year: int, month: int) -> date:
    d = date(year, month + 1, 1) - timedelta(days=1)
    return d - timedelta(days=(d.weekday() + 1) % 7)


def eu_offset_s(utc: datetime) -> int:
    """Central European offset at a naive-UTC instant: +7200 in summer time, else +3600.

    EU rule: summer time from the last Sunday of March to the last Sunday of October, 01:00 UTC.
    """
    y = utc.year
    on = datetime.combine(_last_sunday(y, 3), datetime.min.time()) + timedelta(hours=1)
    off = datetime.combine(_last_sunday(y, 10), datetime.min.time()) + timedelta(hours=1)
    return 7200 if on <= utc < off else 3600


def _local_to_utc(local: datetime) -> tuple[datetime, int]:
    off = eu_offset_s(local - timedelta(hours=1))
    off = eu_offset_s(local - timedelta(seconds=off))
    return local - timedelta(seconds=off), off


# --------------------------------------------------------------------------- plan


def plan_runs(seed: int = 7, weeks: int = 12, end_date: date | None = None) -> list[PlannedRun]:
    """The runs of the sample export, in time order (see the module docstring)."""
    if weeks < 2:
        raise ValueError("the sample needs at least 2 weeks (the spike sits in the week before the last)")
    end_date = end_date or date.today()
    rng = random.Random(seed)
    monday0 = end_date - timedelta(days=end_date.weekday()) - timedelta(weeks=weeks - 1)
    spike_day = monday0 + timedelta(weeks=weeks - 2, days=5)  # Saturday of the week before last
    cap_m = 7000.0  # longest cut-back run
    build_weeks = max(0, weeks - 6)
    runs: list[PlannedRun] = []

    def start_time(day: date, long: bool) -> datetime:
        if long or day.weekday() >= 5:
            minutes = rng.randint(8 * 60, 9 * 60 + 30)
        elif rng.random() < 0.7:
            minutes = rng.randint(6 * 60 + 15, 7 * 60 + 30)
        else:
            minutes = rng.randint(18 * 60, 19 * 60 + 15)
        return datetime.combine(day, datetime.min.time()) + timedelta(
            minutes=minutes, seconds=rng.randint(0, 59))

    def add(day: date, dist: float, kind: str, **kw) -> PlannedRun:
        pace = kw.pop("pace", None) or rng.uniform(330, 390)  # 5:30-6:30 min/km
        r = PlannedRun(start_time(day, kind in ("long", "spike")), round(dist, 1), kind,
                       pace_s_per_km=pace, seed=rng.randrange(2**31),
                       route=2 if kind in ("long", "spike") else rng.choice((0, 1)), **kw)
        runs.append(r)
        return r

    # build weeks
    for b in range(build_weeks):
        monday = monday0 + timedelta(weeks=b)
        target = min(35_000, 27_000 + 1_600 * b) + rng.gauss(0, 800)  # +1.6 km a week
        long_m = min(12_000, 10_000 + 400 * b) + rng.uniform(-150, 150)
        n = rng.choice((3, 4, 4, 5))
        per = (target - long_m) / (n - 1)
        while per > 9_000 and n < 5:  # keep easy runs in 5-9 km and the week on target
            n += 1
            per = (target - long_m) / (n - 1)
        while per < 5_200 and n > 3:
            n -= 1
            per = (target - long_m) / (n - 1)
        days = [monday + timedelta(days=d) for d in _DAY_PATTERNS[n]]
        jitter = [rng.uniform(-800, 800) for _ in range(n - 1)]
        mean = sum(jitter) / len(jitter)
        easy = [min(9_000, max(5_000, per + j - mean)) for j in jitter]
        long_idx = 0 if b == 0 else n - 1  # the very first run is a long one: no early spikes
        it = iter(easy)
        for i, day in enumerate(days):
            if i == long_idx:
                add(day, long_m, "long", pace=rng.uniform(360, 385),
                    walk_breaks=1 if rng.random() < 0.15 else 0, pause=rng.random() < 0.2,
                    stryd=rng.random() < 0.35)
            else:
                add(day, next(it), "easy", walk_breaks=1 if rng.random() < 0.1 else 0,
                    pause=rng.random() < 0.15, stryd=rng.random() < 0.35)

    # cut-back weeks: the 4 weeks before the spike week (from the Monday 33 days before the
    # spike, so no build-week run is in its 30-day window); fewer when the sample is short
    for w in range(max(0, weeks - 6), weeks - 2):
        monday = monday0 + timedelta(weeks=w)
        k = w - (weeks - 6)
        target = 15_000 + 2_000 * k
        n = rng.choice([m for m in (3, 4) if 4_800 <= target / m <= 6_500] or [3])
        jitter = [rng.uniform(-600, 600) for _ in range(n)]
        mean = sum(jitter) / n
        for d, j in zip(_DAY_PATTERNS[n], jitter):
            dist = min(cap_m, max(4_500, target / n + j - mean))
            add(monday + timedelta(days=d), dist, "cutback", pace=rng.uniform(360, 400),
                walk_breaks=rng.choice((0, 2, 3)), pause=rng.random() < 0.1,
                stryd=rng.random() < 0.35)

    # the history's first run is the longest of its week: no spike flags from the first days
    first_week = [r for r in runs if r.local_start.date() < monday0 + timedelta(weeks=1)]
    if first_week:
        longest = max(first_week, key=lambda r: r.distance_m)
        first_week[0].distance_m, longest.distance_m = longest.distance_m, first_week[0].distance_m

    # Strava-only runs (phone recorded): one easy run in each of three build (else cut-back) weeks
    easy_runs = [r for r in runs if r.kind in ("easy", "cutback")]
    by_week: dict[int, list[PlannedRun]] = {}
    for r in easy_runs:
        by_week.setdefault((r.local_start.date() - monday0).days // 7, []).append(r)
    candidate_weeks = sorted(by_week)
    build_only = [w for w in candidate_weeks if any(r.kind == "easy" for r in by_week[w])]
    if len(build_only) >= 3:
        candidate_weeks = build_only
    picks = rng.sample(candidate_weeks, min(3, len(candidate_weeks)))
    for wk in sorted(picks):
        r = rng.choice(by_week[wk])
        r.source = "gpx"
        r.distance_m = round(min(r.distance_m, 6_500.0), 1)
        r.pause = False
        r.stryd = False
    # the FIT run Strava also has a copy of: a build-week easy FIT run
    fit_easy = [r for r in easy_runs if r.source == "fit" and r.kind == "easy" and not r.pause]
    fit_easy = fit_easy or [r for r in easy_runs if r.source == "fit" and not r.pause]
    if fit_easy:
        fit_easy[len(fit_easy) // 2].duplicate_gpx = True

    # spike week: Tue + Thu easy, Saturday spike, Sunday recovery
    week_before = [r for r in runs
                   if spike_day - timedelta(days=12) <= r.local_start.date() < spike_day - timedelta(days=5)]
    v_prev = sum(r.distance_m for r in week_before)
    spike_monday = spike_day - timedelta(days=5)
    prior = [r.distance_m for r in runs
             if spike_day - timedelta(days=30) <= r.local_start.date() < spike_day]
    base0 = max(prior) if prior else 5_000.0
    recovery_m = 5_000.0
    # Tue + Thu fill the week to ~1.4x the week before (a >30% weekly ramp), never longer
    # than the baseline so the spike's ratio stays 2.25
    fill = (1.4 * v_prev - 2.25 * base0 - recovery_m) / 2 if v_prev > 0 else 5_000.0
    easy_d = [min(base0, max(4_500.0, fill + rng.uniform(-200, 200))) for _ in range(2)]
    spike_m = 2.25 * max(prior + easy_d)
    add(spike_monday + timedelta(days=1), easy_d[0], "easy", stryd=rng.random() < 0.35)
    add(spike_monday + timedelta(days=3), easy_d[1], "easy", stryd=rng.random() < 0.35)
    add(spike_day, spike_m, "spike", pace=rng.uniform(375, 395), walk_breaks=3, stryd=True)
    add(spike_day + timedelta(days=1), recovery_m, "recovery", pace=rng.uniform(385, 400))

    # last week: easy runs up to end_date, the last one on end_date (an early morning run)
    last_monday = monday0 + timedelta(weeks=weeks - 1)
    days = [last_monday + timedelta(days=d) for d in _DAY_PATTERNS[rng.choice((3, 4))]]
    days = [d for d in days if d < end_date] + [end_date]
    for d in days:
        r = add(d, rng.uniform(5_000, 7_000), "easy", stryd=rng.random() < 0.35)
        if d == end_date:
            r.local_start = datetime.combine(d, datetime.min.time()) + timedelta(
                hours=6, minutes=rng.randint(0, 30), seconds=rng.randint(0, 59))
    runs.sort(key=lambda r: r.local_start)
    return runs


# --------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class _Route:
    east: np.ndarray  # m, cumulative along the loop
    north: np.ndarray
    s: np.ndarray  # cumulative distance, m
    length: float
    alt_base: float
    alt_amp: tuple[float, float]
    alt_phase: float

    def grade_at(self, dist: float) -> float:
        """Slope (m/m) of the altitude profile at one distance."""
        ph = 2 * math.pi * (dist % self.length) / self.length
        return (self.alt_amp[0] * math.cos(ph) * 2 * math.pi / self.length
                + self.alt_amp[1] * math.cos(3 * ph + self.alt_phase) * 6 * math.pi / self.length)

    def at(self, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """east, north, altitude, grade at distances along the loop (laps repeat)."""
        d = np.mod(dist, self.length)
        e = np.interp(d, self.s, self.east)
        n = np.interp(d, self.s, self.north)
        ph = 2 * np.pi * d / self.length
        alt = (self.alt_base + self.alt_amp[0] * np.sin(ph)
               + self.alt_amp[1] * np.sin(3 * ph + self.alt_phase))
        grade = (self.alt_amp[0] * np.cos(ph) * 2 * np.pi / self.length
                 + self.alt_amp[1] * np.cos(3 * ph + self.alt_phase) * 6 * np.pi / self.length)
        return e, n, alt, grade


def _route(k: int) -> _Route:
    a, b, c, ce, cn = ((620, 330, 60, -300, 150), (900, 520, 90, 500, -400),
                       (1500, 900, 140, 200, 700))[k]
    th = np.linspace(0, 2 * np.pi, 3001)
    east = ce + a * np.cos(th) + c * np.cos(3 * th)
    north = cn + b * np.sin(th) + c * np.sin(2 * th)
    seg = np.hypot(np.diff(east), np.diff(north))
    s = np.concatenate(([0.0], np.cumsum(seg)))
    return _Route(east, north, s, float(s[-1]), 518.0 + 6 * k, (6.0 + 3 * k, 2.5), 0.7 * k)


_ROUTES = [_route(k) for k in range(3)]


# --------------------------------------------------------------------------- one run


@dataclass
class _Track:
    """A simulated run: arrays per sample (elapsed seconds include pauses)."""

    t: np.ndarray  # s since start (timer start), integer
    dist: np.ndarray  # m
    speed: np.ndarray  # m/s (true)
    walking: np.ndarray  # bool
    hr: np.ndarray  # bpm
    spm: np.ndarray  # steps/min (integer)
    lat: np.ndarray
    lon: np.ndarray
    alt: np.ndarray
    grade: np.ndarray
    pauses: list[tuple[int, int]]  # (stop, resume) seconds since start


def _simulate(run: PlannedRun, interval: int) -> _Track:
    g = np.random.default_rng(run.seed)
    route = _ROUTES[run.route]
    v0 = 1000.0 / run.pace_s_per_km
    est = run.distance_m / v0
    walks = []  # (start s, duration s)
    if run.walk_breaks:
        lo = 0.55 if run.kind == "spike" else 0.15
        for x in sorted(g.uniform(lo, 0.9, run.walk_breaks)):
            walks.append((x * est, float(g.uniform(60, 120))))
    pause_at = g.uniform(0.3, 0.7) * est if run.pause else None
    pause_len = int(g.integers(40, 150)) if run.pause else 0
    drift = (10.0 if run.kind == "spike" else 5.0) / 3600.0  # bpm per second

    t, d, hr_v = 0, 0.0, 88.0
    ar = 0.0
    moving_t = 0.0
    last_t = 0
    ts, ds, vs, ws, hrs, grs = [], [], [], [], [], []
    pauses: list[tuple[int, int]] = []
    while True:
        grade = route.grade_at(d)
        walking = any(a <= moving_t < a + b for a, b in walks)
        ar = 0.97 * ar + g.normal(0, 0.008)
        if walking:
            v = 1.45 + g.normal(0, 0.05)
            hr_ss = 112.0
        else:
            warm = min(1.0, 0.85 + 0.15 * moving_t / 90.0)
            v = v0 * warm * (1 + ar) * (1 - 2.5 * grade)
            hr_ss = 100 + 16.0 * v + 150 * grade + drift * moving_t
        hr_v += (hr_ss - hr_v) * (1 - math.exp(-max(t - last_t, 1) / 40.0))
        last_t = t
        ts.append(t); ds.append(d); vs.append(v); ws.append(walking)
        hrs.append(hr_v + g.normal(0, 1.2)); grs.append(grade)
        if d >= run.distance_m:
            break
        if pause_at is not None and moving_t >= pause_at:
            # the timer stops at this record; the next record (same place) is at the resume
            pauses.append((t, t + pause_len))
            t += pause_len
            last_t = t
            hr_v = max(95.0, hr_v - pause_len * 0.25)
            pause_at = None
            continue
        step = interval
        if d + v * step >= run.distance_m:  # the last record lands on the planned distance
            step = max(1, math.ceil((run.distance_m - d) / v))
            d = run.distance_m
        else:
            d += v * step
        t += step
        moving_t += step
    t_a = np.array(ts, dtype=np.int64)
    d_a = np.array(ds)
    v_a = np.clip(np.array(vs), 0.0, None)
    w_a = np.array(ws, dtype=bool)
    # cadence (steps/min): running ~160-180 rising with speed, walking ~110
    spm = np.where(w_a, np.rint(112 + g.normal(0, 3, len(t_a))),
                   np.rint(np.clip(152 + 7.5 * v_a + g.normal(0, 1.5, len(t_a)), 160, 182)))
    e, n, alt, grade = route.at(d_a)
    # GPS error: slowly wandering, a couple of metres
    noise = np.cumsum(g.normal(0, 0.25, (len(t_a), 2)), axis=0)
    noise -= np.linspace(0, 1, len(t_a))[:, None] * noise[-1]
    lat = CENTER[0] + (n + noise[:, 1]) / 111_320.0
    lon = CENTER[1] + (e + noise[:, 0]) / (111_320.0 * math.cos(math.radians(CENTER[0])))
    hr = np.clip(np.rint(np.array(hrs)), 70, 195)
    return _Track(t_a, d_a, v_a, w_a, hr, spm, lat, lon, alt, np.array(grs), pauses)


def _fit_records(run: PlannedRun, tr: _Track, start_utc: datetime) -> dict[str, object]:
    g = np.random.default_rng(run.seed + 1)
    n = len(tr.t)
    v = tr.speed
    running = ~tr.walking & (v > 0)
    hours = tr.t / 3600.0
    strides = np.floor(tr.spm / 2)
    frac = np.where(tr.spm % 2 == 1, 0.5, 0.0)
    stance = np.clip(330 - 30 * v + 5 * hours + g.normal(0, 5, n), 200, 320)
    vo = 80 - 3 * (v - 2.8) + g.normal(0, 2, n)
    step_mm = np.where(tr.spm > 0, v * 60.0 / np.maximum(tr.spm, 1) * 1000.0, np.nan)
    ratio = vo / step_mm * 100
    balance = 50.6 + g.normal(0, 0.6, n)
    nan = np.full(n, np.nan)

    def rd(x: np.ndarray) -> np.ndarray:  # running dynamics only while running
        return np.where(running, x, nan)

    cols: dict[str, object] = {
        "timestamp": [start_utc + timedelta(seconds=int(s)) for s in tr.t],
        "position_lat": np.rint(tr.lat * SEMICIRCLES_PER_DEG),
        "position_long": np.rint(tr.lon * SEMICIRCLES_PER_DEG),
        "distance": np.round(tr.dist, 2),
        "enhanced_speed": np.round(np.clip(v + np.where(v > 0, g.normal(0, 0.04, n), 0), 0, None), 3),
        "enhanced_altitude": np.round(tr.alt * 5) / 5,
        "heart_rate": tr.hr,
        "cadence": strides,
        "fractional_cadence": frac,
        "stance_time": np.round(rd(stance), 1),
        "stance_time_balance": np.round(rd(balance), 2),
        "vertical_oscillation": np.round(rd(vo), 1),
        "vertical_ratio": np.round(rd(ratio), 2),
        "step_length": np.round(rd(step_mm), 1),
    }
    if run.stryd:
        mass = WEIGHT_KG
        power = np.where(v > 0, mass * (1.04 * v + 9.81 * np.clip(tr.grade, -0.1, 0.2) * v * 0.9), 0)
        power = np.rint(np.clip(power + g.normal(0, 6, n), 0, None))
        cols.update({
            "Power": power,
            "Cadence": strides,  # Stryd writes per-foot cadence
            "Ground Time": np.rint(np.where(v > 0, stance - 12 + g.normal(0, 4, n), 0)),
            "Vertical Oscillation": np.round(np.where(v > 0, (vo - 8) / 10.0, 0), 2),
            "Form Power": np.rint(np.where(v > 0, 0.9 * mass + g.normal(0, 2, n), 0)),
            "Leg Spring Stiffness": np.round(np.where(v > 0, 10.2 + g.normal(0, 0.3, n), 0), 2),
        })
    return cols


def _gpx(points: list[tuple[float, float, float, datetime, int | None, int | None]], name: str,
         start: datetime) -> bytes:
    """Strava-style GPX 1.1 (creator StravaGPX, gpxtpx TrackPointExtension hr + cad)."""
    def z(t: datetime) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx creator="StravaGPX" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.topografix.com/GPX/1/1 '
        'http://www.topografix.com/GPX/1/1/gpx.xsd '
        'http://www.garmin.com/xmlschemas/GpxExtensions/v3 '
        'http://www.garmin.com/xmlschemas/GpxExtensionsv3.xsd '
        'http://www.garmin.com/xmlschemas/TrackPointExtension/v1 '
        'http://www.garmin.com/xmlschemas/TrackPointExtensionv1.xsd" version="1.1" '
        'xmlns="http://www.topografix.com/GPX/1/1" '
        'xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1" '
        'xmlns:gpxx="http://www.garmin.com/xmlschemas/GpxExtensions/v3">\n',
        f" <metadata>\n  <time>{z(start)}</time>\n </metadata>\n",
        f" <trk>\n  <name>{name}</name>\n  <type>running</type>\n  <trkseg>\n",
    ]
    for lat, lon, ele, t, hr, cad in points:
        ext = ""
        if hr is not None or cad is not None:
            ext = "    <extensions>\n     <gpxtpx:TrackPointExtension>\n"
            if hr is not None:
                ext += f"      <gpxtpx:hr>{hr}</gpxtpx:hr>\n"
            if cad is not None:
                ext += f"      <gpxtpx:cad>{cad}</gpxtpx:cad>\n"
            ext += "     </gpxtpx:TrackPointExtension>\n    </extensions>\n"
        out.append(f'   <trkpt lat="{lat:.7f}" lon="{lon:.7f}">\n    <ele>{ele:.1f}</ele>\n'
                   f"    <time>{z(t)}</time>\n{ext}   </trkpt>\n")
    out.append("  </trkseg>\n </trk>\n</gpx>\n")
    return "".join(out).encode("utf-8")


def _strava_name(local: datetime) -> str:
    h = local.hour
    part = "Morning" if h < 11 else "Lunch" if h < 14 else "Afternoon" if h < 17 else "Evening"
    return f"{part} Run"


def _strava_id(start_utc: datetime, rng: random.Random) -> int:
    unix = (start_utc - datetime(1970, 1, 1)).total_seconds()
    return int(9_000_000_000 + (unix - 1_600_000_000) * 4.1) + rng.randint(0, 999)


# --------------------------------------------------------------------------- export


def make_sample_export(seed: int = 7, weeks: int = 12, end_date: date | None = None) -> dict[str, bytes]:
    """A runner's export as ``{relative path: file bytes}`` (see the module docstring).

    ``end_date`` (default today) is the date of the last run. Deterministic for a given
    ``seed`` and ``end_date``.
    """
    runs = plan_runs(seed, weeks, end_date)
    rng = random.Random(seed * 7919 + 1)
    files: dict[str, bytes] = {}
    for run in runs:
        start_utc, offset = _local_to_utc(run.local_start)
        if run.source == "gpx":
            tr = _simulate(run, GPX_INTERVAL_S)
            pts = [(la, lo, round(al, 1), start_utc + timedelta(seconds=int(s)), int(h), int(c))
                   for la, lo, al, s, h, c in zip(tr.lat, tr.lon, tr.alt, tr.t, tr.hr, tr.spm)]
            files[f"strava/{_strava_id(start_utc, rng)}.gpx"] = _gpx(
                pts, _strava_name(run.local_start), start_utc)
            continue
        tr = _simulate(run, RECORD_INTERVAL_S)
        cols = _fit_records(run, tr, start_utc)
        pauses = [(start_utc + timedelta(seconds=a), start_utc + timedelta(seconds=b))
                  for a, b in tr.pauses]
        devices = [HRM] + ([STRYD_POD] if run.stryd else [])
        data = encode_activity(
            records=cols,
            start=start_utc,
            auto_lap_m=1000.0,
            session={"total_calories": int(round(run.distance_m / 1000.0 * WEIGHT_KG))},
            sport="running",
            sub_sport="generic",
            local_offset_s=offset,
            device=DEVICE,
            extra_devices=devices,
            developer_fields=STRYD_FIELDS if run.stryd else None,
            pauses=pauses,
        )
        files[f"garmin/{run.local_start:%Y-%m-%d-%H-%M-%S}.fit"] = data
        if run.duplicate_gpx:
            # Strava's copy of this run: same samples, from the second record (2 s later)
            spm = (2 * (np.asarray(cols["cadence"]) + np.asarray(cols["fractional_cadence"])))
            pts = [(la, lo, round(float(al), 1), t, int(h), int(c))
                   for la, lo, al, t, h, c in zip(tr.lat[1:], tr.lon[1:], cols["enhanced_altitude"][1:],
                                                  cols["timestamp"][1:], tr.hr[1:], spm[1:])]
            files[f"strava/{_strava_id(start_utc, rng)}.gpx"] = _gpx(
                pts, _strava_name(run.local_start), pts[0][3])
    return dict(sorted(files.items()))
