-- int_run_gait: each run's running and walking time, longest continuous running bout and
-- running-only cadence and ground contact time: the inputs of the run-walk progression
-- (weekly_progression) and of the return-to-run plan comparison (plan_vs_actual).
-- grain: one row per activity that counts as running load (int_sessions.is_run); key: activity_id
-- units: run_s, walk_s, longest_run_bout_s seconds; cadence_run_spm steps/min (both feet);
--        ground_contact_time_run_ms milliseconds
-- rules (footfall choice, run-walk progression; no study sets these numbers):
--   * what counts as a run is int_sessions' decision (is_run), never re-decided here;
--   * run_s / walk_s: the smoothed gait split of models/gait.py (activity_metrics.run_time_s /
--     walk_time_s). A run whose gait could not be split (no cadence and no speed) counts its
--     whole running moving time as running and no walking: has_gait = false says so;
--   * longest_run_bout_s: NULL when the gait could not be split (not guessed);
--   * cadence_run_spm, ground_contact_time_run_ms: running samples only (walk breaks left out),
--     NULL when not measured.
-- variables: none
-- column has_gait: false when the run's gait could not be split (then run_s is its whole running
--     moving time)
-- column run_s: time running in the run, seconds
-- column walk_s: time walking in the run, seconds
-- column cadence_run_spm: mean cadence over running samples, steps per minute (both feet)
-- column ground_contact_time_run_ms: mean ground contact time over running samples, milliseconds

create or replace view int_run_gait as

with

sessions as (

    select * from int_sessions

),

gait as (

    select * from stg_gait

),

final as (

    select
        s.athlete_id,
        s.activity_id,
        s.local_date,
        s.started_at,
        g.run_time_s is not null as has_gait,
        coalesce(g.run_time_s, s.running_moving_time_s, 0) as run_s,
        case when g.run_time_s is not null then coalesce(g.walk_time_s, 0) else 0 end as walk_s,
        g.longest_run_bout_s,
        g.avg_cadence_run_spm as cadence_run_spm,
        g.avg_ground_contact_time_run_ms as ground_contact_time_run_ms

    from sessions as s
    left join gait as g on g.activity_id = s.activity_id
    where s.is_run

)

select * from final
