-- stg_pain_entries: the pain scores the runner logged (`footfall log pain`, a CSV journal), as stored.
-- The journal table pain_log (sql/00_schema/003_journal.sql, written by pipelines/journal/ only);
-- the models read the journal through these staging views, never the table itself.
-- grain: one row per pain score; key: entry_id
-- units: score points 0-10 (halves allowed); local_date the LOCAL date the pain was felt
-- variables: none

create or replace view stg_pain_entries as

with

source as (

    select * from pain_log

),

final as (

    select
        entry_id,
        athlete_id,
        local_date,
        activity_id,
        moment,
        score,
        location,
        note,
        source,
        logged_at

    from source

)

select * from final
