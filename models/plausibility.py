"""Plausibility checks on decoded frames, before any metric is derived or anything lands.

Bounds live in ``models/thresholds.py`` (``BOUNDS`` per quantity; the time-span limits
``plausible_earliest_unix_s``, ``plausible_future_slack_s``, ``activity_max_duration_s`` in
``THRESHOLDS``). What :func:`check_decoded` does, in this order:

1. **Impossible time spans refuse the activity**: a start before the FIT epoch (1989-12-31) or
   after now + 1 day, an end after now + 1 day, or a duration (end - start, or elapsed time)
   over 30 days. The activity and everything under it (laps, records, events, developer values,
   field sources) is removed; when every activity of the file is refused the file becomes
   ``quarantined`` (error class ``ImplausibleData``) with a reason naming the bound, otherwise
   the file's reason says what was refused.
2. **Samples with impossible times are dropped** (records, events, developer values), counted.
3. **Values outside their bound, NaN or infinite, become NULL** (laps and activities too).

Nothing is silent: every refusal, drop and NULL gives one ``value_checks`` row per file x
activity x table x column (``ingest.schema.VALUE_CHECKS``). Pure: polars and numpy.

Determinism: the same bytes give the same rows whenever they are checked. The end of the time
window (now + 1 day) depends on the clock, so a time-window row stores ``lower_bound`` (the FIT
epoch) and ``upper_bound`` NULL (``FUTURE_BOUND_STORED``); its ``bound_name`` and ``reason`` say
which end was crossed ("after now + 1 day"). Whether a date is in the future is still decided
with the clock: only a file dated within a day of the check can land differently later.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import polars as pl

from ingest import schema
from models.thresholds import BOUNDS, value as threshold

#: (table, column) -> BOUNDS name, for every float/int value a reader can fill.
COLUMN_BOUNDS: dict[str, dict[str, str]] = {
    "records": {
        "latitude_deg": "latitude_deg",
        "longitude_deg": "longitude_deg",
        "altitude_m": "altitude_m",
        "distance_m": "distance_m",
        "speed_mps": "speed_mps",
        "heart_rate_bpm": "heart_rate_bpm",
        "cadence_raw": "cadence",
        "power_w": "power_w",
        "temperature_c": "temperature_c",
        "ground_contact_time_ms": "ground_contact_time_ms",
        "stance_time_pct": "percent",
        "gct_balance_left_pct": "percent",
        "vertical_oscillation_mm": "vertical_oscillation_mm",
        "vertical_ratio_pct": "percent",
        "step_length_mm": "step_length_mm",
        "dev_ground_contact_time_ms": "ground_contact_time_ms",
        "dev_vertical_oscillation_mm": "vertical_oscillation_mm",
        "dev_power_w": "power_w",
        "dev_form_power_w": "power_w",
        "dev_leg_spring_stiffness_kn_m": "leg_spring_stiffness_kn_m",
        "dev_cadence_raw": "cadence",
        "cadence_spm": "cadence",
    },
    "laps": {
        "elapsed_time_s": "duration_s",
        "timer_time_s": "duration_s",
        "distance_m": "distance_m",
        "avg_cadence_spm": "cadence",
        "avg_ground_contact_time_ms": "ground_contact_time_ms",
        "avg_vertical_oscillation_mm": "vertical_oscillation_mm",
        "avg_heart_rate_bpm": "heart_rate_bpm",
        "max_heart_rate_bpm": "heart_rate_bpm",
        "avg_speed_mps": "speed_mps",
        "avg_power_w": "power_w",
        "total_ascent_m": "ascent_m",
        "total_descent_m": "ascent_m",
    },
    "activities": {
        "local_offset_s": "local_offset_s",
        "elapsed_time_s": "duration_s",  # over the bound the activity is refused first (step 1)
        "timer_time_s": "duration_s",
        "distance_m": "distance_m",
        "device_avg_cadence_spm": "cadence",
        "device_avg_cadence_rpm": "cadence",
        "device_avg_ground_contact_time_ms": "ground_contact_time_ms",
        "device_avg_gct_balance_left_pct": "percent",
        "device_avg_vertical_oscillation_mm": "vertical_oscillation_mm",
        "device_avg_vertical_ratio_pct": "percent",
        "device_avg_step_length_mm": "step_length_mm",
        "device_avg_heart_rate_bpm": "heart_rate_bpm",
        "device_max_heart_rate_bpm": "heart_rate_bpm",
        "device_avg_speed_mps": "speed_mps",
        "device_avg_power_w": "power_w",
        "device_total_ascent_m": "ascent_m",
        "device_total_descent_m": "ascent_m",
        "device_total_calories_kcal": "calories_kcal",
    },
}

#: Tables whose rows are dropped when their own time is impossible.
ROW_TIMES = {"records": "recorded_at", "events": "recorded_at", "developer_values": "recorded_at"}
#: Times that become NULL when impossible (the row itself stays).
NULL_TIMES = {"laps": ("started_at", "ended_at")}

TIME_UNIT = "s since 1970-01-01 UTC"
#: ``value_checks.upper_bound`` of a time-window row (footfall's choice): NULL, not the checking
#: clock + plausible_future_slack_s. That end moves with the clock, so storing it made two checks
#: of the same bytes land different rows; the rows name it instead (bound_name, reason).
FUTURE_BOUND_STORED = None
#: A record's position is set NULL as a whole when either coordinate is refused.
POSITION = ("latitude_deg", "longitude_deg")
ACTIVITY_TABLES = ("activities", "laps", "records", "events", "developer_values", "field_sources")


def time_window(now: datetime | None = None, overrides: dict | None = None) -> tuple[int, int]:
    """(earliest, latest) plausible instant, microseconds since 1970 UTC."""
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    lo = int(threshold("plausible_earliest_unix_s", overrides) * 1_000_000)
    hi = int((now.timestamp() + threshold("plausible_future_slack_s", overrides)) * 1_000_000)
    return lo, hi


def _us(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Datetime("us")).dt.epoch("us")


def _us_np(s: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """``_us`` of a column without a query plan: (int64 microseconds, not-NULL mask); the value
    under a NULL is meaningless. The physical value of a Datetime("us") is its epoch in us."""
    s = s.cast(pl.Datetime("us"))
    v = s.to_numpy()  # datetime64[us], NaT under a NULL
    ok = ~np.isnat(v)
    if int(v.size - ok.sum()) != s.null_count():  # a value that is NaT's own bit pattern
        ok = s.is_not_null().to_numpy()
    return v.view(np.int64), ok


def _iso(us: int | None) -> str:
    if us is None:
        return "?"
    return (pl.Series([us], dtype=pl.Int64).cast(pl.Datetime("us"))
            .dt.to_string("%Y-%m-%dT%H:%M:%S").item())


def _slack(overrides) -> str:
    h = threshold("plausible_future_slack_s", overrides) / 3600
    return "1 day" if h == 24 else f"{h:g} h"


def _day(us: int) -> str:
    return _iso(us)[:10]


def _check_row(file_id, activity_id, table, column, action, n, lo_seen, hi_seen, lower, upper,
               unit, bound_name, reason) -> dict:
    return {"file_id": file_id, "activity_id": activity_id, "table_name": table,
            "column_name": column, "action": action, "n_rejected": int(n),
            "min_seen": lo_seen, "max_seen": hi_seen, "lower_bound": lower, "upper_bound": upper,
            "unit": unit, "bound_name": bound_name, "reason": reason}


def _refusals(acts: pl.DataFrame, lo: int, hi: int, overrides) -> dict[str, list[tuple]]:
    """activity_id -> [(column, value_us_or_s, bound_name, lower, upper, unit, why)]."""
    max_dur_s = threshold("activity_max_duration_s", overrides)
    slack = _slack(overrides)
    (s_us, s_ok), (e_us, e_ok) = _us_np(acts["started_at"]), _us_np(acts["ended_at"])
    rows = zip(acts["activity_id"].to_list(),
               [int(v) if ok else None for v, ok in zip(s_us.tolist(), s_ok.tolist())],
               [int(v) if ok else None for v, ok in zip(e_us.tolist(), e_ok.tolist())],
               acts["elapsed_time_s"].cast(pl.Float64).to_list())
    out: dict[str, list[tuple]] = {}
    lo_s, hi_s = lo / 1e6, FUTURE_BOUND_STORED
    for aid, s, e, el in rows:
        why = []
        if s is not None and s < lo:
            why.append(("started_at", s / 1e6, "plausible_earliest_unix_s", lo_s, hi_s, TIME_UNIT,
                        f"starts {_iso(s)}, before {_day(lo)} (plausible_earliest_unix_s)"))
        elif s is not None and s > hi:
            why.append(("started_at", s / 1e6, "plausible_future_slack_s", lo_s, hi_s, TIME_UNIT,
                        f"starts {_iso(s)}, after now + {slack} (plausible_future_slack_s)"))
        elif e is not None and e > hi:
            why.append(("ended_at", e / 1e6, "plausible_future_slack_s", lo_s, hi_s, TIME_UNIT,
                        f"ends {_iso(e)}, after now + {slack} (plausible_future_slack_s)"))
        if s is not None and e is not None and (e - s) / 1e6 > max_dur_s:
            d = (e - s) / 1e6
            why.append(("ended_at", d, "activity_max_duration_s", 0.0, max_dur_s, "s",
                        f"lasts {d / 86400:.1f} days, more than {max_dur_s / 86400:g} "
                        f"(activity_max_duration_s)"))
        elif el is not None and el == el and abs(el) != float("inf") and el > max_dur_s:
            why.append(("elapsed_time_s", el, "activity_max_duration_s", 0.0, max_dur_s, "s",
                        f"lasts {el / 86400:.1f} days, more than {max_dur_s / 86400:g} "
                        f"(activity_max_duration_s)"))
        if why:
            out[aid] = why
    return out


def _bad(col: str, lower: float, upper: float, dtype) -> pl.Expr:
    c = pl.col(col)
    if dtype.is_float():
        return c.is_not_null() & (c.is_nan() | c.is_infinite() | (c < lower) | (c > upper))
    return c.is_not_null() & ((c < lower) | (c > upper))


def _any_bad(s: pl.Series, lower: float, upper: float) -> bool:
    """Whether ``_bad`` holds for any value of ``s``: the same test on the column's numpy
    values (a NULL is never bad, NaN and +-inf always are; an integer column compares as
    float64 and a float32 one as float32, as polars does), without building an expression."""
    nulls = s.null_count()
    if nulls == s.len():
        return False
    v = s.to_numpy()  # NULL -> NaN (integers with NULLs become float64)
    if not nulls and v.dtype == np.float64:
        # the usual column (issue 17: ~50 a file): no NULL, so every NaN is a value's and
        # bad; any bad value shows in the extremes: NaN propagates to the min, the smallest
        # value is the one below ``lower`` or -inf if any is, the largest above ``upper`` or
        # +inf. Two reductions instead of five elementwise passes (same float64 comparisons)
        if not v.size:
            return False
        mn, mx = v.min(), v.max()
        return bool(mn != mn or mn < lower or mx > upper or mn == -np.inf or mx == np.inf)
    with np.errstate(invalid="ignore"):
        bad = (v < lower) | (v > upper)  # False for NaN
        if v.dtype.kind == "f":
            odd = ~np.isfinite(v)  # NaN (a NULL's or a value's) and +-inf
            if nulls:
                nan = np.isnan(v)
                if int(nan.sum()) == nulls:  # every NaN is a NULL: only inf is bad
                    odd &= ~nan
                else:
                    odd &= s.is_not_null().to_numpy()
            bad |= odd
    return bool(bad.any())


def _null_out_of_bounds(df: pl.DataFrame, table: str, file_id: str, overrides,
                        checks: list[dict], mapping: dict[str, str] | None = None) -> pl.DataFrame:
    """Set values outside their bound (or NaN/inf) to NULL; one check row per activity x column."""
    mapping = COLUMN_BOUNDS.get(table, {}) if mapping is None else mapping
    have = set(df.columns)
    cols = [(c, BOUNDS[b]) for c, b in mapping.items() if c in have]
    if df.height == 0 or not cols:
        return df
    bounds = {}
    for c, b in cols:
        lower, upper = b.lower, b.upper
        if b.name == "distance_m":
            upper = threshold("activity_max_distance_m", overrides)
        elif b.name == "duration_s":
            upper = threshold("activity_max_duration_s", overrides)
        bounds[c] = (b, float(lower), float(upper))
    bad_cols = [c for c, (_, lo, hi) in bounds.items() if _any_bad(df.get_column(c), lo, hi)]
    if not bad_cols:
        return df
    for c in bad_cols:
        b, lo, hi = bounds[c]
        bad = _bad(c, lo, hi, df.schema[c])
        v = pl.col(c).cast(pl.Float64)
        g = (df.filter(bad).group_by("activity_id", maintain_order=True)
             .agg(pl.len().alias("n"), v.is_nan().sum().alias("n_nan"),
                  v.filter(~v.is_nan()).min().alias("mn"), v.filter(~v.is_nan()).max().alias("mx")))
        for aid, n, n_nan, mn, mx in g.iter_rows():
            parts = []
            if n - n_nan:
                parts.append(f"{n - n_nan} outside {lo:g}..{hi:g} {b.unit}")
            if n_nan:
                parts.append(f"{n_nan} not a number")
            checks.append(_check_row(file_id, aid, table, c, "set_null", n, mn, mx, lo, hi, b.unit,
                                     b.name, "; ".join(parts) + f" ({b.source})"
                                     + ("; the position is set NULL as a pair" if c in POSITION else "")))
    masks = {c: _bad(c, bounds[c][1], bounds[c][2], df.schema[c]) for c in bad_cols}
    pair = [c for c in POSITION if c in df.columns]
    if len(pair) == 2 and any(c in masks for c in pair):  # a position is a pair: both go
        either = pl.lit(False)
        for c in pair:
            if c in masks:
                either = either | masks[c]
        for c in pair:
            masks[c] = either
    return df.with_columns(
        [pl.when(m).then(None).otherwise(pl.col(c)).alias(c) for c, m in masks.items()]
    )


def _times_inside(s: pl.Series, lo: int, hi: int) -> bool:
    """Every non-NULL time of ``s`` is inside lo..hi (us since 1970): the test of ``_us`` on the
    column's microseconds, read natively (the physical value of a Datetime("us"))."""
    if s.null_count() == s.len():
        return True
    us, ok = _us_np(s)
    us = us[ok]
    return bool(us.min() >= lo and us.max() <= hi)


def _drop_bad_times(df: pl.DataFrame, table: str, col: str, lo: int, hi: int, file_id: str,
                    checks: list[dict]) -> tuple[pl.DataFrame, dict[str, int]]:
    if df.height == 0 or _times_inside(df.get_column(col), lo, hi):
        return df, {}
    us = _us(col)
    bad = us.is_not_null() & ((us < lo) | (us > hi))
    if not df.select(bad.any()).item():
        return df, {}
    g = (df.filter(bad).group_by("activity_id", maintain_order=True)
         .agg(pl.len().alias("n"), us.min().alias("mn"), us.max().alias("mx")))
    dropped = {}
    for aid, n, mn, mx in g.iter_rows():
        dropped[aid] = int(n)
        checks.append(_check_row(
            file_id, aid, table, col, "row_dropped", n, mn / 1e6, mx / 1e6, lo / 1e6, FUTURE_BOUND_STORED,
            TIME_UNIT, "plausible_earliest_unix_s" if mn < lo else "plausible_future_slack_s",
            f"{n} rows dated outside {_day(lo)}..now + 1 day ({_iso(mn)} to {_iso(mx)})"))
    return df.filter(~bad), dropped


def _null_bad_times(df: pl.DataFrame, table: str, cols, lo: int, hi: int, file_id: str,
                    checks: list[dict]) -> pl.DataFrame:
    if df.height == 0:
        return df
    for col in cols:
        if _times_inside(df.get_column(col), lo, hi):
            continue
        us = _us(col)
        bad = us.is_not_null() & ((us < lo) | (us > hi))
        if not df.select(bad.any()).item():
            continue
        g = (df.filter(bad).group_by("activity_id", maintain_order=True)
             .agg(pl.len().alias("n"), us.min().alias("mn"), us.max().alias("mx")))
        for aid, n, mn, mx in g.iter_rows():
            checks.append(_check_row(
                file_id, aid, table, col, "set_null", n, mn / 1e6, mx / 1e6, lo / 1e6, FUTURE_BOUND_STORED,
                TIME_UNIT, "plausible_earliest_unix_s" if mn < lo else "plausible_future_slack_s",
                f"{n} times outside {_day(lo)}..now + 1 day ({_iso(mn)} to {_iso(mx)})"))
        df = df.with_columns(pl.when(bad).then(None).otherwise(pl.col(col)).alias(col))
    return df


def _null_distance_jumps(rec: pl.DataFrame, file_id: str, checks: list[dict]) -> pl.DataFrame:
    """A record whose cumulative distance rose faster than ``speed_mps`` allows since the
    previous record with a distance is a glitch (a spike would add its height to the derived
    distance): its distance becomes NULL."""
    if rec.height < 2 or rec["distance_m"].null_count() == rec.height:
        return rec
    vmax = float(BOUNDS["speed_mps"].upper)
    if _no_distance_jump(rec, vmax):
        return rec
    d = pl.col("distance_m")
    t = pl.col("recorded_at").cast(pl.Datetime("us")).dt.epoch("us")
    prev_d = d.shift(1).forward_fill().over("activity_id")
    prev_t = pl.when(d.is_not_null()).then(t).shift(1).forward_fill().over("activity_id")
    dt = ((t - prev_t) / 1e6).fill_null(1.0).clip(lower_bound=1.0)
    bad = (d - prev_d).fill_null(0.0) > vmax * dt
    flagged = rec.select(bad.alias("bad"), (d - prev_d).alias("jump"), dt.alias("dt"), "activity_id")
    if not flagged["bad"].any():
        return rec
    g = (flagged.filter("bad").group_by("activity_id", maintain_order=True)
         .agg(pl.len().alias("n"), (pl.col("jump") / pl.col("dt")).min().alias("mn"),
              (pl.col("jump") / pl.col("dt")).max().alias("mx")))
    for aid, n, mn, mx in g.iter_rows():
        checks.append(_check_row(
            file_id, aid, "records", "distance_m", "set_null", n, mn, mx, 0.0, vmax, "m/s",
            "speed_mps", f"{n} cumulative distances jump faster than {vmax:g} m/s since the "
                         f"previous sample ({BOUNDS['speed_mps'].source})"))
    return rec.with_columns(pl.when(flagged["bad"]).then(None).otherwise(d).alias("distance_m"))


def _no_distance_jump(rec: pl.DataFrame, vmax: float) -> bool:
    """True when ``_null_distance_jumps`` would find no jump: the same test in numpy for the
    usual frame (one activity, no NaN distance); False means "look with the polars plan"."""
    aid = rec.get_column("activity_id")
    if aid.null_count() or aid.n_unique() != 1:
        return False
    ds = rec.get_column("distance_m")
    if not ds.dtype.is_float():
        return False
    d = ds.to_numpy()  # NULL -> NaN
    has_d = ~np.isnan(d)
    if int(d.size - has_d.sum()) != ds.null_count():  # a NaN of its own
        return False
    t, has_t = _us_np(rec.get_column("recorded_at"))
    pos = np.arange(rec.height)
    # the previous record with a distance (and, for its time, with a time too), as the polars
    # plan's shift(1).forward_fill() finds them; -1: none
    prev_d = np.r_[-1, np.maximum.accumulate(np.where(has_d, pos, -1))[:-1]]
    prev_t = np.r_[-1, np.maximum.accumulate(np.where(has_d & has_t, pos, -1))[:-1]]
    tp = np.where(prev_t >= 0, prev_t, 0)
    dt = np.where(has_t & (prev_t >= 0), (t - t[tp]) / 1e6, 1.0)
    dt = np.maximum(dt, 1.0)
    dp = np.where(prev_d >= 0, prev_d, 0)
    jump = np.where(has_d & (prev_d >= 0), d - d[dp], 0.0)
    return not bool(np.any(jump > vmax * dt))


def _null_too_fast_totals(df: pl.DataFrame, table: str, file_id: str, checks: list[dict],
                          time_cols=("elapsed_time_s", "timer_time_s")) -> pl.DataFrame:
    """A total distance that implies an average speed over ``speed_mps`` becomes NULL."""
    cols = [c for c in time_cols if c in df.columns]
    if df.height == 0 or "distance_m" not in df.columns or not cols:
        return df
    vmax = float(BOUNDS["speed_mps"].upper)
    if _no_fast_total(df, cols, vmax):
        return df
    secs = pl.max_horizontal([pl.col(c) for c in cols]).clip(lower_bound=1.0)
    speed = pl.col("distance_m") / secs
    bad = pl.col("distance_m").is_not_null() & secs.is_not_null() & (speed > vmax)
    hit = df.select("activity_id", bad.alias("bad"), speed.alias("v")).filter("bad")
    if hit.height == 0:
        return df
    for aid, _, v in hit.iter_rows():
        checks.append(_check_row(
            file_id, aid, table, "distance_m", "set_null", 1, v, v, 0.0, vmax, "m/s", "speed_mps",
            f"the distance implies an average of {v:.3g} m/s, above {vmax:g} m/s "
            f"({BOUNDS['speed_mps'].source})"))
    return df.with_columns(pl.when(bad).then(None).otherwise(pl.col("distance_m")).alias("distance_m"))


def _floats_no_nan(s: pl.Series) -> np.ndarray | None:
    """The column as float64 (NULL -> NaN), or None when it holds a NaN of its own."""
    v = s.cast(pl.Float64).to_numpy()
    return None if int(np.isnan(v).sum()) != s.null_count() else v


def _no_fast_total(df: pl.DataFrame, cols: list[str], vmax: float) -> bool:
    """True when ``_null_too_fast_totals`` would find nothing: the same test in numpy (NULL
    ignored by the max over the times, as ``max_horizontal`` does); False: "ask polars"."""
    d = _floats_no_nan(df.get_column("distance_m"))
    times = [_floats_no_nan(df.get_column(c)) for c in cols]
    if d is None or any(t is None for t in times):
        return False
    secs = times[0]
    for t in times[1:]:
        secs = np.fmax(secs, t)  # NaN (NULL) only where every time is NULL
    secs = np.maximum(secs, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return not bool(np.any(~np.isnan(d) & ~np.isnan(secs) & (d / secs > vmax)))


#: activity_metrics columns (derived by models/ from the checked records) bounded once more.
METRIC_BOUNDS = {
    "distance_m": "distance_m",
    "moving_time_s": "duration_s",
    "elapsed_time_s": "duration_s",
    "avg_cadence_spm": "cadence",
    "avg_ground_contact_time_ms": "ground_contact_time_ms",
    "avg_gct_balance_left_pct": "percent",
    "avg_vertical_oscillation_mm": "vertical_oscillation_mm",
    "avg_vertical_ratio_pct": "percent",
    "avg_step_length_mm": "step_length_mm",
    "avg_heart_rate_bpm": "heart_rate_bpm",
    "run_time_s": "duration_s",
    "walk_time_s": "duration_s",
    "elevation_gain_m": "ascent_m",
    "elevation_loss_m": "ascent_m",
}


def check_metrics(dec, metrics: pl.DataFrame | None, *, overrides: dict | None = None):
    """The derived ``activity_metrics`` under the same bounds (a distance that is the sum of
    plausible steps can still imply an impossible speed); notes go to ``dec.value_checks``."""
    if metrics is None or metrics.height == 0:
        return metrics
    checks: list[dict] = []
    metrics = _null_out_of_bounds(metrics, "activity_metrics", dec.file_id, overrides, checks,
                                  METRIC_BOUNDS)
    metrics = _null_too_fast_totals(metrics, "activity_metrics", dec.file_id, checks,
                                    time_cols=("elapsed_time_s", "moving_time_s"))
    if checks:
        new = schema.conform(pl.DataFrame(checks, infer_schema_length=None), "value_checks")
        old = getattr(dec, "value_checks", None)
        dec.value_checks = new if old is None or old.height == 0 else pl.concat([old, new])
    return metrics


_NO_CHECKS = schema.empty("value_checks")


def _no_checks() -> pl.DataFrame:
    """``schema.empty("value_checks")``: a copy of one built once (a clone shares no state)."""
    return _NO_CHECKS.clone()


def check_decoded(dec, *, now: datetime | None = None, overrides: dict | None = None):
    """Apply the plausibility bounds to an ``ingest.decode.Decoded`` in place; return it.

    Sets ``dec.value_checks`` (conformed to ``schema.VALUE_CHECKS``) and, when activities were
    refused, ``dec.status``/``dec.reason``/``dec.error_class``.
    """
    checks: list[dict] = []
    acts = dec.activities
    if acts is None or acts.height == 0:
        dec.value_checks = _no_checks()
        return dec
    lo, hi = time_window(now, overrides)
    fid = dec.file_id

    # 0. far more activities than any watch file holds: the file is damage, not data
    most = threshold("activities_per_file_max", overrides)
    if acts.height > most:
        checks.append(_check_row(fid, None, "activities", "activity_id", "activity_refused",
                                 acts.height, acts.height, acts.height, 0.0, most, "count",
                                 "activities_per_file_max",
                                 f"{acts.height:,} activities in one file, over "
                                 f"activities_per_file_max ({most:,.0f})"))
        for t in ACTIVITY_TABLES:
            df = getattr(dec, t)
            if df is not None and df.height:
                setattr(dec, t, df.clear())
        dec.status = "quarantined"
        dec.error_class = "ImplausibleData"
        why = (f"{acts.height:,} activities in one file, over activities_per_file_max "
               f"({most:,.0f}): nothing landed")
        dec.reason = f"{why} (before: {dec.reason})" if dec.reason else why
        dec.value_checks = schema.conform(pl.DataFrame(checks, infer_schema_length=None), "value_checks")
        return dec

    # 1. impossible time spans: refuse the activity
    refused = _refusals(acts, lo, hi, overrides)
    notes: list[str] = []
    if refused:
        index = dict(zip(acts["activity_id"].to_list(), acts["session_index"].to_list()))
        whys = []
        for aid, items in refused.items():
            for col, val, name, lower, upper, unit, why in items:
                checks.append(_check_row(fid, aid, "activities", col, "activity_refused", 1, val,
                                         val, lower, upper, unit, name, why))
            whys.append(f"activity {index.get(aid)}: " + "; ".join(i[-1] for i in items))
        gone = pl.Series(list(refused), dtype=pl.Utf8).implode()
        for t in ACTIVITY_TABLES:
            df = getattr(dec, t)
            if df is not None and df.height:
                setattr(dec, t, df.filter(~pl.col("activity_id").is_in(gone).fill_null(False)))
        if dec.activities.height == 0:
            dec.status = "quarantined"
            dec.error_class = "ImplausibleData"
            why = "impossible time span, nothing landed: " + " | ".join(whys)
            dec.reason = f"{why} (before: {dec.reason})" if dec.reason else why
        else:
            notes.append(f"refused {len(refused)} of {acts.height} activities: " + " | ".join(whys))

    # 2. samples dated outside the plausible window: dropped, counted
    dropped_records: dict[str, int] = {}
    for t, col in ROW_TIMES.items():
        df = getattr(dec, t)
        if df is not None and df.height:
            df, dropped = _drop_bad_times(df, t, col, lo, hi, fid, checks)
            setattr(dec, t, df)
            if t == "records":
                dropped_records = dropped
    if dropped_records:
        n = sum(dropped_records.values())
        notes.append(f"dropped {n} records dated outside {_day(lo)}..now + 1 day")
        fewer = pl.col("activity_id").replace_strict(dropped_records, default=0, return_dtype=pl.Int64)
        dec.activities = dec.activities.with_columns((pl.col("n_records") - fewer).alias("n_records"))
    for t, cols in NULL_TIMES.items():
        setattr(dec, t, _null_bad_times(getattr(dec, t), t, cols, lo, hi, fid, checks))

    # 3. values outside their bound, NaN, inf: NULL
    for t in COLUMN_BOUNDS:
        setattr(dec, t, _null_out_of_bounds(getattr(dec, t), t, fid, overrides, checks))
    # 4. cumulative distance jumping faster than any speed; totals implying such a speed
    dec.records = _null_distance_jumps(dec.records, fid, checks)
    dec.activities = _null_too_fast_totals(dec.activities, "activities", fid, checks)

    if notes and dec.status != "quarantined":
        note = "; ".join(notes) + " (see value_checks)"
        dec.reason = f"{dec.reason}; {note}" if dec.reason else note
    dec.value_checks = (schema.conform(pl.DataFrame(checks, infer_schema_length=None), "value_checks")
                        if checks else _no_checks())
    return dec
