-- int_pain_entries: every pain score in the runner's log, with the run it belongs to.
-- grain: one row per pain_log entry; key: entry_id
-- units: score 0-10 (halves allowed); local_date = the day the pain was felt (next_morning: the
--        morning, i.e. the day after the run)
-- rules (pipelines/journal/ writes pain_log; the moments of the pain-monitoring model, Silbernagel et al. 2007, doi:10.1177/0363546506298279):
--   * an entry logged with an activity_id belongs to that activity (run_activity_id), whatever its
--     sport, when the activity is landed;
--   * an entry logged by date belongs to a run (int_sessions.is_run) of the same athlete:
--       before                      -> the FIRST run that day (by start time)
--       during, after, evening      -> the LAST run that day
--       next_morning (felt on day D) -> the LAST run on day D - 1
--     and to none when there is no such run (it still counts in weekly_load by its date);
--   * attached_by: 'activity' | 'same_day' | 'previous_day' | NULL (not attached).
-- variables: none
-- column logged_activity_id: the activity the runner logged the entry with (NULL: logged by date)
-- column run_activity_id: the run the entry belongs to (NULL: not attached)
-- column attached_by: how it was attached: activity | same_day | previous_day | NULL (not
--     attached)

create or replace view int_pain_entries as

with

pain_log as (

    select * from stg_pain_entries

),

sessions as (

    select * from int_sessions

),

runs_by_day as (

    select
        athlete_id,
        local_date,
        arg_min(activity_id, started_at) as first_run_id,
        arg_max(activity_id, started_at) as last_run_id

    from sessions
    where is_run
    group by athlete_id, local_date

),

attached as (

    select
        p.*,
        case
            when s.activity_id is not null then s.activity_id
            when p.activity_id is not null then null
            when p.moment = 'before' then d.first_run_id
            when p.moment = 'next_morning' then prev.last_run_id
            else d.last_run_id
        end as run_activity_id,
        case
            when s.activity_id is not null then 'activity'
            when p.activity_id is not null then null
            when p.moment = 'next_morning' and prev.last_run_id is not null then 'previous_day'
            when p.moment <> 'next_morning' and d.last_run_id is not null then 'same_day'
        end as attached_by

    from pain_log as p
    left join sessions as s
        on s.activity_id = p.activity_id
    left join runs_by_day as d
        on d.athlete_id = p.athlete_id
        and d.local_date = p.local_date
    left join runs_by_day as prev
        on prev.athlete_id = p.athlete_id
        and prev.local_date = p.local_date - 1

),

final as (

    select
        entry_id,
        athlete_id,
        local_date,
        cast(date_trunc('week', local_date) as date) as week_start_date,
        moment,
        score,
        location,
        note,
        source,
        logged_at,
        activity_id as logged_activity_id,
        run_activity_id,
        attached_by

    from attached

)

select * from final
