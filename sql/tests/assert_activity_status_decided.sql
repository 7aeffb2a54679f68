-- Every landed activity has one status row that says whether it counts as running load and why,
-- and int_sessions counts as a run exactly the activities that count as running load.
-- Returns the offending activities.
select a.activity_id, 'no status row or more than one' as problem
from stg_activities as a
left join int_activity_status as s on s.activity_id = a.activity_id
group by a.activity_id
having count(s.activity_id) <> 1

union all

select activity_id, 'undecided' as problem
from int_activity_status
where counts_as_running_load is null or running_load_reason is null or running_load_reason = ''

union all

select s.activity_id, 'int_sessions.is_run disagrees with counts_as_running_load' as problem
from int_sessions as s
join int_activity_status as st on st.activity_id = s.activity_id
where s.is_run is distinct from st.counts_as_running_load
   or (not s.is_run and (s.running_distance_m is not null or s.steps is not null))
