-- 009_run_plan: a return-to-run plan the runner or a clinician writes (issue 14), week by week.
-- `footfall plan add --week N --run-min X [--pattern "1:1 x 10"] [--longest-min Y] [--start D]`
-- or `footfall plan import plan.csv`. Writers: pipelines/plan.py only (validation in
-- models/plan.py). The plan is the runner's data: never deleted by a sync or a rebuild, only by
-- `footfall plan clear`.
-- grain: one row per athlete x plan week; key: (athlete_id, week_number)
-- A plan is written as weeks 1..N from ONE start date per athlete (start_date is the same on
-- every row of an athlete): week N covers the 7 local days start_date + 7 (N - 1) .. + 6.
-- units: *_min minutes; pattern_repeats count
CREATE TABLE IF NOT EXISTS run_plan (
    athlete_id VARCHAR NOT NULL,
    start_date DATE NOT NULL,          -- local date week 1 starts (any weekday)
    week_number INTEGER NOT NULL CHECK (week_number >= 1),
    run_min DOUBLE NOT NULL CHECK (run_min > 0),   -- planned running minutes in the week
    pattern VARCHAR,                   -- walk-run pattern as written, normalised: "1:1 x 10"
    pattern_run_min DOUBLE,            -- minutes of running per repeat (1 in "1:1 x 10")
    pattern_walk_min DOUBLE,           -- minutes of walking per repeat
    pattern_repeats INTEGER,           -- repeats per session (10 in "1:1 x 10")
    longest_min DOUBLE,                -- planned longest continuous running bout, minutes
    note VARCHAR,
    source VARCHAR NOT NULL,           -- cli | import
    entered_at TIMESTAMP NOT NULL,     -- UTC
    PRIMARY KEY (athlete_id, week_number)
);
