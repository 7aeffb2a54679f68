-- weekly_progression: the run-walk progression of a runner returning from injury, per ISO week
-- (Monday start, LOCAL date): running and walking minutes, the run:walk ratio, the longest
-- continuous running bout, and running-only cadence and ground contact time, each against the
-- runner's own previous 4 weeks.
-- grain: one row per athlete_id x week_start_date (a Monday), the same calendar as weekly_load
--        (no gaps: weeks without running are zero rows); key: (athlete_id, week_start_date)
-- units: *_min minutes; run_walk_ratio running minutes per walking minute; longest_run_bout_min
--        minutes; cadence_run_spm steps/min; ground_contact_time_run_ms ms; *_change in the
--        column's unit; *_change_pct percent
-- rules (footfall choice, run-walk progression: a footfall view, no threshold, nothing flagged):
--   * running_min / walking_min: the week's runs (int_run_gait; walks and rides are not here)
--     run_s / walk_s summed; 0 in a week without runs. n_runs_without_gait counts runs whose
--     gait could not be split (their whole moving time is running minutes).
--   * run_walk_ratio = running_min / walking_min; NULL when the week has no walking.
--   * longest_run_bout_min: the longest bout of the week's runs; 0 in a week without runs, NULL
--     when the week's runs have no bout measured.
--   * cadence_run_spm, ground_contact_time_run_ms: the mean of the runs' running-only values,
--     weighted by each run's running time (a 40-minute run counts 4 times a 10-minute one); runs
--     without the value are left out; NULL when none has it. A cadence change is shown, never
--     flagged (footfall choice).
--   * <x>_prev4_mean: the mean of the 4 weeks before (their values, zero weeks included for
--     minutes and the bout; weeks with NULL left out for the ratio, cadence and contact time);
--     NULL when the calendar has fewer than 4 weeks before (the start of the history) or none of
--     them has a value. <x>_change = x - prev4_mean; <x>_change_pct = (x / prev4_mean - 1) x 100,
--     NULL when prev4_mean is 0 or NULL. The current week is compared as it stands (week to date;
--     is_complete_week = false).
-- variables: none directly (the calendar is weekly_load's, which reads `today`)
-- column is_complete_week: the week has 7 days in the calendar (false for the current week:
--     compared as it stands)
-- column n_runs_without_gait: runs whose gait could not be split (their whole moving time counts
--     as running minutes)
-- column running_min: running minutes of the week's runs
-- column walking_min: walking minutes of the week's runs
-- column run_walk_ratio: running minutes per walking minute (no unit); NULL when the week has no
--     walking
-- column longest_run_bout_min: the longest continuous running bout of the week's runs, minutes
-- column cadence_run_spm: running-only cadence of the week's runs weighted by running time, steps
--     per minute (both feet)
-- column ground_contact_time_run_ms: running-only ground contact time of the week's runs weighted
--     by running time, milliseconds
-- column running_min_prev4_mean, walking_min_prev4_mean, longest_run_bout_min_prev4_mean: mean of
--     the 4 weeks before, minutes
-- column running_min_change, walking_min_change, longest_run_bout_min_change: x - prev4_mean,
--     minutes
-- column run_walk_ratio_prev4_mean: mean run_walk_ratio of the 4 weeks before (no unit)
-- column run_walk_ratio_change: run_walk_ratio - its prev4_mean (no unit)
-- column cadence_run_spm_prev4_mean: mean of the 4 weeks before, steps per minute
-- column cadence_run_spm_change: cadence_run_spm - its prev4_mean, steps per minute (shown, never
--     flagged)
-- column ground_contact_time_run_ms_prev4_mean: mean of the 4 weeks before, milliseconds
-- column ground_contact_time_run_ms_change: ground_contact_time_run_ms - its prev4_mean,
--     milliseconds
-- column running_min_change_pct, walking_min_change_pct, run_walk_ratio_change_pct,
--     longest_run_bout_min_change_pct, cadence_run_spm_change_pct,
--     ground_contact_time_run_ms_change_pct: (x / prev4_mean - 1) x 100, percent; NULL when prev4_mean
--     is 0 or NULL

create or replace table weekly_progression as

with

weeks as (

    select * from weekly_load

),

runs as (

    select * from int_run_gait

),

weekly_runs as (

    select
        athlete_id,
        cast(date_trunc('week', local_date) as date) as week_start_date,
        count(*) as n_runs,
        count(*) filter (where not has_gait) as n_runs_without_gait,
        sum(run_s) / 60 as running_min,
        sum(walk_s) / 60 as walking_min,
        max(longest_run_bout_s) / 60 as longest_run_bout_min,
        sum(cadence_run_spm * run_s) filter (where cadence_run_spm is not null and run_s > 0)
            / sum(run_s) filter (where cadence_run_spm is not null and run_s > 0) as cadence_run_spm,
        sum(ground_contact_time_run_ms * run_s) filter (where ground_contact_time_run_ms is not null and run_s > 0)
            / sum(run_s) filter (where ground_contact_time_run_ms is not null and run_s > 0)
            as ground_contact_time_run_ms

    from runs
    group by all

),

calendar as (

    select
        w.athlete_id,
        w.week_start_date,
        w.is_complete_week,
        coalesce(r.n_runs, 0) as n_runs,
        coalesce(r.n_runs_without_gait, 0) as n_runs_without_gait,
        coalesce(r.running_min, 0) as running_min,
        coalesce(r.walking_min, 0) as walking_min,
        case when coalesce(r.walking_min, 0) > 0 then r.running_min / r.walking_min end as run_walk_ratio,
        case when coalesce(r.n_runs, 0) = 0 then 0 else r.longest_run_bout_min end as longest_run_bout_min,
        r.cadence_run_spm,
        r.ground_contact_time_run_ms

    from weeks as w
    left join weekly_runs as r using (athlete_id, week_start_date)

),

with_baseline as (

    select
        *,
        count(*) over prev4 as n_prev_weeks,
        avg(running_min) over prev4 as running_min_prev4_mean,
        avg(walking_min) over prev4 as walking_min_prev4_mean,
        avg(run_walk_ratio) over prev4 as run_walk_ratio_prev4_mean,
        avg(longest_run_bout_min) over prev4 as longest_run_bout_min_prev4_mean,
        avg(cadence_run_spm) over prev4 as cadence_run_spm_prev4_mean,
        avg(ground_contact_time_run_ms) over prev4 as ground_contact_time_run_ms_prev4_mean

    from calendar
    window prev4 as (
        partition by athlete_id order by week_start_date rows between 4 preceding and 1 preceding
    )

),

baselines as (

    select
        * exclude (running_min_prev4_mean, walking_min_prev4_mean, run_walk_ratio_prev4_mean,
                   longest_run_bout_min_prev4_mean, cadence_run_spm_prev4_mean,
                   ground_contact_time_run_ms_prev4_mean),
        case when n_prev_weeks = 4 then running_min_prev4_mean end as running_min_prev4_mean,
        case when n_prev_weeks = 4 then walking_min_prev4_mean end as walking_min_prev4_mean,
        case when n_prev_weeks = 4 then run_walk_ratio_prev4_mean end as run_walk_ratio_prev4_mean,
        case when n_prev_weeks = 4 then longest_run_bout_min_prev4_mean end as longest_run_bout_min_prev4_mean,
        case when n_prev_weeks = 4 then cadence_run_spm_prev4_mean end as cadence_run_spm_prev4_mean,
        case when n_prev_weeks = 4 then ground_contact_time_run_ms_prev4_mean end
            as ground_contact_time_run_ms_prev4_mean

    from with_baseline

),

final as (

    select
        athlete_id,
        week_start_date,
        isoyear(week_start_date) as iso_year,
        weekofyear(week_start_date) as iso_week,
        is_complete_week,
        n_runs,
        n_runs_without_gait,
        running_min,
        running_min_prev4_mean,
        running_min - running_min_prev4_mean as running_min_change,
        round((running_min / nullif(running_min_prev4_mean, 0) - 1) * 100, 9) as running_min_change_pct,
        walking_min,
        walking_min_prev4_mean,
        walking_min - walking_min_prev4_mean as walking_min_change,
        round((walking_min / nullif(walking_min_prev4_mean, 0) - 1) * 100, 9) as walking_min_change_pct,
        run_walk_ratio,
        run_walk_ratio_prev4_mean,
        run_walk_ratio - run_walk_ratio_prev4_mean as run_walk_ratio_change,
        round((run_walk_ratio / nullif(run_walk_ratio_prev4_mean, 0) - 1) * 100, 9) as run_walk_ratio_change_pct,
        longest_run_bout_min,
        longest_run_bout_min_prev4_mean,
        longest_run_bout_min - longest_run_bout_min_prev4_mean as longest_run_bout_min_change,
        round((longest_run_bout_min / nullif(longest_run_bout_min_prev4_mean, 0) - 1) * 100, 9)
            as longest_run_bout_min_change_pct,
        cadence_run_spm,
        cadence_run_spm_prev4_mean,
        cadence_run_spm - cadence_run_spm_prev4_mean as cadence_run_spm_change,
        round((cadence_run_spm / nullif(cadence_run_spm_prev4_mean, 0) - 1) * 100, 9) as cadence_run_spm_change_pct,
        ground_contact_time_run_ms,
        ground_contact_time_run_ms_prev4_mean,
        ground_contact_time_run_ms - ground_contact_time_run_ms_prev4_mean as ground_contact_time_run_ms_change,
        round((ground_contact_time_run_ms / nullif(ground_contact_time_run_ms_prev4_mean, 0) - 1) * 100, 9)
            as ground_contact_time_run_ms_change_pct

    from baselines

)

select * from final
order by athlete_id, week_start_date
