-- stg_shoe_ranges: the runner's "these runs were in this shoe" date rules (`footfall shoes assign SHOE --from D`), as stored.
-- The journal table shoe_ranges (sql/00_schema/003_journal.sql, written by pipelines/journal/ only);
-- the models read the journal through these staging views, never the table itself.
-- grain: one row per date rule; key: range_id
-- units: none (from_date, to_date LOCAL dates; to_date NULL = open-ended)
-- variables: none

create or replace view stg_shoe_ranges as

with

source as (

    select * from shoe_ranges

),

final as (

    select
        range_id,
        athlete_id,
        shoe_id,
        from_date,
        to_date,
        source,
        created_at

    from source

)

select * from final
