-- 004_value_checks: what the plausibility checks (models/plausibility.py, bounds in
-- models/thresholds.py) did to decoded values before they landed. Mirrors ingest/schema.py VALUE_CHECKS.

-- grain: one row per file x activity x table x column x action; landed with the file's frames
CREATE TABLE IF NOT EXISTS value_checks (
    athlete_id VARCHAR,
    file_id VARCHAR NOT NULL,
    activity_id VARCHAR,              -- NULL for a check of the whole file
    table_name VARCHAR,               -- activities | laps | records | events | developer_values
    column_name VARCHAR,              -- the column whose values were checked
    action VARCHAR,                   -- set_null | row_dropped | activity_refused
    n_rejected BIGINT,                -- values set NULL, rows dropped, or 1 refused activity
    min_seen DOUBLE,                  -- among the rejected values (times: seconds since 1970 UTC)
    max_seen DOUBLE,                  -- largest rejected value
    lower_bound DOUBLE,               -- lowest plausible value, in unit
    upper_bound DOUBLE,               -- highest plausible value, in unit (NULL for a time window's "now" end: the check's clock is not stored)
    unit VARCHAR,
    bound_name VARCHAR,               -- name in models/thresholds.py
    reason VARCHAR
);
