-- stg_run_plan: the runner's return-to-run plan (`footfall plan add|import`), as stored.
-- The table run_plan (sql/00_schema/009_run_plan.sql, written by pipelines/plan.py only); the
-- models read it through this view. week N covers the 7 local days from week_start_date.
-- grain: one row per athlete x plan week; key: (athlete_id, week_number)
-- units: *_min minutes; pattern_repeats count
-- variables: none
-- column pattern_session_walk_min: walking minutes per session of the pattern (pattern_walk_min x
--     pattern_repeats)

create or replace view stg_run_plan as

with

source as (

    select * from run_plan

),

final as (

    select
        athlete_id,
        start_date,
        week_number,
        cast(start_date + 7 * (week_number - 1) as date) as week_start_date,
        cast(start_date + 7 * (week_number - 1) + 6 as date) as week_end_date,
        run_min,
        pattern,
        pattern_run_min,
        pattern_walk_min,
        pattern_repeats,
        pattern_walk_min * pattern_repeats as pattern_session_walk_min,
        coalesce(longest_min, pattern_run_min) as longest_min,
        note,
        source,
        entered_at

    from source

)

select * from final
