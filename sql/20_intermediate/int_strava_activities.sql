-- int_strava_activities: the rows of a Strava export's activities.csv matched to the activity
-- footfall kept: by the hash of the file the row names, or, when that file was dropped as a
-- duplicate, to the copy kept instead (activity_duplicates.duplicate_of).
-- grain: one row per (export row, activity kept); key: (athlete_id, activity_id, gear,
--        activity_type, perceived_exertion); an activity may have several rows (re-exports)
-- units: perceived_exertion Strava's 1-10 scale
-- rules:
--   * is_foot: a foot activity, whose gear is a shoe: the kept activity's sport is running,
--     walking, hiking or trail running, or Strava's "Activity Type" contains run, walk or hike
--     (bikes and other gear never become shoes);
--   * only rows of the same athlete as the activity kept.
-- variables: none
-- column is_foot: a foot activity (run, walk, hike) whose gear is a shoe

create or replace view int_strava_activities as

with

export_activities as (

    select * from export_activities

),

activities as (

    select * from activities

),

duplicates as (

    select * from activity_duplicates

),

matched as (

    select e.athlete_id, a.activity_id, e.gear, e.activity_type, e.perceived_exertion
    from export_activities as e
    join activities as a on a.file_id = e.file_id and a.athlete_id = e.athlete_id

    union

    select e.athlete_id, d.duplicate_of as activity_id, e.gear, e.activity_type, e.perceived_exertion
    from export_activities as e
    join duplicates as d on d.file_id = e.file_id

),

final as (

    select
        m.athlete_id,
        m.activity_id,
        k.local_date,
        k.sport,
        m.gear,
        m.activity_type,
        m.perceived_exertion,
        k.sport in ('running', 'walking', 'hiking', 'trail_running')
            or regexp_matches(lower(coalesce(m.activity_type, '')), 'run|walk|hike') as is_foot

    from matched as m
    join activities as k on k.activity_id = m.activity_id and k.athlete_id = m.athlete_id

)

select * from final
