-- stg_activity_metrics: per-activity metrics computed by models/summary.py.
-- grain: one row per activity; key: activity_id
-- units: distance_m metres; moving_time_s, elapsed_time_s seconds; steps count (both feet);
--        trimp_au arbitrary units (Banister, NULL when heart rate or the athlete's HR rest/max is unknown);
--        sport_confidence 0-1; avg_cadence_run_spm steps/min and avg_ground_contact_time_run_ms
--        milliseconds over running samples only (issue 13: the sport decision and its reason)
-- variables: none

create or replace view stg_activity_metrics as

with

activity_metrics as (

    select * from activity_metrics

),

final as (

    select
        activity_id,
        athlete_id,
        sport,
        sport_source,
        sport_confidence,
        sport_reason,
        is_run,
        started_at,
        local_date,
        distance_m,
        moving_time_s,
        elapsed_time_s,
        steps,
        trimp_au,
        distance_source,
        distance_reason,
        avg_cadence_run_spm,
        avg_ground_contact_time_run_ms

    from activity_metrics

)

select * from final
