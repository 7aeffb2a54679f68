-- session_spikes: each run's distance against the longest run of the previous days
-- (single-session spike, Frandsen et al. 2025, BJSM 59(17):1203-1210, doi:10.1136/bjsports-2024-109380).
-- grain: one row per run (int_sessions.is_run); key: activity_id
-- units: distance_m, baseline_distance_m metres; spike_ratio fraction (0.6 = 60% longer); spike_pct %
-- rules:
--   * baseline = the longest run of the same athlete that STARTED in [started_at - L days, started_at),
--     L = spike_lookback_days. By start time, so an earlier run on the same day counts (a
--     second run of the day is compared with the first); a run starting at the very same instant
--     does not. Runs without a distance (NULL or 0) never serve as the baseline.
--   * spike_ratio = distance_m / baseline_distance_m - 1, rounded to 1e-9 so that float noise
--     (11000 / 10000 - 1 = 0.10000000000000009) never moves a run across a cut point.
--   * band (Frandsen et al. 2025 states): 'reference' <= spike_caution_ratio (includes any
--     regression), 'small' <= spike_warning_ratio, 'moderate' <= spike_alert_ratio, 'large' above;
--     'no_baseline' (ratio NULL) when no run with a distance started in the lookback window
--     (Frandsen et al. do not say; footfall choice); 'no_distance' when this run has no distance.
--   * has_full_window (issue 14, footfall choice): the runner's data covers the
--     whole lookback window: the athlete's first activity (any sport) is at least
--     spike_lookback_days local days before this run's local date. Only then can the run raise a
--     flag (flags.sql); the ratio and band are computed either way.
-- variables: spike_lookback_days, spike_caution_ratio, spike_warning_ratio, spike_alert_ratio
--            (all Frandsen et al. 2025, models/thresholds.py)
-- column distance_m: distance of this run, metres
-- column baseline_distance_m: the longest run of the athlete that started in the
--     spike_lookback_days before this one, metres (Frandsen et al. 2025,
--     doi:10.1136/bjsports-2024-109380)
-- column baseline_activity_id: the run that set the baseline
-- column n_runs_lookback: runs with a distance that started in the lookback window
-- column spike_ratio: distance_m / baseline_distance_m - 1, fraction (0.6 = 60% longer)
-- column spike_pct: spike_ratio x 100, percent
-- column band: reference | small | moderate | large (Frandsen et al. 2025 bands) | no_baseline |
--     no_distance
-- column has_full_window: the runner's data covers the whole lookback window, so the run can raise
--     a flag (issue 14, footfall choice)

create or replace table session_spikes as

with

sessions as (

    select * from int_sessions

),

first_dates as (

    select athlete_id, min(local_date) as first_activity_date
    from sessions
    group by athlete_id

),

runs as (

    select
        athlete_id,
        activity_id,
        started_at,
        local_date,
        sport,
        distance_m,
        nullif(distance_m, 0) as usable_distance_m

    from sessions
    where is_run
      and started_at is not null

),

baselines as (

    select
        *,
        max(usable_distance_m) over lookback as baseline_distance_m,
        arg_max(activity_id, usable_distance_m) over lookback as baseline_activity_id,
        count(usable_distance_m) over lookback as n_runs_lookback

    from runs
    window lookback as (
        partition by athlete_id
        order by started_at
        range between to_days(cast(getvariable('spike_lookback_days') as integer)) preceding
            and current row
        exclude group
    )

),

ratios as (

    select
        *,
        case
            when usable_distance_m is not null and baseline_distance_m is not null
                then round(usable_distance_m / baseline_distance_m - 1, 9)
        end as spike_ratio

    from baselines

),

final as (

    select
        athlete_id,
        activity_id,
        local_date,
        started_at,
        sport,
        distance_m,
        baseline_distance_m,
        baseline_activity_id,
        n_runs_lookback,
        spike_ratio,
        round(spike_ratio * 100, 9) as spike_pct,
        case
            when usable_distance_m is null then 'no_distance'
            when baseline_distance_m is null then 'no_baseline'
            when spike_ratio <= getvariable('spike_caution_ratio') then 'reference'
            when spike_ratio <= getvariable('spike_warning_ratio') then 'small'
            when spike_ratio <= getvariable('spike_alert_ratio') then 'moderate'
            else 'large'
        end as band,
        first_activity_date,
        date_diff('day', first_activity_date, local_date)
            >= cast(getvariable('spike_lookback_days') as integer) as has_full_window

    from ratios
    join first_dates using (athlete_id)

)

select * from final
order by athlete_id, started_at
