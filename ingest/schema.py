"""The one columnar schema every reader returns (FIT, GPX, TCX) and the landing writes.

Names follow ``<quantity>[_<window>]_<unit>``; timestamps ``*_at`` are naive datetimes in UTC
(microseconds); ``local_date`` is the calendar date in the activity's own time zone.

The DuckDB DDL in ``sql/00_schema`` mirrors these tables; ``tests/ingest/test_schema.py`` checks that the
two agree, so this module stays the single source of column names and types.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from ingest.fit_messages import frame, null_series

UTC_DT = pl.Datetime("us")

#: One row per activity (a FIT session, a GPX track set, a TCX activity).
ACTIVITIES: dict[str, pl.DataType] = {
    "activity_id": pl.Utf8,  # "<file_id[:16]>-<session_index>"
    "file_id": pl.Utf8,  # sha256 of the decompressed file bytes
    "session_index": pl.Int32,
    "source_format": pl.Utf8,  # fit | gpx | tcx
    "sport": pl.Utf8,  # running, cycling, walking, ... (FIT names; GPX/TCX mapped to them)
    "sub_sport": pl.Utf8,  # generic, treadmill, trail, ...
    "name": pl.Utf8,
    "started_at": UTC_DT,
    "ended_at": UTC_DT,  # start + elapsed time (never the session's own timestamp)
    "local_offset_s": pl.Int32,  # local time minus UTC, seconds; NULL when the file does not say
    "local_date": pl.Date,  # date of started_at + local_offset_s (offset 0 when unknown)
    "elapsed_time_s": pl.Float64,
    "timer_time_s": pl.Float64,
    "distance_m": pl.Float64,
    "is_indoor": pl.Boolean,  # treadmill / indoor / virtual: no GPS expected
    "has_position": pl.Boolean,
    "cadence_raw_unit": pl.Utf8,  # strides_min (FIT running/walking) | rpm (cycling) | unknown (GPX/TCX)
    # the device's own summary (FIT session message), NULL when the file has none
    "device_avg_cadence_spm": pl.Float64,  # 2 x (avg_running_cadence + avg_fractional_cadence)
    "device_avg_cadence_rpm": pl.Float64,  # non-running sports
    "device_total_strides": pl.Int64,
    "device_avg_ground_contact_time_ms": pl.Float64,
    "device_avg_gct_balance_left_pct": pl.Float64,
    "device_avg_vertical_oscillation_mm": pl.Float64,
    "device_avg_vertical_ratio_pct": pl.Float64,
    "device_avg_step_length_mm": pl.Float64,
    "device_avg_heart_rate_bpm": pl.Float64,
    "device_max_heart_rate_bpm": pl.Float64,
    "device_avg_speed_mps": pl.Float64,
    "device_avg_power_w": pl.Float64,
    "device_total_ascent_m": pl.Float64,
    "device_total_descent_m": pl.Float64,
    "device_total_calories_kcal": pl.Float64,
    "manufacturer": pl.Utf8,
    "product": pl.Utf8,
    "serial_number": pl.Utf8,
    "creator": pl.Utf8,  # GPX creator / TCX author / FIT manufacturer+product
    "n_records": pl.Int64,
    "n_laps": pl.Int64,
}

#: One row per lap (FIT lap message, GPX segment, TCX Lap).
LAPS: dict[str, pl.DataType] = {
    "activity_id": pl.Utf8,
    "lap_index": pl.Int32,
    "started_at": UTC_DT,
    "ended_at": UTC_DT,
    "elapsed_time_s": pl.Float64,
    "timer_time_s": pl.Float64,
    "distance_m": pl.Float64,
    "avg_cadence_spm": pl.Float64,
    "avg_ground_contact_time_ms": pl.Float64,
    "avg_vertical_oscillation_mm": pl.Float64,
    "avg_heart_rate_bpm": pl.Float64,
    "max_heart_rate_bpm": pl.Float64,
    "avg_speed_mps": pl.Float64,
    "avg_power_w": pl.Float64,
    "total_strides": pl.Int64,
    "total_ascent_m": pl.Float64,
    "total_descent_m": pl.Float64,
    "intensity": pl.Utf8,  # active / rest / warmup / cooldown where the device says
    "lap_trigger": pl.Utf8,
}

#: One row per recorded sample (FIT record message, GPX trkpt, TCX Trackpoint).
RECORDS: dict[str, pl.DataType] = {
    "activity_id": pl.Utf8,
    "record_index": pl.Int32,  # order within the activity, from 0
    "recorded_at": UTC_DT,
    "latitude_deg": pl.Float64,
    "longitude_deg": pl.Float64,
    "altitude_m": pl.Float64,  # enhanced_altitude preferred
    "distance_m": pl.Float64,  # cumulative, as the file says
    "speed_mps": pl.Float64,  # enhanced_speed preferred
    "heart_rate_bpm": pl.Float64,
    "cadence_raw": pl.Float64,  # as recorded: FIT cadence + fractional_cadence; GPX/TCX cad
    "power_w": pl.Float64,
    "temperature_c": pl.Float64,
    # running dynamics, native FIT fields
    "ground_contact_time_ms": pl.Float64,  # record.stance_time
    "stance_time_pct": pl.Float64,  # record.stance_time_percent
    "gct_balance_left_pct": pl.Float64,  # record.stance_time_balance
    "vertical_oscillation_mm": pl.Float64,
    "vertical_ratio_pct": pl.Float64,
    "step_length_mm": pl.Float64,
    # the same from developer fields (Stryd and others), converted to the unit in the name
    "dev_ground_contact_time_ms": pl.Float64,
    "dev_vertical_oscillation_mm": pl.Float64,
    "dev_power_w": pl.Float64,
    "dev_form_power_w": pl.Float64,
    "dev_leg_spring_stiffness_kn_m": pl.Float64,
    "dev_cadence_raw": pl.Float64,
    # derived by models/ (NULL as decoded)
    "cadence_spm": pl.Float64,
    "is_moving": pl.Boolean,
    "gait": pl.Utf8,  # run | walk | stop
    "grade_pct": pl.Float64,  # altitude change / distance over grade_window_m, percent
}

#: FIT events (timer start/stop, ...), used for pauses.
EVENTS: dict[str, pl.DataType] = {
    "activity_id": pl.Utf8,
    "recorded_at": UTC_DT,
    "event": pl.Utf8,
    "event_type": pl.Utf8,
    "data": pl.Float64,
}

#: Every developer-field value, long format, by name and units as the file defines them.
DEVELOPER_VALUES: dict[str, pl.DataType] = {
    "activity_id": pl.Utf8,
    "message": pl.Utf8,  # record | lap | session | ...
    "message_index": pl.Int32,  # record_index for records, lap_index for laps
    "recorded_at": UTC_DT,
    "developer_data_index": pl.Int32,
    "field_number": pl.Int32,
    "field_name": pl.Utf8,
    "units": pl.Utf8,
    "value": pl.Float64,
    "value_text": pl.Utf8,  # strings and arrays, when not a number
}

#: Where each canonical value came from, one row per (activity, column).
FIELD_SOURCES: dict[str, pl.DataType] = {
    "activity_id": pl.Utf8,
    "column_name": pl.Utf8,
    "source": pl.Utf8,  # e.g. "fit:record.enhanced_speed", "fit_dev:Ground Time", "gpx_ext:hr"
    "n_values": pl.Int64,
}


#: One row per activity: the numbers a runner and clinician look at (filled by models/).
#: ``*_source`` columns say ``device`` (the watch's own summary) or ``derived`` (from records).
ACTIVITY_METRICS: dict[str, pl.DataType] = {
    "activity_id": pl.Utf8,
    "athlete_id": pl.Utf8,
    "sport": pl.Utf8,
    "sport_source": pl.Utf8,  # file | inferred (untyped GPX/TCX: from gait and speed) | none
    "is_run": pl.Boolean,
    "started_at": UTC_DT,
    "local_date": pl.Date,
    "distance_m": pl.Float64,
    "moving_time_s": pl.Float64,
    "elapsed_time_s": pl.Float64,
    "steps": pl.Float64,
    "avg_cadence_spm": pl.Float64,
    "avg_ground_contact_time_ms": pl.Float64,
    "avg_gct_balance_left_pct": pl.Float64,
    "avg_vertical_oscillation_mm": pl.Float64,
    "avg_vertical_ratio_pct": pl.Float64,
    "avg_step_length_mm": pl.Float64,
    "avg_heart_rate_bpm": pl.Float64,
    "run_time_s": pl.Float64,
    "walk_time_s": pl.Float64,
    "run_walk_intervals": pl.Int32,
    "elevation_gain_m": pl.Float64,
    "elevation_loss_m": pl.Float64,
    "trimp_au": pl.Float64,
    "cadence_unit": pl.Utf8,  # decision for the raw cadence: strides_min | steps_min | rpm | none
    "cadence_source": pl.Utf8,  # device | derived | none
    "gct_source": pl.Utf8,  # device | derived | developer | none
    "distance_source": pl.Utf8,  # device (session) | laps | records | track | none (models/quality.py)
    "moving_time_source": pl.Utf8,
    "steps_source": pl.Utf8,
    # --- data quality (issue 13; models/quality.py, models/sport.py, models/track.py) ---
    "sport_confidence": pl.Float64,  # 0-1: how sure the sport decision is
    "sport_reason": pl.Utf8,  # one sentence: why this sport (label kept, label refused, inferred from ...)
    "distance_reason": pl.Utf8,  # one sentence: which candidate was chosen and why
    "distance_session_m": pl.Float64,  # candidates compared; NULL when the file has none
    "distance_laps_m": pl.Float64,
    "distance_records_m": pl.Float64,  # cumulative record distance, robust to jitter and resets
    "distance_track_raw_m": pl.Float64,  # haversine over every position
    "distance_track_clean_m": pl.Float64,  # haversine over the positions track cleaning kept
    "avg_cadence_run_spm": pl.Float64,  # running samples only (gait = 'run')
    "avg_ground_contact_time_run_ms": pl.Float64,  # running samples only
    "longest_run_bout_s": pl.Float64,  # longest continuous running bout (smoothed gait)
}

#: One row per (activity, check) that models/quality.py ran: what was measured, what was
#: expected, what it changed. Every check is recorded, passed or not, so an audit is complete.
ACTIVITY_CHECKS: dict[str, pl.DataType] = {
    "activity_id": pl.Utf8,
    "check_name": pl.Utf8,  # e.g. sport_label, track_speed_ceiling, distance_agreement, ...
    "outcome": pl.Utf8,  # pass | adjusted | disagree | excluded | skipped
    "measured_value": pl.Float64,
    "expected_low": pl.Float64,  # expected range (NULL: open)
    "expected_high": pl.Float64,
    "unit": pl.Utf8,
    "effect": pl.Utf8,  # what footfall did: "none", "excluded from running load", "distance from cleaned track", ...
    "detail": pl.Utf8,  # one sentence for a person
    "threshold_name": pl.Utf8,  # models/thresholds.py name the range comes from (NULL: none)
}

TABLES: dict[str, dict[str, pl.DataType]] = {
    "activities": ACTIVITIES,
    "laps": LAPS,
    "records": RECORDS,
    "events": EVENTS,
    "developer_values": DEVELOPER_VALUES,
    "field_sources": FIELD_SOURCES,
}

#: One row per (file, activity, table, column) where decoded values failed a plausibility bound
#: (models/plausibility.py, bounds in models/thresholds.py): what was done and why.
VALUE_CHECKS: dict[str, pl.DataType] = {
    "file_id": pl.Utf8,
    "activity_id": pl.Utf8,  # NULL for a check of the whole file
    "table_name": pl.Utf8,  # activities | laps | records | events | developer_values
    "column_name": pl.Utf8,
    "action": pl.Utf8,  # set_null | row_dropped | activity_refused
    "n_rejected": pl.Int64,  # values set NULL, rows dropped (1 for a refused activity)
    "min_seen": pl.Float64,  # among the rejected values (times: s since 1970-01-01 UTC)
    "max_seen": pl.Float64,
    "lower_bound": pl.Float64,
    "upper_bound": pl.Float64,
    "unit": pl.Utf8,
    "bound_name": pl.Utf8,  # models/thresholds.py BOUNDS / THRESHOLDS name
    "reason": pl.Utf8,
}

#: Derived tables (models/), not returned by readers.
DERIVED: dict[str, dict[str, pl.DataType]] = {
    "activity_metrics": ACTIVITY_METRICS,
    "activity_checks": ACTIVITY_CHECKS,
    "value_checks": VALUE_CHECKS,
}

#: File statuses (files.status).
STATUSES = (
    "landed",  # decoded whole
    "salvaged",  # damaged; everything decoded before the damage was kept
    "quarantined",  # nothing usable; reason and error class recorded
    "not_activity",  # settings, monitoring, workout, course files
    "no_timestamps",  # route-only / time-less GPX: nothing to put on a calendar
    "duplicate",  # the same run as an activity already kept from a richer source
)


def activity_id_for(file_id: str, session_index: int) -> str:
    """Stable activity key: first 16 hex digits of the file hash plus the session index."""
    return f"{file_id[:16]}-{session_index}"


_EMPTY: dict[str, pl.DataFrame] = {}
_NAMES_DTYPES: dict[str, tuple[list[str], list[pl.DataType]]] = {}


def empty(table: str) -> pl.DataFrame:
    """An empty frame of a canonical table (a copy of one built once per table)."""
    frame = _EMPTY.get(table)
    if frame is None:
        frame = _EMPTY[table] = pl.DataFrame(schema=_columns(table))
    return frame.clone()


def is_canonical(df: pl.DataFrame, table: str) -> bool:
    """``df`` has exactly the columns of ``table``, in order, with its dtypes."""
    nd = _NAMES_DTYPES.get(table)
    if nd is None:
        cols = _columns(table)
        nd = _NAMES_DTYPES[table] = (list(cols), list(cols.values()))
    return df.columns == nd[0] and df.dtypes == nd[1]


def conform(df: pl.DataFrame | None, table: str) -> pl.DataFrame:
    """Cast ``df`` to the canonical columns of ``table``, in order.

    Missing columns become NULL; columns not in the schema raise ``KeyError`` so that a reader
    cannot drop a value silently by misspelling its name.
    """
    cols = _columns(table)
    if df is None or df.width == 0:
        return empty(table) if df is None or df.height == 0 else _nulls(df.height, cols)
    if is_canonical(df, table):  # already canonical: nothing to cast
        return df
    extra = [c for c in df.columns if c not in cols]
    if extra:
        raise KeyError(f"columns not in the {table} schema: {extra}")
    # column by column (Series casts, the cast ``pl.col(name).cast(dtype, strict=False)`` runs),
    # without a query plan: the frames are small and a select's planning outweighs the casts
    have = dict(zip(df.columns, df.dtypes))
    out = []
    for name, dtype in cols.items():
        dt = have.get(name)
        if dt is None:
            out.append(null_series(name, dtype, df.height))
        elif dt == dtype:
            out.append(df.get_column(name))
        else:
            out.append(df.get_column(name).cast(dtype, strict=False))
    return frame(out)


def _nulls(height: int, cols: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame({n: pl.Series(n, [None] * height, dtype=t) for n, t in cols.items()})


def _columns(table: str) -> dict[str, pl.DataType]:
    return TABLES[table] if table in TABLES else DERIVED[table]


@dataclass
class Decoded:
    """The frames decoded from one file, plus its status.

    ``status`` is one of ``STATUSES`` except ``duplicate`` (decided at landing).
    Frames are conformed to this schema; ``athlete_id`` is added at landing.
    """

    file_id: str
    format: str  # fit | gpx | tcx
    status: str = "landed"
    reason: str | None = None
    error_class: str | None = None
    n_messages_salvaged: int | None = None  # messages kept before the damage (salvaged files)
    activities: pl.DataFrame = field(default_factory=lambda: empty("activities"))
    laps: pl.DataFrame = field(default_factory=lambda: empty("laps"))
    records: pl.DataFrame = field(default_factory=lambda: empty("records"))
    events: pl.DataFrame = field(default_factory=lambda: empty("events"))
    developer_values: pl.DataFrame = field(default_factory=lambda: empty("developer_values"))
    field_sources: pl.DataFrame = field(default_factory=lambda: empty("field_sources"))
    decoder: str | None = None  # which decoder produced the frames (e.g. fitparse, columnar)
    #: what models/plausibility.py refused or set NULL (schema.VALUE_CHECKS); lands with the file
    value_checks: pl.DataFrame = field(default_factory=lambda: empty("value_checks"))
    #: models/quality.py's per-activity checks (schema.ACTIVITY_CHECKS), set by the derivation
    activity_checks: pl.DataFrame = field(default_factory=lambda: empty("activity_checks"))

    def frames(self) -> dict[str, pl.DataFrame]:
        return {name: getattr(self, name) for name in TABLES}
