"""One row of ``activity_metrics`` per activity, and the derived per-record columns.

Entry point for the pipeline: ``derive_activity(activities, records, laps, athlete=, overrides=)``
on the canonical frames of ONE decoded file (several activities for multisport files). It returns

1. ``records`` (same rows, same order, conformed to ``schema.RECORDS``) with ``cadence_spm``,
   ``is_moving`` and ``gait`` filled, and the running-dynamics columns cleaned: impossible values
   (``models.dynamics``) become NULL. Every other column is unchanged; native and developer
   dynamics stay side by side. NULLs set are counted by ``derive_from_records`` (key
   ``rejected_values``), not stored.
2. ``activity_metrics`` conformed to ``schema.DERIVED['activity_metrics']``.

Fidelity: where the file carries the device's own session summary, the row reports it and names
the source ``device``; otherwise the value is derived from the records (``derived``, or
``developer`` when only a developer field had it). Device values used:

- distance_m <- activities.distance_m (FIT session total_distance; TCX laps' DistanceMeters) and
  moving_time_s <- activities.timer_time_s (total_timer_time; TCX laps' TotalTimeSeconds), for a
  FIT or TCX activity whose timer time is set (a FIT activity built from records alone has none);
- elapsed_time_s <- activities.elapsed_time_s whenever present;
- avg_cadence_spm <- device_avg_cadence_spm and steps <- 2 x device_total_strides, on foot;
- avg_ground_contact_time_ms <- device_avg_ground_contact_time_ms (gct_source 'device');
- avg_gct_balance_left_pct, avg_vertical_oscillation_mm, avg_vertical_ratio_pct,
  avg_step_length_mm, avg_heart_rate_bpm, elevation_gain_m/elevation_loss_m
  (device_total_ascent_m/descent_m) <- the device_* value when present.

GPX carries no summary: its ``activities.distance_m``/``timer_time_s`` are computed by the reader,
so GPX values are always ``derived``. Run/walk times, run-walk intervals and TRIMP are always
derived (no watch summary has them in a comparable form).

Other choices: ``is_run`` = sport 'running' (any sub_sport: trail, treadmill, track, ...).
``athlete_id`` comes from ``activities.athlete_id`` when that column exists, else from the
profile. Sports not on foot (cycling, swimming, ...) get no steps, cadence, gait or run/walk
times (NULL; ``cadence_unit`` 'rpm' when they have a cadence). Elevation gain/loss: a hysteresis
of ``elevation_hysteresis_m`` (GoldenCheetah's default 3 m): the altitude must reverse by more
than that before a climb or descent starts; within a climb every metre counts. Derived distance:
the sum of the record ``distance_m`` increments (last - first when it only grows, so multisport
legs are not cumulative), else the haversine length of the positions, else the file's activity
distance (treadmill). No per-record grade column exists in the schema, so grade is not computed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from ingest import schema
from models import cadence as cad
from models import dynamics as dyn
from models import gait as gt
from models.load import AthleteProfile, trimp_banister
from models.thresholds import value as threshold

__all__ = ["AthleteProfile", "derive_activity", "derive_from_records", "elevation_gain_loss"]

#: Formats whose activities.distance_m / timer_time_s are the device's own summary.
DEVICE_SUMMARY_FORMATS = ("fit", "tcx")


def grade_pct(
    altitude_m: np.ndarray, distance_m: np.ndarray, *, overrides: dict[str, float] | None = None
) -> np.ndarray:
    """Grade (percent) at each sample: altitude change over the distance back to the last sample
    at least ``grade_window_m`` metres behind. NaN where altitude or distance is missing or the
    activity has not yet covered the window (a treadmill run with no altitude has no grade).
    """
    alt = np.asarray(altitude_m, dtype=float)
    dist = np.asarray(distance_m, dtype=float)
    out = np.full(alt.shape, np.nan)
    ok = ~np.isnan(alt) & ~np.isnan(dist)
    if ok.sum() < 2:
        return out
    idx = np.flatnonzero(ok)
    a, d = alt[idx], np.maximum.accumulate(dist[idx])  # counter glitches never run backwards
    w = threshold("grade_window_m", overrides)
    back = np.searchsorted(d, d - w, side="right") - 1  # last sample at least w metres behind
    valid = back >= 0
    j = np.where(valid, back, 0)
    run = d - d[j]
    g = np.where(valid & (run >= w), (a - a[j]) / np.where(run > 0, run, np.nan) * 100.0, np.nan)
    out[idx] = g
    return out


def elevation_gain_loss(
    altitude_m: np.ndarray, *, overrides: dict[str, float] | None = None
) -> tuple[float, float] | tuple[None, None]:
    """(gain, loss) in metres with a reversal hysteresis; (None, None) without altitude.

    The tracker follows the current direction: going up, every new high adds to the gain; the
    direction turns only when the altitude falls more than ``elevation_hysteresis_m`` below the
    last high (and that whole drop counts as loss), and vice versa. Noise smaller than the
    hysteresis adds nothing; a clean 0 -> 100 -> 0 m profile gives exactly (100, 100).
    """
    alt = np.asarray(altitude_m, dtype=float)
    alt = alt[~np.isnan(alt)]
    if alt.size == 0:
        return None, None
    h = threshold("elevation_hysteresis_m", overrides)
    gain = loss = 0.0
    ref = alt[0]
    direction = 0
    for a in alt[1:]:
        d = a - ref
        if direction > 0:
            if d > 0:
                gain, ref = gain + d, a
            elif d < -h:
                loss, ref, direction = loss - d, a, -1
        elif direction < 0:
            if d < 0:
                loss, ref = loss - d, a
            elif d > h:
                gain, ref, direction = gain + d, a, 1
        elif d > h:
            gain, ref, direction = gain + d, a, 1
        elif d < -h:
            loss, ref, direction = loss - d, a, -1
    return float(gain), float(loss)


def derive_from_records(
    activity: dict[str, Any] | pl.DataFrame,
    records: pl.DataFrame,
    *,
    athlete: AthleteProfile | None = None,
    overrides: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Every metric of one activity computed from its records alone (no device summary).

    ``activity`` is one activities row (dict, or a one-row frame): only sport, cadence_raw_unit,
    and (as a last resort for distance) distance_m are read. ``records`` are that activity's
    records (any order; sorted by record_index here). Returns a dict with the activity_metrics
    keys (sources 'derived'/'developer'/'none') plus ``rejected_values`` (column -> NULLs set).
    """
    act = _as_dict(activity)
    _, metrics = _derive_one(act, records, athlete=athlete, overrides=overrides)
    return metrics


def derive_activity(
    activities: pl.DataFrame,
    records: pl.DataFrame,
    laps: pl.DataFrame,
    *,
    athlete: AthleteProfile | None = None,
    overrides: dict[str, float] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(records with derived columns, activity_metrics) for the frames of one decoded file.

    ``laps`` is accepted for a stable signature; the session summary already carries what the
    metrics need, so laps are not read.
    """
    del laps  # see docstring
    recs = schema.conform(records, "records").with_row_index("__row")
    out_parts: list[pl.DataFrame] = []
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for act in activities.iter_rows(named=True):
        aid = act.get("activity_id")
        seen.add(aid)
        part = recs.filter(pl.col("activity_id") == aid).sort("record_index", nulls_last=True, maintain_order=True)
        part_out, derived = _derive_one(act, part.drop("__row"), athlete=athlete, overrides=overrides)
        out_parts.append(part_out.with_columns(part["__row"]))
        rows.append(_metrics_row(act, derived, athlete))
    orphans = recs.filter(~pl.col("activity_id").is_in(list(seen)) | pl.col("activity_id").is_null())
    if orphans.height:
        out_parts.append(orphans)
    if out_parts:
        aligned = [p.select(recs.columns) for p in out_parts]
        out = pl.concat(aligned, how="vertical_relaxed").sort("__row").drop("__row")
    else:
        out = recs.drop("__row")
    metrics = schema.conform(pl.DataFrame(rows) if rows else None, "activity_metrics")
    return schema.conform(out, "records"), metrics


# --------------------------------------------------------------------------------------------


def _as_dict(activity: dict[str, Any] | pl.DataFrame) -> dict[str, Any]:
    if isinstance(activity, pl.DataFrame):
        if activity.height != 1:
            raise ValueError(f"expected one activity row, got {activity.height}")
        return activity.row(0, named=True)
    return dict(activity)


def _floats(records: pl.DataFrame, col: str) -> np.ndarray:
    if col not in records.columns:
        return np.full(records.height, np.nan)
    return gt._floats(records[col])


def _derive_one(
    act: dict[str, Any],
    records: pl.DataFrame,
    *,
    athlete: AthleteProfile | None,
    overrides: dict[str, float] | None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """(one activity's records with derived columns, derived metrics dict)."""
    records = schema.conform(records, "records").sort("record_index", nulls_last=True, maintain_order=True)
    sport = act.get("sport")
    foot = cad.is_foot_sport(sport)
    n = records.height

    dt = gt.sample_durations(records["recorded_at"], overrides=overrides)
    speed = gt.derive_speed(records, dt, overrides=overrides)
    raw_cad = _floats(records, "cadence_raw")
    dev_cad = _floats(records, "dev_cadence_raw")
    any_cad = np.where(np.isnan(raw_cad), dev_cad, raw_cad)
    moving = gt.moving_mask(speed, any_cad, on_foot=foot is not False, overrides=overrides) if n else np.zeros(0)

    spm, unit, cad_source = cad.derive_cadence(
        sport, act.get("cadence_raw_unit"), raw_cad, dev_cad, moving, overrides=overrides
    )
    if foot is False:
        spm = np.full(n, np.nan)
    if foot is not False:
        raw_gait = gt.classify_gait(moving, spm, speed, overrides=overrides)
        gait = gt.smooth_gait(raw_gait, dt, overrides=overrides)
    else:
        gait = [None] * n

    cleaned, rejected = dyn.clean_dynamics(records, spm, speed, overrides=overrides)
    out = cleaned.with_columns(
        pl.Series("cadence_spm", spm, dtype=pl.Float64).fill_nan(None),
        pl.Series("is_moving", moving, dtype=pl.Float64).fill_nan(None).cast(pl.Boolean),
        pl.Series("gait", gait, dtype=pl.Utf8),
        pl.Series("grade_pct", grade_pct(_floats(records, "altitude_m"), _floats(records, "distance_m"),
                                         overrides=overrides), dtype=pl.Float64).fill_nan(None),
    )

    # --- activity-level values from the records ---
    timed = out["recorded_at"].drop_nulls()
    elapsed = (timed.max() - timed.min()).total_seconds() if timed.len() else None
    mv = moving == 1.0
    moving_time = float(dt[mv].sum()) if np.any(~np.isnan(moving)) else (float(dt.sum()) if n else None)

    distance, distance_source = _record_distance(records, act)

    run_time = walk_time = intervals = longest_bout = None
    cad_run = gct_run = None
    if foot is not False and n:
        g = np.array([x or "" for x in gait])
        if np.any(g != ""):
            run_time = float(dt[g == "run"].sum())
            walk_time = float(dt[g == "walk"].sum())
            bouts = gt.gait_bouts(gait, dt)
            intervals = gt.run_walk_intervals(bouts)
            runs = bouts.filter(pl.col("gait") == "run")["duration_s"]
            longest_bout = float(runs.max()) if runs.len() else 0.0
        is_run_sample = g == "run"
        if np.any(is_run_sample) and cad_source != "none":
            cad_run = cad.average_cadence_spm(np.where(is_run_sample, spm, np.nan), dt)
        if np.any(is_run_sample):
            gct_run = dyn.average_running_contact_time(out, is_run_sample)

    avg_cad = cad.average_cadence_spm(spm, dt) if cad_source != "none" else None
    steps = cad.steps_from_cadence(spm, dt) if cad_source != "none" else None
    hr = _floats(records, "heart_rate_bpm")
    hr_valid = np.where(hr > 0, hr, np.nan)
    gain, loss = elevation_gain_loss(_floats(records, "altitude_m"), overrides=overrides)
    trimp_au = None
    if athlete is not None:
        trimp_au = trimp_banister(hr, dt, athlete.hr_rest_bpm, athlete.hr_max_bpm, athlete.sex)

    metrics: dict[str, Any] = {
        "distance_m": distance,
        "moving_time_s": moving_time,
        "elapsed_time_s": elapsed,
        "steps": steps,
        "avg_cadence_spm": avg_cad,
        **dyn.average_dynamics(out),
        "avg_heart_rate_bpm": cad.time_weighted_mean(hr_valid, dt),
        "run_time_s": run_time,
        "walk_time_s": walk_time,
        "run_walk_intervals": intervals,
        "avg_cadence_run_spm": cad_run,
        "avg_ground_contact_time_run_ms": gct_run,
        "longest_run_bout_s": longest_bout,
        "elevation_gain_m": gain,
        "elevation_loss_m": loss,
        "trimp_au": trimp_au,
        "cadence_unit": unit,
        "cadence_source": cad_source,
        "distance_source": distance_source,
        "moving_time_source": "derived" if moving_time is not None else "none",
        "steps_source": cad_source if steps is not None else "none",
        "median_moving_speed_mps": float(np.nanmedian(speed[mv])) if np.any(mv & ~np.isnan(speed)) else None,
        "rejected_values": rejected,
        "n_records": n,
    }
    return out, metrics


def _record_distance(records: pl.DataFrame, act: dict[str, Any]) -> tuple[float | None, str]:
    """Distance (m) from the records: distance increments, else haversine, else the file's total.

    The cumulative ``distance_m`` gives the sum of its non-negative increments (= last - first
    when it only grows, so a multisport leg does not inherit the legs before it; a counter reset
    to 0 loses nothing).
    """
    dist = _floats(records, "distance_m")
    if np.any(~np.isnan(dist)):
        steps = gt._backward_steps(dist)
        return float(np.nansum(np.where(steps > 0, steps, 0.0))), "derived"
    lat, lon = _floats(records, "latitude_deg"), _floats(records, "longitude_deg")
    steps = gt._backward_haversine(lat, lon)
    if np.any(~np.isnan(steps)):
        return float(np.nansum(steps)), "derived"
    if act.get("distance_m") is not None:
        return float(act["distance_m"]), "device"
    return None, "none"


def _has_session_summary(act: dict[str, Any]) -> bool:
    """The activity row carries the device's session totals (FIT session / TCX laps).

    A FIT activity built from records alone (no session message) has no timer time, and its
    distance is the reader's record maximum, so it is not a device summary; GPX never is.
    """
    return act.get("source_format") in DEVICE_SUMMARY_FORMATS and _present(act.get("timer_time_s"))


def _present(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _positive(v: Any) -> bool:
    """A device average that can be a measurement: devices write 0 for "no sensor data"
    (0 ms contact time, 0 spm, 0 bpm), which is no value, so the derived one stands."""
    return _present(v) and float(v) > 0


def infer_sport(
    sport: str | None, derived: dict[str, Any], overrides: dict[str, float] | None = None
) -> tuple[str | None, str]:
    """(sport, sport_source) for an activity; untyped ones (GPX/TCX without a type) are inferred.

    A file that names its sport keeps it (``file``). With no sport (NULL or 'generic'), the
    records decide: median moving speed above ``run_max_speed_mps`` -> left unknown (likely a
    ride: no steps claimed); otherwise running gait >= ``infer_run_share`` of moving time ->
    'running', walking gait the larger share -> 'walking' (``inferred``). Without gait data the
    sport stays unknown (``none``).
    """
    if cad.is_foot_sport(sport) is not None:
        return sport, "file"
    speed = derived.get("median_moving_speed_mps")
    run_s = derived.get("run_time_s") or 0.0
    walk_s = derived.get("walk_time_s") or 0.0
    if speed is not None and speed > threshold("run_max_speed_mps", overrides):
        return sport, "none"
    if run_s + walk_s <= 0:
        return sport, "none"
    if run_s / (run_s + walk_s) >= threshold("infer_run_share", overrides):
        return "running", "inferred"
    return "walking", "inferred"


def _metrics_row(act: dict[str, Any], d: dict[str, Any], athlete: AthleteProfile | None) -> dict[str, Any]:
    """Device values where the file has them, derived values otherwise (see module docstring)."""
    foot = cad.is_foot_sport(act.get("sport"))
    summary = _has_session_summary(act)
    row = {k: d.get(k) for k in schema.ACTIVITY_METRICS if k in d}

    if summary and _present(act.get("distance_m")):
        row["distance_m"], row["distance_source"] = float(act["distance_m"]), "device"
    if summary and _present(act.get("timer_time_s")):
        row["moving_time_s"], row["moving_time_source"] = float(act["timer_time_s"]), "device"
    if _present(act.get("elapsed_time_s")):
        row["elapsed_time_s"] = float(act["elapsed_time_s"])
    if foot is not False:
        if _positive(act.get("device_avg_cadence_spm")):
            row["avg_cadence_spm"], row["cadence_source"] = float(act["device_avg_cadence_spm"]), "device"
        if _positive(act.get("device_total_strides")):
            row["steps"], row["steps_source"] = 2.0 * float(act["device_total_strides"]), "device"
    else:
        row["avg_cadence_spm"] = row["steps"] = None
        row["steps_source"] = row["cadence_source"] = "none"
    if _positive(act.get("device_avg_ground_contact_time_ms")):
        row["avg_ground_contact_time_ms"] = float(act["device_avg_ground_contact_time_ms"])
        row["gct_source"] = "device"
    for col, dev, usable in (
        ("avg_gct_balance_left_pct", "device_avg_gct_balance_left_pct", _positive),
        ("avg_vertical_oscillation_mm", "device_avg_vertical_oscillation_mm", _positive),
        ("avg_vertical_ratio_pct", "device_avg_vertical_ratio_pct", _positive),
        ("avg_step_length_mm", "device_avg_step_length_mm", _positive),
        ("avg_heart_rate_bpm", "device_avg_heart_rate_bpm", _positive),
        ("elevation_gain_m", "device_total_ascent_m", _present),
        ("elevation_loss_m", "device_total_descent_m", _present),
    ):
        if usable(act.get(dev)):
            row[col] = float(act[dev])

    sport, sport_source = infer_sport(act.get("sport"), d)
    athlete_id = act.get("athlete_id") if "athlete_id" in act else None
    if athlete_id is None and athlete is not None:
        athlete_id = athlete.athlete_id
    row.update(
        activity_id=act.get("activity_id"),
        athlete_id=athlete_id,
        sport=sport,
        sport_source=sport_source,
        is_run=sport == "running",
        started_at=act.get("started_at"),
        local_date=act.get("local_date"),
    )
    return row
