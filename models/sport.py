"""Sport, decided with evidence (issue 13).

``SportEvidence`` is what the records say about the whole activity (built by models/summary.py
with ``evidence_from_arrays``); ``decide_sport(evidence, overrides=None) -> SportDecision``
keeps the file's own label when the evidence agrees with it, else infers the sport. Open-water
and pool swims, rides and hikes are not runs. ``overrides`` are threshold overrides (name ->
value), as everywhere in ``models/``.

Evidence (``evidence_from_arrays``)
    Speeds and cadences are time-weighted medians / 90th percentiles over the MOVING samples
    (weights = ``dt_s``; plain percentiles when every weight is 0). Cadence medians skip zeros
    (a coasting bike, a standing runner). ``median_sample_interval_s`` is the median of the
    positive gaps between timestamps. A SPARSE logger (median interval > ``pause_gap_s``, e.g.
    a hiking logger writing every 30-60 s) gets its moving time recomputed from the timestamps
    (a gap is a pause only when longer than ``sparse_logger_pause_factor`` median intervals) and
    its speed = distance / that moving time (only when >= 90 % of the records are timed, else
    the distance covers untimed points and the speed is unknown): with ``pause_gap_s`` = 10
    nearly every gap of such a file is a "pause", its moving time shrinks to minutes and its
    speed to "24-33 m/s".

Decision (``decide_sport``), in this order
    1. ``sub_sport`` names a swim (open_water, lap_swimming, pool, ...): swimming, never a run,
       whatever the label. An untyped file whose sub_sport names a ride or a walk takes it.
    2. A labelled file (any sport but NULL/generic/all/unknown) keeps its label unless:
       - its median moving speed is faster than the running world record for a race lasting no
         longer than the activity's moving time (100 m for anything shorter than the 400 m
         record or of unknown duration; 400 m, 800 m, 1500 m, 5 km, 10 km, marathon): then it
         is not a run, and not a walk or hike either; 'cycling' when the cadence looks like
         pedalling (a raw cadence that, read as strides/min, would need steps no runner takes)
         and the speed is within the hour record, else the sport is unknown (NULL);
       - it says 'running' and there is no running in it: less than ``run_label_min_run_share``
         of the moving time in running gait, the median contact time above ``run_max_gct_ms``
         with a median cadence below ``run_min_cadence_spm`` (without contact time: a cadence
         below ``walk_label_max_cadence_spm``), and (when known) the median speed below
         ``run_min_speed_mps``: a walk. Without cadence the label is never refused
         on speed alone (a rehab jog at 9 min/km is slower than a brisk walk).
       A run-walk (30-50 % running, as rehab plans prescribe) keeps its 'running' label.
    3. An untyped file is inferred from the whole activity: too fast for a runner (as in 2) ->
       cycling/unknown; a step length above ``run_max_step_length_m`` with a raw cadence that
       can be pedalling -> cycling; else running gait >= ``infer_run_share`` of the moving time
       -> running, >= ``infer_run_walk_min_share`` -> running (a run-walk), otherwise walking;
       a sparse logger without usable gait: by its speed (below ``run_min_speed_mps`` walking);
       a FIT 'generic' session whose cadence was read as rpm but whose sub_sport is a run's
       (treadmill, trail, ...): by its cadence read as strides/min.
       Nothing to go on -> NULL, source 'none'.

``source``: 'file' when the file's label (or, for an untyped file, its sub_sport) was kept;
'inferred' when the data decided (also when a label was refused); 'none' when undecidable.

``confidence`` (0-1), how strongly the measured evidence supports the decision [footfall
choice]:
    - kept label: 0.6 when nothing could be checked (label taken on trust), + 0.2 per data check
      that passed (speed, cadence/step length, contact time, running share), - 0.2 per check
      that disagreed without overturning the label; clipped to [0.3, 1.0];
    - sub_sport decides: 0.9;
    - too fast for a runner: 'cycling' with a pedalling cadence 0.8, unknown sport 0.7; an
      untyped file whose cadence is pedalling: 0.8;
    - a refused 'running' label that is a walk: 0.9 with contact time agreeing, else 0.75;
    - inferred from gait shares: running 0.5 at ``infer_run_share`` rising to 1.0 at 100 %
      running; walking 0.5 at ``infer_run_walk_min_share`` rising to 1.0 at 0 % running (both
      capped at 0.8 when the gait came from speed only, without cadence); a run-walk (between
      the two shares): 0.5; a sparse logger by speed: 0.6; an untyped FIT with a running
      sub_sport, by cadence: 0.7;
    - undecidable: 0.

``checks`` are ``schema.ACTIVITY_CHECKS`` rows without ``activity_id`` (dicts), one per check
run, passed or not: sub_sport, sport_label_speed, sport_label_speed_p90, sport_label_cadence,
sport_label_step_length, sport_label_contact_time, sport_label_run_share, sparse_logger,
inferred_sport.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from models import cadence as cad
from models.thresholds import value as threshold

#: sub_sports that are swims, whatever the sport says (FIT names and the XML readers' names).
SWIM_SUB_SPORTS = frozenset({"open_water", "lap_swimming", "pool", "pool_swimming", "open_water_swimming"})
#: sub_sports of rides (FIT profile names): an untyped file with one of these is a ride.
CYCLING_SUB_SPORTS = frozenset({
    "road", "mountain", "downhill", "recumbent", "cyclocross", "hand_cycling", "track_cycling",
    "indoor_cycling", "spin", "bmx", "gravel_cycling", "e_bike_fitness", "e_bike_mountain",
    "commuting", "mixed_surface",
})
#: sub_sports of walks: an untyped file with one of these is a walk.
WALKING_SUB_SPORTS = frozenset({"casual_walking", "speed_walking", "indoor_walking"})
#: sub_sports of runs (FIT names): with no sport, a raw cadence is read as strides/min.
RUNNING_SUB_SPORTS = frozenset({"treadmill", "indoor_running", "trail", "track", "street", "ultra"})
#: Labels that name no sport.
UNTYPED = frozenset({"", "generic", "all", "unknown"})

#: Race distances (m) of the world-record thresholds (definitions, not thresholds).
RECORD_RACES = (("wr_marathon_s", 42_195.0, "marathon"), ("wr_10000m_s", 10_000.0, "10 km"),
                ("wr_5000m_s", 5_000.0, "5 km"), ("wr_1500m_s", 1_500.0, "1500 m"),
                ("wr_800m_s", 800.0, "800 m"), ("wr_400m_s", 400.0, "400 m"), ("wr_100m_s", 100.0, "100 m"))


@dataclass(frozen=True)
class SportEvidence:
    label: str | None  # the file's sport (activities.sport), None/'generic' when untyped
    sub_sport: str | None
    source_format: str | None  # fit | gpx | tcx
    moving_time_s: float | None  # sparse loggers: from the timestamps (see module docstring)
    distance_m: float | None  # the chosen (cleaned) distance
    median_moving_speed_mps: float | None
    p90_moving_speed_mps: float | None
    median_cadence_raw: float | None  # raw cadence as recorded (strides/min, steps/min or rpm)
    cadence_raw_unit: str | None  # activities.cadence_raw_unit
    median_cadence_spm: float | None  # as steps/min if on foot (NULL without cadence)
    median_gct_ms: float | None
    run_time_s: float | None  # smoothed gait, assuming on foot
    walk_time_s: float | None
    median_sample_interval_s: float | None
    # --- added (optional) ---
    sparse_logger: bool = False  # median sample interval > pause_gap_s: speed from distance/time


@dataclass(frozen=True)
class SportDecision:
    sport: str | None
    is_run: bool
    source: str  # file | inferred | none
    confidence: float  # 0-1
    reason: str
    checks: list[dict] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# evidence


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float | None:
    """Quantile ``q`` of the non-NaN ``x`` weighted by ``w`` (plain quantile when all weights
    are 0); None when nothing is left."""
    return _weighted_quantiles(x, w, (q,))[0]


def _weighted_quantiles(x: np.ndarray, w: np.ndarray, qs: tuple[float, ...]) -> list[float | None]:
    """``_weighted_quantile`` for each of ``qs``, sorting ``x`` once."""
    x = np.asarray(x, dtype=float)
    w = np.asarray(w, dtype=float)
    ok = ~np.isnan(x)
    x, w = x[ok], np.where(np.isnan(w[ok]), 0.0, np.maximum(w[ok], 0.0))
    if x.size == 0:
        return [None for _ in qs]
    if w.sum() <= 0:
        return [float(np.quantile(x, q)) for q in qs]
    picked = _whole_weight_quantiles(x, w, qs)
    if picked is not None:
        return picked
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    cum = np.cumsum(w)
    return [float(x[min(int(np.searchsorted(cum, q * cum[-1], side="left")), x.size - 1)]) for q in qs]


def _whole_weight_quantiles(x: np.ndarray, w: np.ndarray, qs: tuple[float, ...]) -> list[float] | None:
    """``_weighted_quantiles``'s values without its stable sort, when every weight is a whole
    number and they add up to at most 4 per value (most activities: 1 s samples, whole-second
    durations); None otherwise (and when the value picked is 0, whose sign the sort decides).

    ``x`` without NaN, ``w`` >= 0 with a positive sum. Whole weights add up exactly in any
    order, so the cumulative weight at the end of each run of equal values is the weight of
    the values up to it whatever the order of the equal ones, and the sort picks the smallest
    value ``v`` whose weight of values <= ``v`` reaches ``q * total``: the value at position
    ceil(q * total) - 1 of the values each repeated its weight times (``np.partition`` there).
    The stable argsort was ~9% of a file's derive on the bench archive.
    """
    total = float(w.sum())
    if not (total <= 4.0 * x.size) or not np.array_equal(w, np.floor(w)):
        return None
    expanded = np.repeat(x, w.astype(np.intp))
    at = [math.ceil(q * total) - 1 for q in qs]
    if not all(0 <= k < expanded.size for k in at):
        return None
    part = np.partition(expanded, at)
    out = [float(part[k]) for k in at]
    return None if 0.0 in out else out


def evidence_from_arrays(
    *,
    label: str | None,
    sub_sport: str | None,
    source_format: str | None,
    dt_s: np.ndarray,
    speed_mps: np.ndarray,
    moving: np.ndarray,
    cadence_raw: np.ndarray,
    cadence_raw_unit: str | None,
    cadence_spm: np.ndarray,
    gct_ms: np.ndarray,
    run_time_s: float | None,
    walk_time_s: float | None,
    distance_m: float | None,
    seconds: np.ndarray,
    overrides: dict[str, float] | None = None,
) -> SportEvidence:
    """The whole-activity evidence from one activity's per-record arrays (aligned, time order).

    ``dt_s`` from ``models.gait.sample_durations``; ``moving`` 1/0/NaN per record (NaN: motion
    unknown, then every sample counts); ``seconds`` epoch seconds (NaN when untimed).
    """
    dt = np.asarray(dt_s, dtype=float)
    n = dt.size
    mv_raw = np.asarray(moving, dtype=float) if n else np.zeros(0)
    mv = mv_raw == 1.0 if np.any(~np.isnan(mv_raw)) else np.ones(n, dtype=bool)
    speed = np.asarray(speed_mps, dtype=float)
    raw = np.asarray(cadence_raw, dtype=float)
    spm = np.asarray(cadence_spm, dtype=float)
    gct = np.asarray(gct_ms, dtype=float)

    def moving_nonzero(x: np.ndarray) -> np.ndarray:
        return np.where(mv & (x > 0), x, np.nan) if x.size == n else np.full(n, np.nan)

    with np.errstate(invalid="ignore"):
        sp = np.where(mv, speed, np.nan) if speed.size == n else np.full(n, np.nan)
        med_speed, p90_speed = _weighted_quantiles(sp, dt, (0.5, 0.9))
        med_raw = _weighted_quantile(moving_nonzero(raw), dt, 0.5)
        med_spm = _weighted_quantile(moving_nonzero(spm), dt, 0.5)
        med_gct = _weighted_quantile(moving_nonzero(gct), dt, 0.5)
    moving_time = float(dt[mv].sum()) if n and np.any(mv) else None

    secs = np.asarray(seconds, dtype=float)
    timed_share = float(np.mean(~np.isnan(secs))) if secs.size else 0.0
    secs = secs[~np.isnan(secs)]
    gaps = np.diff(secs) if secs.size > 1 else np.zeros(0)
    gaps = gaps[gaps > 0]
    interval = float(np.median(gaps)) if gaps.size else None
    sparse = interval is not None and interval > threshold("pause_gap_s", overrides)
    if sparse:
        limit = threshold("sparse_logger_pause_factor", overrides) * interval
        moving_time = float(gaps[gaps <= limit].sum())
        # the distance must cover the same samples as the time (not a track whose points are
        # mostly untimed)
        if distance_m is not None and moving_time > 0 and timed_share >= 0.9:
            med_speed = p90_speed = float(distance_m) / moving_time
        else:
            med_speed = p90_speed = None

    return SportEvidence(
        label=label, sub_sport=sub_sport, source_format=source_format,
        moving_time_s=moving_time, distance_m=distance_m,
        median_moving_speed_mps=med_speed, p90_moving_speed_mps=p90_speed,
        median_cadence_raw=med_raw, cadence_raw_unit=cadence_raw_unit,
        median_cadence_spm=med_spm, median_gct_ms=med_gct,
        run_time_s=run_time_s, walk_time_s=walk_time_s,
        median_sample_interval_s=interval, sparse_logger=sparse,
    )


# --------------------------------------------------------------------------------------------
# decision


def _num(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _duration(seconds: float | None) -> str:
    s = seconds or 0.0
    return f"{s / 60:.0f} min" if s >= 90 else f"{s:.0f} s"


def _check(name: str, outcome: str, measured=None, low=None, high=None, unit=None,
           effect: str = "none", detail: str = "", threshold_name: str | None = None) -> dict:
    return {"check_name": name, "outcome": outcome, "measured_value": _num(measured),
            "expected_low": _num(low), "expected_high": _num(high), "unit": unit,
            "effect": effect, "detail": detail, "threshold_name": threshold_name}


def running_speed_ceiling(moving_time_s: float | None, overrides: dict[str, float] | None = None
                          ) -> tuple[float, str, str] | None:
    """(speed m/s, threshold name, race) of the running world record for the longest race whose
    record time is at most ``moving_time_s``; the 100 m record (the fastest any human has run
    on average) for shorter activities and when the moving time is unknown."""
    for name, dist, race in RECORD_RACES:
        t = threshold(name, overrides)
        if moving_time_s is not None and moving_time_s >= t:
            return dist / t, name, race
    name, dist, race = RECORD_RACES[-1]
    return dist / threshold(name, overrides), name, race


def _run_share(e: SportEvidence) -> float | None:
    run, walk = e.run_time_s or 0.0, e.walk_time_s or 0.0
    if e.sparse_logger or run + walk <= 0:
        return None
    return run / (run + walk)


def _step_length_m(e: SportEvidence) -> float | None:
    if e.median_moving_speed_mps is None or not e.median_cadence_spm:
        return None
    return e.median_moving_speed_mps * 60.0 / e.median_cadence_spm


def _looks_like_pedalling(e: SportEvidence, overrides) -> tuple[bool, str]:
    """(pedalling?, why): a raw cadence that can be pedal revolutions and whose steps (read as
    strides/min) would be longer than any runner's. A FIT file's cadence_raw_unit 'rpm' is no
    evidence: the reader says 'rpm' for every sport that is not on foot, 'generic' included."""
    raw = e.median_cadence_raw
    speed = e.median_moving_speed_mps
    if raw and speed and raw <= threshold("pedal_cadence_max_rpm", overrides):
        step = speed * 60.0 / (2.0 * raw)
        if step > threshold("run_max_step_length_m", overrides):
            return True, (f"a cadence of {raw:.0f} read as strides/min would need {step:.1f} m steps "
                          f"at {speed:.1f} m/s: pedal revolutions")
    return False, ""


def _too_fast(e: SportEvidence, checks: list[dict], overrides, labelled: bool) -> tuple | None:
    """The speed checks; returns (ceiling, race, threshold_name) when the median moving speed is
    faster than the world record for the activity's duration, else None."""
    speed = e.median_moving_speed_mps
    ceil = running_speed_ceiling(e.moving_time_s, overrides)
    name = "sport_label_speed" if labelled else "inferred_speed"
    if speed is None:
        checks.append(_check(name, "skipped", detail="no moving speed (no GPS or speed sensor)"))
        return None
    limit, tname, race = ceil
    dur = _duration(e.moving_time_s)
    if speed > limit:
        checks.append(_check(name, "disagree", speed, None, limit, "m/s", "not counted as a run",
                             f"median moving speed {speed:.1f} m/s over {dur} is faster than the "
                             f"{race} world-record pace ({limit:.2f} m/s)", tname))
        return limit, race, tname
    checks.append(_check(name, "pass", speed, None, limit, "m/s", "none",
                         f"median moving speed {speed:.1f} m/s over {dur} is within the "
                         f"{race} world-record pace ({limit:.2f} m/s)", tname))
    return None


def _not_a_runner(e: SportEvidence, checks, overrides, fast, *, label: str | None) -> SportDecision:
    limit, race, tname = fast
    speed = e.median_moving_speed_mps
    pedal, why = _looks_like_pedalling(e, overrides)
    head = (f"labelled {label} but median" if label else "median")
    fact = (f"{head} moving speed {speed:.1f} m/s for {_duration(e.moving_time_s)} is faster than the {race} "
            f"world-record pace ({limit:.2f} m/s)")
    if pedal and speed <= threshold("cycling_max_speed_mps", overrides):
        sport, conf, tail = "cycling", 0.8, f" and {why}: counted as cycling, not as a run"
    else:
        sport, conf = None, 0.7
        tail = (": not counted as a run (sport unknown: no pedalling cadence)"
                if speed <= threshold("cycling_max_speed_mps", overrides)
                else ": not counted as a run (faster than the cycling hour record: sport unknown)")
    checks.append(_check("inferred_sport", "excluded", speed, None, limit, "m/s",
                         "excluded from running load", fact + tail, tname))
    return SportDecision(sport, False, "inferred", conf, fact + tail, checks)


def decide_sport(e: SportEvidence, overrides: dict[str, float] | None = None) -> SportDecision:
    """The activity's sport, whether it is a run, and why (see the module docstring)."""
    checks: list[dict] = []
    label = (e.label or "").strip().lower()
    typed = label not in UNTYPED
    sub = (e.sub_sport or "").strip().lower()

    # 1. sub_sport
    if sub in SWIM_SUB_SPORTS:
        if label == "swimming":
            checks.append(_check("sub_sport", "pass", detail=f"sport swimming, sub_sport {sub}"))
            return SportDecision("swimming", False, "file", 0.9,
                                 f"the file's label (swimming, {sub})", checks)
        src = "inferred" if typed else "file"
        why = (f"labelled {label} but sub_sport {sub} names a swim: counted as swimming, not as a run"
               if typed else f"no sport in the file but sub_sport {sub} names a swim: swimming")
        checks.append(_check("sub_sport", "adjusted", effect="excluded from running load", detail=why))
        return SportDecision("swimming", False, src, 0.9, why, checks)
    if not typed and sub in CYCLING_SUB_SPORTS | WALKING_SUB_SPORTS:
        sport = "cycling" if sub in CYCLING_SUB_SPORTS else "walking"
        why = f"no sport in the file but sub_sport {sub} names {sport}"
        checks.append(_check("sub_sport", "adjusted", effect="excluded from running load", detail=why))
        return SportDecision(sport, False, "file", 0.9, why, checks)
    sub_conflict = label == "running" and sub in CYCLING_SUB_SPORTS
    if sub_conflict:
        checks.append(_check("sub_sport", "disagree",
                             detail=f"labelled running but sub_sport {sub} is a ride's; the data decide"))
    else:
        checks.append(_check("sub_sport", "pass", detail=f"sub_sport {sub or 'none'}: no conflict"))

    if e.sparse_logger:
        checks.append(_check(
            "sparse_logger", "adjusted", e.median_sample_interval_s, None, threshold("pause_gap_s", overrides),
            "s", "speed from distance over moving time",
            f"median sample interval {e.median_sample_interval_s:.0f} s: gaps up to "
            f"{threshold('sparse_logger_pause_factor', overrides):.0f} intervals are moving time "
            f"({_duration(e.moving_time_s)}), not pauses", "pause_gap_s"))

    if typed:
        return _judge_label(e, label, checks, overrides)
    return _infer(e, checks, overrides)


def _judge_label(e: SportEvidence, label: str, checks: list[dict], overrides) -> SportDecision:
    foot = cad.is_foot_sport(label)
    if foot is not True:
        return SportDecision(label, False, "file", 0.6, f"the file's label ({label})", checks)

    fast = _too_fast(e, checks, overrides, labelled=True)
    if fast is not None:
        return _not_a_runner(e, checks, overrides, fast, label=label)
    passed = sum(c["outcome"] == "pass" for c in checks if c["check_name"] == "sport_label_speed")
    disagreed = sum(c["outcome"] == "disagree" for c in checks if c["check_name"] == "sub_sport")

    if label != "running":
        conf = round(min(1.0, max(0.3, 0.6 + 0.2 * passed)), 3)
        return SportDecision(label, False, "file", conf, f"the file's label ({label})", checks)

    # p90 speed: recorded, no effect on its own
    p90 = e.p90_moving_speed_mps
    sprint = 1_500.0 / threshold("wr_1500m_s", overrides)
    if p90 is not None and not e.sparse_logger:
        ok = p90 <= sprint
        disagreed += not ok
        checks.append(_check("sport_label_speed_p90", "pass" if ok else "disagree", p90, None, sprint, "m/s",
                             "none", f"90th percentile of moving speed {p90:.1f} m/s "
                             f"{'within' if ok else 'faster than'} the 1500 m world-record pace "
                             f"({sprint:.2f} m/s){'' if ok else ': GPS errors or a vehicle in part of it'}",
                             "wr_1500m_s"))

    run_cad = threshold("run_min_cadence_spm", overrides)
    spm = e.median_cadence_spm
    if spm is None:
        checks.append(_check("sport_label_cadence", "skipped", detail="no cadence"))
    else:
        ok = spm >= run_cad
        passed += ok
        disagreed += not ok
        checks.append(_check("sport_label_cadence", "pass" if ok else "disagree", spm, run_cad, None, "steps/min",
                             "none", f"median moving cadence {spm:.0f} steps/min "
                             f"({'running' if ok else 'walking'} range)", "run_min_cadence_spm"))
    step = _step_length_m(e)
    max_step = threshold("run_max_step_length_m", overrides)
    if step is not None:
        ok = step <= max_step
        disagreed += not ok
        checks.append(_check("sport_label_step_length", "pass" if ok else "disagree", step, None, max_step, "m",
                             "none", f"median speed over median cadence gives {step:.2f} m steps"
                             + ("" if ok else " (longer than runners take: cadence or speed in doubt)"),
                             "run_max_step_length_m"))
    gct = e.median_gct_ms
    max_gct = threshold("run_max_gct_ms", overrides)
    if gct is None:
        checks.append(_check("sport_label_contact_time", "skipped", detail="no contact time"))
    else:
        ok = gct <= max_gct
        passed += ok
        disagreed += not ok
        checks.append(_check("sport_label_contact_time", "pass" if ok else "disagree", gct, None, max_gct, "ms",
                             "none", f"median moving contact time {gct:.0f} ms "
                             f"({'running' if ok else 'walking'} range)", "run_max_gct_ms"))
    share = _run_share(e)
    min_share = threshold("run_label_min_run_share", overrides)
    if share is None:
        checks.append(_check("sport_label_run_share", "skipped", detail="no gait (run/walk) time"))
    else:
        ok = share >= min_share
        passed += ok
        disagreed += not ok
        checks.append(_check("sport_label_run_share", "pass" if ok else "disagree", share, min_share, None,
                             "fraction", "none", f"{share:.0%} of the moving time is running gait",
                             "run_label_min_run_share"))

    speed = e.median_moving_speed_mps
    walk_cad = run_cad if gct is not None else threshold("walk_label_max_cadence_spm", overrides)
    walk = (share is not None and share < min_share and spm is not None and spm < walk_cad
            and (gct is None or gct > max_gct)
            and (speed is None or speed < threshold("run_min_speed_mps", overrides)))
    if walk:
        parts = [f"{share:.0%} running gait", f"median cadence {spm:.0f} steps/min"]
        if gct is not None:
            parts.append(f"contact time {gct:.0f} ms")
        if speed is not None:
            parts.append(f"{speed:.1f} m/s")
        why = f"labelled running but {', '.join(parts)}: a walk, not counted as a run"
        checks.append(_check("inferred_sport", "excluded", share, min_share, None, "fraction",
                             "excluded from running load", why, "run_label_min_run_share"))
        return SportDecision("walking", False, "inferred", 0.9 if gct is not None else 0.75, why, checks)

    conf = round(min(1.0, max(0.3, 0.6 + 0.2 * passed - 0.2 * disagreed)), 3)
    bits = []
    if speed is not None:
        bits.append(f"{speed:.1f} m/s")
    if spm is not None:
        bits.append(f"{spm:.0f} steps/min")
    if share is not None:
        bits.append(f"{share:.0%} running gait")
    why = "the file's label (running)" + (f", consistent with {', '.join(bits)}" if bits else ", not checked")
    return SportDecision("running", True, "file", conf, why, checks)


def _infer(e: SportEvidence, checks: list[dict], overrides) -> SportDecision:
    fast = _too_fast(e, checks, overrides, labelled=False)
    if fast is not None:
        return _not_a_runner(e, checks, overrides, fast, label=None)

    pedal, why_pedal = _looks_like_pedalling(e, overrides)
    speed = e.median_moving_speed_mps
    if pedal and speed is not None:
        step = speed * 60.0 / (2.0 * e.median_cadence_raw)
        why = f"no sport in the file; {why_pedal}: cycling"
        checks.append(_check("inferred_sport", "excluded", step, None, threshold("run_max_step_length_m", overrides),
                             "m", "excluded from running load", why, "run_max_step_length_m"))
        return SportDecision("cycling", False, "inferred", 0.8, why, checks)

    sub = (e.sub_sport or "").strip().lower()
    raw = e.median_cadence_raw
    if sub in RUNNING_SUB_SPORTS and e.median_cadence_spm is None and raw:
        # a FIT 'generic' session's cadence is read as rpm (no steps): its sub_sport says on foot
        spm = raw if 2 * raw > threshold("cadence_steps_ceiling_spm", overrides) else 2 * raw
        run_cad = threshold("run_min_cadence_spm", overrides)
        sport = "running" if spm >= run_cad else "walking"
        why = (f"no sport in the file; sub_sport {sub} and a median cadence of {spm:.0f} steps/min "
               f"(raw {raw:.0f}): {sport}")
        checks.append(_check("inferred_sport", "adjusted" if sport == "running" else "excluded", spm, run_cad,
                             None, "steps/min",
                             "counted as running" if sport == "running" else "excluded from running load",
                             why, "run_min_cadence_spm"))
        return SportDecision(sport, sport == "running", "inferred", 0.7, why, checks)

    no_cadence = not e.median_cadence_spm  # None, or a sensor writing 0 (gait then from speed alone)
    max_gct = threshold("run_max_gct_ms", overrides)
    if no_cadence and e.median_gct_ms is not None and e.median_gct_ms > max_gct:
        # gait from speed alone would call a brisk walk or a hike 'run'; a contact time sensor
        # that reads walking stances (median above run_max_gct_ms) says otherwise
        why = (f"no sport in the file and no cadence; median ground contact time {e.median_gct_ms:.0f} ms "
               f"is a walking stance (running stays under {max_gct:.0f} ms): walking")
        checks.append(_check("inferred_sport", "excluded", e.median_gct_ms, None, max_gct, "ms",
                             "excluded from running load", why, "run_max_gct_ms"))
        return SportDecision("walking", False, "inferred", 0.8, why, checks)

    share = _run_share(e)
    if e.median_cadence_spm is None and speed is None:
        share = None  # gait from neither cadence nor speed (every moving sample 'walk'): no evidence
    min_share = threshold("infer_run_share", overrides)
    rw_share = threshold("infer_run_walk_min_share", overrides)
    if share is not None:
        with_cad = e.median_cadence_spm is not None
        run_walk = rw_share <= share < min_share
        if share >= min_share:
            strength = (share - min_share) / (1 - min_share) if min_share < 1 else 1.0
            tname, low = "infer_run_share", min_share
        else:
            strength = (rw_share - share) / rw_share if rw_share > 0 else 1.0
            tname, low = "infer_run_walk_min_share", rw_share
        conf = 0.5 + 0.5 * max(0.0, min(1.0, strength))
        if not with_cad:
            conf = min(conf, 0.8)
        if run_walk:
            conf = 0.5
        basis = "cadence" if with_cad else "speed (no cadence)"
        if share >= min_share or run_walk:
            sport, effect = "running", "counted as running"
        else:
            sport, effect = "walking", "excluded from running load"
        speed_txt = f", median moving speed {speed:.1f} m/s" if speed is not None else ""
        why = (f"no sport in the file; {share:.0%} of the moving time is running gait (by {basis})"
               f"{speed_txt}: {'running (a run-walk)' if run_walk else sport}")
        checks.append(_check("inferred_sport", "adjusted" if sport == "running" else "excluded", share,
                             low, None, "fraction", effect, why, tname))
        return SportDecision(sport, sport == "running", "inferred", round(conf, 3), why, checks)

    if e.sparse_logger and speed is not None and speed > threshold("moving_min_speed_mps", overrides):
        run_speed = threshold("run_min_speed_mps", overrides)
        if no_cadence and speed >= run_speed:
            # footfall heuristic: running watches and apps record every 1-8 s; a track with a
            # point every 15-60 s and no cadence is a GPS logger or a route tool, and at running
            # speed it is as likely a hike with a fast stretch or a mountain-bike ride as a run
            why = (f"no sport in the file and no cadence; a sparse logger (a sample every "
                   f"{e.median_sample_interval_s:.0f} s) at {speed:.1f} m/s could be a run, a hike or "
                   f"a ride: not counted as running load (footfall heuristic; "
                   f"`footfall activity sport ID running` counts it)")
            checks.append(_check("inferred_sport", "excluded", e.median_sample_interval_s, None,
                                 threshold("pause_gap_s", overrides), "s", "excluded from running load",
                                 why, "pause_gap_s"))
            return SportDecision(None, False, "inferred", 0.3, why, checks)
        sport = "running" if speed >= run_speed else "walking"
        why = (f"no sport in the file; a sparse logger (a sample every {e.median_sample_interval_s:.0f} s) "
               f"at {speed:.1f} m/s over {_duration(e.moving_time_s)} of moving time: {sport}")
        checks.append(_check("inferred_sport", "adjusted" if sport == "running" else "excluded", speed,
                             run_speed, None, "m/s",
                             "counted as running" if sport == "running" else "excluded from running load",
                             why, "run_min_speed_mps"))
        return SportDecision(sport, sport == "running", "inferred", 0.6, why, checks)

    why = "no sport in the file and no speed, cadence or gait to infer one: not counted as a run"
    checks.append(_check("inferred_sport", "skipped", effect="excluded from running load", detail=why))
    return SportDecision(None, False, "none", 0.0, why, checks)
