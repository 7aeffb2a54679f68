-- Loads are sums of non-negative quantities (and ratios of them): a negative value is a bug or a
-- bad raw row. Returns one row per offending model row.
select 'daily_load' as model, athlete_id, local_date as day
from daily_load
where running_distance_m < 0 or running_moving_time_s < 0 or steps < 0 or duration_s < 0
   or srpe_load_au < 0 or trimp_au < 0 or n_runs < 0 or n_activities < 0 or longest_run_m < 0

union all

select 'weekly_load', athlete_id, week_start_date
from weekly_load
where running_distance_m < 0 or running_moving_time_s < 0 or steps < 0 or duration_s < 0
   or srpe_load_au < 0 or trimp_au < 0 or n_runs < 0 or longest_run_m < 0
   or monotony < 0 or strain_m < 0 or sd_daily_distance_m < 0

union all

select 'acwr_daily', athlete_id, local_date
from acwr_daily
where distance_acute_m < 0 or distance_chronic_coupled_m < 0 or distance_chronic_uncoupled_m < 0
   or distance_ewma_acute_m < 0 or distance_ewma_chronic_m < 0
   or duration_acute_s < 0 or duration_chronic_coupled_s < 0 or duration_chronic_uncoupled_s < 0
   or duration_ewma_acute_s < 0 or duration_ewma_chronic_s < 0
   or steps_acute < 0 or steps_chronic_coupled < 0 or steps_chronic_uncoupled < 0
   or steps_ewma_acute < 0 or steps_ewma_chronic < 0
   or acwr_coupled_distance < 0 or acwr_uncoupled_distance < 0 or acwr_ewma_distance < 0
   or acwr_coupled_duration < 0 or acwr_uncoupled_duration < 0 or acwr_ewma_duration < 0
   or acwr_coupled_steps < 0 or acwr_uncoupled_steps < 0 or acwr_ewma_steps < 0

union all

select 'session_spikes', athlete_id, local_date
from session_spikes
where distance_m < 0 or baseline_distance_m <= 0
