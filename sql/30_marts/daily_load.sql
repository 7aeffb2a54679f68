-- daily_load: each athlete's load per local calendar day, rest days included as zero rows.
-- grain: one row per athlete_id x local_date, with no gaps, from the athlete's first activity (any
--        sport) to `today` (or the last activity's date if that is later);
--        key: (athlete_id, local_date); day_index = 1 on the first day
-- units: running_distance_m, longest_run_m metres; running_moving_time_s, duration_s seconds;
--        steps count (runs only; runs whose steps are unknown add 0 and are counted in
--        n_runs_without_steps); srpe_load_au, trimp_au arbitrary units
-- rules: dates are the activity's LOCAL date (SCIENCE.md s5), never the UTC date of started_at.
--        Days without activity are 0 (SCIENCE.md s1.1). trimp_au and srpe_load_au: NULL on a day when
--        any of its activities lacks the value (a partial sum would understate the load), 0 on rest
--        days, and NULL on every day for an athlete who has no value at all.
--        longest_run_m is NULL on days without a run.
-- variables: today (DATE; pipelines/sqlmodels.py sets it, default the current date)

create or replace table daily_load as

with

sessions as (

    select * from int_sessions

),

athlete_span as (

    select
        athlete_id,
        min(local_date) as first_date,
        greatest(max(local_date), cast(getvariable('today') as date)) as last_date,
        bool_or(trimp_au is not null) as has_trimp,
        bool_or(srpe_load_au is not null) as has_srpe

    from sessions
    group by athlete_id

),

calendar_offsets as (

    select
        athlete_id,
        first_date,
        has_trimp,
        has_srpe,
        unnest(range(0, date_diff('day', first_date, last_date) + 1)) as day_offset

    from athlete_span

),

calendar as (

    select
        athlete_id,
        cast(first_date + cast(day_offset as integer) as date) as local_date,
        cast(day_offset + 1 as integer) as day_index,
        has_trimp,
        has_srpe

    from calendar_offsets

),

per_day as (

    select
        athlete_id,
        local_date,
        count(*) as n_activities,
        count(*) filter (where is_run) as n_runs,
        count(*) filter (where is_run and steps is null) as n_runs_without_steps,
        sum(running_distance_m) as running_distance_m,
        sum(running_moving_time_s) as running_moving_time_s,
        sum(steps) as steps,
        sum(duration_s) as duration_s,
        max(running_distance_m) as longest_run_m,
        case when count(trimp_au) = count(*) then sum(trimp_au) end as trimp_au,
        case when count(srpe_load_au) = count(*) then sum(srpe_load_au) end as srpe_load_au

    from sessions
    group by athlete_id, local_date

),

final as (

    select
        c.athlete_id,
        c.local_date,
        c.day_index,
        cast(date_trunc('week', c.local_date) as date) as week_start_date,
        coalesce(d.n_activities, 0) as n_activities,
        coalesce(d.n_runs, 0) as n_runs,
        coalesce(d.n_runs_without_steps, 0) as n_runs_without_steps,
        coalesce(d.running_distance_m, 0) as running_distance_m,
        coalesce(d.running_moving_time_s, 0) as running_moving_time_s,
        coalesce(d.steps, 0) as steps,
        coalesce(d.duration_s, 0) as duration_s,
        d.longest_run_m,
        case
            when not c.has_srpe then null
            when d.athlete_id is null then 0
            else d.srpe_load_au
        end as srpe_load_au,
        case
            when not c.has_trimp then null
            when d.athlete_id is null then 0
            else d.trimp_au
        end as trimp_au

    from calendar as c
    left join per_day as d
        on d.athlete_id = c.athlete_id
        and d.local_date = c.local_date

)

select * from final
order by athlete_id, local_date
