-- 001_raw_tables: the landed raw tables (grain: see each comment) and the bookkeeping tables.
-- Columns mirror ingest/schema.py (tests/ingest/test_schema.py checks they agree). Timestamps *_at are UTC.

-- grain: one row per file footfall has seen (by content hash); key: file_id
CREATE TABLE IF NOT EXISTS files (
    file_id VARCHAR PRIMARY KEY,      -- sha256 of the decompressed bytes
    path VARCHAR NOT NULL,            -- the file on disk (an archive for members)
    member VARCHAR,                   -- path inside the archive(s), '!'-separated for nested zips
    size_bytes BIGINT,                -- decompressed size
    format VARCHAR,                   -- fit | gpx | tcx | unknown
    athlete_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,          -- landed | salvaged | quarantined | not_activity | no_timestamps | duplicate
    reason VARCHAR,
    error_class VARCHAR,
    n_activities INTEGER,
    n_records BIGINT,
    n_messages_salvaged BIGINT,
    duplicate_of VARCHAR,             -- activity_id kept instead of this file's activity
    decoder VARCHAR,
    landed_at TIMESTAMP NOT NULL
);

-- grain: one row per path on disk synced; lets a re-sync skip unchanged files without reading them
CREATE TABLE IF NOT EXISTS sync_sources (
    path VARCHAR PRIMARY KEY,
    size_bytes BIGINT,
    mtime_ns BIGINT,
    athlete_id VARCHAR,
    n_files INTEGER,
    synced_at TIMESTAMP
);

-- grain: one row per sync run
CREATE TABLE IF NOT EXISTS sync_runs (
    sync_id VARCHAR PRIMARY KEY,
    athlete_id VARCHAR,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    paths VARCHAR,
    summary_json VARCHAR
);

-- grain: one row per activity listed in a bulk export's own index (Strava activities.csv)
CREATE TABLE IF NOT EXISTS export_activities (
    athlete_id VARCHAR,
    export_source VARCHAR,            -- strava_activities_csv
    export_path VARCHAR,              -- the CSV (or archive!member)
    filename VARCHAR,                 -- the file it names, as written in the CSV
    file_id VARCHAR,                  -- that file's hash, once decoded
    external_id VARCHAR,
    activity_name VARCHAR,
    activity_type VARCHAR,
    gear VARCHAR,
    perceived_exertion DOUBLE,
    row_json VARCHAR                  -- every column of the row, nothing dropped
);

-- grain: one row per activity; key: activity_id
CREATE TABLE IF NOT EXISTS activities (
    athlete_id VARCHAR,
    activity_id VARCHAR,
    file_id VARCHAR,
    session_index INTEGER,
    source_format VARCHAR,
    sport VARCHAR,
    sub_sport VARCHAR,
    name VARCHAR,
    started_at TIMESTAMP,
    ended_at TIMESTAMP,
    local_offset_s INTEGER,
    local_date DATE,
    elapsed_time_s DOUBLE,
    timer_time_s DOUBLE,
    distance_m DOUBLE,
    is_indoor BOOLEAN,
    has_position BOOLEAN,
    cadence_raw_unit VARCHAR,
    device_avg_cadence_spm DOUBLE,
    device_avg_cadence_rpm DOUBLE,
    device_total_strides BIGINT,
    device_avg_ground_contact_time_ms DOUBLE,
    device_avg_gct_balance_left_pct DOUBLE,
    device_avg_vertical_oscillation_mm DOUBLE,
    device_avg_vertical_ratio_pct DOUBLE,
    device_avg_step_length_mm DOUBLE,
    device_avg_heart_rate_bpm DOUBLE,
    device_max_heart_rate_bpm DOUBLE,
    device_avg_speed_mps DOUBLE,
    device_avg_power_w DOUBLE,
    device_total_ascent_m DOUBLE,
    device_total_descent_m DOUBLE,
    device_total_calories_kcal DOUBLE,
    manufacturer VARCHAR,
    product VARCHAR,
    serial_number VARCHAR,
    creator VARCHAR,
    n_records BIGINT,
    n_laps BIGINT
);

CREATE TABLE IF NOT EXISTS laps (
    activity_id VARCHAR,
    lap_index INTEGER,
    started_at TIMESTAMP,
    ended_at TIMESTAMP,
    elapsed_time_s DOUBLE,
    timer_time_s DOUBLE,
    distance_m DOUBLE,
    avg_cadence_spm DOUBLE,
    avg_ground_contact_time_ms DOUBLE,
    avg_vertical_oscillation_mm DOUBLE,
    avg_heart_rate_bpm DOUBLE,
    max_heart_rate_bpm DOUBLE,
    avg_speed_mps DOUBLE,
    avg_power_w DOUBLE,
    total_strides BIGINT,
    total_ascent_m DOUBLE,
    total_descent_m DOUBLE,
    intensity VARCHAR,
    lap_trigger VARCHAR
);

CREATE TABLE IF NOT EXISTS records (
    activity_id VARCHAR,
    record_index INTEGER,
    recorded_at TIMESTAMP,
    latitude_deg DOUBLE,
    longitude_deg DOUBLE,
    altitude_m DOUBLE,
    distance_m DOUBLE,
    speed_mps DOUBLE,
    heart_rate_bpm DOUBLE,
    cadence_raw DOUBLE,
    power_w DOUBLE,
    temperature_c DOUBLE,
    ground_contact_time_ms DOUBLE,
    stance_time_pct DOUBLE,
    gct_balance_left_pct DOUBLE,
    vertical_oscillation_mm DOUBLE,
    vertical_ratio_pct DOUBLE,
    step_length_mm DOUBLE,
    dev_ground_contact_time_ms DOUBLE,
    dev_vertical_oscillation_mm DOUBLE,
    dev_power_w DOUBLE,
    dev_form_power_w DOUBLE,
    dev_leg_spring_stiffness_kn_m DOUBLE,
    dev_cadence_raw DOUBLE,
    cadence_spm DOUBLE,
    is_moving BOOLEAN,
    gait VARCHAR,
    grade_pct DOUBLE
);

CREATE TABLE IF NOT EXISTS events (
    activity_id VARCHAR,
    recorded_at TIMESTAMP,
    event VARCHAR,
    event_type VARCHAR,
    data DOUBLE
);

CREATE TABLE IF NOT EXISTS developer_values (
    activity_id VARCHAR,
    message VARCHAR,
    message_index INTEGER,
    recorded_at TIMESTAMP,
    developer_data_index INTEGER,
    field_number INTEGER,
    field_name VARCHAR,
    units VARCHAR,
    value DOUBLE,
    value_text VARCHAR
);

CREATE TABLE IF NOT EXISTS field_sources (
    activity_id VARCHAR,
    column_name VARCHAR,
    source VARCHAR,
    n_values BIGINT
);

CREATE TABLE IF NOT EXISTS activity_metrics (
    activity_id VARCHAR,
    athlete_id VARCHAR,
    sport VARCHAR,
    sport_source VARCHAR,
    is_run BOOLEAN,
    started_at TIMESTAMP,
    local_date DATE,
    distance_m DOUBLE,
    moving_time_s DOUBLE,
    elapsed_time_s DOUBLE,
    steps DOUBLE,
    avg_cadence_spm DOUBLE,
    avg_ground_contact_time_ms DOUBLE,
    avg_gct_balance_left_pct DOUBLE,
    avg_vertical_oscillation_mm DOUBLE,
    avg_vertical_ratio_pct DOUBLE,
    avg_step_length_mm DOUBLE,
    avg_heart_rate_bpm DOUBLE,
    run_time_s DOUBLE,
    walk_time_s DOUBLE,
    run_walk_intervals INTEGER,
    elevation_gain_m DOUBLE,
    elevation_loss_m DOUBLE,
    trimp DOUBLE,
    cadence_unit VARCHAR,
    cadence_source VARCHAR,
    gct_source VARCHAR,
    distance_source VARCHAR,
    moving_time_source VARCHAR,
    steps_source VARCHAR
);
