"""Run-walk FIT files with known running and walking time, for the progression and plan tests.

``run_walk_fit(start_utc, segments)`` encodes one activity with a record every second: each
segment is ``(gait, seconds, steps_per_min)``; running moves at ``RUN_MPS`` with ground contact
time ``RUN_GCT_MS``, walking at ``WALK_MPS`` with none (a watch records running dynamics only
while running). ``pattern(run_min, walk_min, repeats)`` builds the segments of "R:W x N".
"""

from __future__ import annotations

from datetime import datetime, timedelta

from synth.fit_encode import encode_activity, semicircles

RUN_MPS = 3.0
WALK_MPS = 1.4
RUN_GCT_MS = 250.0
WALK_SPM = 110


def pattern(run_min: float, walk_min: float, repeats: int, run_spm: int = 160) -> list[tuple[str, int, int]]:
    """The segments of a walk-run session "run_min:walk_min x repeats" (run first)."""
    out: list[tuple[str, int, int]] = []
    for _ in range(repeats):
        out.append(("run", int(round(run_min * 60)), run_spm))
        if walk_min > 0:
            out.append(("walk", int(round(walk_min * 60)), WALK_SPM))
    return out


def run_walk_fit(start_utc: datetime, segments: list[tuple[str, int, int]], *, sport: str = "running",
                 local_offset_s: int = 3600) -> bytes:
    """One FIT activity of the given segments, 1 s records (see the module docstring)."""
    ts, dist, speed, cad, frac, stance, lat, lon = [], [], [], [], [], [], [], []
    d = 0.0
    t = 0
    lat0, lon0 = 48.15, 11.59
    first = True
    for gait, seconds, spm in segments:
        v = RUN_MPS if gait == "run" else WALK_MPS
        for _ in range(seconds):
            if not first:
                d += v
            first = False
            ts.append(start_utc + timedelta(seconds=t))
            dist.append(round(d, 2))
            speed.append(v)
            cad.append(spm // 2)
            frac.append(0.5 if spm % 2 else 0.0)
            stance.append(RUN_GCT_MS if gait == "run" else None)
            lat.append(semicircles(lat0 + d / 111_320.0))
            lon.append(semicircles(lon0))
            t += 1
    return encode_activity(
        records={"timestamp": ts, "position_lat": lat, "position_long": lon, "distance": dist,
                 "enhanced_speed": speed, "enhanced_altitude": [500.0] * len(ts),
                 "heart_rate": [130] * len(ts), "cadence": cad, "fractional_cadence": frac,
                 "stance_time": stance},
        start=start_utc, sport=sport, local_offset_s=local_offset_s)
