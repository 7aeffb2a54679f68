-- stg_activity_overrides: the runner's own word on an activity (footfall activity sport|exclude|include).
-- grain: one row per statement the runner made; key: override_id
-- units: entered_at naive UTC
-- rules:
--   * activity_id is the activity the statement is about; a statement about a copy that a later
--     sync dropped as a duplicate (activity_duplicates) follows the copy kept, so the runner's
--     word survives a richer source of the same run arriving later.
-- variables: none

create or replace view stg_activity_overrides as

with

overrides as (

    select * from activity_overrides

),

duplicates as (

    select * from activity_duplicates

),

final as (

    select
        o.override_id,
        o.athlete_id,
        coalesce(d.duplicate_of, o.activity_id) as activity_id,
        o.kind,
        lower(o.sport) as sport,
        o.reason,
        o.entered_at

    from overrides as o
    left join duplicates as d on d.activity_id = o.activity_id

)

select * from final
