-- 002_activity_duplicates: the same run arriving from two sources (a Garmin FIT and its Strava GPX).
-- grain: one row per activity NOT kept because a richer copy of the same run is in `activities`;
-- key: activity_id (of the dropped copy). Nothing is dropped silently: each dropped copy is here.
CREATE TABLE IF NOT EXISTS activity_duplicates (
    activity_id VARCHAR PRIMARY KEY,   -- the copy not kept
    file_id VARCHAR,
    athlete_id VARCHAR,
    started_at TIMESTAMP,
    source_format VARCHAR,
    n_records BIGINT,
    duplicate_of VARCHAR,              -- activity_id kept in `activities`
    reason VARCHAR,                   -- why this copy was not kept (the richer source of the same run)
    detected_at TIMESTAMP
);
