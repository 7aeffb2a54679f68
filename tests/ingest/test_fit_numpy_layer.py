"""ingest.fit's numpy path (records, laps, events) against the polars expressions it replaced.

The meaning layer computes records, laps and events in numpy with validity masks standing for
polars' NULL; the polars expressions stay as the fallback (``_Slow``). Real files exercise only
the common column types (``tools/equiv.py`` compares them against main), so this feeds both
paths the odd ones a reader can produce (NaN beside NULL, numbers as text, booleans, ms
datetimes, several activities, developer fields, out-of-range strides) and asserts the frames
are identical, dtypes included.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

import ingest.fit as fit
from ingest.fit import fit_messages_to_decoded
from ingest.fit_messages import FitMessages

NAN = float("nan")


def _ts(*secs, unit="us"):
    t0 = datetime(2024, 5, 1, 7, 0, 0)
    return pl.Series([None if s is None else t0 + timedelta(seconds=s) for s in secs],
                     dtype=pl.Datetime(unit))


def _msgs(n_rec: int = 24, strides=(500.0, None, 1e30)) -> FitMessages:
    secs = list(range(n_rec - 3)) + [None, 25, 2]
    n = len(secs)
    vals = [float(i) for i in range(n)]
    frames = {
        "file_id": pl.DataFrame({"_message_index": [0], "type": ["activity"]}),
        "record": pl.DataFrame({
            "_message_index": pl.Series(range(1, n + 1), dtype=pl.Int64),
            "timestamp": _ts(*secs),
            "position_lat": pl.Series([2**30, None, NAN] + [2**29] * (n - 3), dtype=pl.Float64),
            "position_long": pl.Series([2**28] * (n - 1) + [None], dtype=pl.Float64),
            "altitude": pl.Series(vals, dtype=pl.Float64),
            "enhanced_altitude": pl.Series([None, 3.5] * (n // 2), dtype=pl.Float64),
            "distance": pl.Series([None] + vals[1:], dtype=pl.Float64),
            "speed": pl.Series(["1.5", "x", None] + ["2.25"] * (n - 3), dtype=pl.Utf8),
            "heart_rate": pl.Series([True, False, None] * (n // 3), dtype=pl.Boolean),
            "cadence": pl.Series([85.0, None, NAN] * (n // 3), dtype=pl.Float64),
            "fractional_cadence": pl.Series([0.5, 0.5, None] * (n // 3), dtype=pl.Float64),
            "cadence256": pl.Series([90.0] * n, dtype=pl.Float64),
            "stance_time": pl.Series([NAN] * n, dtype=pl.Float64),
            "dev:0:Power": pl.Series([200.0, None] * (n // 2), dtype=pl.Float64),
            "dev:0:Ground Time": pl.Series([250, None] * (n // 2), dtype=pl.Int64),
            "dev:1:Form Power": pl.Series([None] * n, dtype=pl.Float64),
            "dev:1:vertical oscillation": pl.Series(["8.1"] * n, dtype=pl.Utf8),
        }),
        "session": pl.DataFrame({
            "_message_index": pl.Series([n + 1, n + 2], dtype=pl.Int64),
            "start_time": _ts(0, 10),
            "timestamp": _ts(99, 99),
            "total_elapsed_time": [10.0, 10.0],
            "sport": ["running", "cycling"],
        }),
        "lap": pl.DataFrame({
            "_message_index": pl.Series([n + 3, n + 4, n + 5], dtype=pl.Int64),
            "start_time": _ts(None, 5, 12, unit="ms"),
            "timestamp": _ts(4, 9, 20, unit="ms"),
            "total_elapsed_time": [4.0000005, 2.5, None],
            "sport": [None, "walking", None],
            "avg_cadence": [80.0, None, 70.0],
            "avg_fractional_cadence": [None, 0.5, 0.25],
            "total_cycles": pl.Series(list(strides), dtype=pl.Float64),
            "avg_speed": [2.0, NAN, None],
            "enhanced_avg_speed": [None, 3.0, None],
            "intensity": pl.Series([1.0, None, 3.0], dtype=pl.Float64),
            "lap_trigger": ["manual", None, "distance"],
        }),
        "event": pl.DataFrame({
            "_message_index": pl.Series([n + 6, n + 7, n + 8], dtype=pl.Int64),
            "timestamp": _ts(0, None, 15, unit="ms"),
            "event": ["timer", "timer", None],
            "event_type": ["start", None, "stop_all"],
            "data": [None, 3.0, NAN],
            "timer_trigger": ["manual", None, None],
            "data16": [1.0, None, None],
        }),
    }
    dev = pl.DataFrame({
        "developer_data_index": pl.Series([0, 0, 1], dtype=pl.Int32),
        "field_number": pl.Series([1, 2, 3], dtype=pl.Int32),
        "field_name": ["Power", "Ground Time", "vertical oscillation"],
        "units": ["Watts", "ms", "cm"],
        "native_field_num": pl.Series([None, None, None], dtype=pl.Int32),
        "base_type": ["uint16", "uint16", "string"],
    })
    return FitMessages(frames=frames, developer_fields=dev, n_messages=n + 9, file_type="activity")


def _slow(*_a, **_k):
    raise fit._Slow("forced")


@pytest.mark.parametrize("strides", [(500.0, None, 12.7), (500.0, None, 1e30), (NAN, 3.0, None)])
def test_numpy_layer_equals_the_polars_expressions(monkeypatch, strides):
    msgs = _msgs(strides=strides)
    fast = fit_messages_to_decoded(msgs, "c" * 64)
    assert fast.status == "landed" and fast.activities.height == 2
    with monkeypatch.context() as m:
        m.setattr(fit, "_records_numpy", _slow)
        m.setattr(fit, "_laps_numpy", _slow)
        m.setattr(fit, "_events", _slow)
        ref = fit_messages_to_decoded(_msgs(strides=strides), "c" * 64)
    for name in fast.frames():
        a, b = fast.frames()[name], ref.frames()[name]
        assert a.schema == b.schema, name
        assert a.equals(b, null_equal=True), (name, a, b)
    # the odd values are there: NaN kept beside NULL, text parsed, booleans as numbers
    rec = fast.records
    assert rec["latitude_deg"].is_nan().sum() == 1 and rec["latitude_deg"].null_count() == 1
    assert rec["speed_mps"].to_list()[:3] == [1.5, None, None]
    assert rec["heart_rate_bpm"].to_list()[:3] == [1.0, 0.0, None]
    assert set(rec["activity_id"].to_list()) == set(fast.activities["activity_id"].to_list())


def test_lap_duration_that_does_not_fit_raises_as_before():
    msgs = _msgs()
    msgs.frames["lap"] = msgs.frames["lap"].with_columns(
        pl.Series("total_elapsed_time", [NAN, 2.5, None]))
    with pytest.raises(pl.exceptions.InvalidOperationError):
        fit_messages_to_decoded(msgs, "d" * 64)


@pytest.mark.parametrize("values,dtype,strict", [
    ([1.0, 2, None, 3.5, True], pl.Float64, False),
    ([2**70, None, -1], pl.Float64, False),  # too big for i64: the any-value fallback
    ([1, None, 2**40], pl.Int64, True),
    ([1, None, -7], pl.Int32, True),
    ([True, None, False], pl.Boolean, True),
    (["a", None, ""], pl.Utf8, True),
    ([], pl.Float64, False),
    ([None, None], pl.Utf8, True),
])
def test_fast_constructors_equal_the_polars_front_end(values, dtype, strict):
    from ingest.fit_messages import new_series, null_series

    got, want = new_series("c", values, dtype, strict), pl.Series("c", values, dtype=dtype, strict=strict)
    assert got.dtype == want.dtype and got.name == want.name
    assert got.equals(want, null_equal=True)
    nul = null_series("c", dtype, len(values))
    assert nul.dtype == dtype and nul.null_count() == len(values) and nul.name == "c"


@pytest.mark.parametrize("arr", [
    np.array([1.0, NAN, -0.0, np.inf]), np.arange(5, dtype=np.int64), np.arange(5, dtype=np.int32),
    np.arange(10.0)[::3], np.array([], dtype=np.float64),
])
def test_numpy_constructor_and_frame_equal_the_polars_front_end(arr):
    from ingest.fit_messages import frame, np_series

    for nan_to_null in (False, True):
        got, want = np_series("c", arr, nan_to_null), pl.Series("c", arr, nan_to_null=nan_to_null)
        assert got.dtype == want.dtype
        assert got.is_null().to_list() == want.is_null().to_list()
        assert got.fill_null(0).cast(pl.Utf8).to_list() == want.fill_null(0).cast(pl.Utf8).to_list()
    cols = [np_series("a", arr), pl.Series("b", [None] * len(arr), dtype=pl.Utf8)]
    assert frame(cols).equals(pl.DataFrame(cols), null_equal=True)
    assert frame(cols).schema == pl.DataFrame(cols).schema
