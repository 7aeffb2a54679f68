-- Each flag row names its rule, severity, threshold (name and value), source and a message, and
-- carries a key; severities are info | caution | warning | alert; flag_id is unique.
-- Returns the offending flags.
select flag_id, rule, 'incomplete' as problem
from flags
where flag_id is null or athlete_id is null or local_date is null or rule is null
   or severity is null or severity not in ('info', 'caution', 'warning', 'alert')
   or threshold is null or threshold_name is null or source is null or source = ''
   or message is null or message = '' or note is null or first_raised_at is null

union all

select flag_id, any_value(rule), 'duplicate flag_id' as problem
from flags
group by flag_id
having count(*) > 1
