-- activity_audit: what footfall checked on each activity, what it did, and whether the activity
-- counts as running load (issue 13; `footfall audit` prints it).
-- grain: one row per activity x check (stg_activity_checks: every check models/ ran, passed or
--        not), plus per activity one 'running_load' row (the decision: int_activity_status) and,
--        when the runner said something about it, one 'runner_override' row (the latest statement);
--        key: (activity_id, check_name)
-- units: measured_value, expected_low, expected_high in the row's unit; started_at naive UTC;
--        local_date the runner's calendar date
-- rules:
--   * counts_as_running_load and running_load_reason repeat the activity's decision on each of
--     its rows, so a filter on them keeps an activity's checks together;
--   * the 'running_load' row: outcome pass when the activity counts, excluded when it does not;
--     measured_value the sport decision's confidence (0-1) when no runner statement decided.
-- variables: none (a view: always current with the checks and the runner's statements)
-- column counts_as_running_load: the activity's decision, repeated on each of its rows: true when
--     it counts as running load (int_activity_status)
-- column running_load_reason: why it counts or not, in words a runner reads (int_activity_status)
-- column row_order: order of the activity's rows: 0 the running_load decision, 1 the checks, 2 the
--     runner's override

create or replace view activity_audit as

with

status as (

    select * from int_activity_status

),

activities as (

    select * from stg_activities

),

files as (

    select * from stg_files

),

checks as (

    select * from stg_activity_checks

),

check_rows as (

    select
        c.activity_id,
        c.check_name,
        c.outcome,
        c.measured_value,
        c.expected_low,
        c.expected_high,
        c.unit,
        c.effect,
        c.detail,
        1 as row_order

    from checks as c

),

decision_rows as (

    select
        activity_id,
        'running_load' as check_name,
        case when counts_as_running_load then 'pass' else 'excluded' end as outcome,
        case when override_kind is null then sport_confidence end as measured_value,
        cast(null as double) as expected_low,
        cast(null as double) as expected_high,
        case when override_kind is null and sport_confidence is not null
            then 'confidence 0-1' end as unit,
        case when counts_as_running_load then 'counted as running load'
            else 'excluded from running load' end as effect,
        'sport ' || coalesce(final_sport, 'unknown') || ': ' || running_load_reason as detail,
        0 as row_order

    from status

),

override_rows as (

    select
        activity_id,
        'runner_override' as check_name,
        'adjusted' as outcome,
        cast(null as double) as measured_value,
        cast(null as double) as expected_low,
        cast(null as double) as expected_high,
        cast(null as varchar) as unit,
        case override_kind
            when 'exclude' then 'excluded from running load by the runner'
            when 'include' then 'counted as running load by the runner'
            else 'sport set to ' || final_sport || ' by the runner'
        end as effect,
        'the runner''s latest statement (' || override_kind || ', '
            || strftime(override_entered_at, '%Y-%m-%d %H:%M') || ' UTC)'
            || coalesce(': ' || override_reason, '') as detail,
        2 as row_order

    from status
    where override_kind is not null

),

all_rows as (

    select * from decision_rows
    union all by name
    select * from check_rows
    union all by name
    select * from override_rows

),

final as (

    select
        s.athlete_id,
        r.activity_id,
        s.local_date,
        s.started_at,
        f.file_path,
        r.check_name,
        r.outcome,
        r.measured_value,
        r.expected_low,
        r.expected_high,
        r.unit,
        r.effect,
        r.detail,
        s.counts_as_running_load,
        s.running_load_reason,
        r.row_order

    from all_rows as r
    join status as s on s.activity_id = r.activity_id
    left join activities as a on a.activity_id = r.activity_id
    left join files as f on f.file_id = a.file_id

)

select * from final
