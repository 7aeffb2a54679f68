"""Banister TRIMP from per-sample heart rate, hand-computed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.load import AthleteProfile, banister_constants, trimp_banister

ONE_HOUR_1S = np.r_[0.0, np.ones(3600)]  # 3601 samples one second apart: 60 minutes


def test_constant_hr_male_hand_computed():
    # HR 150, rest 50, max 190: HRr = 100/140 = 0.714286; 60 min
    # TRIMP = 60 x 0.714286 x 0.64 x e^(1.92 x 0.714286) = 60 x 0.714286 x 0.64 x 3.94098 = 108.10
    hr = np.full(3601, 150.0)
    assert trimp_banister(hr, ONE_HOUR_1S, 50, 190, "male") == pytest.approx(108.10, abs=0.01)
    hrr = 100 / 140
    assert trimp_banister(hr, ONE_HOUR_1S, 50, 190, "male") == pytest.approx(60 * hrr * 0.64 * math.exp(1.92 * hrr))


def test_constant_hr_female_hand_computed():
    # 60 x 0.714286 x 0.86 x e^(1.67 x 0.714286) = 60 x 0.714286 x 0.86 x 3.29649 = 121.50
    hr = np.full(3601, 150.0)
    assert trimp_banister(hr, ONE_HOUR_1S, 50, 190, "female") == pytest.approx(121.50, abs=0.01)


def test_unknown_sex_uses_male_constants():
    assert banister_constants(None) == (0.64, 1.92)
    assert banister_constants("Female") == (0.86, 1.67)
    hr = np.full(3601, 150.0)
    assert trimp_banister(hr, ONE_HOUR_1S, 50, 190, None) == trimp_banister(hr, ONE_HOUR_1S, 50, 190, "male")


def test_null_without_rest_or_max_or_hr():
    hr = np.full(10, 150.0)
    dt = np.ones(10)
    assert trimp_banister(hr, dt, None, 190) is None
    assert trimp_banister(hr, dt, 50, None) is None
    assert trimp_banister(hr, dt, 190, 190) is None
    assert trimp_banister(np.full(10, np.nan), dt, 50, 190) is None


def test_pauses_and_clipping():
    # a sample after a pause has dt 0 and counts nothing; HR above max counts as max (HRr 1)
    hr = np.array([150.0, 250.0, 40.0])
    dt = np.array([0.0, 60.0, 60.0])
    expected = 1.0 * 1.0 * 0.64 * math.exp(1.92)  # 1 min at HRr 1; 1 min below rest counts 0
    assert trimp_banister(hr, dt, 50, 190) == pytest.approx(expected)


def test_profile_defaults():
    p = AthleteProfile(athlete_id="a1")
    assert p.hr_rest_bpm is None and p.hr_max_bpm is None and p.sex is None
