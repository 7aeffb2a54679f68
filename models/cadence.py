"""Cadence in steps per minute, per record, and the per-activity unit decision.

Sources: SCIENCE.md s2 (FIT) and s3 (GPX/TCX).

- FIT running/walking records (``cadence_raw_unit`` 'strides_min'): ``cadence_raw`` already holds
  ``cadence + fractional_cadence`` (strides/min, one foot), so ``cadence_spm = 2 x cadence_raw``
  (79 + 0.5 -> 159 spm; GoldenCheetah #2060).
- Cycling and other sports that are not on foot ('rpm', or a sport outside ``FOOT_SPORTS``):
  pedal/stroke rate is not steps; ``cadence_spm`` is NULL and the unit is 'rpm'.
- GPX/TCX ('unknown'): decided per activity. Take the raw cadence of the moving samples (all
  samples when motion is unknown), drop zeros, take the median, double it. Above
  ``cadence_steps_ceiling_spm`` (260, Runalyze) no human steps that fast, so the file already
  held steps/min ('steps_min': kept as is); otherwise it held strides/min ('strides_min': x2).
  Strava GPX runs at cad 87 -> 174 spm; a GPX already at 172 spm -> 344 > 260 -> kept 172.
- No native cadence (no non-zero ``cadence_raw``) but a developer cadence (Stryd "Cadence", RPM
  per foot): the same median check on ``dev_cadence_raw``; source 'developer'.
- Sport unknown (NULL or 'generic'): treated as on foot (the unit check still protects against
  halving/doubling; a cycling GPX without a type would be read as steps, a known gap).

Per-activity ``cadence_unit`` values: 'strides_min' | 'steps_min' | 'rpm' | 'none' (no cadence).

Averages: ``average_cadence_spm`` is the time-weighted mean over every sample that has a
cadence, zeros (standing, no steps) included, weights = ``dt`` (s) from
``models.gait.sample_durations``. This is how the watches in the corpus average (Garmin's session
``avg_running_cadence`` counts standing time as 0: garmin-stamina.fit 121.6 spm device vs 121.6
time-weighted with zeros vs 146.9 over non-zero samples).
"""

from __future__ import annotations

import math

import numpy as np

from models.thresholds import value as threshold

#: Sports whose cadence is steps (FIT sport names).
FOOT_SPORTS = frozenset({"running", "walking", "hiking", "mountaineering", "snowshoeing", "trail_running"})
#: Sports whose cadence we do not know to be steps or revolutions.
UNKNOWN_SPORTS = frozenset({"generic", "all", "training", "unknown", ""})


def is_foot_sport(sport: str | None) -> bool | None:
    """True on foot, False not on foot (cycling, swimming, ...), None unknown (NULL, generic)."""
    if sport is None:
        return None
    s = sport.strip().lower()
    if s in FOOT_SPORTS:
        return True
    if s in UNKNOWN_SPORTS:
        return None
    return False


def decide_cadence_unit(
    sport: str | None,
    cadence_raw_unit: str | None,
    cadence_raw: np.ndarray,
    is_moving: np.ndarray | None = None,
    *,
    overrides: dict[str, float] | None = None,
) -> str:
    """What the raw cadence of one activity counts: 'strides_min'|'steps_min'|'rpm'|'none'.

    ``cadence_raw`` is the per-record raw value (NaN = missing); ``is_moving`` 1/0/NaN per record.
    """
    raw = np.asarray(cadence_raw, dtype=float)
    if raw.size == 0 or not np.any(~np.isnan(raw) & (raw > 0)):
        return "none"
    if cadence_raw_unit == "rpm" or is_foot_sport(sport) is False:
        return "rpm"
    if cadence_raw_unit in ("strides_min", "steps_min"):
        return cadence_raw_unit
    return unit_from_values(raw, is_moving, overrides=overrides)


def unit_from_values(
    cadence_raw: np.ndarray, is_moving: np.ndarray | None = None, *, overrides: dict[str, float] | None = None
) -> str:
    """'steps_min' if 2 x median(non-zero raw cadence while moving) > ceiling, else 'strides_min'.

    Falls back to all non-zero samples when none is known to be moving; 'none' without any.
    """
    raw = np.asarray(cadence_raw, dtype=float)
    nonzero = ~np.isnan(raw) & (raw > 0)
    pick = nonzero
    if is_moving is not None:
        moving = np.asarray(is_moving, dtype=float) == 1.0
        if np.any(nonzero & moving):
            pick = nonzero & moving
    if not np.any(pick):
        return "none"
    doubled = 2.0 * float(np.median(raw[pick]))
    return "steps_min" if doubled > threshold("cadence_steps_ceiling_spm", overrides) else "strides_min"


def to_spm(cadence_raw: np.ndarray, unit: str) -> np.ndarray:
    """Per-record steps/min from raw cadence under ``unit`` (NaN for 'rpm'/'none' or missing)."""
    raw = np.asarray(cadence_raw, dtype=float)
    if unit == "strides_min":
        return 2.0 * raw
    if unit == "steps_min":
        return raw.copy()
    return np.full(raw.shape, np.nan)


def derive_cadence(
    sport: str | None,
    cadence_raw_unit: str | None,
    cadence_raw: np.ndarray,
    dev_cadence_raw: np.ndarray | None = None,
    is_moving: np.ndarray | None = None,
    *,
    overrides: dict[str, float] | None = None,
) -> tuple[np.ndarray, str, str]:
    """(cadence_spm per record, cadence_unit, cadence_source) for one activity.

    ``cadence_source`` is 'derived' (native record cadence), 'developer' (developer field) or
    'none'. Native cadence wins whenever it has a non-zero value.
    """
    raw = np.asarray(cadence_raw, dtype=float)
    unit = decide_cadence_unit(sport, cadence_raw_unit, raw, is_moving, overrides=overrides)
    if unit != "none":
        spm = to_spm(raw, unit)
        return spm, unit, ("derived" if unit in ("strides_min", "steps_min") else "none")
    if dev_cadence_raw is not None and is_foot_sport(sport) is not False:
        dev = np.asarray(dev_cadence_raw, dtype=float)
        dev_unit = unit_from_values(dev, is_moving, overrides=overrides)
        if dev_unit != "none":
            return to_spm(dev, dev_unit), dev_unit, "developer"
    return np.full(raw.shape, np.nan), "none", "none"


def time_weighted_mean(values: np.ndarray, dt_s: np.ndarray) -> float | None:
    """Mean of non-NaN ``values`` weighted by ``dt_s``; plain mean when all weights are 0."""
    v = np.asarray(values, dtype=float)
    w = np.asarray(dt_s, dtype=float)
    ok = ~np.isnan(v)
    if not np.any(ok):
        return None
    if w[ok].sum() > 0:
        return float((v[ok] * w[ok]).sum() / w[ok].sum())
    return float(v[ok].mean())


def average_cadence_spm(cadence_spm: np.ndarray, dt_s: np.ndarray) -> float | None:
    """Time-weighted mean steps/min, zero-cadence samples included (see module docstring)."""
    avg = time_weighted_mean(cadence_spm, dt_s)
    return None if avg is None or math.isnan(avg) else avg


def steps_from_cadence(cadence_spm: np.ndarray, dt_s: np.ndarray) -> float | None:
    """Steps = sum(cadence_spm / 60 x dt) over samples with a cadence (pauses have dt 0)."""
    c = np.asarray(cadence_spm, dtype=float)
    ok = ~np.isnan(c)
    if not np.any(ok):
        return None
    return float((c[ok] / 60.0 * np.asarray(dt_s, dtype=float)[ok]).sum())
