-- stg_session_rpe: session-RPE load per activity (Foster et al. 2001: CR-10 RPE x duration in
-- minutes, AU), from the runner's log (rpe_log: `footfall log rpe ...`, `footfall log import`, and
-- Strava's "Perceived Exertion", 1-10 stored as CR-10 as is; pipelines/journal/).
-- grain: one row per activity with a logged RPE; key: activity_id
-- units: rpe_cr10 score 0-10; duration_min minutes; srpe_load_au arbitrary units
-- rules:
--   * an RPE logged with an activity id belongs to it; one logged by date belongs to that day's
--     activity when the athlete has exactly one activity that day (else it carries no load);
--   * several RPEs for one activity: the runner's own (cli, import) before Strava's, then the
--     latest logged (highest entry_id);
--   * duration_min = moving minutes, the same fallback as int_sessions (metrics' moving time, else
--     timer time, else elapsed time) / 60.
-- variables: none
-- column duration_min: the session's moving minutes (metrics' moving time, else the timer, else
--     elapsed time)

create or replace view stg_session_rpe as

with

rpe_log as (

    select * from rpe_log

),

activities as (

    select * from stg_activities

),

metrics as (

    select * from stg_activity_metrics

),

activities_by_day as (

    select
        athlete_id,
        local_date,
        count(*) as n_activities,
        min(activity_id) as activity_id

    from activities
    group by athlete_id, local_date

),

resolved as (

    select
        r.entry_id,
        r.athlete_id,
        r.rpe_cr10,
        r.source,
        coalesce(
            a.activity_id,
            case when r.activity_id is null and d.n_activities = 1 then d.activity_id end
        ) as activity_id

    from rpe_log as r
    left join activities as a
        on a.activity_id = r.activity_id
    left join activities_by_day as d
        on d.athlete_id = r.athlete_id
        and d.local_date = r.local_date

),

logged as (

    select
        r.activity_id,
        r.athlete_id,
        r.rpe_cr10,
        coalesce(m.moving_time_s, a.timer_time_s, a.elapsed_time_s) / 60 as duration_min

    from resolved as r
    join activities as a on a.activity_id = r.activity_id
    left join metrics as m on m.activity_id = r.activity_id
    qualify row_number() over (
        partition by r.activity_id
        order by r.source = 'strava', r.entry_id desc
    ) = 1

),

final as (

    select
        activity_id,
        athlete_id,
        rpe_cr10,
        duration_min,
        rpe_cr10 * duration_min as srpe_load_au

    from logged

)

select * from final
