-- Every acute:chronic ratio (and chronic load) is NULL before acwr_chronic_days of calendar
-- (day_index < acwr_chronic_days), and filled from then on whenever its chronic load is above 0.
-- Returns one row per offending day.
select athlete_id, local_date, day_index, 'ratio before full history' as problem
from acwr_daily
where day_index < getvariable('acwr_chronic_days')
  and (acwr_coupled_distance is not null or acwr_uncoupled_distance is not null
       or acwr_ewma_distance is not null
       or acwr_coupled_duration is not null or acwr_uncoupled_duration is not null
       or acwr_ewma_duration is not null
       or acwr_coupled_steps is not null or acwr_uncoupled_steps is not null
       or acwr_ewma_steps is not null
       or distance_chronic_coupled_m is not null or distance_chronic_uncoupled_m is not null
       or duration_chronic_coupled_s is not null or duration_chronic_uncoupled_s is not null
       or steps_chronic_coupled is not null or steps_chronic_uncoupled is not null
       or has_full_history)

union all

select athlete_id, local_date, day_index, 'ratio missing with full history' as problem
from acwr_daily
where day_index >= getvariable('acwr_chronic_days')
  and ((distance_chronic_coupled_m > 0 and acwr_coupled_distance is null)
       or (distance_chronic_uncoupled_m > 0 and acwr_uncoupled_distance is null)
       or (distance_ewma_chronic_m > 0 and acwr_ewma_distance is null)
       or (duration_chronic_coupled_s > 0 and acwr_coupled_duration is null)
       or (duration_chronic_uncoupled_s > 0 and acwr_uncoupled_duration is null)
       or (duration_ewma_chronic_s > 0 and acwr_ewma_duration is null)
       or (steps_chronic_coupled > 0 and acwr_coupled_steps is null)
       or (steps_chronic_uncoupled > 0 and acwr_uncoupled_steps is null)
       or (steps_ewma_chronic > 0 and acwr_ewma_steps is null)
       or not has_full_history)
