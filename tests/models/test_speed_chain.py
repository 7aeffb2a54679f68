"""Issue 17: ``models.track._speed_chain`` skips the lookback scan where the chain cannot change
course (the step from the point before is within the ceiling and that point is the best of its
window), and must keep exactly the points the whole dynamic programme keeps.

``_reference`` is that programme written out plainly (every point scans its whole lookback, as
the function did before), run against the function on random broken tracks: jitter, single
spikes, block teleports, untimed and repeated times, dropped points, every lookback from 1 to
the default 32.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.track import Steps, _speed_chain
from models.thresholds import value as threshold


def _reference(t, lat, lon, keep, max_speed_mps, lookback):
    idx = np.flatnonzero(keep)
    n = idx.size
    if n < 2:
        return np.zeros(0, dtype=int)
    tt = t[idx]
    steps = Steps(lat, lon)

    def feasible(off):
        d = steps.steps(idx, off)
        dt = tt[off:] - tt[:-off]
        with np.errstate(divide="ignore", invalid="ignore"):
            ok = np.where(np.isnan(dt), True, (dt > 0) & (d <= max_speed_mps * dt) | (d == 0))
        return np.r_[np.zeros(off, dtype=bool), ok]

    if np.all(feasible(1)[1:]):
        return np.zeros(0, dtype=int)
    lb = max(1, min(lookback, n - 1))
    feas = np.stack([feasible(o) for o in range(1, lb + 1)], axis=1)
    best, prev, penalty = [1.0] * n, [-1] * n, lb + 1.0
    for q in range(1, n):
        cands = [best[q - 1 - o] + 1.0 - (0.0 if feas[q, o] else penalty) for o in range(min(q, lb))]
        o_top = int(np.argmax(cands))  # ties: the nearest predecessor
        if cands[o_top] > 1.0 or (cands[o_top] == 1.0 and feas[q, o_top]):
            best[q], prev[q] = cands[o_top], q - 1 - o_top
    on = np.zeros(n, dtype=bool)
    q = int(np.argmax(best))
    while q >= 0:
        on[q] = True
        q = prev[q]
    return idx[~on]


def _track(rng, n):
    t = np.cumsum(rng.choice([1.0, 1.0, 1.0, 2.0, 0.0, 5.0], size=n))
    if rng.random() < 0.1:
        t[rng.integers(0, n, size=3)] = np.nan
    lat = 47 + np.cumsum(rng.normal(0, 2e-5, size=n))
    lon = 8 + np.cumsum(rng.normal(0, 2e-5, size=n))
    k = int(rng.integers(0, max(1, n // 10)))
    hit = rng.integers(0, n, size=k)
    lat[hit] += rng.normal(0, 0.01, size=k)
    lon[hit] += rng.normal(0, 0.01, size=k)
    if rng.random() < 0.3:  # a block of points somewhere else
        a = int(rng.integers(0, n))
        lat[a:a + int(rng.integers(1, 80))] += 0.02
    return t, lat, lon, rng.random(n) > 0.05


@pytest.mark.parametrize("seed", range(4))
def test_speed_chain_keeps_what_the_whole_programme_keeps(seed):
    rng = np.random.default_rng(seed)
    default = int(threshold("track_lookback_points"))
    dropped_somewhere = 0
    for _ in range(150):
        t, lat, lon, keep = _track(rng, int(rng.integers(2, 500)))
        lookback = int(rng.choice([1, 2, 3, 5, default]))
        ceiling = float(rng.choice([3.0, 6.0, 12.0]))
        want = _reference(t, lat, lon, keep, ceiling, lookback)
        got = _speed_chain(t, lat, lon, keep, ceiling, lookback)
        assert np.array_equal(got, want), (seed, lookback, ceiling, got, want)
        dropped_somewhere += want.size > 0
    assert dropped_somewhere > 50  # the tracks do break the ceiling, or the test says nothing


def test_steps_are_haversine_m_to_the_bit():
    """``Steps`` computes the per-point terms of the haversine once per point: its steps must
    still be ``ingest.geo.haversine_m`` on the gathered pairs, bit for bit (NaN positions,
    repeated points, the poles, the antimeridian, any subset of points, offsets 1 to 4)."""
    from ingest.geo import haversine_m

    rng = np.random.default_rng(17)
    for trial in range(300):
        n = int(rng.choice([1, 2, 3, 10, 200, 2000]))
        lat = rng.choice([47.0, -33.9, 89.99, -90.0, 0.0]) + np.cumsum(rng.normal(0, 10 ** rng.uniform(-6, 0), n))
        lon = rng.choice([8.0, 179.999, -180.0, 0.0]) + np.cumsum(rng.normal(0, 10 ** rng.uniform(-6, 0), n))
        if rng.random() < 0.3:
            lat[rng.integers(0, n, size=max(1, n // 10))] = np.nan
        if rng.random() < 0.3 and n > 1:  # a point repeated: a step of 0
            same = rng.integers(1, n, size=max(1, n // 5))
            lat[same], lon[same] = lat[same - 1], lon[same - 1]
        steps = Steps(lat, lon)
        idx = np.flatnonzero(rng.random(n) < rng.uniform(0.3, 1.0))
        for off in range(1, 5):
            if idx.size <= off:
                continue
            a, b = idx[:-off], idx[off:]
            want = haversine_m(lat[a], lon[a], lat[b], lon[b])
            got = steps.steps(idx, off)
            assert got.dtype == want.dtype and np.array_equal(got.view(np.uint64), want.view(np.uint64)), (trial, off)
