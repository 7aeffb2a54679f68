"""Heart-rate training load: Banister TRIMP (SCIENCE.md s1.9), and the athlete profile it needs.

``TRIMP = sum(D_min x HRr x a x exp(b x HRr))`` with ``HRr = (HR - HRrest) / (HRmax - HRrest)``,
computed per sample (D = the sample's duration from ``models.gait.sample_durations``, minutes; a
pause has D = 0), never from the session mean.

Choices:
- Constants: male a=0.64, b=1.92; female a=0.86, b=1.67. Sex unknown -> the male constants
  (Banister's original form; the female curve was added later). Documented, not validated.
- HRr is clipped to [0, 1]: below rest counts nothing, above the configured max counts as max.
- Samples without heart rate (NULL or 0) count nothing.
- NULL when the athlete's rest or max HR is not configured, when max <= rest, or when the
  activity has no heart rate at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: (a, b) of the Banister weighting a x exp(b x HRr).
BANISTER_CONSTANTS = {"male": (0.64, 1.92), "female": (0.86, 1.67)}


@dataclass(frozen=True)
class AthleteProfile:
    """What models need to know about the runner. HR in beats per minute."""

    athlete_id: str | None = None
    hr_rest_bpm: float | None = None
    hr_max_bpm: float | None = None
    sex: str | None = None  # 'male' | 'female' | None


def banister_constants(sex: str | None) -> tuple[float, float]:
    """(a, b) for ``sex``; unknown or other -> male constants."""
    return BANISTER_CONSTANTS.get((sex or "").strip().lower(), BANISTER_CONSTANTS["male"])


def trimp_banister(
    heart_rate_bpm: np.ndarray,
    dt_s: np.ndarray,
    hr_rest_bpm: float | None,
    hr_max_bpm: float | None,
    sex: str | None = None,
) -> float | None:
    """Banister TRIMP (arbitrary units) from per-sample heart rate and sample durations (s)."""
    if hr_rest_bpm is None or hr_max_bpm is None or hr_max_bpm <= hr_rest_bpm:
        return None
    hr = np.asarray(heart_rate_bpm, dtype=float)
    dt = np.asarray(dt_s, dtype=float)
    ok = ~np.isnan(hr) & (hr > 0)
    if not np.any(ok):
        return None
    a, b = banister_constants(sex)
    hrr = np.clip((hr[ok] - hr_rest_bpm) / (hr_max_bpm - hr_rest_bpm), 0.0, 1.0)
    return float(np.sum(dt[ok] / 60.0 * hrr * a * np.exp(b * hrr)))
