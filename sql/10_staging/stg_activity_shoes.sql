-- stg_activity_shoes: the shoe of each activity (by hand, or written from int_shoe_assignment by the rules), as stored.
-- The journal table activity_shoes (sql/00_schema/003_journal.sql, written by pipelines/journal/ only);
-- the models read the journal through these staging views, never the table itself.
-- grain: one row per activity with a shoe; key: activity_id
-- units: none (ids; source = manual | range | strava | default | only_shoe)
-- variables: none

create or replace view stg_activity_shoes as

with

source as (

    select * from activity_shoes

),

final as (

    select
        activity_id,
        shoe_id,
        athlete_id,
        source,
        assigned_at

    from source

)

select * from final
