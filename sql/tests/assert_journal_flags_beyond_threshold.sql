-- Each pain/shoe flag is complete (rule, severity, threshold, source, message, key), its value is
-- beyond its threshold in the direction `comparison` says, the threshold is the value the build
-- used (the thresholds table), and flag_id is unique. Returns the offending flags.
select j.flag_id, j.rule, j.value, j.comparison, j.threshold, 'not beyond threshold' as problem
from journal_flags as j
left join thresholds as t on t.name = j.threshold_name
where j.value is null
   or j.threshold is null
   or j.threshold is distinct from t.value
   or not coalesce(
        case j.comparison
            when '>' then j.value > j.threshold
            when '>=' then j.value >= j.threshold
        end,
        false)

union all

select flag_id, rule, value, comparison, threshold, 'incomplete' as problem
from journal_flags
where flag_id is null or athlete_id is null or local_date is null or rule is null
   or severity not in ('caution', 'warning', 'alert') or severity is null
   or threshold_name is null or source is null or source = '' or message is null
   or message = '' or first_raised_at is null
   or rule not in ('pain_during', 'pain_next_morning', 'pain_rising', 'new_shoe_load', 'shoe_retire')

union all

select flag_id, any_value(rule), null, null, null, 'duplicate flag_id' as problem
from journal_flags
group by flag_id
having count(*) > 1
