-- 003_journal: the runner's log. Pain, effort (RPE) and shoes, typed by the runner
-- (`footfall log ...`, `footfall shoes ...`, `footfall log import FILE.csv`) or filled from a
-- Strava export's activities.csv (gear, perceived exertion). Watches record none of it.
-- Dates are the runner's LOCAL calendar dates; *_at timestamps are naive UTC.
-- Writers: pipelines/journal/ only (validation in models/journal.py).

-- grain: one row per pain score the runner logged; key: entry_id
-- local_date is the day the pain was FELT: for `next_morning` that is the morning's date (the day
-- after the run). activity_id is NULL when the entry was logged by date; the models attach such
-- entries to the run of that day (int_pain_by_run).
CREATE TABLE IF NOT EXISTS pain_log (
    entry_id BIGINT PRIMARY KEY,
    athlete_id VARCHAR NOT NULL,
    local_date DATE NOT NULL,
    activity_id VARCHAR,
    moment VARCHAR NOT NULL
        CHECK (moment IN ('before', 'during', 'after', 'next_morning', 'evening')),
    score DOUBLE NOT NULL CHECK (score >= 0 AND score <= 10),   -- 0-10 in steps of 0.5
    location VARCHAR,                 -- where it hurts, free text ("2nd metatarsal")
    note VARCHAR,
    source VARCHAR NOT NULL,          -- cli | import
    logged_at TIMESTAMP NOT NULL
);

-- grain: one row per session-RPE rating; key: entry_id
-- rpe_cr10: Borg CR-10, 0-10 in steps of 0.5, rated ~30 min after the session (Foster et al. 2001).
-- Strava's "Perceived Exertion" (1-10) is stored as is (source = 'strava').
-- activity_id NULL: logged by date; the models attach it to that day's only activity.
CREATE TABLE IF NOT EXISTS rpe_log (
    entry_id BIGINT PRIMARY KEY,
    athlete_id VARCHAR NOT NULL,
    local_date DATE NOT NULL,
    activity_id VARCHAR,
    rpe_cr10 DOUBLE NOT NULL CHECK (rpe_cr10 >= 0 AND rpe_cr10 <= 10),
    note VARCHAR,
    source VARCHAR NOT NULL,          -- cli | import | strava
    logged_at TIMESTAMP NOT NULL
);

-- grain: one row per shoe; key: shoe_id (small integer the runner types: `footfall shoes retire 3`)
CREATE TABLE IF NOT EXISTS shoes (
    shoe_id INTEGER PRIMARY KEY,
    athlete_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,            -- unique per athlete, case-insensitive (checked by the writer)
    brand VARCHAR,
    model VARCHAR,
    drop_mm DOUBLE,                   -- heel-to-toe drop, millimetres
    stack_mm DOUBLE,                  -- heel stack height, millimetres
    weight_g DOUBLE,                  -- weight of one shoe, grams
    first_used DATE,                  -- NULL: unknown (then its first run counts as the start)
    retired_on DATE,                  -- NULL: still in use
    is_default BOOLEAN NOT NULL DEFAULT false,   -- "the shoe in use": at most one per athlete
    strava_gear VARCHAR,              -- the Strava "Activity Gear" name this shoe stands for
    source VARCHAR NOT NULL,          -- cli | strava
    added_on DATE NOT NULL,           -- local date the shoe was added (start of a default shoe
                                      -- whose first_used is unknown)
    added_at TIMESTAMP NOT NULL
);

-- grain: one row per activity that has a shoe; key: activity_id
-- source says why (and what a later rule may replace):
--   manual  `footfall shoes assign SHOE --activity ID` or a CSV row with activity_id: never replaced
--           by a rule; replaced only by another manual assignment
--   range   a `footfall shoes assign SHOE --from D [--to D]` rule (table shoe_ranges)
--   strava  the activity's gear in the Strava export (export_activities.gear)
--   default the athlete's default shoe, its range [coalesce(first_used, added_on), retired_on]
--   only_shoe the only shoe whose [first_used, retired_on] covers the run
-- Every non-manual row is recomputed by pipelines.journal.assign_default_shoes (pipelines/journal/writes.py) (end of each sync
-- and after every shoe command), so changing a rule re-assigns the runs it covers.
CREATE TABLE IF NOT EXISTS activity_shoes (
    activity_id VARCHAR PRIMARY KEY,
    shoe_id INTEGER NOT NULL,
    athlete_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,          -- manual | range | strava | default | only_shoe
    assigned_at TIMESTAMP NOT NULL
);

-- grain: one row per "these runs were in this shoe" date rule; key: range_id
-- Applies to runs (not walks, rides) in [from_date, to_date] (to_date NULL: open-ended) that have
-- no manual assignment, also to runs synced later; the newest rule wins where rules overlap.
CREATE TABLE IF NOT EXISTS shoe_ranges (
    range_id INTEGER PRIMARY KEY,
    athlete_id VARCHAR NOT NULL,
    shoe_id INTEGER NOT NULL,
    from_date DATE NOT NULL,
    to_date DATE,
    source VARCHAR NOT NULL,          -- cli | import
    created_at TIMESTAMP NOT NULL
);
