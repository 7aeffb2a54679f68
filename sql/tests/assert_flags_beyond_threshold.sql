-- Each flag's value is actually beyond its threshold, in the direction its `comparison` says, and
-- the threshold is the value the build used (the thresholds table). Returns the offending flags.
select f.flag_id, f.rule, f.value, f.comparison, f.threshold
from flags as f
left join thresholds as t on t.name = f.threshold_name
where f.value is null
   or f.threshold is null
   or f.threshold is distinct from t.value
   or not coalesce(
        case f.comparison
            when '>' then f.value > f.threshold
            when '>=' then f.value >= f.threshold
        end,
        false)
