-- activity_audit holds one 'running_load' row per activity (the decision), every check models/
-- recorded, and repeats the activity's decision on each of its rows.
-- Returns the offending activities.
select s.activity_id, 'running_load rows: ' || count(r.activity_id) as problem
from int_activity_status as s
left join activity_audit as r
    on r.activity_id = s.activity_id and r.check_name = 'running_load'
group by s.activity_id
having count(r.activity_id) <> 1

union all

select c.activity_id, 'check missing from the audit: ' || c.check_name as problem
from stg_activity_checks as c
join int_activity_status as s on s.activity_id = c.activity_id
where not exists (
    select 1 from activity_audit as r
    where r.activity_id = c.activity_id and r.check_name = c.check_name
)

union all

select r.activity_id, 'decision differs from int_activity_status' as problem
from activity_audit as r
join int_activity_status as s on s.activity_id = r.activity_id
where r.counts_as_running_load is distinct from s.counts_as_running_load
   or r.running_load_reason is distinct from s.running_load_reason
