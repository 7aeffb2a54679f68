-- No load is lost or counted twice between the sessions, the daily calendar and the weeks:
-- per athlete, running distance, all-sport duration and run counts agree (distances to 1e-6
-- relative: sums in a different order). Returns one row per offending athlete and measure.
with

sessions as (

    select athlete_id,
        coalesce(sum(running_distance_m), 0) as distance_m,
        coalesce(sum(duration_s), 0) as duration_s,
        count(*) filter (where is_run) as n_runs
    from int_sessions
    group by athlete_id

),

daily as (

    select athlete_id, sum(running_distance_m) as distance_m, sum(duration_s) as duration_s,
        sum(n_runs) as n_runs
    from daily_load
    group by athlete_id

),

weekly as (

    select athlete_id, sum(running_distance_m) as distance_m, sum(duration_s) as duration_s,
        sum(n_runs) as n_runs
    from weekly_load
    group by athlete_id

),

compared as (

    select s.athlete_id, 'daily' as level,
        abs(s.distance_m - coalesce(d.distance_m, -1)) > 1e-6 * greatest(s.distance_m, 1) as bad_distance,
        abs(s.duration_s - coalesce(d.duration_s, -1)) > 1e-6 * greatest(s.duration_s, 1) as bad_duration,
        s.n_runs != coalesce(d.n_runs, -1) as bad_runs
    from sessions as s left join daily as d on d.athlete_id = s.athlete_id

    union all

    select s.athlete_id, 'weekly',
        abs(s.distance_m - coalesce(w.distance_m, -1)) > 1e-6 * greatest(s.distance_m, 1),
        abs(s.duration_s - coalesce(w.duration_s, -1)) > 1e-6 * greatest(s.duration_s, 1),
        s.n_runs != coalesce(w.n_runs, -1)
    from sessions as s left join weekly as w on w.athlete_id = s.athlete_id

)

select * from compared
where bad_distance or bad_duration or bad_runs
