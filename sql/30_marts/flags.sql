-- flags: one row per raised flag. Flags are rows, never colours: each names its rule, the measured
-- value, the threshold it passed, the severity, and the threshold's source and caveat, joined from
-- the `thresholds` table the runner loads from models/thresholds.py (one source of truth).
-- grain: one row per (athlete_id, rule, local_date, activity_id); key: flag_id = first 16 hex digits
--        of md5('athlete_id|rule|local_date|activity_id'), stable across rebuilds and re-syncs.
-- units: value and threshold are in the unit of `unit` (the threshold's unit in models/thresholds.py);
--        `comparison` says how value passed threshold ('>' or '>=').
-- first_raised_at: when a build first saw this flag_id (table flag_log, kept by the runner), so a
--        sync or a report can list the new flags.
-- rules (SCIENCE.md s1 and s5):
--   (threshold values: models/thresholds.py, none is written here)
--   * single_session_spike, per run (Frandsen et al. 2025): session_spikes.spike_ratio above
--     spike_caution_ratio -> caution, above spike_warning_ratio -> warning, above
--     spike_alert_ratio -> alert; threshold = the one of the severity reached. A run with no
--     baseline raises nothing (session_spikes.band = 'no_baseline').
--   * weekly_ramp, at most once per ISO week (Nielsen et al. 2014): weekly_load.distance_change_pct
--     above weekly_ramp_pct -> caution, dated on the first day the week-to-date running
--     distance passed it; activity_id NULL; value = the week's change as of this build.
--   * acwr_high (Gabbett 2016 threshold; Impellizzeri et al. 2020/2021 critique in the note): the
--     UNCOUPLED rolling ACWR of running distance (Windt & Gabbett 2019; Lolli et al. 2019 advise
--     uncoupled at minimum) at or above acwr_caution -> caution, descriptive only, raised on
--     the FIRST day of an episode: a day at or above it after acwr_acute_days days below it (a
--     ratio hovering around the threshold for a fortnight raises one flag, not one per day or per
--     wobble).
--     The EWMA ratio is quoted in the message, not flagged.
--   * monotony, at most once per complete ISO week (Foster 1998; the cut-off is from secondary
--     sources): weekly_load.monotony above monotony_caution -> caution, dated on the week's
--     Sunday, with strain in the message.
--   * the runner's log (pain, shoes): the rows of journal_flags (rules and sources in
--     sql/30_marts/journal_flags.sql), appended to the load flags and keyed with them here.
--   * the return-to-run plan: the rows of plan_flags (plan_exceeded; sql/30_marts/plan_flags.sql).
--   Values are compared after rounding to 1e-9 (float noise never decides a flag); value is that
--   rounded number, so value > threshold holds row by row (sql/tests/assert_flags_beyond_threshold).
-- variables: spike_caution_ratio, spike_warning_ratio, spike_alert_ratio, spike_lookback_days,
--            weekly_ramp_pct, acwr_caution, acwr_acute_days, acwr_chronic_days, monotony_caution,
--            built_at (TIMESTAMP of this build, set by the runner)

create or replace table flags as

with

thresholds as (

    select * from thresholds

),

spikes as (

    select * from session_spikes

),

weeks as (

    select * from weekly_load

),

daily as (

    select * from daily_load

),

acwr as (

    select * from acwr_daily

),

flag_log as (

    select * from flag_log

),

spike_flags as (

    select
        athlete_id,
        local_date,
        activity_id,
        'single_session_spike' as rule,
        case
            when spike_ratio > getvariable('spike_alert_ratio') then 'alert'
            when spike_ratio > getvariable('spike_warning_ratio') then 'warning'
            else 'caution'
        end as severity,
        spike_ratio as value,
        '>' as comparison,
        case
            when spike_ratio > getvariable('spike_alert_ratio') then 'spike_alert_ratio'
            when spike_ratio > getvariable('spike_warning_ratio') then 'spike_warning_ratio'
            else 'spike_caution_ratio'
        end as threshold_name,
        printf(
            'Your run on %s (%.1f km) was %s%% longer than your longest run in the previous %d days (%.1f km).',
            strftime(local_date, '%a %d %b %Y'),
            distance_m / 1000,
            case
                when round(spike_pct) > getvariable('spike_caution_ratio') * 100
                    then printf('%.0f', spike_pct)
                else printf('%.1f', spike_pct)
            end,
            cast(getvariable('spike_lookback_days') as integer),
            baseline_distance_m / 1000
        ) as message

    from spikes
    where spike_ratio > getvariable('spike_caution_ratio')

),

week_to_date as (

    select
        athlete_id,
        week_start_date,
        local_date,
        sum(running_distance_m) over (
            partition by athlete_id, week_start_date
            order by local_date
            rows between unbounded preceding and current row
        ) as running_distance_wtd_m

    from daily

),

ramp_weeks as (

    select * from weeks
    where distance_change_pct > getvariable('weekly_ramp_pct')

),

ramp_crossings as (

    select
        w.athlete_id,
        w.week_start_date,
        min(d.local_date) as local_date

    from ramp_weeks as w
    join week_to_date as d
        on d.athlete_id = w.athlete_id
        and d.week_start_date = w.week_start_date
    where round((d.running_distance_wtd_m / w.prev_running_distance_m - 1) * 100, 9)
        > getvariable('weekly_ramp_pct')
    group by w.athlete_id, w.week_start_date

),

ramp_flags as (

    select
        w.athlete_id,
        c.local_date,
        cast(null as varchar) as activity_id,
        'weekly_ramp' as rule,
        'caution' as severity,
        w.distance_change_pct as value,
        '>' as comparison,
        'weekly_ramp_pct' as threshold_name,
        printf(
            'Week of %s: %.1f km of running%s, %s%% more than the week before (%.1f km).',
            strftime(w.week_start_date, '%a %d %b %Y'),
            w.running_distance_m / 1000,
            case when w.is_complete_week then '' else ' so far' end,
            case
                when round(w.distance_change_pct) > getvariable('weekly_ramp_pct')
                    then printf('%.0f', w.distance_change_pct)
                else printf('%.1f', w.distance_change_pct)
            end,
            w.prev_running_distance_m / 1000
        ) as message

    from ramp_weeks as w
    join ramp_crossings as c
        on c.athlete_id = w.athlete_id
        and c.week_start_date = w.week_start_date

),

acwr_days as (

    select
        athlete_id,
        local_date,
        distance_acute_m,
        distance_chronic_uncoupled_m,
        acwr_ewma_distance,
        round(acwr_uncoupled_distance, 9) as acwr_value,
        coalesce(round(acwr_uncoupled_distance, 9) >= getvariable('acwr_caution'), false) as is_high

    from acwr

),

acwr_episodes as (

    select
        *,
        -- high on any of the acute window's days before this one (acwr_acute_days, 7)
        coalesce(bool_or(is_high) over (
            partition by athlete_id order by local_date
            rows between cast(getvariable('acwr_acute_days') as integer) preceding and 1 preceding
        ), false) as was_high

    from acwr_days

),

acwr_flags as (

    select
        athlete_id,
        local_date,
        cast(null as varchar) as activity_id,
        'acwr_high' as rule,
        'caution' as severity,
        acwr_value as value,
        '>=' as comparison,
        'acwr_caution' as threshold_name,
        printf(
            'On %s your running distance of the last %d days (%.1f km) was %.2f times your weekly average of the %d days before (%.1f km)%s. A descriptive ratio, not a risk score.',
            strftime(local_date, '%a %d %b %Y'),
            cast(getvariable('acwr_acute_days') as integer),
            distance_acute_m / 1000,
            acwr_value,
            cast(getvariable('acwr_chronic_days') - getvariable('acwr_acute_days') as integer),
            distance_chronic_uncoupled_m / 1000,
            coalesce(printf('; the EWMA ratio was %.2f', acwr_ewma_distance), '')
        ) as message

    from acwr_episodes
    where is_high
      and not was_high

),

monotony_flags as (

    select
        athlete_id,
        cast(week_start_date + 6 as date) as local_date,
        cast(null as varchar) as activity_id,
        'monotony' as rule,
        'caution' as severity,
        round(monotony, 9) as value,
        '>' as comparison,
        'monotony_caution' as threshold_name,
        printf(
            'Week of %s: your daily running distances were very uniform (monotony %.2f = mean %.1f km / SD %.1f km per day; strain %.0f km).',
            strftime(week_start_date, '%a %d %b %Y'),
            monotony,
            mean_daily_distance_m / 1000,
            sd_daily_distance_m / 1000,
            strain_m / 1000
        ) as message

    from weeks
    where round(monotony, 9) > getvariable('monotony_caution')

),

raised as (

    select * from spike_flags
    union all by name
    select * from ramp_flags
    union all by name
    select * from acwr_flags
    union all by name
    select * from monotony_flags
    union all by name
    select * from journal_flags
    union all by name
    select * from plan_flags

),

keyed as (

    select
        left(md5(concat_ws('|', athlete_id, rule, cast(local_date as varchar),
            coalesce(activity_id, ''))), 16) as flag_id,
        *

    from raised

),

final as (

    select
        k.flag_id,
        k.athlete_id,
        k.local_date,
        k.activity_id,
        k.rule,
        k.severity,
        k.value,
        k.comparison,
        t.value as threshold,
        k.threshold_name,
        t.unit,
        k.message,
        t.source,
        t.note,
        coalesce(l.first_raised_at, cast(getvariable('built_at') as timestamp)) as first_raised_at

    from keyed as k
    left join thresholds as t on t.name = k.threshold_name
    left join flag_log as l on l.flag_id = k.flag_id

)

select * from final
order by local_date, athlete_id, rule, activity_id
