-- plan_vs_actual: each week of the runner's return-to-run plan (`footfall plan`) against what
-- was run: running minutes and the longest continuous running bout, planned vs actual.
-- grain: one row per athlete x plan week (stg_run_plan); key: (athlete_id, week_number)
-- units: *_min minutes; *_excess fraction over the plan (0.25 = 25% more than planned)
-- rules (footfall choice, run-walk progression; the margin is a footfall heuristic):
--   * plan week N covers the 7 LOCAL days week_start_date .. week_end_date (stg_run_plan); the
--     actuals are that week's runs (int_run_gait: int_sessions decides what a run is): running
--     and walking minutes summed, the longest bout the week's longest (NULL when no run of the
--     week has a bout measured; 0 when the week has no run).
--   * week_status: 'future' (starts after `today`), 'current' (holds `today`: actuals so far),
--     'past'.
--   * run_min_excess = round(actual_run_min / run_min - 1, 9); longest_min_excess likewise
--     against longest_min (NULL when the plan gives no longest bout and no pattern).
--   * is_exceeded: either excess above plan_exceeded_margin. exceeded_on: the first day it was:
--     the day the week's running minutes so far passed run_min x (1 + margin), or the day of the
--     first run whose bout passed longest_min x (1 + margin), whichever came first.
--     plan_flags raises the `plan_exceeded` caution from these rows.
-- variables: plan_exceeded_margin, today
-- column week_status: future (starts after `today`) | current (holds `today`: actuals so far) |
--     past
-- column actual_run_min: running minutes of the week's runs
-- column run_min_diff: actual_run_min - run_min, minutes
-- column run_min_excess: actual_run_min / run_min - 1, fraction over the plan (0.25 = 25% more)
-- column actual_walk_min: walking minutes of the week's runs
-- column actual_longest_bout_min: the week's longest continuous running bout, minutes (0 without
--     runs; NULL when no run has a bout measured)
-- column longest_min_diff: actual_longest_bout_min - longest_min, minutes
-- column longest_min_excess: actual_longest_bout_min / longest_min - 1, fraction over the plan
-- column run_min_exceeded_on: the day the week's running minutes so far passed run_min x (1 +
--     plan_exceeded_margin) (local date)
-- column longest_exceeded_on: the day of the first run whose bout passed longest_min x (1 +
--     plan_exceeded_margin) (local date)
-- column is_exceeded: either excess above plan_exceeded_margin (a footfall heuristic)
-- column exceeded_on: the first of run_min_exceeded_on and longest_exceeded_on (local date)

create or replace table plan_vs_actual as

with

plan as (

    select * from stg_run_plan

),

runs as (

    select * from int_run_gait

),

plan_runs as (

    select
        p.athlete_id,
        p.week_number,
        r.activity_id,
        r.local_date,
        r.started_at,
        r.run_s,
        r.walk_s,
        r.longest_run_bout_s,
        sum(r.run_s) over (
            partition by p.athlete_id, p.week_number
            order by r.started_at, r.activity_id
            rows between unbounded preceding and current row
        ) as run_s_so_far

    from plan as p
    join runs as r
        on r.athlete_id = p.athlete_id
        and r.local_date between p.week_start_date and p.week_end_date

),

actuals as (

    select
        p.athlete_id,
        p.week_number,
        count(r.activity_id) as n_runs,
        coalesce(sum(r.run_s), 0) / 60 as actual_run_min,
        coalesce(sum(r.walk_s), 0) / 60 as actual_walk_min,
        case
            when count(r.activity_id) = 0 then 0
            else max(r.longest_run_bout_s) / 60
        end as actual_longest_bout_min,
        max(r.local_date) as last_run_date,
        min(r.local_date) filter (
            where round(r.run_s_so_far / 60 / p.run_min - 1, 9) > getvariable('plan_exceeded_margin')
        ) as run_min_exceeded_on,
        min(r.local_date) filter (
            where round(r.longest_run_bout_s / 60 / p.longest_min - 1, 9) > getvariable('plan_exceeded_margin')
        ) as longest_exceeded_on

    from plan as p
    left join plan_runs as r using (athlete_id, week_number)
    group by p.athlete_id, p.week_number

),

compared as (

    select
        p.athlete_id,
        p.start_date,
        p.week_number,
        p.week_start_date,
        p.week_end_date,
        case
            when p.week_start_date > cast(getvariable('today') as date) then 'future'
            when p.week_end_date >= cast(getvariable('today') as date) then 'current'
            else 'past'
        end as week_status,
        p.pattern,
        p.pattern_run_min,
        p.pattern_walk_min,
        p.pattern_repeats,
        p.note,
        a.n_runs,
        p.run_min,
        a.actual_run_min,
        a.actual_run_min - p.run_min as run_min_diff,
        round(a.actual_run_min / p.run_min - 1, 9) as run_min_excess,
        a.actual_walk_min,
        p.longest_min,
        a.actual_longest_bout_min,
        a.actual_longest_bout_min - p.longest_min as longest_min_diff,
        round(a.actual_longest_bout_min / p.longest_min - 1, 9) as longest_min_excess,
        a.run_min_exceeded_on,
        a.longest_exceeded_on,
        a.last_run_date

    from plan as p
    join actuals as a using (athlete_id, week_number)

),

final as (

    select
        * exclude (last_run_date),
        coalesce(run_min_excess > getvariable('plan_exceeded_margin'), false)
            or coalesce(longest_min_excess > getvariable('plan_exceeded_margin'), false) as is_exceeded,
        case
            when coalesce(run_min_excess > getvariable('plan_exceeded_margin'), false)
              or coalesce(longest_min_excess > getvariable('plan_exceeded_margin'), false)
                then coalesce(least(run_min_exceeded_on, longest_exceeded_on), last_run_date)
        end as exceeded_on

    from compared

)

select * from final
order by athlete_id, week_number
