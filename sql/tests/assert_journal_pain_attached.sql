-- Pain entries are attached to a run of their own athlete, by the rule int_pain_entries states
-- (same day; previous day for next_morning), and int_pain_by_run has one row per run.
-- Returns the offending entries or runs.
select p.entry_id as id, 'attached to a run of another day or athlete' as problem
from int_pain_entries as p
join int_sessions as s on s.activity_id = p.run_activity_id
where s.athlete_id <> p.athlete_id
   or (p.attached_by = 'same_day' and s.local_date <> p.local_date)
   or (p.attached_by = 'previous_day' and s.local_date <> p.local_date - 1)
   or (p.attached_by in ('same_day', 'previous_day') and not s.is_run)

union all

select null as id, 'int_pain_by_run rows != runs' as problem
from (select count(*) as n from int_pain_by_run) as b
cross join (select count(*) as n from int_sessions where is_run) as r
where b.n <> r.n

union all

select null as id, 'run twice in int_pain_by_run: ' || activity_id as problem
from int_pain_by_run
group by activity_id
having count(*) > 1
