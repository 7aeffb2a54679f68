-- weekly_load has exactly one row per athlete per ISO week, weeks start on Monday, no week is
-- missing between the first and the last, and each week holds 1-7 calendar days.
-- Returns one row per problem.
with

duplicates as (

    select athlete_id, week_start_date, 'duplicate week' as problem
    from weekly_load
    group by athlete_id, week_start_date
    having count(*) > 1

),

not_monday as (

    select athlete_id, week_start_date, 'week does not start on Monday' as problem
    from weekly_load
    where isodow(week_start_date) != 1

),

bad_days as (

    select athlete_id, week_start_date, 'n_days outside 1-7' as problem
    from weekly_load
    where n_days < 1 or n_days > 7

),

spans as (

    select athlete_id, min(week_start_date) as first_week, max(week_start_date) as last_week,
        count(distinct week_start_date) as n_weeks
    from weekly_load
    group by athlete_id

),

gaps as (

    select athlete_id, first_week, 'missing week' as problem
    from spans
    where n_weeks != date_diff('day', first_week, last_week) // 7 + 1

)

select * from duplicates
union all select * from not_monday
union all select * from bad_days
union all select * from gaps
