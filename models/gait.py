"""Time per sample, speed, moving/stopped, and run/walk gait for one activity's records.

All functions take the records of ONE activity in time order (``record_index`` order) and return
values aligned with them. Units: seconds, metres, metres per second, steps per minute.

Choices (thresholds from ``models/thresholds.py``; none is validated, see SCIENCE.md):

- **Time per sample** (``sample_durations``): a sample covers the interval since the previous
  sample, ``dt_i = t_i - t_(i-1)`` (s). FIT records carry values accumulated up to their
  timestamp (cumulative distance; cadence and speed averaged over the last second), so the
  backward interval is the one they describe. Records sharing a timestamp (a 2 Hz file with
  whole-second timestamps) share the interval that ends at it: each gets ``dt / m`` for ``m``
  records, so 2 Hz and 1 Hz recordings of one run give the same time and steps. A record stamped
  earlier than one before it gets 0 and the next is measured from the latest time seen. A gap
  longer than ``pause_gap_s`` is a pause (``dt = 0``, counted nowhere) when the distance covered
  across it shows no movement (slower than ``moving_min_speed_mps``) or when it is longer than
  ``moving_gap_max_s``; otherwise (a sparse logger writing a point every 30-60 s, smart
  recording whose position advanced) the gap is moving time. A gap of any length in which the
  device recorded a timer stop is a pause (so moving time never exceeds the timer). When neither
  the distance across a gap nor the stop events are known, a gap longer than ``pause_gap_s`` is
  a pause, as before. The first sample gets 0; samples without a timestamp get 0.
- **Speed** (``derive_speed``): the file's ``speed_mps`` where present (the device filters it);
  otherwise the distance covered (cumulative ``distance_m``, else the haversine between
  positions) over ``speed_window_s`` of active time centred on the sample. Across a pause (or a
  non-positive time step) there is no speed; those samples take the next known speed (then the
  previous one).
- **Moving** (``moving_mask``): speed > ``moving_min_speed_mps``; on foot, a cadence of exactly
  0 below ``run_min_speed_mps`` is standing (GPS drift at a crossing is not walking). When the
  activity carries no positive speed at all (treadmill without foot pod, time + heart rate only)
  a sample is moving when its raw cadence is > 0; with neither, ``is_moving`` is NULL.
- **Gait** (``classify_gait``): a moving sample is ``run`` when its cadence is
  >= ``run_min_cadence_spm``; without a (non-zero) cadence it is ``run`` when its speed is
  >= ``run_min_speed_mps``; otherwise ``walk``. A sample that is not moving is ``stop``.
- **Smoothing** (``smooth_gait``): the moving samples (stops and pauses are transparent) form
  alternating run and walk bouts. The shortest bout lasting less than ``gait_min_bout_s`` takes
  its neighbours' label and merges with them, repeated until every bout is long enough (or one
  bout is left). So a 3 s walk break inside a run is run time, not a walk interval. The
  ``records.gait`` column holds the smoothed label; ``run_time_s`` and ``walk_time_s`` sum ``dt``
  over it.
- **Run-walk intervals** (``run_walk_intervals``): the number of walk bouts that have a run bout
  before AND after them (walk breaks, i.e. run -> walk -> run alternations). A walk before the
  first run (warm-up) or after the last run (cool-down) is a bout but not an interval: "10 min
  run / 2 min walk x 3" gives 3 walk bouts and 2 intervals.
"""

from __future__ import annotations

import heapq

import numpy as np
import polars as pl

from ingest.geo import haversine_m  # noqa: F401  (models.gait.haversine_m: one haversine in footfall)
from models.thresholds import value as threshold


def sample_durations(
    recorded_at: pl.Series,
    *,
    step_m: np.ndarray | None = None,
    stops_s: np.ndarray | None = None,
    overrides: dict[str, float] | None = None,
) -> np.ndarray:
    """Seconds each sample covers: time since the previous sample, 0 after a pause or first.

    ``recorded_at`` is a datetime series in time order. ``step_m`` (optional, aligned with it):
    metres covered since the previous sample (NaN unknown). ``stops_s`` (optional): epoch seconds
    of the device's timer stop events; ``None`` when the file carries none. See the module
    docstring for the rule. NULL timestamps give 0 (and do not break the chain: the next timed
    sample is measured from the last timed one).
    """
    secs = _epoch_seconds(recorded_at)
    if step_m is not None and len(step_m) != len(secs):
        raise ValueError(f"step_m has {len(step_m)} values for {len(secs)} samples")
    out = np.zeros(len(secs))
    have = np.flatnonzero(~np.isnan(secs))
    if len(have) < 2:
        return out
    t = secs[have]
    latest = np.maximum.accumulate(t)
    d = np.r_[0.0, t[1:] - latest[:-1]]  # time since the latest earlier timestamp
    advance = d > 0
    advance[0] = True  # the first timed record opens the first group (whose interval is 0)
    d[0] = 0.0
    # group = an advancing record and the records after it stamped with the same time
    same = (d == 0) & ~advance
    gid = np.maximum.accumulate(np.where(advance, np.arange(len(t)), 0))
    members = np.where(advance | same, 1, 0)
    size = np.bincount(gid, weights=members, minlength=len(t))
    starts = np.flatnonzero(advance)
    span = d[starts]  # interval ending at each group's timestamp
    pause = _pauses(t, starts, gid, members, span, have, step_m, stops_s, overrides)
    share = np.where(pause, 0.0, span / np.maximum(size[starts], 1))
    per_group = np.zeros(len(t))
    per_group[starts] = share
    out[have] = np.where(members > 0, per_group[gid], 0.0)
    return out


def _pauses(t, starts, gid, members, span, have, step_m, stops_s, overrides) -> np.ndarray:
    """Whether each group's interval (``span``) is a pause; see ``sample_durations``."""
    long_gap = span > threshold("pause_gap_s", overrides)
    if not np.any(long_gap) and stops_s is None:
        return long_gap
    # metres covered across each group's interval: the group's steps (NaN when none is known)
    covered = np.full(len(starts), np.nan)
    if step_m is not None:
        s = np.asarray(step_m, dtype=float).reshape(-1)[have]
        s = np.where(members > 0, s, np.nan)
        known = ~np.isnan(s)
        total = np.bincount(gid, weights=np.where(known, s, 0.0), minlength=len(t))
        count = np.bincount(gid, weights=known.astype(float), minlength=len(t))
        covered = np.where(count[starts] > 0, total[starts], np.nan)
    stopped = np.zeros(len(starts), dtype=bool)
    if stops_s is not None:
        stops = np.sort(np.asarray(stops_s, dtype=float).reshape(-1))
        stops = stops[~np.isnan(stops)]
        prev_t = t[starts] - span  # the latest timestamp before the group
        n_before = np.searchsorted(stops, prev_t, side="left")  # stops < prev_t
        n_upto = np.searchsorted(stops, t[starts], side="left")  # stops < group time
        stopped = n_upto > n_before  # a stop at or after prev_t and before the group's time
    with np.errstate(divide="ignore", invalid="ignore"):
        still = covered / span < threshold("moving_min_speed_mps", overrides)
    unknown = np.isnan(covered) & (stops_s is None)
    too_long = span > threshold("moving_gap_max_s", overrides)
    # a timer stop inside any gap is a pause (the device says so); a long gap needs evidence
    return stopped | (long_gap & ((still & ~np.isnan(covered)) | unknown | too_long))


def derive_speed(
    records: pl.DataFrame, dt_s: np.ndarray, *, overrides: dict[str, float] | None = None
) -> np.ndarray:
    """Speed in m/s per sample: ``speed_mps``, else distance over a centred time window.

    The distance steps come from the cumulative ``distance_m``, else the haversine between
    positions. GPS point-to-point speed is noisy (stuck fixes give 0, jumps give 60 m/s), so a
    sample's derived speed is the distance covered over ``speed_window_s`` of active time centred
    on it (at least its own interval). Active time is the sum of ``dt_s`` (0 across pauses), so
    a window never spans a pause and the jump across a pause is not distance. NaN where no speed
    can be known; gaps are filled from the next known speed, then the previous one.
    """
    n = records.height
    if n == 0:
        return np.zeros(0)
    given = _floats(records["speed_mps"])
    if not np.isnan(given).any():
        # every sample has the device's speed, which wins over the derived one wherever it is
        # known: the steps and the windowed speed would be computed for nothing (153 of 162
        # activities of the bench archive; ~0.2 ms a file)
        return _fill_nan(given)
    dist = _floats(records["distance_m"])
    step = _backward_steps(dist)
    if np.all(np.isnan(step)):
        lat, lon = _floats(records["latitude_deg"]), _floats(records["longitude_deg"])
        step = _backward_haversine(lat, lon)
    ok = (dt_s > 0) & ~np.isnan(step) & (step >= 0)
    derived = _windowed_speed(np.where(ok, step, 0.0), np.where(ok, dt_s, 0.0), ok,
                              threshold("speed_window_s", overrides))
    speed = np.where(np.isnan(given), derived, given)
    return _fill_nan(speed)


def _windowed_speed(step_m: np.ndarray, dt_s: np.ndarray, ok: np.ndarray, window_s: float) -> np.ndarray:
    """Distance / time over a centred window of active time; NaN where the sample has no step."""
    clock = np.cumsum(dt_s)
    covered = np.cumsum(step_m)
    idx = np.arange(len(clock))
    lo = np.searchsorted(clock, clock - window_s / 2, side="left")
    hi = np.searchsorted(clock, clock + window_s / 2, side="right") - 1
    lo = np.minimum(lo, np.maximum(idx - 1, 0))  # at least the sample's own interval
    hi = np.maximum(hi, idx)
    span = clock[hi] - clock[lo]
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = (covered[hi] - covered[lo]) / span
    return np.where(ok & (span > 0), speed, np.nan)


def moving_mask(
    speed_mps: np.ndarray,
    cadence_raw: np.ndarray,
    *,
    on_foot: bool = True,
    overrides: dict[str, float] | None = None,
) -> np.ndarray:
    """is_moving per sample as a float array: 1.0 moving, 0.0 stopped, NaN unknown.

    Speed > ``moving_min_speed_mps`` when the activity has any positive speed; otherwise raw
    cadence > 0 (treadmill without speed); otherwise unknown. On foot, a sample whose cadence is
    exactly 0 (no steps) and whose speed is below ``run_min_speed_mps`` is standing, whatever
    the GPS says (position drift while waiting at a crossing); a cadence of 0 at running speed is
    a sensor dropout and the speed decides. Not on foot (a bike coasts at cadence 0) only speed
    counts.
    """
    floor = threshold("moving_min_speed_mps", overrides)
    speed = np.asarray(speed_mps, dtype=float)
    cad = np.asarray(cadence_raw, dtype=float)
    if np.nanmax(np.append(speed, 0.0)) > 0:
        out = np.where(speed > floor, 1.0, 0.0)
        if on_foot:
            standing = (cad == 0) & (speed < threshold("run_min_speed_mps", overrides))
            out = np.where(standing, 0.0, out)
        return np.where(np.isnan(speed), np.nan, out)
    if np.nanmax(np.append(cad, 0.0)) > 0:
        out = np.where(cad > 0, 1.0, 0.0)
        return np.where(np.isnan(cad), 0.0, out)
    return np.full(len(speed), np.nan)


def classify_gait(
    is_moving: np.ndarray,
    cadence_spm: np.ndarray,
    speed_mps: np.ndarray,
    *,
    overrides: dict[str, float] | None = None,
) -> list[str | None]:
    """Raw (unsmoothed) gait per sample: 'run' | 'walk' | 'stop' | None (motion unknown).

    Moving and cadence >= ``run_min_cadence_spm`` -> run; moving without a non-zero cadence:
    speed >= ``run_min_speed_mps`` -> run; other moving samples -> walk; not moving -> stop.
    """
    return gait_labels(classify_gait_codes(is_moving, cadence_spm, speed_mps, overrides=overrides))


def classify_gait_codes(
    is_moving: np.ndarray,
    cadence_spm: np.ndarray,
    speed_mps: np.ndarray,
    *,
    overrides: dict[str, float] | None = None,
) -> np.ndarray:
    """``classify_gait`` as ``gait_codes`` (int8 ``GAIT_*``), without a label per sample:
    ``gait_codes(classify_gait(...))``, the labels' codes that ``smooth_gait_codes`` and the
    masks of ``models.summary`` read (coding the labels back was ~5% of a file's derive)."""
    run_cad = threshold("run_min_cadence_spm", overrides)
    run_speed = threshold("run_min_speed_mps", overrides)
    mv = np.asarray(is_moving, dtype=float)
    cad = np.asarray(cadence_spm, dtype=float)
    sp = np.asarray(speed_mps, dtype=float)
    with np.errstate(invalid="ignore"):
        has_cad = cad > 0  # False for NaN
        is_run = np.where(has_cad, cad >= run_cad, sp >= run_speed)  # NaN speed -> walk
    codes = np.where(np.isnan(mv), GAIT_NONE,
                     np.where(mv == 0, GAIT_STOP, np.where(is_run, GAIT_RUN, GAIT_WALK)))
    return codes.astype(np.int8)


def smooth_gait(
    gait: list[str | None], dt_s: np.ndarray, *, overrides: dict[str, float] | None = None
) -> list[str | None]:
    """Merge run/walk bouts shorter than ``gait_min_bout_s`` into their neighbours.

    Only 'run'/'walk' samples take part (stops and unknowns keep their label and do not split a
    bout). Bouts alternate, so a short bout's neighbours share a label: the short bout takes it,
    and the three become one bout. Shortest first; ties go to the earlier bout.
    """
    min_bout = threshold("gait_min_bout_s", overrides)
    idx, labels, starts, ends = _moving_runs(gait)
    if len(idx) == 0:
        return list(gait)
    out = np.asarray(gait, dtype=object)
    for label, first, last in _merged_bouts(dt_s, idx, labels, starts, ends, min_bout):
        out[idx[first : last + 1]] = label
    return out.tolist()


def smooth_gait_codes(
    codes: np.ndarray, dt_s: np.ndarray, *, overrides: dict[str, float] | None = None
) -> np.ndarray:
    """``smooth_gait`` on ``gait_codes``: ``gait_codes(smooth_gait(labels))`` from
    ``gait_codes(labels)`` (the same bouts and merges; a new array)."""
    min_bout = threshold("gait_min_bout_s", overrides)
    idx, labels, starts, ends = _moving_runs(None, codes=codes)
    out = np.array(codes, dtype=np.int8)
    for label, first, last in _merged_bouts(dt_s, idx, labels, starts, ends, min_bout) if len(idx) else ():
        out[idx[first : last + 1]] = GAIT_RUN if label == "run" else GAIT_WALK
    return out


def _merged_bouts(dt_s, idx, labels, starts, ends, min_bout: float) -> list[tuple[str, int, int]]:
    """``smooth_gait``'s merging of the bouts of ``_moving_runs`` (at least one): the bouts
    left, as (label, first, last position in ``idx``)."""
    # run-length bouts over the moving samples: [label, duration, first pos, last pos] in idx
    durs = _bout_seconds(dt_s, idx, starts).tolist()
    bouts: list[list] = [[lab, d, int(a), int(b)] for lab, d, a, b in zip(labels, durs, starts, ends)]
    n = len(bouts)
    prev = list(range(-1, n - 1))
    nxt = list(range(1, n + 1))
    nxt[-1] = -1
    alive = [True] * n
    heap = [(b[1], k) for k, b in enumerate(bouts)]
    heapq.heapify(heap)
    while heap:
        dur, k = heapq.heappop(heap)
        if not alive[k] or dur != bouts[k][1]:
            continue
        if dur >= min_bout or (prev[k] == -1 and nxt[k] == -1):
            break
        p, q = prev[k], nxt[k]
        keep = p if p != -1 else q  # the merged bout lives on in the earlier neighbour
        label = bouts[keep][0]
        first = bouts[p][2] if p != -1 else bouts[k][2]
        last = bouts[q][3] if q != -1 else bouts[k][3]
        total = bouts[k][1] + (bouts[p][1] if p != -1 else 0.0) + (bouts[q][1] if q != -1 else 0.0)
        for dead in (k, p, q):
            if dead != -1 and dead != keep:
                alive[dead] = False
        bouts[keep] = [label, total, first, last]
        # relink: keep's neighbours are the outer neighbours of the merged span
        left = prev[p] if p != -1 else -1
        right = nxt[q] if q != -1 else -1
        prev[keep], nxt[keep] = left, right
        if left != -1:
            nxt[left] = keep
        if right != -1:
            prev[right] = keep
        heapq.heappush(heap, (total, keep))
    return [(bouts[k][0], bouts[k][2], bouts[k][3]) for k in range(n) if alive[k]]


def gait_bouts(gait: list[str | None], dt_s: np.ndarray) -> pl.DataFrame:
    """Run/walk bouts over the moving samples (stops are transparent).

    Columns: ``gait`` ('run'|'walk'), ``first_index``/``last_index`` (positions in the records),
    ``duration_s`` (sum of ``dt`` of the bout's samples).
    """
    idx, labels, first, last = _moving_runs(gait)
    return pl.DataFrame(
        {
            "gait": labels,
            "first_index": idx[first],
            "last_index": idx[last],
            "duration_s": _bout_seconds(dt_s, idx, first),
        },
        schema={"gait": pl.Utf8, "first_index": pl.Int64, "last_index": pl.Int64, "duration_s": pl.Float64},
    )


def _bout_seconds(dt_s: np.ndarray, idx: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum of ``dt_s`` over each bout (bouts are consecutive runs of ``idx`` from ``starts``)."""
    if len(idx) == 0:
        return np.zeros(0)
    return np.add.reduceat(np.asarray(dt_s, dtype=float)[idx], starts)


#: ``gait_codes``: a small int per gait label; 0 for no label (None or "", as ``x or ""``)
GAIT_NONE, GAIT_RUN, GAIT_WALK, GAIT_STOP = 0, 1, 2, 3
_GAIT_CODES = {None: GAIT_NONE, "": GAIT_NONE, "run": GAIT_RUN, "walk": GAIT_WALK, "stop": GAIT_STOP}


#: ``gait_labels``: the label of each code (None for GAIT_NONE, as ``classify_gait`` says it)
_GAIT_LABELS = np.array([None, "run", "walk", "stop"], dtype=object)


def gait_labels(codes: np.ndarray) -> list[str | None]:
    """The labels (None, 'run', 'walk', 'stop') of ``gait_codes``."""
    return _GAIT_LABELS[np.asarray(codes, dtype=np.intp)].tolist()


def gait_codes(gait: list[str | None]) -> np.ndarray | None:
    """The labels as int8 codes (``GAIT_*``): one dict look-up per sample instead of a Python
    comparison per sample for each ``label == "run"`` on an object array (the masks of a file's
    gait were ~5% of a decode worker's CPU). None when a label is not one of these (the caller
    compares the labels themselves)."""
    try:
        return np.fromiter(map(_GAIT_CODES.__getitem__, gait), dtype=np.int8, count=len(gait))
    except (KeyError, TypeError):
        return None


def _moving_runs(gait: list[str | None] | None, codes: np.ndarray | None = None
                 ) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """The positions of the 'run'/'walk' samples and their run-length bouts: (positions, bout
    labels, first and last index of each bout into the positions). ``codes``: the labels'
    ``gait_codes`` when the caller has them (then ``gait`` is not read)."""
    if codes is None:
        codes = gait_codes(gait)
    if codes is None:
        g = np.asarray(gait, dtype=object)
        idx = np.flatnonzero((g == "run") | (g == "walk"))
    else:
        idx = np.flatnonzero((codes == GAIT_RUN) | (codes == GAIT_WALK))
    if len(idx) == 0:
        return idx, [], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    is_run = g[idx] == "run" if codes is None else codes[idx] == GAIT_RUN
    starts = np.flatnonzero(np.concatenate(([True], is_run[1:] != is_run[:-1])))
    ends = np.concatenate((starts[1:] - 1, [len(idx) - 1]))
    labels = np.where(is_run[starts], "run", "walk").tolist()
    return idx, labels, starts, ends


def run_walk_intervals(bouts: pl.DataFrame) -> int:
    """Walk bouts with a run bout before and after them (walk breaks inside a run)."""
    return run_walk_intervals_of(bouts["gait"].to_list())


def run_walk_intervals_of(labels: list[str]) -> int:
    """``run_walk_intervals`` on the bouts' labels, in order."""
    return sum(
        1
        for k, g in enumerate(labels)
        if g == "walk" and "run" in labels[:k] and "run" in labels[k + 1 :]
    )


# --------------------------------------------------------------------------------------------


def _epoch_seconds(ts: pl.Series) -> np.ndarray:
    if ts.dtype == pl.Null or ts.len() == 0:
        return np.full(ts.len(), np.nan)
    # the physical value of a Datetime("us") is its epoch in us: numpy's datetime64[us] view of
    # it, as int64, to float64 (the cast polars' Int64 -> Float64 makes), NaN under a NULL
    # (half the time of .to_physical().cast(pl.Float64).to_numpy(), 2-4 calls a file)
    s = ts.cast(pl.Datetime("us"))
    v = s.to_numpy()  # datetime64[us], NaT under a NULL
    if v.dtype != np.dtype("datetime64[us]"):  # pragma: no cover - another polars' conversion
        return s.to_physical().cast(pl.Float64).to_numpy() / 1e6
    nulls = s.null_count()
    out = v.view(np.int64).astype(np.float64)
    if nulls:
        ok = ~np.isnat(v)
        if int(v.size - ok.sum()) != nulls:  # a value that is NaT's own bit pattern
            ok = s.is_not_null().to_numpy()
        out[~ok] = np.nan
    return out / 1e6


def _floats(s: pl.Series) -> np.ndarray:
    # a Float64 series reaches numpy with NULL as NaN; copied (writable, not polars' memory)
    return np.array(s.cast(pl.Float64).to_numpy(), dtype=float)


def _backward_steps(cumulative: np.ndarray) -> np.ndarray:
    """Increment of a cumulative series since the previous non-NaN value (NaN if none)."""
    out = np.full(len(cumulative), np.nan)
    have = np.flatnonzero(~np.isnan(cumulative))
    if len(have) > 1:
        out[have[1:]] = np.diff(cumulative[have])
    return out


def _backward_haversine(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Metres from the previous positioned sample (NaN without positions)."""
    out = np.full(len(lat), np.nan)
    have = np.flatnonzero(~np.isnan(lat) & ~np.isnan(lon))
    if len(have) > 1:
        a, b = have[:-1], have[1:]
        out[b] = haversine_m(lat[a], lon[a], lat[b], lon[b])
    return out


def _fill_nan(x: np.ndarray) -> np.ndarray:
    """Fill NaN from the next known value, then from the previous one."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n == 0:
        return x.copy()
    known = ~np.isnan(x)
    if known.all() or not known.any():
        return x.copy()
    pos = np.arange(n)
    nxt = np.minimum.accumulate(np.where(known, pos, n)[::-1])[::-1]  # next known (n: none)
    prv = np.maximum.accumulate(np.where(known, pos, -1))  # previous known (-1: none)
    return x[np.where(nxt < n, nxt, prv)]
