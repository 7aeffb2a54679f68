-- stg_gait: the run/walk split of each activity, computed by models/ (models/gait.py,
-- models/summary.py): time running and walking, the longest continuous running bout, and the
-- running-only cadence and ground contact time (walk breaks left out).
-- grain: one row per activity; key: activity_id
-- units: run_time_s, walk_time_s, longest_run_bout_s seconds; avg_cadence_run_spm steps/min (both
--        feet); avg_ground_contact_time_run_ms milliseconds. NULL: not measurable from the file.
-- variables: none

create or replace view stg_gait as

with

activity_metrics as (

    select * from activity_metrics

),

final as (

    select
        activity_id,
        athlete_id,
        run_time_s,
        walk_time_s,
        longest_run_bout_s,
        avg_cadence_run_spm,
        avg_ground_contact_time_run_ms

    from activity_metrics

)

select * from final
