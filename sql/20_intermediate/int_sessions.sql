-- int_sessions: every activity with the load it contributes, one place for "what counts".
-- grain: one row per activity with an athlete and a local date; key: activity_id
-- units: distance_m, running_distance_m metres; moving_time_s, running_moving_time_s, duration_s
--        seconds; steps count; srpe_load_au, trimp_au arbitrary units
-- rules (footfall choice, load units):
--   * a run is int_activity_status.counts_as_running_load: activity_metrics.is_run (models/ decide
--     it), else sport = 'running' when the metrics are not computed yet, unless the runner said
--     otherwise (activity_overrides); sport is the final sport (the runner's, else the detected);
--   * running distance, running moving time and steps count runs only; cross-training (cycling,
--     swimming, walking, ...) counts in the all-sport duration_s only;
--   * distance and moving time prefer the metrics (models/summary.py), else the activity summary
--     (timer time, then elapsed time);
--   * srpe_load_au comes from stg_session_rpe (empty until RPE is logged); trimp_au from the metrics.
-- variables: none

create or replace view int_sessions as

with

activities as (

    select * from stg_activities

),

metrics as (

    select * from stg_activity_metrics

),

status as (

    select * from int_activity_status

),

session_rpe as (

    select * from stg_session_rpe

),

joined as (

    select
        coalesce(a.athlete_id, m.athlete_id) as athlete_id,
        a.activity_id,
        st.final_sport as sport,
        a.sub_sport,
        a.source_format,
        coalesce(a.started_at, m.started_at) as started_at,
        coalesce(a.local_date, m.local_date) as local_date,
        coalesce(st.counts_as_running_load, false) as is_run,
        coalesce(m.distance_m, a.distance_m) as distance_m,
        coalesce(m.moving_time_s, a.timer_time_s, a.elapsed_time_s) as moving_time_s,
        m.steps,
        m.trimp_au,
        r.srpe_load_au

    from activities as a
    left join metrics as m on m.activity_id = a.activity_id
    left join session_rpe as r on r.activity_id = a.activity_id
    left join status as st on st.activity_id = a.activity_id

),

final as (

    select
        athlete_id,
        activity_id,
        sport,
        sub_sport,
        source_format,
        started_at,
        local_date,
        is_run,
        distance_m,
        moving_time_s,
        case when is_run then distance_m end as running_distance_m,
        case when is_run then moving_time_s end as running_moving_time_s,
        case when is_run then steps end as steps,
        moving_time_s as duration_s,
        srpe_load_au,
        trimp_au

    from joined
    where athlete_id is not null
      and local_date is not null

)

select * from final
