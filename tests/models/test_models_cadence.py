"""Cadence in steps/min: FIT strides, GPX/TCX unit decision, cycling rpm, developer cadence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models import cadence as cad


def test_fit_strides_plus_fraction_doubles():
    # FIT record: cadence 79 strides/min + fractional_cadence 0.5 -> cadence_raw 79.5 -> 159 spm
    spm, unit, source = cad.derive_cadence("running", "strides_min", np.array([79.5]))
    assert spm.tolist() == [159.0]
    assert (unit, source) == ("strides_min", "derived")


def test_gpx_already_steps_stays():
    raw = np.array([172.0, 171.0, 173.0, 172.0])
    spm, unit, _ = cad.derive_cadence("running", "unknown", raw, is_moving=np.ones(4))
    assert unit == "steps_min"  # 2 x 172 = 344 > 260: no one steps that fast
    assert spm.tolist() == [172.0, 171.0, 173.0, 172.0]


def test_gpx_strides_doubled():
    raw = np.array([86.0, 85.0, 87.0, 86.0])
    spm, unit, _ = cad.derive_cadence("running", "unknown", raw, is_moving=np.ones(4))
    assert unit == "strides_min"
    assert spm.tolist() == [172.0, 170.0, 174.0, 172.0]


def test_unit_decision_uses_moving_non_zero_samples_only():
    # standing samples (0) and a few odd non-moving values must not move the median
    raw = np.array([0, 0, 0, 0, 0, 140, 140, 140, 140, 86, 86, 86], dtype=float)
    moving = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1], dtype=float)
    assert cad.unit_from_values(raw, moving) == "strides_min"  # median 86 while moving -> 172
    assert cad.unit_from_values(raw, None) == "steps_min"  # all non-zero: median 140 -> 280 > 260


def test_ceiling_override():
    raw = np.array([150.0] * 5)
    assert cad.unit_from_values(raw) == "steps_min"  # 300 > 260
    assert cad.unit_from_values(raw, overrides={"cadence_steps_ceiling_spm": 320}) == "strides_min"


def test_cycling_rpm_is_not_steps():
    spm, unit, source = cad.derive_cadence("cycling", "rpm", np.array([90.0, 91.0]))
    assert unit == "rpm" and source == "none"
    assert all(math.isnan(x) for x in spm)
    # a GPX ride ('unknown' unit) is rpm too because the sport is not on foot
    _, unit, _ = cad.derive_cadence("cycling", "unknown", np.array([90.0]))
    assert unit == "rpm"


def test_no_cadence_is_none():
    spm, unit, source = cad.derive_cadence("running", "strides_min", np.array([np.nan, 0.0]))
    assert (unit, source) == ("none", "none")
    assert np.isnan(spm).all()


def test_developer_cadence_when_native_absent():
    # Stryd "Cadence" is RPM per foot: 91 -> 182 spm
    spm, unit, source = cad.derive_cadence(
        "running", "strides_min", np.array([np.nan, np.nan]), np.array([91.0, 90.0]), np.ones(2)
    )
    assert (unit, source) == ("strides_min", "developer")
    assert spm.tolist() == [182.0, 180.0]


def test_native_cadence_wins_over_developer():
    spm, _, source = cad.derive_cadence("running", "strides_min", np.array([80.0]), np.array([91.0]))
    assert source == "derived" and spm.tolist() == [160.0]


def test_sport_classes():
    assert cad.is_foot_sport("running") is True
    assert cad.is_foot_sport("walking") is True
    assert cad.is_foot_sport("cycling") is False
    assert cad.is_foot_sport("swimming") is False
    assert cad.is_foot_sport(None) is None
    assert cad.is_foot_sport("generic") is None


def test_time_weighted_average_keeps_zeros():
    # 60 s at 180 spm, then 30 s standing (0 spm): (180*60 + 0*30) / 90 = 120
    spm = np.array([180.0, 180.0, 0.0, 0.0])
    dt = np.array([0.0, 60.0, 10.0, 20.0])
    assert cad.average_cadence_spm(spm, dt) == pytest.approx(120.0)
    # NaN samples (no cadence) do not count, in value or time
    assert cad.average_cadence_spm(np.array([np.nan, 170.0]), np.array([100.0, 10.0])) == pytest.approx(170.0)
    assert cad.average_cadence_spm(np.array([np.nan]), np.array([1.0])) is None


def test_steps_from_cadence():
    # 10 minutes at 170 spm, recorded every second: 599 s of samples after the first -> 1697.17
    spm = np.full(600, 170.0)
    dt = np.r_[0.0, np.ones(599)]
    assert cad.steps_from_cadence(spm, dt) == pytest.approx(170.0 / 60.0 * 599.0)
