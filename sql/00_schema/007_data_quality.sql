-- 007_data_quality: what counts as a run and how far it went (issue 13).
-- activity_metrics gains the data-quality columns (ingest/schema.py ACTIVITY_METRICS): the sport
-- decision's confidence and reason, the distance candidates and the reason one was chosen, and
-- running-only averages. activity_checks (ingest/schema.py ACTIVITY_CHECKS) keeps every check
-- models/ ran per activity. activity_overrides holds the runner's own word (footfall activity
-- sport|exclude|include): it is the runner's data, never deleted by a re-sync or a rebuild.
ALTER TABLE activity_metrics ADD COLUMN IF NOT EXISTS sport_confidence DOUBLE;  -- how sure the sport decision is, 0-1
ALTER TABLE activity_metrics ADD COLUMN IF NOT EXISTS sport_reason VARCHAR;  -- one sentence: why this sport
ALTER TABLE activity_metrics ADD COLUMN IF NOT EXISTS distance_reason VARCHAR;  -- one sentence: which distance candidate was chosen and why
ALTER TABLE activity_metrics ADD COLUMN IF NOT EXISTS distance_session_m DOUBLE;  -- distance the device's session summary says, metres (NULL when the file has none)
ALTER TABLE activity_metrics ADD COLUMN IF NOT EXISTS distance_laps_m DOUBLE;  -- sum of the laps' distances, metres
ALTER TABLE activity_metrics ADD COLUMN IF NOT EXISTS distance_records_m DOUBLE;  -- cumulative record distance, robust to jitter and resets, metres
ALTER TABLE activity_metrics ADD COLUMN IF NOT EXISTS distance_track_raw_m DOUBLE;  -- haversine distance over every GPS position, metres
ALTER TABLE activity_metrics ADD COLUMN IF NOT EXISTS distance_track_clean_m DOUBLE;  -- haversine distance over the positions track cleaning kept, metres
ALTER TABLE activity_metrics ADD COLUMN IF NOT EXISTS avg_cadence_run_spm DOUBLE;  -- mean cadence over running samples only (gait 'run'), steps per minute
ALTER TABLE activity_metrics ADD COLUMN IF NOT EXISTS avg_ground_contact_time_run_ms DOUBLE;  -- mean ground contact time over running samples only, milliseconds
ALTER TABLE activity_metrics ADD COLUMN IF NOT EXISTS longest_run_bout_s DOUBLE;  -- longest continuous running bout (smoothed gait), seconds

-- grain: one row per activity x check; landed (and deleted) with the activity's other rows
CREATE TABLE IF NOT EXISTS activity_checks (
    athlete_id VARCHAR,
    activity_id VARCHAR NOT NULL,
    check_name VARCHAR NOT NULL,      -- sport_label, track_speed_ceiling, distance_agreement, ...
    outcome VARCHAR NOT NULL,         -- pass | adjusted | disagree | excluded | skipped
    measured_value DOUBLE,
    expected_low DOUBLE,              -- expected range; NULL = open on that side
    expected_high DOUBLE,
    unit VARCHAR,
    effect VARCHAR,                   -- what footfall did ("none", "excluded from running load", ...)
    detail VARCHAR,                   -- one sentence for a person
    threshold_name VARCHAR            -- models/thresholds.py name of the range
);

-- grain: one row per statement of the runner; the latest per (activity, kind) wins
CREATE TABLE IF NOT EXISTS activity_overrides (
    override_id VARCHAR PRIMARY KEY,
    athlete_id VARCHAR NOT NULL,
    activity_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL CHECK (kind IN ('sport', 'exclude', 'include')),
    sport VARCHAR,                    -- kind = 'sport': the sport the runner says it was
    reason VARCHAR,                   -- the runner's words
    entered_at TIMESTAMP NOT NULL     -- UTC
);
