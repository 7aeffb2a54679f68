-- journal_flags: the flags the runner's log raises (pain and shoes), before they are keyed:
-- `flags` appends these rows to the load flags and gives every row its flag_id, threshold value,
-- unit, source, note and first_raised_at in ONE place (so `footfall flags` shows them; read a
-- journal flag with its key and source from `flags`). Each row names its rule, the measured
-- value, the threshold it passed (threshold_name, a row of the `thresholds` table) and the severity.
-- grain: one row per (athlete_id, rule, local_date, activity_id); key: those four columns
--        (flags.flag_id is their hash).
-- units: value in the unit of threshold_name (models/thresholds.py); comparison '>' or '>='.
-- rules (Silbernagel et al. 2007, doi:10.1177/0363546506298279, and footfall choices; threshold values: models/thresholds.py, none is written here):
--   * pain_during -> warning (Silbernagel et al. 2007 pain-monitoring model): a pain score logged
--     `during` above pain_during_warning; one row per day and run (the highest score).
--   * pain_next_morning -> warning (Silbernagel et al. 2007: pain must settle by the next morning):
--     a day's next-morning score (the highest that day) minus the runner's baseline is above
--     pain_morning_above_baseline (points). Baseline = mean of the days with a next-morning
--     score among the pain_baseline_days days before; no baseline (so no flag) with fewer than
--     pain_baseline_min_entries such days (footfall choice). value = score - baseline.
--   * pain_rising -> caution (footfall heuristic after Silbernagel et al. 2007, doi:10.1177/0363546506298279): three consecutive runs
--     (int_pain_by_run.run_number) whose run_pain strictly rises and whose first is at least
--     pain_rising_min (with a minimum of 3: scores 3, 4, 5 raise it; 3, 4, 4 and 2, 4, 5 do
--     not). A run with no pain logged breaks the sequence. value = the first (lowest) score,
--     comparison '>='.
--   * new_shoe_load -> caution (a FOOTFALL HEURISTIC, not evidence: move to new shoes gradually):
--     a run in a shoe's first new_shoe_days days after which the shoe carries more than
--     new_shoe_week_share of the running distance of the 7 local days ending that day (runs
--     up to this one). The shoe's start: first_used when the runner gave it, else its first run;
--     judged only when the athlete had run in another shoe before that start (a visible change
--     of shoes): the athlete's first known shoe is never judged, with or without first_used (a
--     runner's only shoe carries all their running; a first pair is not a transition). Raised
--     once per shoe, on the first such run. value = the shoe's share.
--   * shoe_retire -> caution (a FOOTFALL HEURISTIC): the activity with which a shoe's distance
--     (every activity in it) passes shoe_retire_m; once per shoe. value = metres so far.
--   Values are compared after rounding to 1e-9, and value is that rounded number.
-- variables: pain_during_warning, pain_baseline_days, pain_baseline_min_entries,
--            pain_morning_above_baseline, pain_rising_min, new_shoe_days, new_shoe_week_share,
--            shoe_retire_m (models/thresholds.py)

create or replace table journal_flags as

with

pain as (

    select * from int_pain_entries

),

runs as (

    select * from int_pain_by_run

),

sessions as (

    select * from int_sessions

),

activity_shoes as (

    select * from stg_activity_shoes

),

shoe_activities as (

    select * from int_shoe_activities

),

shoes as (

    select * from stg_shoes

),

-- pain during ----------------------------------------------------------------------------------

during_days as (

    select
        athlete_id,
        local_date,
        coalesce(run_activity_id, logged_activity_id) as activity_id,
        max(score) as score,
        string_agg(distinct location, '; ' order by location) as locations

    from pain
    where moment = 'during'
    group by all

),

pain_during_raised as (

    select
        athlete_id,
        local_date,
        activity_id,
        'pain_during' as rule,
        'warning' as severity,
        score as value,
        '>' as comparison,
        'pain_during_warning' as threshold_name,
        printf(
            'Pain during your run on %s was %g/10%s, above %g/10: the pain-monitoring model keeps pain during activity at or below %g/10.',
            strftime(local_date, '%a %d %b %Y'),
            score,
            coalesce(' (' || locations || ')', ''),
            cast(getvariable('pain_during_warning') as double),
            cast(getvariable('pain_during_warning') as double)
        ) as message

    from during_days
    where score > getvariable('pain_during_warning')

),

-- next-morning pain above the runner's baseline ------------------------------------------------

morning_days as (

    select
        athlete_id,
        local_date,
        max(score) as score,
        arg_max(coalesce(run_activity_id, logged_activity_id), score) as activity_id

    from pain
    where moment = 'next_morning'
    group by athlete_id, local_date

),

morning_baselines as (

    select
        *,
        avg(score) over previous_days as baseline,
        count(score) over previous_days as n_baseline

    from morning_days
    window previous_days as (
        partition by athlete_id
        order by local_date
        range between to_days(cast(getvariable('pain_baseline_days') as integer)) preceding
            and to_days(1) preceding
    )

),

pain_morning_raised as (

    select
        athlete_id,
        local_date,
        activity_id,
        'pain_next_morning' as rule,
        'warning' as severity,
        round(score - baseline, 9) as value,
        '>' as comparison,
        'pain_morning_above_baseline' as threshold_name,
        printf(
            'Next-morning pain on %s was %g/10, above your baseline of %.1f/10 (the mean of %d next-morning scores in the previous %d days): pain should settle by the next morning.',
            strftime(local_date, '%a %d %b %Y'),
            score,
            baseline,
            n_baseline,
            cast(getvariable('pain_baseline_days') as integer)
        ) as message

    from morning_baselines
    where n_baseline >= getvariable('pain_baseline_min_entries')
      and round(score - baseline, 9) > getvariable('pain_morning_above_baseline')

),

-- pain rising across three consecutive runs -----------------------------------------------------

run_sequences as (

    select
        athlete_id,
        activity_id,
        local_date,
        run_pain,
        lag(run_pain, 1) over athlete_runs as prev_pain,
        lag(run_pain, 2) over athlete_runs as first_pain,
        lag(local_date, 2) over athlete_runs as first_date

    from runs
    window athlete_runs as (partition by athlete_id order by run_number)

),

pain_rising_raised as (

    select
        athlete_id,
        local_date,
        activity_id,
        'pain_rising' as rule,
        'caution' as severity,
        first_pain as value,
        '>=' as comparison,
        'pain_rising_min' as threshold_name,
        printf(
            'Pain rose over three runs in a row: %g, %g, %g/10 (%s to %s).',
            first_pain,
            prev_pain,
            run_pain,
            strftime(first_date, '%d %b'),
            strftime(local_date, '%d %b %Y')
        ) as message

    from run_sequences
    where first_pain >= getvariable('pain_rising_min')
      and prev_pain > first_pain
      and run_pain > prev_pain

),

-- a new shoe carrying most of a week's running -------------------------------------------------

shoe_runs as (

    select shoe_id, athlete_id, activity_id, local_date, started_at, distance_m
    from shoe_activities
    where is_run

),

shoe_first_runs as (

    select
        h.shoe_id,
        h.athlete_id,
        h.name,
        h.first_used,
        min(r.local_date) as first_run_date

    from shoes as h
    join shoe_runs as r on r.shoe_id = h.shoe_id
    group by h.shoe_id, h.athlete_id, h.name, h.first_used

),

shoe_starts as (

    select
        f.shoe_id,
        f.name,
        coalesce(f.first_used, f.first_run_date) as start_date

    from shoe_first_runs as f
    -- a change of shoes: the athlete ran in another shoe before this one's start (a first
    -- pair, even with first_used, is not a transition; issue 15)
    where exists (
            select 1
            from shoe_runs as o
            where o.athlete_id = f.athlete_id
              and o.shoe_id <> f.shoe_id
              and o.local_date < coalesce(f.first_used, f.first_run_date)
        )

),

new_shoe_runs as (

    select
        r.*,
        st.name,
        st.start_date

    from shoe_runs as r
    join shoe_starts as st on st.shoe_id = r.shoe_id
    where r.local_date >= st.start_date
      and r.local_date < st.start_date + cast(getvariable('new_shoe_days') as integer)

),

new_shoe_weeks as (

    -- a week = the 7 local days ending on the run's date, counting runs up to this one
    select
        c.shoe_id,
        c.athlete_id,
        c.activity_id,
        c.local_date,
        c.started_at,
        c.name,
        c.start_date,
        sum(s.running_distance_m) filter (where x.shoe_id = c.shoe_id) as shoe_week_m,
        sum(s.running_distance_m) as week_m

    from new_shoe_runs as c
    join sessions as s
        on s.athlete_id = c.athlete_id
        and s.is_run
        and s.local_date between c.local_date - 6 and c.local_date
        and (s.started_at < c.started_at or s.activity_id = c.activity_id)
    left join activity_shoes as x on x.activity_id = s.activity_id
    group by all

),

new_shoe_raised as (

    select
        athlete_id,
        local_date,
        activity_id,
        'new_shoe_load' as rule,
        'caution' as severity,
        round(shoe_week_m / week_m, 9) as value,
        '>' as comparison,
        'new_shoe_week_share' as threshold_name,
        printf(
            'New shoe "%s" (from %s): %.1f of your %.1f km of running in the 7 days to %s were in it (%.0f%%), within its first %d days. A footfall heuristic: move to new shoes gradually.',
            name,
            strftime(start_date, '%d %b %Y'),
            shoe_week_m / 1000,
            week_m / 1000,
            strftime(local_date, '%a %d %b %Y'),
            100 * shoe_week_m / week_m,
            cast(getvariable('new_shoe_days') as integer)
        ) as message

    from new_shoe_weeks
    where week_m > 0
      and round(shoe_week_m / week_m, 9) > getvariable('new_shoe_week_share')
    qualify row_number() over (partition by shoe_id order by started_at, activity_id) = 1

),

-- a shoe past its mileage ------------------------------------------------------------------------

shoe_totals as (

    select
        x.shoe_id,
        h.name,
        x.athlete_id,
        x.activity_id,
        x.local_date,
        x.started_at,
        round(sum(x.distance_m) over (
            partition by x.shoe_id
            order by x.started_at, x.activity_id
            rows between unbounded preceding and current row
        ), 9) as shoe_distance_m

    from shoe_activities as x
    join shoes as h on h.shoe_id = x.shoe_id

),

shoe_retire_raised as (

    select
        athlete_id,
        local_date,
        activity_id,
        'shoe_retire' as rule,
        'caution' as severity,
        shoe_distance_m as value,
        '>' as comparison,
        'shoe_retire_m' as threshold_name,
        printf(
            'Shoe "%s" passed %.0f km on %s (%.1f km so far). A footfall heuristic: consider retiring it.',
            name,
            getvariable('shoe_retire_m') / 1000,
            strftime(local_date, '%a %d %b %Y'),
            shoe_distance_m / 1000
        ) as message

    from shoe_totals
    where shoe_distance_m > getvariable('shoe_retire_m')
    qualify row_number() over (partition by shoe_id order by started_at, activity_id) = 1

),

raised as (

    select * from pain_during_raised
    union all by name
    select * from pain_morning_raised
    union all by name
    select * from pain_rising_raised
    union all by name
    select * from new_shoe_raised
    union all by name
    select * from shoe_retire_raised

),

final as (

    select
        athlete_id,
        local_date,
        activity_id,
        rule,
        severity,
        value,
        comparison,
        threshold_name,
        message

    from raised

)

select * from final
order by local_date, athlete_id, rule, activity_id
