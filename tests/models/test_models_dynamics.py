"""Running dynamics: impossible values rejected, never imputed, native vs developer."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from ingest import schema
from models import dynamics as dyn


def frame(**cols) -> pl.DataFrame:
    n = len(next(iter(cols.values())))
    return schema.conform(pl.DataFrame({"activity_id": ["a"] * n, "record_index": list(range(n)), **cols}), "records")


def test_contact_time_longer_than_step_period_rejected():
    # 180 spm: step period 60000/180 = 333 ms; 400 ms is impossible while running, 250 ms fine
    ok = dyn.contact_time_valid(np.array([400.0, 250.0, 333.0, 334.0]), np.array([180.0] * 4))
    assert ok.tolist() == [False, True, True, False]


def test_zero_and_negative_contact_time_is_no_data():
    ok = dyn.contact_time_valid(np.array([0.0, -5.0, np.nan, 260.0]), np.array([170.0] * 4))
    assert ok.tolist() == [False, False, False, True]


def test_walking_contact_time_bounded_by_stride_not_step():
    # 110 spm walking: step 545 ms, stride 1091 ms; 600 ms stance is normal walking (double support)
    ok = dyn.contact_time_valid(np.array([600.0, 1000.0, 1100.0]), np.array([110.0] * 3))
    assert ok.tolist() == [True, True, False]


def test_fast_walking_is_held_to_the_stride_bound():
    # 143 spm at 1.4 m/s is fast walking: 450 ms stance (double support) is real; at 3.5 m/s it is not
    ok = dyn.contact_time_valid(np.array([450.0, 450.0, 450.0]), np.array([143.0] * 3), np.array([1.4, 3.5, np.nan]))
    assert ok.tolist() == [True, False, False]


def test_contact_time_without_cadence_only_ceiling():
    ok = dyn.contact_time_valid(np.array([900.0, 1600.0]), np.array([np.nan, np.nan]))
    assert ok.tolist() == [True, False]
    ok = dyn.contact_time_valid(np.array([1600.0]), np.array([np.nan]), overrides={"gct_max_ms": 2000})
    assert ok.tolist() == [True]


def test_clean_dynamics_nulls_and_counts():
    df = frame(
        ground_contact_time_ms=[400.0, 250.0, 0.0, None],
        dev_ground_contact_time_ms=[240.0, 0.0, 245.0, 250.0],
        gct_balance_left_pct=[0.0, 50.5, 100.0, 49.0],
        vertical_oscillation_mm=[0.0, 85.0, 90.0, None],
        step_length_mm=[1100.0, 0.0, 1000.0, 1050.0],
        vertical_ratio_pct=[7.5, 7.9, 0.0, 8.0],
        stance_time_pct=[35.0, 0.0, 36.0, 100.0],
    )
    out, counts = dyn.clean_dynamics(df, np.array([180.0] * 4))
    assert out["ground_contact_time_ms"].to_list() == [None, 250.0, None, None]
    assert out["dev_ground_contact_time_ms"].to_list() == [240.0, None, 245.0, 250.0]
    assert out["gct_balance_left_pct"].to_list() == [None, 50.5, None, 49.0]
    assert out["vertical_oscillation_mm"].to_list() == [None, 85.0, 90.0, None]
    assert out["step_length_mm"].to_list() == [1100.0, None, 1000.0, 1050.0]
    assert out["vertical_ratio_pct"].to_list() == [7.5, 7.9, None, 8.0]
    assert out["stance_time_pct"].to_list() == [35.0, None, 36.0, None]
    assert counts["ground_contact_time_ms"] == 2  # 400 (>= period) and 0; the NULL was never a value
    assert counts["dev_ground_contact_time_ms"] == 1
    assert counts["gct_balance_left_pct"] == 2
    # nothing else changed
    assert out["record_index"].to_list() == [0, 1, 2, 3]


def test_developer_contact_time_used_only_when_native_absent():
    dev_only = frame(ground_contact_time_ms=[None, None], dev_ground_contact_time_ms=[240.0, 260.0])
    avg = dyn.average_dynamics(dev_only)
    assert avg["avg_ground_contact_time_ms"] == pytest.approx(250.0)
    assert avg["gct_source"] == "developer"

    both = frame(ground_contact_time_ms=[270.0, 280.0], dev_ground_contact_time_ms=[240.0, 260.0])
    avg = dyn.average_dynamics(both)
    assert avg["avg_ground_contact_time_ms"] == pytest.approx(275.0)
    assert avg["gct_source"] == "derived"

    none = frame(ground_contact_time_ms=[None, None])
    avg = dyn.average_dynamics(none)
    assert avg["avg_ground_contact_time_ms"] is None and avg["gct_source"] == "none"


def test_developer_vertical_oscillation_fallback():
    df = frame(vertical_oscillation_mm=[None, None], dev_vertical_oscillation_mm=[80.0, 90.0])
    assert dyn.average_dynamics(df)["avg_vertical_oscillation_mm"] == pytest.approx(85.0)
