-- weekly_load: each athlete's load per ISO week (Monday start) of the LOCAL date, with the
-- week-over-week change in running distance and Foster's monotony and strain.
-- grain: one row per athlete_id x week_start_date (a Monday), with no gaps, from the week of the
--        athlete's first activity to the week of `today`; key: (athlete_id, week_start_date)
-- units: pain_* scores 0-10; running_distance_m, longest_run_m, mean/sd_daily_distance_m, strain_m metres;
--        running_moving_time_s, duration_s seconds; steps count; srpe_load_au, trimp_au AU;
--        distance_change_pct percent; monotony ratio (no unit)
-- rules:
--   * n_days: days of the week inside the athlete's calendar (daily_load). The first week (before
--     the first activity) and the current week (after today) can be partial: is_complete_week.
--   * distance_change_pct = (week / previous week - 1) x 100 (Nielsen et al. 2014,
--     doi:10.2519/jospt.2014.5164), rounded to 1e-9 so that float noise (39/30: 30.000000000000004) never decides. NULL when the
--     previous week ran 0 m or was partial (the first, partial week says nothing about the
--     runner's previous load). The current week is compared as it stands (week to date).
--   * monotony = mean / SD of the 7 daily running distances (rest days 0) of a complete week
--     (Foster 1998, Med Sci Sports Exerc 30(7):1164-1168); SD is the sample SD (n - 1; Foster does not say which);
--     NULL when the week is partial or SD = 0. strain_m = running_distance_m x monotony.
--   * srpe_load_au, trimp_au: NULL when any day of the week is NULL (see daily_load).
--   * pain_<moment>_max / _mean (moment: before, during, after, next_morning): the highest and the
--     mean pain score (0-10) logged for that moment on the week's days (int_pain_entries, by the
--     day the pain was felt); NULL when none was logged. n_pain_entries counts every moment.
--   * distance_change_m = week - previous week (metres; NULL like distance_change_pct).
--   * has_ramp_history (issue 14, footfall choice): the athlete's calendar covers
--     ramp_history_weeks complete weeks before this week (first day <= week_start_date - 7 x
--     ramp_history_weeks); before that the change is shown, never flagged.
-- variables: ramp_history_weeks (models/thresholds.py); daily_load reads `today`
-- column n_days: days of the week inside the athlete's calendar (7 unless the first or current
--     week)
-- column is_complete_week: n_days = 7
-- column n_activities: activities in the week (every sport)
-- column n_runs: runs in the week
-- column running_distance_m: metres run in the week
-- column running_moving_time_s: moving time of the week's runs, seconds
-- column steps: steps of the week's runs (both feet), count
-- column duration_s: all-sport moving time of the week, seconds
-- column longest_run_m: the week's longest run, metres
-- column srpe_load_au, trimp_au: the week's sum, arbitrary units; NULL when any day of the week is
--     NULL
-- column prev_running_distance_m: running_distance_m of the week before, metres
-- column distance_change_pct: (week / previous week - 1) x 100, percent (Nielsen et al. 2014,
--     doi:10.2519/jospt.2014.5164); NULL when the previous week ran 0 m or was partial
-- column distance_change_m: week - previous week, metres (NULL like distance_change_pct)
-- column has_ramp_history: the calendar covers ramp_history_weeks complete weeks before this one,
--     so the change can be flagged (footfall choice)
-- column mean_daily_distance_m, sd_daily_distance_m: mean and sample SD of the 7 daily running
--     distances (rest days 0), metres
-- column monotony: mean / SD of the daily running distances of a complete week, ratio (no unit;
--     Foster 1998, Med Sci Sports Exerc 30(7):1164-1168)
-- column strain_m: running_distance_m x monotony, metres
-- column n_pain_entries: pain entries felt on the week's days (every moment)
-- column pain_before_max, pain_during_max, pain_after_max, pain_next_morning_max: the highest pain
--     score (0-10) logged for that moment on the week's days; NULL when none
-- column pain_before_mean, pain_during_mean, pain_after_mean, pain_next_morning_mean: the mean
--     pain score (0-10) logged for that moment on the week's days; NULL when none

create or replace table weekly_load as

with

daily as (

    select * from daily_load

),

weekly as (

    select
        athlete_id,
        week_start_date,
        count(*) as n_days,
        cast(sum(n_activities) as bigint) as n_activities,
        cast(sum(n_runs) as bigint) as n_runs,
        sum(running_distance_m) as running_distance_m,
        sum(running_moving_time_s) as running_moving_time_s,
        sum(steps) as steps,
        cast(sum(n_runs_without_steps) as bigint) as n_runs_without_steps,
        sum(duration_s) as duration_s,
        max(longest_run_m) as longest_run_m,
        case when count(srpe_load_au) = count(*) then sum(srpe_load_au) end as srpe_load_au,
        case when count(trimp_au) = count(*) then sum(trimp_au) end as trimp_au,
        min(local_date) as first_day,
        avg(running_distance_m) as mean_daily_distance_m,
        stddev_samp(running_distance_m) as sd_daily_distance_m

    from daily
    group by athlete_id, week_start_date

),

pain as (

    select * from int_pain_entries

),

weekly_pain as (

    select
        athlete_id,
        week_start_date,
        count(*) as n_pain_entries,
        max(score) filter (where moment = 'before') as pain_before_max,
        avg(score) filter (where moment = 'before') as pain_before_mean,
        max(score) filter (where moment = 'during') as pain_during_max,
        avg(score) filter (where moment = 'during') as pain_during_mean,
        max(score) filter (where moment = 'after') as pain_after_max,
        avg(score) filter (where moment = 'after') as pain_after_mean,
        max(score) filter (where moment = 'next_morning') as pain_next_morning_max,
        avg(score) filter (where moment = 'next_morning') as pain_next_morning_mean

    from pain
    group by athlete_id, week_start_date

),

with_previous as (

    select
        *,
        n_days = 7 as is_complete_week,
        lag(running_distance_m) over athlete_weeks as prev_running_distance_m,
        lag(n_days) over athlete_weeks as prev_n_days,
        min(first_day) over (partition by athlete_id) as first_calendar_date

    from weekly
    window athlete_weeks as (partition by athlete_id order by week_start_date)

),

final as (

    select
        athlete_id,
        week_start_date,
        isoyear(week_start_date) as iso_year,
        weekofyear(week_start_date) as iso_week,
        n_days,
        is_complete_week,
        n_activities,
        n_runs,
        running_distance_m,
        running_moving_time_s,
        steps,
        n_runs_without_steps,
        duration_s,
        longest_run_m,
        srpe_load_au,
        trimp_au,
        prev_running_distance_m,
        case
            when prev_n_days = 7 and prev_running_distance_m > 0
                then round((running_distance_m / prev_running_distance_m - 1) * 100, 9)
        end as distance_change_pct,
        case
            when prev_n_days = 7 and prev_running_distance_m > 0
                then running_distance_m - prev_running_distance_m
        end as distance_change_m,
        date_diff('day', first_calendar_date, week_start_date)
            >= 7 * cast(getvariable('ramp_history_weeks') as integer) as has_ramp_history,
        mean_daily_distance_m,
        sd_daily_distance_m,
        case
            when is_complete_week and sd_daily_distance_m > 0
                then mean_daily_distance_m / sd_daily_distance_m
        end as monotony,
        case
            when is_complete_week and sd_daily_distance_m > 0
                then running_distance_m * mean_daily_distance_m / sd_daily_distance_m
        end as strain_m,
        coalesce(p.n_pain_entries, 0) as n_pain_entries,
        p.pain_before_max,
        p.pain_before_mean,
        p.pain_during_max,
        p.pain_during_mean,
        p.pain_after_max,
        p.pain_after_mean,
        p.pain_next_morning_max,
        p.pain_next_morning_mean

    from with_previous
    left join weekly_pain as p using (athlete_id, week_start_date)

)

select * from final
order by athlete_id, week_start_date
