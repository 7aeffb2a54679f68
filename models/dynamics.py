"""Running dynamics per record: reject impossible values; per-activity averages.

Columns (``ingest.schema.RECORDS``): ground_contact_time_ms, stance_time_pct,
gct_balance_left_pct, vertical_oscillation_mm, vertical_ratio_pct, step_length_mm, and the
developer-field values dev_ground_contact_time_ms, dev_vertical_oscillation_mm.

Cleaning (``clean_dynamics``): the canonical columns keep valid values only; an invalid value
becomes NULL and is counted. Nothing is imputed (SCIENCE.md s4: no validated cadence+speed ->
contact time model exists), native and developer columns stay side by side (native is never
filled from the developer value).

- Zero or negative: FIT devices write 0 for "no measurement" -> NULL (every column).
- Percentages (stance_time_pct, gct_balance_left_pct) at or beyond 0/100: no foot has all or none
  of the contact -> NULL.
- Contact time (native and developer) above ``gct_max_ms``: not a measurement -> NULL.
- Contact time against the step period (SCIENCE.md s4): running has a flight phase, so
  ``tc < 60000 / spm`` ms (at 180 spm tc < 333 ms; 400 ms is rejected). A sample counts as
  running at a running cadence (>= ``run_min_cadence_spm``) unless its speed is known and below
  ``run_min_speed_mps``: fast walking reaches 140-150 spm, and walking has double support, so
  its stance is longer than one step (corpus: 450 ms at 143 spm and 1.4 m/s). For walking the
  bound is the stride period, ``tc < 120000 / spm``: a foot must swing at some point. Without a
  cadence only the ceiling applies.

Averages (``average_dynamics``): mean of the valid values, sample-weighted (each sample one
measurement; on 5 of the 7 corpus runs with a device ``avg_stance_time`` the mean of the record
values is within 1 ms of it; the other two are in tests/models/test_models_fidelity.py). Contact
time comes from the native column when it has any valid value ('derived'), else from the
developer column ('developer'), else NULL ('none'); vertical oscillation likewise.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from models.frames import put_columns
from models.thresholds import value as threshold

#: Columns cleaned here, with the rule family that applies.
POSITIVE_COLUMNS = ("vertical_oscillation_mm", "dev_vertical_oscillation_mm", "vertical_ratio_pct", "step_length_mm")
PERCENT_COLUMNS = ("stance_time_pct", "gct_balance_left_pct")
CONTACT_COLUMNS = ("ground_contact_time_ms", "dev_ground_contact_time_ms")
ALL_COLUMNS = CONTACT_COLUMNS + PERCENT_COLUMNS + POSITIVE_COLUMNS


def contact_time_valid(
    gct_ms: np.ndarray,
    cadence_spm: np.ndarray,
    speed_mps: np.ndarray | None = None,
    *,
    overrides: dict[str, float] | None = None,
) -> np.ndarray:
    """Boolean per sample: the contact time is a physically possible measurement.

    NaN values are not valid (nothing to keep). See the module docstring for the bounds;
    ``speed_mps`` (NaN unknown) only keeps fast walking from being held to the running bound.
    """
    g = np.asarray(gct_ms, dtype=float)
    c = np.asarray(cadence_spm, dtype=float)
    v = np.full(g.shape, np.nan) if speed_mps is None else np.asarray(speed_mps, dtype=float)
    running = (c >= threshold("run_min_cadence_spm", overrides)) & ~(v < threshold("run_min_speed_mps", overrides))
    ok = ~np.isnan(g) & (g > 0) & (g <= threshold("gct_max_ms", overrides))
    has_cad = ~np.isnan(c) & (c > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(running, 60000.0 / c, 120000.0 / c)
    return ok & ~(has_cad & (g >= bound))


def clean_dynamics(
    records: pl.DataFrame,
    cadence_spm: np.ndarray,
    speed_mps: np.ndarray | None = None,
    *,
    overrides: dict[str, float] | None = None,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Set impossible running-dynamics values to NULL; return the frame and per-column counts.

    ``records`` holds one activity's records; ``cadence_spm`` and ``speed_mps`` are aligned with
    it (NaN unknown). Counts are the number of non-NULL values set to NULL, by column.
    """
    counts: dict[str, int] = {}
    exprs = []
    for col in ALL_COLUMNS:
        if col not in records.columns:
            continue
        nulls = records[col].null_count()
        if nulls == records.height:  # no value at all: nothing to clean
            counts[col] = 0
            continue
        v = np.array(records[col].cast(pl.Float64).to_numpy(), dtype=float)  # NULL -> NaN
        present = ~np.isnan(v)
        if col in CONTACT_COLUMNS:
            valid = contact_time_valid(v, cadence_spm, speed_mps, overrides=overrides)
        elif col in PERCENT_COLUMNS:
            valid = present & (v > 0) & (v < 100)
        else:
            valid = present & (v > 0)
        counts[col] = int((present & ~valid).sum())
        if not counts[col] and int(present.sum()) == records.height - nulls:
            continue  # nothing set NULL and no NaN to turn into NULL: the column stays as it is
        exprs.append(pl.Series(col, np.where(valid, v, np.nan), nan_to_null=True).cast(records.schema[col]))
    return put_columns(records, exprs), counts


def _mean(values: pl.Series) -> float | None:
    v = values.cast(pl.Float64).to_numpy()  # NULL -> NaN
    v = v[~np.isnan(v)]
    return float(pl.Series(v).mean()) if len(v) else None  # polars' mean, as before


def average_dynamics(records: pl.DataFrame) -> dict[str, object]:
    """Per-activity means of cleaned dynamics, with ``gct_source`` (derived|developer|none).

    Keys: avg_ground_contact_time_ms, avg_gct_balance_left_pct, avg_vertical_oscillation_mm,
    avg_vertical_ratio_pct, avg_step_length_mm, gct_source.
    """
    gct = _mean(records["ground_contact_time_ms"])
    source = "derived" if gct is not None else "none"
    if gct is None:
        gct = _mean(records["dev_ground_contact_time_ms"])
        source = "developer" if gct is not None else "none"
    vo = _mean(records["vertical_oscillation_mm"])
    if vo is None:
        vo = _mean(records["dev_vertical_oscillation_mm"])
    return {
        "avg_ground_contact_time_ms": gct,
        "avg_gct_balance_left_pct": _mean(records["gct_balance_left_pct"]),
        "avg_vertical_oscillation_mm": vo,
        "avg_vertical_ratio_pct": _mean(records["vertical_ratio_pct"]),
        "avg_step_length_mm": _mean(records["step_length_mm"]),
        "gct_source": source,
    }


def average_running_contact_time(records: pl.DataFrame, is_run: np.ndarray) -> float | None:
    """Mean cleaned contact time (ms) over the running samples only (``is_run`` aligned with
    ``records``): the native sensor's, else the developer field's. Walking and standing samples
    have long contacts (a run-walk's whole-activity mean mixes them in)."""
    mask = pl.Series(np.asarray(is_run, dtype=bool))
    for col in CONTACT_COLUMNS:
        v = _mean(records[col].filter(mask))
        if v is not None:
            return v
    return None
