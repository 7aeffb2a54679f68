-- daily_load has exactly one row per athlete per local date, with no gaps from the first activity
-- to at least `today`, day_index counting 1, 2, ... and every activity's local date inside it.
-- Returns one row per problem.
with

duplicates as (

    select athlete_id, local_date, 'duplicate day' as problem
    from daily_load
    group by athlete_id, local_date
    having count(*) > 1

),

spans as (

    select
        athlete_id,
        min(local_date) as first_date,
        max(local_date) as last_date,
        count(*) as n_days,
        min(day_index) as min_index,
        max(day_index) as max_index
    from daily_load
    group by athlete_id

),

gaps as (

    select athlete_id, first_date as local_date, 'gap, bad day_index or ends before today' as problem
    from spans
    where n_days != date_diff('day', first_date, last_date) + 1
       or min_index != 1
       or max_index != n_days
       or last_date < cast(getvariable('today') as date)

),

firsts as (

    select s.athlete_id, s.first_date as local_date, 'does not start on the first activity' as problem
    from spans as s
    join (select athlete_id, min(local_date) as first_activity from int_sessions group by 1) as f
        on f.athlete_id = s.athlete_id
    where f.first_activity != s.first_date

),

missing as (

    select a.athlete_id, a.local_date, 'activity day missing' as problem
    from int_sessions as a
    anti join daily_load as d
        on d.athlete_id = a.athlete_id
        and d.local_date = a.local_date

)

select * from duplicates
union all select * from gaps
union all select * from firsts
union all select * from missing
