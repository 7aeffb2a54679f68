-- daily_load: each athlete's load per local calendar day, rest days included as zero rows.
-- grain: one row per athlete_id x local_date, with no gaps, from the athlete's first activity (any
--        sport) to `today` (or the last activity's date if that is later);
--        key: (athlete_id, local_date); day_index = 1 on the first day
-- units: running_distance_m, longest_run_m metres; running_moving_time_s, duration_s seconds;
--        steps count (runs only; runs whose steps are unknown add 0 and are counted in
--        n_runs_without_steps); srpe_load_au, trimp_au arbitrary units
-- rules: dates are the activity's LOCAL date (footfall choice), never the UTC date of started_at.
--        Days without activity are 0 (the 7-day loads of the rolling-average ACWR sum calendar days: Lolli et al. 2019,
--        doi:10.1136/bjsports-2017-098110; Windt & Gabbett 2019, doi:10.1136/bjsports-2017-098925). trimp_au and srpe_load_au: NULL on a day when
--        any of its activities lacks the value (a partial sum would understate the load), 0 on rest
--        days, and NULL on every day for an athlete who has no value at all.
--        longest_run_m is NULL on days without a run.
--   * day-total spike (footfall choice after Frandsen et al. 2025, doi:10.1136/bjsports-2024-109380): baseline_day_m =
--     the longest running DAY (running_distance_m) of the spike_lookback_days calendar days
--     before this one (NULL when none of them had running); day_spike_ratio = running_distance_m /
--     baseline_day_m - 1 (rounded to 1e-9) on days with running; day_band as session_spikes.band
--     ('no_baseline' when no running day in the window; NULL on days without running).
--     has_spike_window: the athlete's calendar covers the whole window (day_index - 1 >=
--     spike_lookback_days; data starts at the first activity of any sport), so a spike can be
--     flagged (flags.sql); before that the ratio is shown, never flagged.
--   * returns after a break (footfall choice): days_without_run_before = days with no
--     run between the previous run day and this run day (NULL on the first run day and on days
--     without running); is_return_after_break when it is >= return_break_days.
--     last_return_date = the latest such day up to this one; load_history_start_date = that, else
--     the calendar's first day; load_history_days = days from it to this day, both included (the
--     ACWR flags wait for acwr_chronic_days of them, acwr_daily.is_flaggable).
-- variables: today (DATE; pipelines/sqlmodels.py sets it, default the current date),
--            spike_lookback_days, spike_caution_ratio, spike_warning_ratio, spike_alert_ratio,
--            return_break_days (models/thresholds.py)
-- column running_distance_m: metres run that day (runs only)
-- column baseline_day_m: the longest running day (running_distance_m) of the spike_lookback_days
--     days before, metres; NULL when none had running
-- column day_spike_ratio: running_distance_m / baseline_day_m - 1, fraction (0.6 = 60% more), on
--     days with running
-- column day_band: reference | small | moderate | large | no_baseline, as session_spikes.band
--     (Frandsen et al. 2025 bands, doi:10.1136/bjsports-2024-109380); NULL on days without running
-- column has_spike_window: the calendar covers the whole spike_lookback_days window before this
--     day, so a day-total spike can be flagged
-- column days_without_run_before: days with no run between the previous run day and this one (NULL
--     on the first run day and on days without running)
-- column is_return_after_break: days_without_run_before >= return_break_days (footfall choice)
-- column last_return_date: the latest return after a break up to this day (local date)
-- column load_history_start_date: last_return_date, else the calendar's first day (local date)
-- column load_history_days: days from load_history_start_date to this day, both included

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

filled as (

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

),

windows as (

    select
        *,
        max(nullif(running_distance_m, 0)) over (
            partition by athlete_id order by day_index
            rows between cast(getvariable('spike_lookback_days') as integer) preceding
                and 1 preceding
        ) as baseline_day_m,
        max(case when n_runs > 0 then local_date end) over (
            partition by athlete_id order by day_index
            rows between unbounded preceding and 1 preceding
        ) as prev_run_date,
        day_index - 1 >= cast(getvariable('spike_lookback_days') as integer) as has_spike_window

    from filled

),

returns as (

    select
        *,
        case
            when n_runs > 0 and prev_run_date is not null
                then date_diff('day', prev_run_date, local_date) - 1
        end as days_without_run_before,
        coalesce(n_runs > 0 and prev_run_date is not null
            and date_diff('day', prev_run_date, local_date) - 1
                >= getvariable('return_break_days'), false) as is_return_after_break

    from windows

),

history as (

    select
        *,
        max(case when is_return_after_break then local_date end) over (
            partition by athlete_id order by day_index
            rows between unbounded preceding and current row
        ) as last_return_date,
        min(local_date) over (partition by athlete_id) as first_calendar_date

    from returns

),

final as (

    select
        athlete_id,
        local_date,
        day_index,
        week_start_date,
        n_activities,
        n_runs,
        n_runs_without_steps,
        running_distance_m,
        running_moving_time_s,
        steps,
        duration_s,
        longest_run_m,
        srpe_load_au,
        trimp_au,
        baseline_day_m,
        case
            when running_distance_m > 0 and baseline_day_m is not null
                then round(running_distance_m / baseline_day_m - 1, 9)
        end as day_spike_ratio,
        case
            when running_distance_m = 0 then null
            when baseline_day_m is null then 'no_baseline'
            when round(running_distance_m / baseline_day_m - 1, 9)
                <= getvariable('spike_caution_ratio') then 'reference'
            when round(running_distance_m / baseline_day_m - 1, 9)
                <= getvariable('spike_warning_ratio') then 'small'
            when round(running_distance_m / baseline_day_m - 1, 9)
                <= getvariable('spike_alert_ratio') then 'moderate'
            else 'large'
        end as day_band,
        has_spike_window,
        days_without_run_before,
        is_return_after_break,
        last_return_date,
        coalesce(last_return_date, first_calendar_date) as load_history_start_date,
        date_diff('day', coalesce(last_return_date, first_calendar_date), local_date) + 1
            as load_history_days

    from history

)

select * from final
order by athlete_id, local_date
