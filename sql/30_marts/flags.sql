-- flags: one row per raised flag. Flags are rows, never colours: each names its rule, the measured
-- value, the threshold it passed, the severity, and the threshold's source and caveat, joined from
-- the `thresholds` table the runner loads from models/thresholds.py (one source of truth).
-- grain: one row per (athlete_id, rule, local_date, activity_id); key: flag_id = first 16 hex digits
--        of md5('athlete_id|rule|local_date|activity_id'), stable across rebuilds and re-syncs.
-- units: value and threshold are in the unit of `unit` (the threshold's unit in models/thresholds.py);
--        `comparison` says how value passed threshold ('>' or '>=').
-- first_raised_at: when a build first saw this flag_id (table flag_log, kept by the runner), so a
--        sync or a report can list the new flags.
-- rules (each rule's study or "footfall heuristic" is in thresholds.source; DOIs in the thresholds
-- table's comment):
--   (threshold values: models/thresholds.py, none is written here)
--   * single_session_spike, per run (Frandsen et al. 2025): session_spikes.spike_ratio above
--     spike_caution_ratio -> caution, above spike_warning_ratio -> warning, above
--     spike_alert_ratio -> alert; threshold = the one of the severity reached. A run with no
--     baseline raises nothing (session_spikes.band = 'no_baseline'). Only when the runner's data
--     covers the whole lookback window (session_spikes.has_full_window; issue 14).
--   * day_total_spike, per day with two or more runs (footfall choice after Frandsen et al. 2025):
--     daily_load.day_spike_ratio (the day's running distance against the longest running day of
--     the previous spike_lookback_days days) with the same bands and thresholds; activity_id
--     NULL; only with daily_load.has_spike_window. ONE spike flag per day and excess: on a
--     day with two or more runs, the day flag and that day's single-session flags are compared
--     and only the most severe is raised (a tie goes to the day flag, the larger excess the
--     body saw); on single-run days the day total equals the run, and the session rule alone
--     judges it. So a double day whose runs are each below the bands but whose total is a spike
--     raises one day flag, and a double day with a session spike raises one flag, not two.
--   * return_after_break, per return (footfall choice): the first run day after return_break_days
--     or more days without running (daily_load.is_return_after_break) -> info; value = days
--     without running; activity_id = the day's first run. It suspends acwr_high until
--     acwr_chronic_days days of data have refilled (acwr_daily.is_flaggable).
--   * weekly_ramp, at most once per ISO week (Nielsen et al. 2014): weekly_load.distance_change_pct
--     above weekly_ramp_pct -> caution, dated on the first day the week-to-date running
--     distance passed it; activity_id NULL; value = the week's change as of this build. Only with
--     weekly_load.has_ramp_history and above the floors (footfall choice, issue 14): the previous
--     week had at least ramp_min_prev_week_m, and the (week-to-date) increase is at least
--     ramp_min_increase_m.
--   * acwr_high (Gabbett 2016 threshold; Impellizzeri et al. 2020/2021 critique in the note): the
--     UNCOUPLED rolling ACWR of running distance (Windt & Gabbett 2019; Lolli et al. 2019 advise
--     uncoupled at minimum) at or above acwr_caution -> caution, descriptive only, raised on
--     the FIRST day of an episode: a day at or above it after acwr_acute_days days below it (a
--     ratio hovering around the threshold for a fortnight raises one flag, not one per day or per
--     wobble).
--     The EWMA ratio is quoted in the message, not flagged. A day counts as high only when
--     acwr_daily.is_flaggable (28 days of data, also after a return) and the acute distance is at
--     least acwr_min_acute_m (floor, footfall choice, issue 14).
--   Spike messages say "relative to your own recent runs" and quote the hazard ratio Frandsen et
--   al. 2025 report for the band (spike_*_hr): a relative hazard per session, not absolute risk.
--   * monotony, at most once per complete ISO week (Foster 1998; the cut-off is from secondary
--     sources): weekly_load.monotony above monotony_caution -> caution, dated on the week's
--     Sunday, with strain in the message.
--   * the runner's log (pain, shoes): the rows of journal_flags (rules and sources in
--     sql/30_marts/journal_flags.sql), appended to the load flags and keyed with them here.
--   * the return-to-run plan: the rows of plan_flags (plan_exceeded; sql/30_marts/plan_flags.sql).
--   Values are compared after rounding to 1e-9 (float noise never decides a flag); value is that
--   rounded number, so value > threshold holds row by row (sql/tests/assert_flags_beyond_threshold).
-- variables: spike_caution_ratio, spike_warning_ratio, spike_alert_ratio, spike_lookback_days,
--            spike_caution_hr, spike_warning_hr, spike_alert_hr, return_break_days,
--            ramp_history_weeks, ramp_min_prev_week_m, ramp_min_increase_m, acwr_min_acute_m,
--            weekly_ramp_pct, acwr_caution, acwr_acute_days, acwr_chronic_days, monotony_caution,
--            built_at (TIMESTAMP of this build, set by the runner)
-- column unit: unit of value and threshold (the threshold's unit in models/thresholds.py)
-- column source: the study behind the rule (author and year; their DOIs are in the thresholds
--     table's comment) or "footfall heuristic" (thresholds.source)
-- column note: the caveat that goes with the rule (thresholds.note)
-- column first_raised_at: when a build first raised this flag_id (flag_log), naive timestamp in
--     UTC

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

spike_candidates as (

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
            'Your run on %s (%.1f km) was %s%% longer than your longest run in the previous %d days (%.1f km), relative to your own recent runs. ',
            strftime(local_date, '%a %d %b %Y'),
            distance_m / 1000,
            case
                when round(spike_pct) > getvariable('spike_caution_ratio') * 100
                    then printf('%.0f', spike_pct)
                else printf('%.1f', spike_pct)
            end,
            cast(getvariable('spike_lookback_days') as integer),
            baseline_distance_m / 1000
        ) as message_head

    from spikes
    where spike_ratio > getvariable('spike_caution_ratio')
      and has_full_window

),

day_candidates as (

    select
        athlete_id,
        local_date,
        cast(null as varchar) as activity_id,
        'day_total_spike' as rule,
        case
            when day_spike_ratio > getvariable('spike_alert_ratio') then 'alert'
            when day_spike_ratio > getvariable('spike_warning_ratio') then 'warning'
            else 'caution'
        end as severity,
        day_spike_ratio as value,
        '>' as comparison,
        case
            when day_spike_ratio > getvariable('spike_alert_ratio') then 'spike_alert_ratio'
            when day_spike_ratio > getvariable('spike_warning_ratio') then 'spike_warning_ratio'
            else 'spike_caution_ratio'
        end as threshold_name,
        printf(
            'On %s you ran %.1f km in %d runs, %s%% more than your longest running day in the previous %d days (%.1f km), relative to your own recent runs. ',
            strftime(local_date, '%a %d %b %Y'),
            running_distance_m / 1000,
            n_runs,
            case
                when round(day_spike_ratio * 100) > getvariable('spike_caution_ratio') * 100
                    then printf('%.0f', day_spike_ratio * 100)
                else printf('%.1f', day_spike_ratio * 100)
            end,
            cast(getvariable('spike_lookback_days') as integer),
            baseline_day_m / 1000
        ) as message_head

    from daily
    where n_runs >= 2
      and has_spike_window
      and day_spike_ratio > getvariable('spike_caution_ratio')

),

spike_ranked as (

    select
        *,
        row_number() over (
            partition by athlete_id, local_date
            order by
                case severity when 'alert' then 3 when 'warning' then 2 else 1 end desc,
                case rule when 'day_total_spike' then 0 else 1 end,
                value desc,
                activity_id
        ) as rank_in_day,
        count(*) filter (where rule = 'day_total_spike') over (
            partition by athlete_id, local_date
        ) > 0 as day_also_spiked

    from (
        select * from spike_candidates
        union all by name
        select * from day_candidates
    )

),

spike_flags as (

    select
        athlete_id,
        local_date,
        activity_id,
        rule,
        severity,
        value,
        comparison,
        threshold_name,
        message_head || printf(
            'Frandsen et al. 2025 report a hazard ratio of %.2f per session for this band: a relative hazard, not your absolute risk.',
            case threshold_name
                when 'spike_alert_ratio' then getvariable('spike_alert_hr')
                when 'spike_warning_ratio' then getvariable('spike_warning_hr')
                else getvariable('spike_caution_hr')
            end
        ) || case
            when rule = 'single_session_spike' and day_also_spiked
                then ' The day''s total was a smaller spike against your longest day and is not flagged again.'
            when rule = 'day_total_spike' and rank_in_day = 1
                 and exists_session_spike
                then ' The day''s single runs are not flagged again.'
            else ''
        end as message

    from (
        select
            *,
            count(*) filter (where rule = 'single_session_spike') over (
                partition by athlete_id, local_date
            ) > 0 as exists_session_spike
        from spike_ranked
    )
    where rank_in_day = 1
       or (rule = 'single_session_spike' and not day_also_spiked)

),

return_flags as (

    select
        d.athlete_id,
        d.local_date,
        (
            select s.activity_id
            from spikes as s
            where s.athlete_id = d.athlete_id and s.local_date = d.local_date
            order by s.started_at, s.activity_id
            limit 1
        ) as activity_id,
        'return_after_break' as rule,
        'info' as severity,
        cast(d.days_without_run_before as double) as value,
        '>=' as comparison,
        'return_break_days' as threshold_name,
        printf(
            'Your run on %s came after %d days without running: a return after a break. Spikes are judged against the runs of the previous %d days (none may be left); the acute:chronic ratio is not flagged until %d days of data have built up again.',
            strftime(d.local_date, '%a %d %b %Y'),
            d.days_without_run_before,
            cast(getvariable('spike_lookback_days') as integer),
            cast(getvariable('acwr_chronic_days') as integer)
        ) as message

    from daily as d
    where d.is_return_after_break

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
      and has_ramp_history
      and prev_running_distance_m >= getvariable('ramp_min_prev_week_m')
      and distance_change_m >= getvariable('ramp_min_increase_m')

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
      and d.running_distance_wtd_m - w.prev_running_distance_m
        >= getvariable('ramp_min_increase_m')
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
            'Week of %s: %.1f km of running%s, %s%% more than the week before (%.1f km). Nielsen et al. 2014 found no significant link overall (distance-related injuries, >30%%: HR 1.59, 95%% CI 0.96-2.66): weak evidence.',
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
        coalesce(round(acwr_uncoupled_distance, 9) >= getvariable('acwr_caution')
            and is_flaggable
            and distance_acute_m >= getvariable('acwr_min_acute_m'), false) as is_high

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
    select * from return_flags
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
