"""Sport, decided with evidence (issue 13).

CONTRACT (fixed; the implementation is being written):

``SportEvidence`` is what the records say about the whole activity (built by models/summary.py
with ``evidence_from_arrays``); ``decide_sport(evidence, overrides=None) -> SportDecision``
keeps the file's own label when the evidence agrees with it, else infers the sport; open-water
and pool swims, rides and hikes are not runs. ``checks`` are ``schema.ACTIVITY_CHECKS`` rows
without ``activity_id`` (dicts), one per check run (sport_label, speed, cadence, contact time,
sub_sport, ...), passed or not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models import cadence as cad


@dataclass(frozen=True)
class SportEvidence:
    label: str | None  # the file's sport (activities.sport), None/'generic' when untyped
    sub_sport: str | None
    source_format: str | None  # fit | gpx | tcx
    moving_time_s: float | None
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


@dataclass(frozen=True)
class SportDecision:
    sport: str | None
    is_run: bool
    source: str  # file | inferred | none
    confidence: float  # 0-1
    reason: str
    checks: list[dict] = field(default_factory=list)


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
) -> SportEvidence:
    """STUB (medians only)."""
    mv = np.asarray(moving) == 1.0
    sp = np.asarray(speed_mps, dtype=float)[mv]
    sp = sp[~np.isnan(sp)]

    def med(x):
        x = np.asarray(x, dtype=float)
        x = x[~np.isnan(x)]
        return float(np.median(x)) if x.size else None

    return SportEvidence(
        label=label, sub_sport=sub_sport, source_format=source_format,
        moving_time_s=float(np.sum(np.asarray(dt_s)[mv])) if mv.any() else None,
        distance_m=distance_m,
        median_moving_speed_mps=float(np.median(sp)) if sp.size else None,
        p90_moving_speed_mps=float(np.percentile(sp, 90)) if sp.size else None,
        median_cadence_raw=med(cadence_raw), cadence_raw_unit=cadence_raw_unit,
        median_cadence_spm=med(cadence_spm), median_gct_ms=med(gct_ms),
        run_time_s=run_time_s, walk_time_s=walk_time_s,
        median_sample_interval_s=med(np.diff(np.asarray(seconds, dtype=float))) if len(seconds) > 1 else None,
    )


def decide_sport(e: SportEvidence, overrides: dict[str, float] | None = None) -> SportDecision:
    """STUB: today's rule (models.summary.infer_sport)."""
    if cad.is_foot_sport(e.label) is not None:
        return SportDecision(e.label, e.label == "running", "file", 1.0, f"the file's label ({e.label})")
    return SportDecision(e.label, False, "none", 0.0, "no label")
