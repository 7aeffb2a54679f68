-- stg_session_rpe: session-RPE load per activity (Foster et al. 2001: CR-10 RPE x duration in
-- minutes, AU). EXTENSION POINT: empty until the journal lands RPE
-- (`footfall log rpe ...`, or Strava's "Perceived Exertion" in export_activities once its 1-10
-- scale is mapped to CR-10). Replace the `logged` CTE with the real source; keep the columns.
-- grain: one row per activity with a logged RPE; key: activity_id
-- units: rpe_cr10 score 0-10; duration_min minutes; srpe_load_au arbitrary units
-- variables: none

create or replace view stg_session_rpe as

with

logged as (

    select
        cast(null as varchar) as activity_id,
        cast(null as varchar) as athlete_id,
        cast(null as double) as rpe_cr10,
        cast(null as double) as duration_min
    where false

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
