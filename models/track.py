"""Track cleaning: which GPS positions are real, and the distance they cover (issue 13).

CONTRACT (fixed): pure numpy, no polars frames needed.

``clean_track(seconds, lat_deg, lon_deg, *, max_speed_mps, overrides=None, steps=None) -> TrackResult``
    ``seconds``: epoch seconds per record (NaN when untimed), in record order; lat/lon in
    degrees (NaN where a record has no position). Drops positions that are impossible for the
    activity: duplicate and out-of-order timestamps, steps faster than ``max_speed_mps`` (the
    sport's ceiling, from ``models/thresholds.py``), out-and-back jumps (a spike that returns),
    interleaved position streams. ``keep`` is aligned with the input (False for a dropped or
    unpositioned record). Distances are haversine sums (``ingest.geo.haversine_m``). ``steps``
    (optional, a ``Steps`` of the same lat/lon) shares the haversine steps between cleanings of
    one track with different ceilings (``models.summary``); the result is the same without it.

``cumulative_distance_m(distance_m) -> float | None``
    The distance a cumulative counter covered, robust to backwards jitter (a 2 Hz counter that
    steps back and forth must not add its jitter) and to a reset to 0 (nothing lost).

``speed_ceiling_mps(sport, overrides=None) -> float``
    The fastest plausible step speed for a sport (running/walking/hiking on foot; cycling;
    unknown), from models/thresholds.py.

The rules, in the order they run (each position is dropped, and counted, by the first rule that
drops it; every threshold is in models/thresholds.py, block "track cleaning"; all are footfall
heuristics except the on-foot speed ceiling, from Bolt's 2009 100 m peak speed):

1. ``out_of_order``: the positioned, timed records keep the longest run of non-decreasing
   timestamps (so one record stamped an hour late drops that one record, not the rest).
   Untimed positions are not time-checked (rules 4-5 use geometry only around them).
2. ``duplicate_time``: records less than ``track_same_time_s`` apart share one timestamp; the
   position nearest the previous kept one is kept (two sources stamping 1 ms apart, a 2 Hz file
   with whole-second timestamps).
3. ``out_and_back``: a position at least ``track_spike_min_m`` from both its kept neighbours
   while those neighbours are closer together than ``track_spike_return_ratio`` of the shorter
   leg, and the detour through it is faster than ``track_spike_speed_fraction`` of the ceiling
   (when a neighbour is untimed: geometry only, and both legs are at least
   ``track_spike_untimed_step_ratio`` times the track's median step). Repeated until no spike
   is left.
4. ``interleaved``: over a sliding window of ``track_interleave_window`` steps, the
   point-to-point path is ``track_interleave_ratio`` times longer than the path over every other
   point, with a mean step of at least ``track_interleave_min_step_m`` (a zig-zag between two
   sources a few tens of metres apart). In such a region the positions are split into two
   streams (each position joins the stream whose last position is nearer) and the stream that
   continues the track before and after the region is kept (else the one with more positions).
   A region whose smaller stream has fewer than 3 positions is not two streams (left to rule 5).
5. ``speed_ceiling``: the longest chain of positions in which every step is at most
   ``max_speed_mps`` (each position may connect to any of the ``track_lookback_points``
   previous ones; dynamic programming, so a burst of bad fixes is dropped whichever side of it
   the track starts). A chain break longer than the lookback is kept, not guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ingest.geo import haversine_m, haversine_radians_m
from models.cadence import is_foot_sport
from models.thresholds import value as threshold

#: the ``dropped`` keys, in the order the rules run
REASONS = ("out_of_order", "duplicate_time", "out_and_back", "interleaved", "speed_ceiling")


@dataclass(frozen=True)
class TrackResult:
    keep: np.ndarray  # bool per record: a position that is kept
    distance_raw_m: float | None  # haversine over every positioned record (record order)
    distance_clean_m: float | None  # haversine over the kept records
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> positions dropped
    max_step_speed_raw_mps: float | None = None  # fastest step before cleaning


class Steps:
    """Haversine distances between the positions of one track, computed once per set of points.

    ``steps(idx, off)[q]`` is ``haversine_m`` from position ``idx[q]`` to ``idx[q + off]``: the
    rules below (and both cleanings of an activity, see ``models.summary``) ask for the same
    steps over the same points again and again (consecutive kept points, every other one), so
    each is computed once. Elementwise the same numpy arithmetic on the same values as calling
    ``haversine_m`` on those pairs directly, so the distances are the same to the bit.
    """

    def __init__(self, lat, lon):
        self.source = (lat, lon)  # the objects given (``clean_track`` checks it was given these)
        self.lat = np.asarray(lat, dtype=float).reshape(-1)
        self.lon = np.asarray(lon, dtype=float).reshape(-1)
        self._memo: dict[tuple[bytes, int], np.ndarray] = {}
        self._per_point = None  # (radians(lat), radians(lon), cos(radians(lat))), when first asked

    def steps(self, idx: np.ndarray, off: int) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.intp)
        key = (idx.tobytes(), off)
        d = self._memo.get(key)
        if d is None:
            d = self._haversine(idx[:-off], idx[off:])
            if len(self._memo) > 64:  # a track that keeps changing: no unbounded growth
                self._memo.clear()
            self._memo[key] = d
        return d

    def _haversine(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``haversine_m(lat[a], lon[a], lat[b], lon[b])`` with its per-point terms (radians,
        the cosine of the latitude) computed once per point rather than once per pair, then
        gathered (``ingest.geo.haversine_radians_m``: the same operations, the same bits;
        tests/models/test_speed_chain.py compares them). Two steps a point (offsets 1 and 2)
        share them: ~40% of the haversine."""
        if self._per_point is None:
            p = np.radians(self.lat)
            self._per_point = (p, np.radians(self.lon), np.cos(p))
        p, lam, cos_p = self._per_point
        return haversine_radians_m(p[a], lam[a], cos_p[a], p[b], lam[b], cos_p[b])


def _haversine_sum(lat: np.ndarray, lon: np.ndarray, steps: Steps | None = None,
                   at: np.ndarray | None = None) -> float | None:
    """Haversine length over the positioned points of ``lat``/``lon`` (``steps`` with ``at``:
    ``lat``/``lon`` are ``steps.lat[at]``/``steps.lon[at]``, and the steps come from there)."""
    have = np.flatnonzero(~np.isnan(lat) & ~np.isnan(lon))
    if len(have) < 2:
        return None
    if steps is not None:
        return float(np.nansum(steps.steps(at[have], 1)))
    a, b = have[:-1], have[1:]
    return float(np.nansum(haversine_m(lat[a], lon[a], lat[b], lon[b])))


def _max_step_speed(t: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                    steps: Steps | None = None) -> float | None:
    """Fastest step between consecutive positioned records with a positive time step."""
    have = np.flatnonzero(~np.isnan(lat) & ~np.isnan(lon))
    if len(have) < 2:
        return None
    a, b = have[:-1], have[1:]
    dt = t[b] - t[a]
    ok = dt > 0
    if not np.any(ok):
        return None
    if steps is not None:
        return float(np.max(steps.steps(have, 1)[ok] / dt[ok]))
    return float(np.max(haversine_m(lat[a[ok]], lon[a[ok]], lat[b[ok]], lon[b[ok]]) / dt[ok]))


def clean_track(seconds, lat_deg, lon_deg, *, max_speed_mps: float, overrides=None,
                steps: Steps | None = None) -> TrackResult:
    """The positions that are possible for the activity, and the distance before and after.

    ``steps``: a ``Steps`` of these same ``lat_deg``/``lon_deg`` (float arrays), to share the
    haversine steps between cleanings of one track with different ceilings; same result.
    """
    lat = np.asarray(lat_deg, dtype=float).reshape(-1)
    lon = np.asarray(lon_deg, dtype=float).reshape(-1)
    t = np.asarray(seconds, dtype=float).reshape(-1)
    if not (t.size == lat.size == lon.size):
        raise ValueError(f"seconds, lat_deg, lon_deg differ in length: {t.size}, {lat.size}, {lon.size}")
    if steps is None or steps.source[0] is not lat_deg or steps.source[1] is not lon_deg:
        steps = Steps(lat, lon)
    positioned = ~np.isnan(lat) & ~np.isnan(lon)
    keep = positioned.copy()
    dropped = {r: 0 for r in REASONS}

    def drop(idx: np.ndarray, reason: str) -> None:
        idx = np.asarray(idx, dtype=int)
        if idx.size:
            keep[idx] = False
            dropped[reason] += int(idx.size)

    drop(_out_of_order(t, keep), "out_of_order")
    drop(_duplicate_times(t, lat, lon, keep, threshold("track_same_time_s", overrides)), "duplicate_time")
    drop(_out_and_back(t, lat, lon, keep, max_speed_mps, overrides, steps), "out_and_back")
    drop(_interleaved(lat, lon, keep, overrides, steps), "interleaved")
    drop(_speed_chain(t, lat, lon, keep, max_speed_mps, int(threshold("track_lookback_points", overrides)),
                      steps), "speed_ceiling")

    kept = np.flatnonzero(keep)
    clean = _haversine_sum(lat[kept], lon[kept], steps, kept) if kept.size else None
    return TrackResult(
        keep=keep,
        distance_raw_m=_haversine_sum(lat, lon, steps, np.arange(lat.size)),
        distance_clean_m=clean,
        dropped={r: n for r, n in dropped.items() if n},
        max_step_speed_raw_mps=_max_step_speed(t, lat, lon, steps),
    )


# --- 1. out of order ---------------------------------------------------------------------

def _out_of_order(t: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Indices of timed kept records outside the longest non-decreasing run of timestamps."""
    idx = np.flatnonzero(keep & ~np.isnan(t))
    if idx.size < 2 or np.all(np.diff(t[idx]) >= 0):
        return np.zeros(0, dtype=int)
    vals = t[idx]
    # longest non-decreasing subsequence (patience sorting, O(n log n)), earliest-ending ties
    tails: list[float] = []
    tail_pos: list[int] = []
    prev = np.full(vals.size, -1)
    for i, v in enumerate(vals):
        k = int(np.searchsorted(tails, v, side="right"))
        if k == len(tails):
            tails.append(v)
            tail_pos.append(i)
        else:
            tails[k] = v
            tail_pos[k] = i
        prev[i] = tail_pos[k - 1] if k > 0 else -1
    in_seq = np.zeros(vals.size, dtype=bool)
    i = tail_pos[-1]
    while i >= 0:
        in_seq[i] = True
        i = prev[i]
    return idx[~in_seq]


# --- 2. duplicate timestamps -------------------------------------------------------------

def _duplicate_times(t, lat, lon, keep, same_s: float) -> np.ndarray:
    """Indices dropped so that kept timed positions are at least ``same_s`` apart."""
    idx = np.flatnonzero(keep & ~np.isnan(t))
    if idx.size < 2 or np.all(np.diff(t[idx]) >= same_s):
        return np.zeros(0, dtype=int)
    out: list[int] = []
    last_kept = -1  # the previous kept position (index into the record arrays)
    g = 0
    while g < idx.size:
        h = g + 1
        while h < idx.size and t[idx[h]] - t[idx[g]] < same_s:
            h += 1
        group = idx[g:h]
        if group.size > 1:
            if last_kept >= 0:
                d = haversine_m(lat[last_kept], lon[last_kept], lat[group], lon[group])
                choice = int(group[int(np.argmin(d))])
            else:
                choice = int(group[0])
            out.extend(int(i) for i in group if i != choice)
            last_kept = choice
        else:
            last_kept = int(group[0])
        g = h
    return np.asarray(out, dtype=int)


# --- 3. interleaved streams --------------------------------------------------------------

def _interleaved(lat, lon, keep, overrides, steps: Steps | None = None) -> np.ndarray:
    """Indices of the second stream wherever two position streams alternate point by point."""
    idx = np.flatnonzero(keep)
    w = int(threshold("track_interleave_window", overrides))
    n = idx.size
    if n < w + 2 or w < 2:
        return np.zeros(0, dtype=int)
    la, lo = lat[idx], lon[idx]
    steps = steps or Steps(lat, lon)
    s1 = np.r_[0.0, steps.steps(idx, 1)]  # s1[k]: k-1 -> k
    s2 = np.r_[0.0, 0.0, steps.steps(idx, 2)]  # s2[k]: k-2 -> k
    c1, c2 = np.cumsum(s1), np.cumsum(s2)
    a = np.arange(0, n - w)  # window = points a .. a+w (w steps)
    b = a + w
    path1 = c1[b] - c1[a]
    path2 = (c2[b] - c2[a + 1]) / 2.0  # both parities over every other point, halved
    ratio_min = threshold("track_interleave_ratio", overrides)
    step_min = threshold("track_interleave_min_step_m", overrides)
    with np.errstate(divide="ignore", invalid="ignore"):
        zig = (path1 > ratio_min * path2) & (path1 / w >= step_min)
    if not np.any(zig):
        return np.zeros(0, dtype=int)
    flagged = np.zeros(n, dtype=bool)
    for s in np.flatnonzero(zig):
        flagged[s: s + w + 1] = True
    out: list[int] = []
    starts = np.flatnonzero(flagged & ~np.r_[False, flagged[:-1]])
    ends = np.flatnonzero(flagged & ~np.r_[flagged[1:], False])
    for s, e in zip(starts, ends):
        region = np.arange(s, e + 1)
        drop_local = _second_stream(la, lo, region, s - 1 if s > 0 else None, e + 1 if e + 1 < n else None)
        out.extend(int(idx[k]) for k in drop_local)
    return np.asarray(out, dtype=int)


def _second_stream(la, lo, region, before, after) -> list[int]:
    """Split ``region`` into two streams (nearest last position) and return the one to drop."""
    streams: list[list[int]] = [[int(region[0])], [int(region[1])]]
    for k in region[2:]:
        d = [haversine_m(la[s[-1]], lo[s[-1]], la[k], lo[k]) for s in streams]
        streams[int(np.argmin(d))].append(int(k))

    def context_cost(s: list[int]) -> float:
        cost = 0.0
        if before is not None:
            cost += float(haversine_m(la[before], lo[before], la[s[0]], lo[s[0]]))
        if after is not None:
            cost += float(haversine_m(la[s[-1]], lo[s[-1]], la[after], lo[after]))
        return cost

    if min(len(s) for s in streams) < 3:  # not two streams alternating: a lone bad fix
        return []
    if before is not None or after is not None:
        costs = [context_cost(s) for s in streams]
        keep_i = int(np.argmin(costs))
    else:
        keep_i = 0 if len(streams[0]) >= len(streams[1]) else 1
    return streams[1 - keep_i]


# --- 4. out-and-back spikes --------------------------------------------------------------

def _out_and_back(t, lat, lon, keep, max_speed_mps, overrides, steps: Steps | None = None) -> np.ndarray:
    spike_m = threshold("track_spike_min_m", overrides)
    back = threshold("track_spike_return_ratio", overrides)
    fast = threshold("track_spike_speed_fraction", overrides) * max_speed_mps
    untimed_ratio = threshold("track_spike_untimed_step_ratio", overrides)
    work = keep.copy()
    out: list[int] = []
    steps = steps or Steps(lat, lon)
    while True:
        idx = np.flatnonzero(work)
        if idx.size < 3:
            break
        i, j, k = idx[:-2], idx[1:-1], idx[2:]
        s1 = steps.steps(idx, 1)
        a, b = s1[:-1], s1[1:]  # i -> j, j -> k
        c = steps.steps(idx, 2)  # i -> k
        legs = np.minimum(a, b)
        span = t[k] - t[i]
        with np.errstate(divide="ignore", invalid="ignore"):
            speed = (a + b) / span
        timed = ~np.isnan(span)
        quick = (span <= 0) | (speed > fast)
        if not timed.all():
            # untimed: geometry only, so the legs must also dwarf the track's usual step (the
            # median, ~10% of this rule's time, is taken only when a triple is untimed)
            median_step = float(np.median(np.r_[a[:1], b])) if b.size else 0.0
            far = legs >= untimed_ratio * median_step
            quick = np.where(timed, quick, far)
        spike = (legs >= spike_m) & (c < back * legs) & quick
        if not np.any(spike):
            break
        # drop the worst spike of each run of adjacent candidates, then look again
        cand = np.flatnonzero(spike)
        score = (a + b - c)[cand]
        taken = np.zeros(spike.size + 2, dtype=bool)  # taken[q + 1]: candidate q is dropped
        chosen: list[int] = []
        for q in cand[np.argsort(-score, kind="stable")]:
            if not (taken[q] or taken[q + 2]):  # neither neighbour is dropped this round
                taken[q + 1] = True
                chosen.append(int(q))
        hit = j[np.asarray(chosen, dtype=int)]
        work[hit] = False
        out.extend(int(h) for h in hit)
    return np.asarray(out, dtype=int)


# --- 5. speed ceiling --------------------------------------------------------------------

def _within_ceiling(d: np.ndarray, dt: np.ndarray, max_speed_mps: float) -> np.ndarray:
    """Per step of ``d`` metres in ``dt`` seconds: within the speed ceiling (an untimed step,
    NaN ``dt``, is; a step that does not move is, whatever its time)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isnan(dt), True, (dt > 0) & (d <= max_speed_mps * dt) | (d == 0))


class _FeasibleRows:
    """``feas[q]`` of ``_speed_chain`` (``feas[q][o - 1]``: the step from point ``q - o`` to
    point ``q`` is within the ceiling, for ``o`` in 1..lb), computed for the rows its loop
    reads: those at and after a too-fast step, in blocks of ``BLOCK`` rows. Each value is
    ``feasible(o)[q]``'s: the same elementwise haversine (``Steps``) and comparison on the same
    two points. When too-fast steps are many (their blocks would cover a good part of the
    track), every row at once through ``feasible``, as before (issue 17: the whole matrix was
    ~5% of a decode worker's CPU on the bench archive; few tracks have more than a handful of
    too-fast steps).
    """

    BLOCK = 32

    def __init__(self, feasible, f1, steps, idx, tt, max_speed_mps, lb, n, n_bad):
        self.feasible, self.f1, self.steps, self.idx, self.tt = feasible, f1, steps, idx, tt
        self.max_speed_mps, self.lb, self.n = max_speed_mps, lb, n
        self.blocks: dict[int, list] = {}
        self.all_rows = None
        if n_bad * self.BLOCK * 4 >= n:
            self.all_rows = self._every_row()

    def _every_row(self) -> list:
        feas = np.zeros((self.n, self.lb), dtype=bool)
        for o in range(1, self.lb + 1):
            feas[:, o - 1] = self.f1 if o == 1 else self.feasible(o)
        return feas.tolist()

    def row(self, q: int) -> list:
        if self.all_rows is not None:
            return self.all_rows[q]
        b = q // self.BLOCK
        block = self.blocks.get(b)
        if block is None:
            block = self.blocks[b] = self._block(b * self.BLOCK, min(self.n, (b + 1) * self.BLOCK))
        return block[q - b * self.BLOCK]

    def _block(self, q0: int, q1: int) -> list:
        qs = np.arange(q0, q1)[:, None]
        src = qs - np.arange(1, self.lb + 1)[None, :]  # point q - o
        valid = src >= 0
        to, fr = np.broadcast_to(qs, src.shape)[valid], src[valid]
        a, b = self.idx[fr], self.idx[to]
        st = self.steps
        d = haversine_m(st.lat[a], st.lon[a], st.lat[b], st.lon[b])
        out = np.zeros(src.shape, dtype=bool)
        out[valid] = _within_ceiling(d, self.tt[to] - self.tt[fr], self.max_speed_mps)
        out[:, 0] = self.f1[q0:q1]  # offset 1: the very values the loop's fast path reads
        return out.tolist()


def _speed_chain(t, lat, lon, keep, max_speed_mps, lookback: int, steps: Steps | None = None) -> np.ndarray:
    """Indices outside the longest chain of positions whose steps are all within the ceiling."""
    idx = np.flatnonzero(keep)
    n = idx.size
    if n < 2:
        return np.zeros(0, dtype=int)
    tt = t[idx]
    steps = steps or Steps(lat, lon)

    def feasible(off: int) -> np.ndarray:
        """ok[q] for the step from point q-off to point q (q >= off)."""
        ok = _within_ceiling(steps.steps(idx, off), tt[off:] - tt[:-off], max_speed_mps)
        return np.r_[np.zeros(off, dtype=bool), ok]

    f1 = feasible(1)
    if np.all(f1[1:]):
        return np.zeros(0, dtype=int)
    lb = max(1, min(lookback, n - 1))
    # best[q]: kept positions in the best chain ending at q; a jump (no feasible predecessor in
    # the lookback) costs lb + 1 positions, so it is taken only when nothing else connects
    # plain Python floats and lists: the same arithmetic as numpy's, without a numpy call (and
    # its overhead) for each of the lookback's few values at every point
    best = [1.0] * n
    prev = [-1] * n
    penalty = lb + 1.0
    f1_list = f1.tolist()
    # where the step from the point before is too fast: only there (and until the chain is back
    # on top of its lookback window) can the best predecessor be other than the point before
    bad = np.flatnonzero(~f1[1:]) + 1
    rows = _FeasibleRows(feasible, f1, steps, idx, tt, max_speed_mps, lb, n, bad.size)
    next_bad = 0  # index into bad
    q = 1
    while q < n:
        m = min(q, lb)
        if f1_list[q] and best[q - 1] >= max(best[q - m:q]):
            # the point before is feasible and at least as good as any other in the window, so
            # it wins (ties go to the nearest) here and at every following point up to the next
            # too-fast step: each adds one to the chain (exactly what the loop below computes)
            while next_bad < bad.size and bad[next_bad] <= q:
                next_bad += 1
            end = int(bad[next_bad]) if next_bad < bad.size else n
            base = best[q - 1]
            best[q:end] = [base + k for k in range(1, end - q + 1)]
            prev[q:end] = range(q - 1, end - 1)
            q = end
            continue
        ok = rows.row(q)
        top = None
        o_top = 0
        for o in range(m):  # offsets 1..m, nearest first
            v = best[q - 1 - o] + 1.0 if ok[o] else best[q - 1 - o] + 1.0 - penalty
            if top is None or v > top:  # ties: the nearest predecessor (numpy's argmax)
                top, o_top = v, o
        if top > 1.0 or (top == 1.0 and ok[o_top]):
            best[q] = top
            prev[q] = q - 1 - o_top
        q += 1
    best = np.asarray(best)
    end = int(np.argmax(best))
    on = np.zeros(n, dtype=bool)
    q = end
    while q >= 0:
        on[q] = True
        q = prev[q]
    return idx[~on]


# --- distance of a cumulative counter, speed ceilings ------------------------------------

def cumulative_distance_m(distance_m) -> float | None:
    """Distance a cumulative counter covered: the rise of its running maximum, per leg.

    A backwards step is jitter (or a fix the device revised) unless it falls to less than
    half of the running maximum, which is a reset (a new multisport leg, a counter restarted):
    then a new leg starts from there and the legs' rises add up. Within a leg the running
    maximum ignores the jitter, so a 2 Hz counter that steps back and forth covers last - first,
    not the sum of its positive steps.
    """
    dist = np.asarray(distance_m, dtype=float).reshape(-1)
    have = dist[~np.isnan(dist)]
    if have.size == 0:
        return None
    total = 0.0
    while have.size:
        peak = np.maximum.accumulate(have)
        # a reset: a fall to under half of the leg's (positive) maximum so far
        reset = np.flatnonzero((have[1:] < 0.5 * peak[:-1]) & (peak[:-1] > 0)) + 1
        end = int(reset[0]) if reset.size else have.size
        total += float(peak[end - 1] - have[0])
        have = have[end:]
    return total


def speed_ceiling_mps(sport: str | None, overrides=None) -> float:
    """Fastest plausible step for the sport: on foot ``track_max_speed_foot_mps``, else (cycling,
    any other sport, unknown) the generous ``track_max_speed_cycling_mps``."""
    if is_foot_sport(sport) is True:
        return threshold("track_max_speed_foot_mps", overrides)
    return threshold("track_max_speed_cycling_mps", overrides)
