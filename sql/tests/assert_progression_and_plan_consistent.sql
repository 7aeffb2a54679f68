-- weekly_progression has one row per weekly_load row (same athletes and weeks), and no running or
-- walking minute is lost or counted twice between the runs (int_run_gait), the weeks and the
-- plan weeks (plan_vs_actual: each plan week's actuals are the runs of its 7 days). Minutes to
-- 1e-6 relative (sums in a different order). Returns one row per problem.
with

keys_differ as (

    select coalesce(p.athlete_id, w.athlete_id) as athlete_id,
        coalesce(p.week_start_date, w.week_start_date) as week_start_date,
        'weekly_progression and weekly_load weeks differ' as problem
    from weekly_progression as p
    full outer join weekly_load as w using (athlete_id, week_start_date)
    where p.athlete_id is null or w.athlete_id is null

),

runs as (

    select athlete_id, sum(run_s) / 60 as running_min, sum(walk_s) / 60 as walking_min
    from int_run_gait
    group by athlete_id

),

weeks as (

    select athlete_id, sum(running_min) as running_min, sum(walking_min) as walking_min
    from weekly_progression
    group by athlete_id

),

minutes_lost as (

    select coalesce(r.athlete_id, w.athlete_id) as athlete_id, cast(null as date) as week_start_date,
        'running or walking minutes differ between int_run_gait and weekly_progression' as problem
    from runs as r
    full outer join weeks as w using (athlete_id)
    where abs(coalesce(r.running_min, 0) - coalesce(w.running_min, 0))
            > 1e-6 * greatest(1, abs(coalesce(r.running_min, 0)))
       or abs(coalesce(r.walking_min, 0) - coalesce(w.walking_min, 0))
            > 1e-6 * greatest(1, abs(coalesce(r.walking_min, 0)))

),

plan_runs as (

    select p.athlete_id, p.week_number, p.week_start_date,
        coalesce(sum(r.run_s), 0) / 60 as running_min
    from stg_run_plan as p
    left join int_run_gait as r
        on r.athlete_id = p.athlete_id
        and r.local_date between p.week_start_date and p.week_end_date
    group by all

),

plan_differs as (

    select a.athlete_id, r.week_start_date,
        'plan_vs_actual.actual_run_min is not the runs of the plan week' as problem
    from plan_vs_actual as a
    join plan_runs as r using (athlete_id, week_number)
    where abs(a.actual_run_min - r.running_min) > 1e-6 * greatest(1, r.running_min)
       or a.week_start_date != r.week_start_date

)

select * from keys_differ
union all select * from minutes_lost
union all select * from plan_differs
