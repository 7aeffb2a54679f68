-- stg_shoes: the runner's shoes (`footfall shoes add`, Strava gear), as stored.
-- The journal table shoes (sql/00_schema/003_journal.sql, written by pipelines/journal/ only);
-- the models read the journal through these staging views, never the table itself.
-- grain: one row per shoe; key: shoe_id
-- units: drop_mm, stack_mm millimetres; weight_g grams (one shoe)
-- variables: none

create or replace view stg_shoes as

with

source as (

    select * from shoes

),

final as (

    select
        shoe_id,
        athlete_id,
        name,
        brand,
        model,
        drop_mm,
        stack_mm,
        weight_g,
        first_used,
        retired_on,
        is_default,
        strava_gear,
        source,
        added_on,
        added_at

    from source

)

select * from final
