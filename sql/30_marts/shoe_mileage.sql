-- shoe_mileage: each shoe's distance and runs, as of `today`.
-- grain: one row per shoe (shoes never worn included, with zeros); key: shoe_id
-- units: distance_m, running_distance_m, distance_7d_m, distance_28d_m, remaining_m metres
-- rules:
--   * an activity counts for the shoe it is assigned to (int_shoe_activities: one shoe per
--     activity, by hand or by a rule). distance_m counts every activity in the shoe (walks wear
--     shoes too); running_distance_m and n_runs only runs. source: how the shoe was added (cli |
--     strava). `footfall shoes list` runs this model's query as of its own `today`.
--   * distance_7d_m / distance_28d_m: activities on the 7 / 28 local days ending on `today`.
--   * start_date: first_used when the runner gave it, else the shoe's first activity.
--   * is_past_retire: distance_m above shoe_retire_m (a footfall heuristic, not evidence);
--     remaining_m = shoe_retire_m - distance_m (negative past it).
-- variables: today, shoe_retire_m (models/thresholds.py)
-- column distance_m: distance of every activity in the shoe (walks included), metres
-- column running_distance_m: distance of the runs in the shoe, metres
-- column n_activities: activities in the shoe
-- column n_runs: runs in the shoe
-- column is_retired: the shoe has a retired_on date
-- column start_date: first_used when the runner gave it, else the shoe's first activity (local
--     date)
-- column distance_7d_m, distance_28d_m: distance of the activities on the 7 / 28 local days ending
--     on `today`, metres
-- column remaining_m: shoe_retire_m - distance_m, metres (negative past it; shoe_retire_m is a
--     footfall heuristic)
-- column is_past_retire: distance_m above shoe_retire_m (a footfall heuristic, not evidence)

create or replace table shoe_mileage as

with

shoes as (

    select * from stg_shoes

),

worn as (

    select * from int_shoe_activities

),

per_shoe as (

    select
        shoe_id,
        count(*) as n_activities,
        count(*) filter (where is_run) as n_runs,
        sum(distance_m) as distance_m,
        coalesce(sum(distance_m) filter (where is_run), 0) as running_distance_m,
        min(local_date) as first_activity_date,
        max(local_date) as last_activity_date,
        coalesce(sum(distance_m) filter (
            where local_date > cast(getvariable('today') as date) - 7
              and local_date <= cast(getvariable('today') as date)
        ), 0) as distance_7d_m,
        coalesce(sum(distance_m) filter (
            where local_date > cast(getvariable('today') as date) - 28
              and local_date <= cast(getvariable('today') as date)
        ), 0) as distance_28d_m

    from worn
    group by shoe_id

),

final as (

    select
        s.athlete_id,
        s.shoe_id,
        s.name,
        s.brand,
        s.model,
        s.drop_mm,
        s.stack_mm,
        s.weight_g,
        s.first_used,
        s.retired_on,
        s.is_default,
        s.source,
        s.retired_on is not null as is_retired,
        coalesce(s.first_used, p.first_activity_date) as start_date,
        coalesce(p.n_activities, 0) as n_activities,
        coalesce(p.n_runs, 0) as n_runs,
        coalesce(p.distance_m, 0) as distance_m,
        coalesce(p.running_distance_m, 0) as running_distance_m,
        p.first_activity_date,
        p.last_activity_date,
        coalesce(p.distance_7d_m, 0) as distance_7d_m,
        coalesce(p.distance_28d_m, 0) as distance_28d_m,
        getvariable('shoe_retire_m') - coalesce(p.distance_m, 0) as remaining_m,
        coalesce(p.distance_m, 0) > getvariable('shoe_retire_m') as is_past_retire

    from shoes as s
    left join per_shoe as p on p.shoe_id = s.shoe_id

)

select * from final
order by athlete_id, shoe_id
