-- int_shoe_assignment: the shoe the rules give each activity the runner did not assign by hand.
-- pipelines/journal/ writes these rows into activity_shoes (source = the rule) at the end of each
-- sync and after every shoe command, keeping the hand assignments (source 'manual'); this view
-- is what the rules say now (after a build it equals the non-manual rows of activity_shoes).
-- grain: one row per activity with an athlete, no manual shoe, and a shoe picked by a rule;
--        key: activity_id
-- units: none (ids, dates and the name of the rule)
-- rules (precedence, first that applies):
--   * range: the newest `footfall shoes assign SHOE --from D [--to D]` rule (shoe_ranges) whose
--     dates cover the run, unless the shoe was retired before it; runs only;
--   * strava: the shoe linked to the activity's Strava gear (int_strava_activities), for runs and
--     foot activities (is_foot);
--   * default: the athlete's default shoe whose span [coalesce(first_used, added_on), retired_on]
--     covers the run; runs only;
--   * only_shoe: the only shoe whose span covers the run; runs only.
--   A run is int_sessions.is_run; ties between shoes go to the lowest shoe_id.
-- variables: none

create or replace view int_shoe_assignment as

with

activities as (

    select * from stg_activities

),

sessions as (

    select * from int_sessions

),

strava as (

    select * from int_strava_activities

),

shoes as (

    select * from stg_shoes

),

shoe_ranges as (

    select * from stg_shoe_ranges

),

manual as (

    select activity_id from stg_activity_shoes where source = 'manual'

),

acts as (

    select
        a.activity_id,
        a.athlete_id,
        coalesce(s.local_date, a.local_date) as local_date,
        coalesce(s.is_run, false) as is_run

    from activities as a
    left join sessions as s on s.activity_id = a.activity_id
    where a.athlete_id is not null

),

shoe_span as (

    select
        shoe_id,
        athlete_id,
        is_default,
        coalesce(first_used, added_on) as starts_on,
        retired_on

    from shoes

),

range_pick as (

    select r.activity_id, arg_max(sr.shoe_id, sr.range_id) as shoe_id
    from acts as r
    join shoe_ranges as sr
        on sr.athlete_id = r.athlete_id
        and r.local_date >= sr.from_date
        and (sr.to_date is null or r.local_date <= sr.to_date)
    join shoe_span as s
        on s.shoe_id = sr.shoe_id
        and (s.retired_on is null or r.local_date <= s.retired_on)
    where r.is_run
    group by r.activity_id

),

strava_pick as (

    select r.activity_id, min(s.shoe_id) as shoe_id
    from acts as r
    join strava as x on x.activity_id = r.activity_id and x.athlete_id = r.athlete_id
    join shoes as s on s.athlete_id = r.athlete_id and s.strava_gear = x.gear
    where r.is_run or x.is_foot
    group by r.activity_id

),

default_pick as (

    select r.activity_id, min(s.shoe_id) as shoe_id
    from acts as r
    join shoe_span as s
        on s.athlete_id = r.athlete_id
        and s.is_default
        and r.local_date >= s.starts_on
        and (s.retired_on is null or r.local_date <= s.retired_on)
    where r.is_run
    group by r.activity_id

),

only_pick as (

    select r.activity_id, min(s.shoe_id) as shoe_id
    from acts as r
    join shoe_span as s
        on s.athlete_id = r.athlete_id
        and r.local_date >= s.starts_on
        and (s.retired_on is null or r.local_date <= s.retired_on)
    where r.is_run
    group by r.activity_id
    having count(*) = 1

),

picked as (

    select
        r.activity_id,
        r.athlete_id,
        coalesce(rp.shoe_id, sp.shoe_id, dp.shoe_id, op.shoe_id) as shoe_id,
        case
            when rp.shoe_id is not null then 'range'
            when sp.shoe_id is not null then 'strava'
            when dp.shoe_id is not null then 'default'
            else 'only_shoe'
        end as source

    from acts as r
    left join range_pick as rp on rp.activity_id = r.activity_id
    left join strava_pick as sp on sp.activity_id = r.activity_id
    left join default_pick as dp on dp.activity_id = r.activity_id
    left join only_pick as op on op.activity_id = r.activity_id
    where r.activity_id not in (select activity_id from manual)

),

final as (

    select activity_id, shoe_id, athlete_id, source
    from picked
    where shoe_id is not null

)

select * from final
