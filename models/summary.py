"""One row of ``activity_metrics`` per activity, its ``activity_checks``, and the derived per-record columns.

Entry point for the pipeline: ``derive_file(activities, records, laps, events, athlete=, overrides=)``
on the canonical frames of ONE decoded file (several activities for multisport files). It returns a
``DerivedFile`` of

1. ``records`` (same rows, same order, conformed to ``schema.RECORDS``) with ``cadence_spm``,
   ``is_moving`` and ``gait`` filled, and the running-dynamics columns cleaned: impossible values
   (``models.dynamics``) become NULL. Every other column is unchanged; native and developer
   dynamics stay side by side. NULLs set are counted by ``derive_from_records`` (key
   ``rejected_values``), not stored.
2. ``metrics``: ``activity_metrics`` conformed to ``schema.DERIVED['activity_metrics']``.
3. ``checks``: ``schema.ACTIVITY_CHECKS``, one row per activity x check run (passed ones too):
   track cleaning, the distance choice and agreement, time order, the device's step total
   (``models/quality.py``), and the sport decision's own checks (``models/sport.py``).

``derive_activity(activities, records, laps, ...)`` is ``derive_file`` without events, returning
(records, metrics).

Per activity, in order: the GPS track is cleaned (``models.track.clean_track``) with the speed
ceiling of an unknown sport (a GPX segment by segment), motion (time per sample with the device's
timer stops and the metres per sample, speed from the kept positions, moving, cadence, gait) is
derived for the file's label, the sport is decided from that evidence (``models.sport``), and the
track is cleaned again with the decided sport's ceiling (motion derived again when the kept
positions or the sport changed). Sports not on foot by that decision get no steps, cadence, gait
or run/walk times.

Fidelity: where the file carries the device's own session summary, the row reports it and names
the source ``device``; otherwise the value is derived from the records (``derived``, or
``developer`` when only a developer field had it). Device values used:

- distance_m: one distance chosen from the session, the laps, the record counter and the cleaned
  track by the rule in ``models/quality.py`` (a FIT session's distance is always kept;
  ``distance_source`` device | laps | records | track | none, ``distance_reason`` says why; every
  candidate is stored in ``distance_*_m``);
- moving_time_s <- activities.timer_time_s (total_timer_time; TCX laps' TotalTimeSeconds), for a
  FIT or TCX activity whose timer time is set (a FIT activity built from records alone has none),
  at most the elapsed time;
- elapsed_time_s <- activities.elapsed_time_s whenever present;
- avg_cadence_spm <- device_avg_cadence_spm on foot; steps <- 2 x device_total_strides on foot when
  it agrees with cadence x time (``models.quality.guard_steps``);
- avg_ground_contact_time_ms <- device_avg_ground_contact_time_ms (gct_source 'device');
- avg_gct_balance_left_pct, avg_vertical_oscillation_mm, avg_vertical_ratio_pct,
  avg_step_length_mm, avg_heart_rate_bpm, elevation_gain_m/elevation_loss_m
  (device_total_ascent_m/descent_m) <- the device_* value when present.

GPX carries no summary: its ``activities.distance_m``/``timer_time_s`` are computed by the reader,
so GPX values are always derived. Run/walk times, run-walk intervals and TRIMP are always
derived (no watch summary has them in a comparable form).

Other choices: ``is_run``, ``sport``, ``sport_source``, ``sport_confidence`` and ``sport_reason``
come from ``models.sport.decide_sport``. ``athlete_id`` comes from ``activities.athlete_id`` when
that column exists, else from the profile. Elevation gain/loss: a hysteresis of
``elevation_hysteresis_m`` (GoldenCheetah's default 3 m): the altitude must reverse by more than
that before a climb or descent starts; within a climb every metre counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from ingest import schema
from ingest.fit_messages import frame, new_series, null_series
from models import cadence as cad
from models import dynamics as dyn
from models import gait as gt
from models import quality as q
from models import sport as sp
from models import track as trk
from models.frames import put_columns
from models.load import AthleteProfile, trimp_banister
from models.thresholds import value as threshold

__all__ = ["AthleteProfile", "DerivedFile", "derive_activity", "derive_file", "derive_from_records",
           "elevation_gain_loss"]

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
    ref = float(alt[0])
    direction = 0
    for a in alt[1:].tolist():  # Python floats: the same IEEE arithmetic, without numpy scalars
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

    ``activity`` is one activities row (dict, or a one-row frame): only sport, sub_sport,
    source_format, cadence_raw_unit, and (as a last resort for distance) distance_m are read.
    ``records`` are that activity's records (any order; sorted by record_index here). Returns a
    dict with the activity_metrics keys (sources 'records'/'track'/'derived'/'developer'/'none')
    plus ``rejected_values`` (column -> NULLs set) and ``checks`` (the quality checks run).
    """
    act = _as_dict(activity)
    _, metrics = _derive_one(act, records, athlete=athlete, overrides=overrides, file_summary=False)
    return metrics


@dataclass
class DerivedFile:
    """What ``derive_file`` returns for the frames of one decoded file."""

    records: pl.DataFrame  # conformed to schema.RECORDS, same rows and order as given
    metrics: pl.DataFrame  # schema.ACTIVITY_METRICS, one row per activity
    checks: pl.DataFrame  # schema.ACTIVITY_CHECKS, one row per activity x check run (passed too)


def derive_file(
    activities: pl.DataFrame,
    records: pl.DataFrame,
    laps: pl.DataFrame,
    events: pl.DataFrame | None,
    *,
    athlete: AthleteProfile | None = None,
    overrides: dict[str, float] | None = None,
) -> DerivedFile:
    """Records with derived columns, activity_metrics and activity_checks for one decoded file.

    ``laps`` give the laps' distance and strides (distance and step cross-checks); ``events``
    give the device's timer stops (FIT ``timer`` stop events), which ``models.gait`` reads as
    pauses. See ``models/quality.py`` for the checks.
    """
    laps = schema.conform(laps, "laps") if laps is not None else schema.empty("laps")
    events = schema.conform(events, "events") if events is not None else schema.empty("events")
    base = schema.conform(records, "records")
    if activities.height == 1 and _one_activity_in_order(base, activities["activity_id"][0]):
        # the usual file: every record belongs to its one activity, already in record order, so
        # the split by activity, the sort and the reassembly below would give these rows back
        act = activities.row(0, named=True)
        aid = act.get("activity_id")
        part_out, derived = _derive_one(
            act, base, laps=laps if _all_of(laps, aid) else laps.filter(pl.col("activity_id") == aid),
            stops_s=q.timer_stop_seconds(events, aid), athlete=athlete, overrides=overrides,
            in_order=True,
        )
        row, row_checks = _metrics_row(act, derived, athlete, overrides)
        checks = [{"activity_id": aid, **c} for c in derived["checks"] + row_checks]
        metrics = _metrics_frame(row)
        out = part_out if part_out.columns == base.columns else part_out.select(base.columns)
        out = schema.conform(out, "records")
        return DerivedFile(out, metrics, q.checks_frame(checks))
    recs = base.with_row_index("__row")
    out_parts: list[pl.DataFrame] = []
    rows: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    seen: set[str] = set()
    for act in activities.iter_rows(named=True):
        aid = act.get("activity_id")
        seen.add(aid)
        part = recs.filter(pl.col("activity_id") == aid).sort("record_index", nulls_last=True, maintain_order=True)
        part_out, derived = _derive_one(
            act, part.drop("__row"), laps=laps.filter(pl.col("activity_id") == aid),
            stops_s=q.timer_stop_seconds(events, aid), athlete=athlete, overrides=overrides,
        )
        out_parts.append(part_out.with_columns(part["__row"]))
        row, row_checks = _metrics_row(act, derived, athlete, overrides)
        rows.append(row)
        checks += [{"activity_id": aid, **c} for c in derived["checks"] + row_checks]
    orphans = recs.filter(~pl.col("activity_id").is_in(list(seen)) | pl.col("activity_id").is_null())
    if orphans.height:
        out_parts.append(orphans)
    if out_parts:
        aligned = [p.select(recs.columns) for p in out_parts]
        out = pl.concat(aligned, how="vertical_relaxed").sort("__row").drop("__row")
    else:
        out = recs.drop("__row")
    metrics = schema.conform(pl.DataFrame(rows) if rows else None, "activity_metrics")
    return DerivedFile(schema.conform(out, "records"), metrics, q.checks_frame(checks))


def derive_activity(
    activities: pl.DataFrame,
    records: pl.DataFrame,
    laps: pl.DataFrame,
    *,
    athlete: AthleteProfile | None = None,
    overrides: dict[str, float] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(records with derived columns, activity_metrics): ``derive_file`` without events, and
    without its checks."""
    res = derive_file(activities, records, laps, None, athlete=athlete, overrides=overrides)
    return res.records, res.metrics


# --------------------------------------------------------------------------------------------


def _metrics_frame(row: dict[str, Any]) -> pl.DataFrame:
    """``schema.conform(pl.DataFrame([row]), "activity_metrics")`` built column by column with
    the same casts (non-strict), without a query plan over ~60 columns."""
    cols = schema.ACTIVITY_METRICS
    if any(k not in cols for k in row):  # conform says which column is not in the schema
        return schema.conform(pl.DataFrame([row]), "activity_metrics")
    return frame([_metric_series(name, row[name], dtype) if name in row else null_series(name, dtype, 1)
                  for name, dtype in cols.items()])


_EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)

#: the dtype ``pl.Series(name, [v])`` infers for a Python scalar of this exact type
_SCALAR_DTYPES = {float: pl.Float64, str: pl.Utf8, bool: pl.Boolean, int: pl.Int64}


def _metric_series(name: str, v: Any, dtype: pl.DataType) -> pl.Series:
    """``pl.Series(name, [v]).cast(dtype, strict=False)``: for None, float, str, bool and an
    int within Int64 through the constructor that ``pl.Series`` itself picks for that type
    (``ingest.fit_messages.new_series``), without its generic front end (~40 columns a file:
    ~0.4 ms of a decode worker's ~17 ms per file, measured on the bench archive); anything
    else (dates, numpy scalars) through ``pl.Series``."""
    if v is None:
        return null_series(name, dtype, 1)
    if type(v) is datetime and v.tzinfo is None and dtype == pl.Datetime("us"):
        # pl.Series' own conversion: the microseconds since 1970 (exact in Python ints)
        return new_series(name, [(v - _EPOCH) // _US], pl.Int64).cast(dtype)
    if type(v) is date and dtype == pl.Date:
        return new_series(name, [(v - _EPOCH.date()).days], pl.Int32).cast(dtype)
    inferred = _SCALAR_DTYPES.get(type(v))
    if inferred is None or (inferred is pl.Int64 and not -(1 << 63) <= v < (1 << 63)):
        return pl.Series(name, [v]).cast(dtype, strict=False)
    s = new_series(name, [v], inferred)
    return s if inferred == dtype else s.cast(dtype, strict=False)


def _in_record_order(records: pl.DataFrame) -> bool:
    """The rows are already as ``sort("record_index", nulls_last=True, maintain_order=True)``
    leaves them: no NULL index, never decreasing (the sort is stable, so it would keep them)."""
    ri = records.get_column("record_index")
    if ri.null_count():
        return False
    v = ri.to_numpy()
    return bool(v.size < 2 or np.all(v[1:] >= v[:-1]))


def _all_of(df: pl.DataFrame, activity_id: Any) -> bool:
    """Every row of ``df`` belongs to ``activity_id`` (a filter on it would keep them all)."""
    aid = df.get_column("activity_id")
    return activity_id is not None and aid.null_count() == 0 and bool((aid == activity_id).all())


def _one_activity_in_order(records: pl.DataFrame, activity_id: Any) -> bool:
    """Every record belongs to ``activity_id`` (none NULL) and they are in record order."""
    if activity_id is None:
        return False
    aid = records.get_column("activity_id")
    if aid.null_count():
        return False
    if records.height and not (aid == activity_id).all():
        return False
    return _in_record_order(records)


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


def _segment_starts(secs: np.ndarray, laps: pl.DataFrame | None, fmt: str | None) -> np.ndarray:
    """Bool per record: first record of a GPX track segment (a GPX lap) after the first.

    Only GPX: its laps are the reader's segments and the reader counts no distance across them.
    A segment starts at the first record (in record order) timed at or after its lap's start.
    """
    starts = np.zeros(len(secs), dtype=bool)
    if fmt != "gpx" or laps is None or laps.height < 2 or len(secs) == 0:
        return starts
    t = pl.Series(secs).fill_nan(None).fill_null(strategy="forward").fill_null(float("-inf")).to_numpy()
    lap_s = gt._epoch_seconds(laps.sort("lap_index")["started_at"])[1:]
    lo = 0
    for s0 in lap_s:
        if np.isnan(s0):
            continue
        later = np.flatnonzero(t[lo:] >= s0)
        if not len(later):
            break
        lo = lo + int(later[0])
        if lo > 0:
            starts[lo] = True
    return starts


def _clean_track(secs, lat, lon, starts: np.ndarray, ceiling: float, overrides,
                 steps: dict | None = None) -> trk.TrackResult:
    """``track.clean_track`` over each segment (see ``_segment_starts``), results combined.

    ``steps``: a dict kept by the caller between the cleanings of one track (different
    ceilings), so that each segment's haversine steps are computed once (``track.Steps``)."""
    steps = {} if steps is None else steps

    def segment(a: int, b: int) -> tuple:
        if (a, b) not in steps:
            la, lo = (lat, lon) if (a, b) == (0, len(secs)) else (lat[a:b], lon[a:b])
            steps[(a, b)] = (secs[a:b], la, lo, trk.Steps(la, lo))
        return steps[(a, b)]

    if not starts.any():
        _, la, lo, st = segment(0, len(secs))
        return trk.clean_track(secs, la, lo, max_speed_mps=ceiling, overrides=overrides, steps=st)
    bounds = [0, *np.flatnonzero(starts).tolist(), len(secs)]
    parts = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b > a:
            t_, la, lo, st = segment(a, b)
            parts.append(trk.clean_track(t_, la, lo, max_speed_mps=ceiling, overrides=overrides, steps=st))

    def total(vals):
        vals = [v for v in vals if v is not None]
        return float(sum(vals)) if vals else None

    dropped: dict[str, int] = {}
    for p in parts:
        for k, v in (p.dropped or {}).items():
            dropped[k] = dropped.get(k, 0) + int(v)
    speeds = [p.max_step_speed_raw_mps for p in parts if p.max_step_speed_raw_mps is not None]
    return trk.TrackResult(
        keep=np.concatenate([np.asarray(p.keep, dtype=bool) for p in parts]),
        distance_raw_m=total(p.distance_raw_m for p in parts),
        distance_clean_m=total(p.distance_clean_m for p in parts),
        dropped=dropped,
        max_step_speed_raw_mps=max(speeds) if speeds else None,
    )


def _step_m(rec_dist: np.ndarray, lat: np.ndarray, lon: np.ndarray, keep: np.ndarray,
            counter: bool, seg_starts: np.ndarray) -> np.ndarray:
    """Metres covered since the previous sample (NaN unknown): the device's distance counter
    (a step back is unknown), else the haversine between kept positions (unknown across a GPX
    segment break)."""
    if counter and np.any(~np.isnan(rec_dist)):
        step = gt._backward_steps(rec_dist)
        return np.where(step >= 0, step, np.nan)
    step = gt._backward_haversine(np.where(keep, lat, np.nan), np.where(keep, lon, np.nan))
    return np.where(seg_starts, np.nan, step)


def _motion(
    records: pl.DataFrame,
    sport: str | None,
    cadence_raw_unit: str | None,
    *,
    keep: np.ndarray,
    counter: bool,
    seg_starts: np.ndarray,
    stops_s: np.ndarray,
    overrides: dict[str, float] | None,
) -> dict[str, Any]:
    """dt, speed, moving, cadence and gait per sample, for ``sport`` and the kept positions."""
    n = records.height
    foot = cad.is_foot_sport(sport)
    lat, lon = _floats(records, "latitude_deg"), _floats(records, "longitude_deg")
    rec_dist = _floats(records, "distance_m")
    step = _step_m(rec_dist, lat, lon, keep, counter, seg_starts)
    dt = gt.sample_durations(records["recorded_at"], step_m=step, stops_s=stops_s, overrides=overrides)
    speed_recs = records
    dropped = ~keep & ~np.isnan(lat) & ~np.isnan(lon)
    if not counter or np.any(dropped):
        # speed from the kept positions (a GPX's records distance is its raw positions)
        # (columns put in place, not ``with_columns``; NaN -> NULL at construction, not
        # ``fill_nan(None)``: each of those ran a query)
        cols = []
        if not counter:
            cols.append(null_series("distance_m", pl.Float64, n))
        if np.any(dropped):
            cols += [pl.Series("latitude_deg", np.where(keep, lat, np.nan), nan_to_null=True),
                     pl.Series("longitude_deg", np.where(keep, lon, np.nan), nan_to_null=True)]
        speed_recs = put_columns(records, cols)
    speed = gt.derive_speed(speed_recs, dt, overrides=overrides)
    raw_cad = _floats(records, "cadence_raw")
    dev_cad = _floats(records, "dev_cadence_raw")
    any_cad = np.where(np.isnan(raw_cad), dev_cad, raw_cad)
    moving = gt.moving_mask(speed, any_cad, on_foot=foot is not False, overrides=overrides) if n else np.zeros(0)
    spm, unit, cad_source = cad.derive_cadence(sport, cadence_raw_unit, raw_cad, dev_cad, moving, overrides=overrides)
    codes = None  # the gait's models.gait.gait_codes, when on foot
    if foot is False:
        spm = np.full(n, np.nan)
        gait: list[str | None] = [None] * n
    else:
        # smooth_gait(classify_gait(...)) on the labels' codes, labelled once at the end (the
        # labels coded back, for the smoothing, the masks and the bouts, were ~5% of derive)
        codes = gt.smooth_gait_codes(gt.classify_gait_codes(moving, spm, speed, overrides=overrides), dt,
                                     overrides=overrides)
        gait = gt.gait_labels(codes)
    run_s = walk_s = run = None  # run: the 'run' samples, when on foot (None: not asked)
    if foot is not False and n:
        labelled, run, walk = codes != gt.GAIT_NONE, codes == gt.GAIT_RUN, codes == gt.GAIT_WALK
        if np.any(labelled):
            run_s, walk_s = float(dt[run].sum()), float(dt[walk].sum())
    return {"foot": foot, "dt": dt, "speed": speed, "raw_cad": raw_cad, "moving": moving, "spm": spm,
            "unit": unit, "cad_source": cad_source, "gait": gait, "gait_codes": codes, "run_s": run_s,
            "walk_s": walk_s, "run": run, "keep": keep}


def _derive_one(
    act: dict[str, Any],
    records: pl.DataFrame,
    *,
    laps: pl.DataFrame | None = None,
    stops_s: np.ndarray | None = None,
    athlete: AthleteProfile | None,
    overrides: dict[str, float] | None,
    file_summary: bool = True,
    in_order: bool = False,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """(one activity's records with derived columns, derived metrics dict).

    Order (the sport needs speed, the speed ceiling needs the sport): clean the track with the
    ceiling for an unknown sport, derive motion for the file's label, decide the sport
    (``models.sport``), then re-clean with the decided sport's ceiling and derive motion again
    when the kept positions changed or the decision moved the activity on or off foot.
    ``file_summary`` False: the session and laps are not candidates (``derive_from_records``).
    ``in_order``: ``records`` are conformed and in record order already (``derive_file``).
    """
    if not in_order:
        records = schema.conform(records, "records")
        if not _in_record_order(records):
            records = records.sort("record_index", nulls_last=True, maintain_order=True)
    # stops_s None: the file records no timer events (GPX/TCX, or a FIT without them); an empty
    # array: the device writes timer events and stopped nowhere (models.gait.sample_durations)
    label = act.get("sport")
    fmt = act.get("source_format")
    n = records.height
    counter = fmt != "gpx"  # FIT/TCX records distance is the device's counter; GPX's is the reader's
    secs = gt._epoch_seconds(records["recorded_at"])
    lat, lon = _floats(records, "latitude_deg"), _floats(records, "longitude_deg")
    rec_dist = _floats(records, "distance_m")
    checks: list[dict[str, Any]] = []

    seg = _segment_starts(secs, laps, fmt)
    ceiling0 = trk.speed_ceiling_mps(None, overrides)
    steps: dict = {}  # the track's haversine steps, shared by both cleanings
    tr = _clean_track(secs, lat, lon, seg, ceiling0, overrides, steps)
    mo = _motion(records, label, act.get("cadence_raw_unit"), keep=tr.keep, counter=counter,
                 seg_starts=seg, stops_s=stops_s, overrides=overrides)

    cands = _candidates(act, laps, rec_dist, tr, file_summary=file_summary)
    first = q.choose_distance(cands, overrides)
    gct = _floats(records, "ground_contact_time_ms")
    gct = np.where(np.isnan(gct), _floats(records, "dev_ground_contact_time_ms"), gct)
    evidence = sp.evidence_from_arrays(
        label=label, sub_sport=act.get("sub_sport"), source_format=fmt, dt_s=mo["dt"], speed_mps=mo["speed"],
        moving=mo["moving"], cadence_raw=mo["raw_cad"], cadence_raw_unit=act.get("cadence_raw_unit"),
        cadence_spm=mo["spm"], gct_ms=gct, run_time_s=mo["run_s"], walk_time_s=mo["walk_s"],
        distance_m=first.distance_m, seconds=secs,
    )
    decision = sp.decide_sport(evidence, overrides)
    sport = decision.sport
    checks += list(decision.checks)

    ceiling = trk.speed_ceiling_mps(sport, overrides)
    if ceiling != ceiling0:
        tr = _clean_track(secs, lat, lon, seg, ceiling, overrides, steps)
    # motion depends on the sport only through "not on foot" (models.cadence, models.gait)
    if (cad.is_foot_sport(sport) is False) != (cad.is_foot_sport(label) is False) \
            or not np.array_equal(tr.keep, mo["keep"]):
        mo = _motion(records, sport, act.get("cadence_raw_unit"), keep=tr.keep, counter=counter,
                     seg_starts=seg, stops_s=stops_s, overrides=overrides)
        cands = _candidates(act, laps, rec_dist, tr, file_summary=file_summary)
    checks.append(_track_check(tr, ceiling, sport))
    choice = q.choose_distance(cands, overrides)
    checks += choice.checks

    foot, dt, speed, moving, spm, gait = (mo[k] for k in ("foot", "dt", "speed", "moving", "spm", "gait"))
    unit, cad_source = mo["unit"], mo["cad_source"]
    cleaned, rejected = dyn.clean_dynamics(records, spm, speed, overrides=overrides)
    out = put_columns(cleaned, [
        pl.Series("cadence_spm", spm, dtype=pl.Float64, nan_to_null=True),
        pl.Series("is_moving", moving, dtype=pl.Float64, nan_to_null=True).cast(pl.Boolean),
        new_series("gait", gait, pl.Utf8),  # pl.Series(..., dtype=pl.Utf8)'s constructor
        pl.Series("grade_pct", grade_pct(_floats(records, "altitude_m"), rec_dist,
                                         overrides=overrides), dtype=pl.Float64, nan_to_null=True),
    ])

    # --- activity-level values from the records ---
    timed = out["recorded_at"]
    elapsed = ((timed.max() - timed.min()).total_seconds()
               if timed.null_count() < timed.len() else None)  # max/min skip NULLs
    mv = moving == 1.0
    moving_time = float(dt[mv].sum()) if np.any(~np.isnan(moving)) else (float(dt.sum()) if n else None)

    run_time = walk_time = intervals = longest_bout = None
    cad_run = gct_run = None
    if foot is not False and n:
        # the run and walk time _motion summed (None when no sample has a gait label)
        run_time, walk_time = mo["run_s"], mo["walk_s"]
        if run_time is not None:
            # gt.gait_bouts's bouts, without the frame: labels and durations
            b_idx, b_labels, b_first, _ = gt._moving_runs(gait, codes=mo["gait_codes"])
            b_secs = gt._bout_seconds(dt, b_idx, b_first)
            intervals = gt.run_walk_intervals_of(b_labels)
            runs = b_secs[np.asarray(b_labels, dtype=object) == "run"] if b_labels else b_secs[:0]
            if np.isnan(runs).any():  # polars' max, as before, decides what NaN means
                runs = pl.Series(runs)
                longest_bout = float(runs.max()) if runs.len() else 0.0
            else:
                longest_bout = float(runs.max()) if runs.size else 0.0
        is_run_sample = mo["run"]
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
    lap_strides = None
    if laps is not None and laps.height and laps["total_strides"].null_count() == 0:
        lap_strides = float(laps["total_strides"].sum())

    metrics: dict[str, Any] = {
        "distance_m": choice.distance_m,
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
        "distance_source": choice.source,
        "distance_reason": choice.reason,
        "distance_session_m": cands.session_m,
        "distance_laps_m": cands.laps_m,
        "distance_records_m": cands.records_m,
        "distance_track_raw_m": cands.track_raw_m,
        "distance_track_clean_m": cands.track_clean_m,
        "moving_time_source": "derived" if moving_time is not None else "none",
        "steps_source": cad_source if steps is not None else "none",
        "median_moving_speed_mps": float(np.nanmedian(speed[mv])) if np.any(mv & ~np.isnan(speed)) else None,
        "sport": sport,
        "sport_source": decision.source,
        "sport_confidence": decision.confidence,
        "sport_reason": decision.reason,
        "is_run": decision.is_run,
        "rejected_values": rejected,
        "n_records": n,
        "checks": checks,
        "_laps_strides": lap_strides,
    }
    return out, metrics


def _candidates(act: dict[str, Any], laps: pl.DataFrame | None, rec_dist: np.ndarray, tr: trk.TrackResult,
                *, file_summary: bool) -> q.DistanceCandidates:
    """The distance candidates of one activity (see models/quality.py)."""
    fmt = act.get("source_format")
    session = laps_m = None
    if file_summary and fmt == "fit" and _has_session_summary(act) and _present(act.get("distance_m")):
        session = float(act["distance_m"])
    if file_summary and fmt != "gpx" and laps is not None and laps.height:
        ld = laps["distance_m"]
        if ld.null_count() == 0:
            laps_m = float(ld.sum())
    if file_summary and fmt == "tcx" and laps_m is None and _has_session_summary(act) \
            and _present(act.get("distance_m")):
        laps_m = float(act["distance_m"])  # the TCX reader's sum of the laps' DistanceMeters
    records_m = trk.cumulative_distance_m(rec_dist) if np.any(~np.isnan(rec_dist)) else None
    file_total = None
    if session is None and laps_m is None and _present(act.get("distance_m")):
        file_total = float(act["distance_m"])
    return q.DistanceCandidates(
        source_format=fmt, session_m=session, laps_m=laps_m, records_m=records_m,
        track_raw_m=tr.distance_raw_m, track_clean_m=tr.distance_clean_m, file_total_m=file_total,
    )


def _track_check(tr: trk.TrackResult, ceiling: float, sport: str | None) -> dict[str, Any]:
    """One check row for the track cleaning: positions dropped and the fastest raw step."""
    n_drop = int(sum(tr.dropped.values())) if tr.dropped else 0
    if tr.distance_raw_m is None:
        return q.check_row("track_cleaning", "skipped", unit="m/s", expected_high=ceiling,
                           detail="no GPS positions", effect="none")
    why = ", ".join(f"{k} {v}" for k, v in sorted(tr.dropped.items()) if v) if tr.dropped else ""
    detail = (f"raw track {tr.distance_raw_m:,.0f} m, cleaned {tr.distance_clean_m or 0:,.0f} m; "
              f"speed ceiling for {sport or 'an unknown sport'} {ceiling:g} m/s")
    if n_drop:
        return q.check_row("track_cleaning", "adjusted", measured_value=tr.max_step_speed_raw_mps,
                           expected_low=0.0, expected_high=ceiling, unit="m/s",
                           effect=f"{n_drop} positions dropped ({why})", detail=detail)
    return q.check_row("track_cleaning", "pass", measured_value=tr.max_step_speed_raw_mps, expected_low=0.0,
                       expected_high=ceiling, unit="m/s", effect="none", detail=detail)


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


def _metrics_row(
    act: dict[str, Any], d: dict[str, Any], athlete: AthleteProfile | None,
    overrides: dict[str, float] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(row, checks): device values where the file has them and they pass the guards, derived
    values otherwise (see module docstring and models/quality.py)."""
    foot = cad.is_foot_sport(d.get("sport"))
    summary = _has_session_summary(act)
    row = {k: d.get(k) for k in schema.ACTIVITY_METRICS if k in d}
    checks: list[dict[str, Any]] = []

    if summary and _present(act.get("timer_time_s")):
        row["moving_time_s"], row["moving_time_source"] = float(act["timer_time_s"]), "device"
    if _present(act.get("elapsed_time_s")):
        row["elapsed_time_s"] = float(act["elapsed_time_s"])
    timer = act.get("timer_time_s") if summary else None
    moving, time_checks = q.guard_times(row.get("moving_time_s"), timer, row.get("elapsed_time_s"))
    row["moving_time_s"] = moving
    checks += time_checks
    if foot is not False:
        if _positive(act.get("device_avg_cadence_spm")):
            row["avg_cadence_spm"], row["cadence_source"] = float(act["device_avg_cadence_spm"]), "device"
        use_device, step_checks = q.guard_steps(
            act.get("device_total_strides") if _positive(act.get("device_total_strides")) else None,
            d.get("steps"), laps_strides=d.get("_laps_strides"),
            device_avg_cadence_spm=act.get("device_avg_cadence_spm"), timer_s=timer, overrides=overrides)
        checks += step_checks
        if use_device:
            row["steps"], row["steps_source"] = 2.0 * float(act["device_total_strides"]), "device"
        elif row.get("steps") is None and _positive(d.get("_laps_strides")) and step_checks:
            row["steps"], row["steps_source"] = 2.0 * float(d["_laps_strides"]), "laps"
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

    athlete_id = act.get("athlete_id") if "athlete_id" in act else None
    if athlete_id is None and athlete is not None:
        athlete_id = athlete.athlete_id
    row.update(
        activity_id=act.get("activity_id"),
        athlete_id=athlete_id,
        started_at=act.get("started_at"),
        local_date=act.get("local_date"),
    )
    return row, checks
