-- A day with a day_total_spike flag has no single_session_spike flag (issue 14: a double day
-- raises ONE spike flag, the most severe of the day flag and its session flags), and
-- day_total_spike is raised only on days with two or more runs. Returns the offending flags.
select f.flag_id, f.rule, f.local_date, 'session flag beside a day flag' as problem
from flags as f
join flags as d
    on d.athlete_id = f.athlete_id
    and d.local_date = f.local_date
    and d.rule = 'day_total_spike'
where f.rule = 'single_session_spike'
union all
select f.flag_id, f.rule, f.local_date, 'day flag on a day with fewer than two runs' as problem
from flags as f
join daily_load as l
    on l.athlete_id = f.athlete_id
    and l.local_date = f.local_date
where f.rule = 'day_total_spike'
  and l.n_runs < 2
