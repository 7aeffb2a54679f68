-- Every flag the runner's log raises (journal_flags) is in `flags` exactly once (keyed there with
-- the load flags, so assert_flags_complete and assert_flags_beyond_threshold judge it too) and
-- names one of the journal's rules. Returns the journal flags that break it.
select
    j.athlete_id,
    j.rule,
    j.local_date,
    j.activity_id,
    count(f.flag_id) as n_in_flags,
    'not in flags exactly once' as problem

from journal_flags as j
left join flags as f
    on f.athlete_id = j.athlete_id
   and f.rule = j.rule
   and f.local_date = j.local_date
   and f.activity_id is not distinct from j.activity_id
group by j.athlete_id, j.rule, j.local_date, j.activity_id
having count(f.flag_id) <> 1

union all

select athlete_id, rule, local_date, activity_id, null, 'not a journal rule' as problem
from journal_flags
where rule is null
   or rule not in ('pain_during', 'pain_next_morning', 'pain_rising', 'new_shoe_load', 'shoe_retire')
