-- plan_flags: the flags the runner's return-to-run plan raises, before they are keyed: `flags`
-- appends these rows (like journal_flags) and gives each its flag_id, threshold value, unit,
-- source, note and first_raised_at in ONE place.
-- grain: one row per (athlete_id, rule, local_date, activity_id); key: those four columns
-- units: value = fraction over the plan (0.25 = 25% more than planned), comparison '>'
-- rules (a FOOTFALL HEURISTIC, not evidence; run-walk progression):
--   * plan_exceeded -> caution: a plan week (plan_vs_actual) whose actual running minutes or
--     longest continuous running bout exceed the plan by more than plan_exceeded_margin; once
--     per plan week, dated on the day it first did (plan_vs_actual.exceeded_on); activity_id
--     NULL. value = the larger of the two excesses as of this build.
-- variables: plan_exceeded_margin (models/thresholds.py)

create or replace table plan_flags as

with

plan_weeks as (

    select * from plan_vs_actual

),

plan_exceeded_raised as (

    select
        athlete_id,
        exceeded_on as local_date,
        cast(null as varchar) as activity_id,
        'plan_exceeded' as rule,
        'caution' as severity,
        greatest(coalesce(run_min_excess, -1), coalesce(longest_min_excess, -1)) as value,
        '>' as comparison,
        'plan_exceeded_margin' as threshold_name,
        printf(
            'Plan week %d (%s to %s): you ran %.0f min against %.0f min planned (%s)%s. More than the plan''s %.0f%% margin (a footfall heuristic): the plan, not a study, sets these numbers.',
            week_number,
            strftime(week_start_date, '%a %d %b'),
            strftime(week_end_date, '%a %d %b %Y'),
            actual_run_min,
            run_min,
            printf('%+.0f%%', run_min_excess * 100),
            case
                when longest_min is not null and actual_longest_bout_min is not null then printf(
                    '; your longest continuous running bout was %.1f min against %.1f min planned (%s)',
                    actual_longest_bout_min, longest_min, printf('%+.0f%%', longest_min_excess * 100))
                else ''
            end,
            getvariable('plan_exceeded_margin') * 100
        ) as message

    from plan_weeks
    where is_exceeded

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

    from plan_exceeded_raised

)

select * from final
order by local_date, athlete_id, rule, activity_id
