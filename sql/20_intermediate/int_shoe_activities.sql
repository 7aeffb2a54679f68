-- int_shoe_activities: each activity with the shoe it was worn in and its distance, the one join
-- of shoes and activities that shoe mileage, the shoe flags and `footfall shoes list` count from.
-- grain: one row per activity that has a shoe (activity_shoes) and is a session (int_sessions);
--        key: activity_id
-- units: distance_m metres (0 when the activity has no distance)
-- rules:
--   * the shoe comes from activity_shoes (by hand, a date rule, Strava gear, the default shoe or
--     the only shoe in use: int_shoe_assignment, written by pipelines/journal/);
--   * distance_m is every activity's distance (walks wear shoes too); is_run says which are runs
--     (int_sessions.is_run).
-- variables: none
-- column assigned_by: how the shoe was assigned (activity_shoes.source): manual | range | strava |
--     default | only_shoe

create or replace view int_shoe_activities as

with

activity_shoes as (

    select * from stg_activity_shoes

),

sessions as (

    select * from int_sessions

),

final as (

    select
        x.shoe_id,
        x.source as assigned_by,
        s.athlete_id,
        s.activity_id,
        s.local_date,
        s.started_at,
        s.is_run,
        coalesce(s.distance_m, 0) as distance_m

    from activity_shoes as x
    join sessions as s on s.activity_id = x.activity_id

)

select * from final
