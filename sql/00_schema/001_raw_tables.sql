-- 001_raw_tables: the landed raw tables (grain: see each comment) and the bookkeeping tables.
-- Columns mirror ingest/schema.py (tests/ingest/test_schema.py checks they agree). Timestamps *_at are UTC.

-- grain: one row per file footfall has seen (by content hash); key: file_id
CREATE TABLE IF NOT EXISTS files (
    file_id VARCHAR PRIMARY KEY,      -- sha256 of the decompressed bytes
    path VARCHAR NOT NULL,            -- the file on disk (an archive for members)
    member VARCHAR,                   -- path inside the archive(s), '!'-separated for nested zips
    size_bytes BIGINT,                -- decompressed size, bytes
    format VARCHAR,                   -- fit | gpx | tcx | unknown
    athlete_id VARCHAR NOT NULL,      -- the athlete the file was synced for
    status VARCHAR NOT NULL,          -- landed | salvaged | quarantined | not_activity | no_timestamps | duplicate
    reason VARCHAR,                   -- why the file has this status (quarantined, salvaged, not_activity, ...), one sentence
    error_class VARCHAR,              -- the kind of decoding error, for quarantined and salvaged files
    n_activities INTEGER,             -- activities decoded from the file
    n_records BIGINT,                 -- records (samples) decoded from the file
    n_messages_salvaged BIGINT,       -- messages kept before the damage (salvaged files)
    duplicate_of VARCHAR,             -- activity_id kept instead of this file's activity
    decoder VARCHAR,                  -- which decoder produced the frames (fitparse, columnar, ...)
    landed_at TIMESTAMP NOT NULL
);

-- grain: one row per path on disk synced; lets a re-sync skip unchanged files without reading them
CREATE TABLE IF NOT EXISTS sync_sources (
    path VARCHAR PRIMARY KEY,         -- the path on disk
    size_bytes BIGINT,
    mtime_ns BIGINT,                  -- modification time of the path when synced, nanoseconds since 1970 (unchanged size and mtime: skipped)
    athlete_id VARCHAR,
    n_files INTEGER,                  -- files found in it (an archive holds several)
    synced_at TIMESTAMP
);

-- grain: one row per sync run
CREATE TABLE IF NOT EXISTS sync_runs (
    sync_id VARCHAR PRIMARY KEY,      -- key of the sync run
    athlete_id VARCHAR,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    paths VARCHAR,                    -- the paths the sync was given
    summary_json VARCHAR              -- the sync's summary (files seen, landed, quarantined, flags raised, ...), JSON
);

-- grain: one row per activity listed in a bulk export's own index (Strava activities.csv)
CREATE TABLE IF NOT EXISTS export_activities (
    athlete_id VARCHAR,
    export_source VARCHAR,            -- strava_activities_csv
    export_path VARCHAR,              -- the CSV (or archive!member)
    filename VARCHAR,                 -- the file it names, as written in the CSV
    file_id VARCHAR,                  -- that file's hash, once decoded
    external_id VARCHAR,              -- the export's own id of the activity
    activity_name VARCHAR,            -- the activity's name in the export
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
    is_indoor BOOLEAN,                -- treadmill, indoor or virtual activity: no GPS expected
    has_position BOOLEAN,             -- true when the activity has GPS positions
    cadence_raw_unit VARCHAR,         -- unit of the recorded cadence: strides_min (FIT running/walking) | rpm (cycling) | unknown (GPX/TCX)
    device_avg_cadence_spm DOUBLE,    -- the device's own session average cadence, steps per minute: 2 x (avg_running_cadence + avg_fractional_cadence); NULL when the file has none
    device_avg_cadence_rpm DOUBLE,    -- the device's session average cadence for non-running sports, revolutions per minute
    device_total_strides BIGINT,      -- the device's session total strides (one stride = two steps)
    device_avg_ground_contact_time_ms DOUBLE,  -- the device's session average ground contact time, milliseconds
    device_avg_gct_balance_left_pct DOUBLE,  -- the device's session average ground contact time balance, percent on the left foot
    device_avg_vertical_oscillation_mm DOUBLE,  -- the device's session average vertical oscillation, millimetres
    device_avg_vertical_ratio_pct DOUBLE,  -- the device's session average vertical ratio (oscillation / step length), percent
    device_avg_step_length_mm DOUBLE,  -- the device's session average step length, millimetres
    device_avg_heart_rate_bpm DOUBLE,  -- the device's session average heart rate, beats per minute
    device_max_heart_rate_bpm DOUBLE,  -- the device's session maximum heart rate, beats per minute
    device_avg_speed_mps DOUBLE,      -- the device's session average speed, metres per second
    device_avg_power_w DOUBLE,        -- the device's session average power, watts
    device_total_ascent_m DOUBLE,     -- the device's session total ascent, metres
    device_total_descent_m DOUBLE,    -- the device's session total descent, metres
    device_total_calories_kcal DOUBLE,  -- the device's session energy estimate, kilocalories
    manufacturer VARCHAR,             -- device manufacturer (FIT file_id)
    product VARCHAR,                  -- device product (FIT file_id)
    serial_number VARCHAR,            -- device serial number (FIT file_id)
    creator VARCHAR,                  -- GPX creator / TCX author / FIT manufacturer+product
    n_records BIGINT,
    n_laps BIGINT
);

-- the laps of each activity (FIT lap message, GPX segment, TCX Lap), as decoded
-- grain: one row per lap; key: (activity_id, lap_index)
CREATE TABLE IF NOT EXISTS laps (
    activity_id VARCHAR,
    lap_index INTEGER,                -- order of the lap within the activity, from 0
    started_at TIMESTAMP,
    ended_at TIMESTAMP,
    elapsed_time_s DOUBLE,
    timer_time_s DOUBLE,
    distance_m DOUBLE,
    avg_cadence_spm DOUBLE,           -- average cadence of the lap, steps per minute
    avg_ground_contact_time_ms DOUBLE,  -- average ground contact time of the lap, milliseconds
    avg_vertical_oscillation_mm DOUBLE,  -- average vertical oscillation of the lap, millimetres
    avg_heart_rate_bpm DOUBLE,        -- average heart rate of the lap, beats per minute
    max_heart_rate_bpm DOUBLE,        -- maximum heart rate of the lap, beats per minute
    avg_speed_mps DOUBLE,             -- average speed of the lap, metres per second
    avg_power_w DOUBLE,               -- average power of the lap, watts
    total_strides BIGINT,             -- strides in the lap (one stride = two steps)
    total_ascent_m DOUBLE,            -- ascent in the lap, metres
    total_descent_m DOUBLE,           -- descent in the lap, metres
    intensity VARCHAR,                -- active | rest | warmup | cooldown where the device says
    lap_trigger VARCHAR               -- what ended the lap (manual, distance, time, ...) as the device says
);

-- the recorded samples of each activity (FIT record message, GPX trkpt, TCX Trackpoint), as decoded,
-- plus the per-sample values models/ derive (cadence_spm, is_moving, gait, grade_pct)
-- grain: one row per sample; key: (activity_id, record_index)
CREATE TABLE IF NOT EXISTS records (
    activity_id VARCHAR,
    record_index INTEGER,             -- order within the activity, from 0
    recorded_at TIMESTAMP,
    latitude_deg DOUBLE,              -- latitude, degrees (WGS84)
    longitude_deg DOUBLE,             -- longitude, degrees (WGS84)
    altitude_m DOUBLE,                -- altitude, metres (FIT enhanced_altitude preferred)
    distance_m DOUBLE,
    speed_mps DOUBLE,                 -- speed, metres per second (FIT enhanced_speed preferred)
    heart_rate_bpm DOUBLE,            -- heart rate, beats per minute
    cadence_raw DOUBLE,               -- cadence as recorded (FIT cadence + fractional_cadence; GPX/TCX cad), unit in activities.cadence_raw_unit
    power_w DOUBLE,                   -- power, watts
    temperature_c DOUBLE,             -- temperature, degrees Celsius
    ground_contact_time_ms DOUBLE,    -- ground contact time, milliseconds (FIT record.stance_time)
    stance_time_pct DOUBLE,           -- stance time as percent of the step (FIT record.stance_time_percent)
    gct_balance_left_pct DOUBLE,      -- ground contact time balance, percent on the left foot (FIT record.stance_time_balance)
    vertical_oscillation_mm DOUBLE,   -- vertical oscillation, millimetres
    vertical_ratio_pct DOUBLE,        -- vertical ratio (oscillation / step length), percent
    step_length_mm DOUBLE,            -- step length, millimetres
    dev_ground_contact_time_ms DOUBLE,  -- ground contact time from a developer field (Stryd and others), converted to milliseconds
    dev_vertical_oscillation_mm DOUBLE,  -- vertical oscillation from a developer field, converted to millimetres
    dev_power_w DOUBLE,               -- power from a developer field, watts
    dev_form_power_w DOUBLE,          -- form power from a developer field (Stryd), watts
    dev_leg_spring_stiffness_kn_m DOUBLE,  -- leg spring stiffness from a developer field (Stryd), kilonewtons per metre
    dev_cadence_raw DOUBLE,           -- cadence from a developer field, as recorded
    cadence_spm DOUBLE,               -- cadence in steps per minute (both feet), derived by models/ from cadence_raw and its unit
    is_moving BOOLEAN,                -- true when the sample is moving (derived by models/)
    gait VARCHAR,                     -- run | walk | stop for the sample (derived by models/gait.py)
    grade_pct DOUBLE                  -- altitude change / distance over grade_window_m, percent (derived by models/)
);

-- FIT events (timer start/stop, ...), used for pauses
-- grain: one row per event
CREATE TABLE IF NOT EXISTS events (
    activity_id VARCHAR,
    recorded_at TIMESTAMP,
    event VARCHAR,                    -- FIT event name (timer, ...)
    event_type VARCHAR,               -- FIT event type (start, stop_all, ...)
    data DOUBLE                       -- the event's data field as recorded
);

-- every developer-field value (Stryd and other apps), long format, by name and units as the file defines them
-- grain: one row per (activity, message, message_index, developer field)
CREATE TABLE IF NOT EXISTS developer_values (
    activity_id VARCHAR,
    message VARCHAR,                  -- the FIT message the value belongs to: record | lap | session | ...
    message_index INTEGER,            -- record_index for records, lap_index for laps
    recorded_at TIMESTAMP,
    developer_data_index INTEGER,     -- FIT developer data index (which app defined the field)
    field_number INTEGER,             -- FIT developer field number
    field_name VARCHAR,               -- the field's name as the file defines it
    units VARCHAR,                    -- the field's units as the file defines them
    value DOUBLE,
    value_text VARCHAR                -- the value when it is text or an array, not a number
);

-- where each canonical value came from, e.g. "fit:record.enhanced_speed", "fit_dev:Ground Time", "gpx_ext:hr"
-- grain: one row per (activity, column, source)
CREATE TABLE IF NOT EXISTS field_sources (
    activity_id VARCHAR,
    column_name VARCHAR,              -- a canonical column (records.speed_mps, ...)
    source VARCHAR,
    n_values BIGINT                   -- how many non-NULL values came from that source
);

-- the numbers a runner and clinician look at per activity, computed by models/ (models/summary.py,
-- models/quality.py, models/sport.py); *_source columns say device (the watch's own summary) or derived
-- grain: one row per activity; key: activity_id
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
    avg_cadence_spm DOUBLE,           -- mean cadence of the activity, steps per minute (both feet)
    avg_ground_contact_time_ms DOUBLE,  -- mean ground contact time, milliseconds
    avg_gct_balance_left_pct DOUBLE,  -- mean ground contact time balance, percent on the left foot
    avg_vertical_oscillation_mm DOUBLE,  -- mean vertical oscillation, millimetres
    avg_vertical_ratio_pct DOUBLE,    -- mean vertical ratio, percent
    avg_step_length_mm DOUBLE,        -- mean step length, millimetres
    avg_heart_rate_bpm DOUBLE,        -- mean heart rate, beats per minute
    run_time_s DOUBLE,
    walk_time_s DOUBLE,
    run_walk_intervals INTEGER,       -- number of run-walk alternations (gait changes between running and walking bouts)
    elevation_gain_m DOUBLE,          -- elevation gained, metres
    elevation_loss_m DOUBLE,          -- elevation lost, metres
    trimp DOUBLE,
    cadence_unit VARCHAR,             -- decision for the raw cadence: strides_min | steps_min | rpm | none
    cadence_source VARCHAR,           -- device | derived | none
    gct_source VARCHAR,               -- device | derived | developer | none
    distance_source VARCHAR,
    moving_time_source VARCHAR,       -- device | derived | none: where moving_time_s comes from
    steps_source VARCHAR              -- device | derived | none: where steps comes from
);
