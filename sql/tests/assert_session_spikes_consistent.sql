-- session_spikes has one row per run, and its band agrees with its ratio and the Frandsen et al.
-- 2025 cut points of this build. Returns one row per offending run.
select s.activity_id, s.band, s.spike_ratio, 'band disagrees with ratio' as problem
from session_spikes as s
where s.band is distinct from case
        when s.distance_m is null or s.distance_m = 0 then 'no_distance'
        when s.baseline_distance_m is null then 'no_baseline'
        when s.spike_ratio <= getvariable('spike_caution_ratio') then 'reference'
        when s.spike_ratio <= getvariable('spike_warning_ratio') then 'small'
        when s.spike_ratio <= getvariable('spike_alert_ratio') then 'moderate'
        when s.spike_ratio > getvariable('spike_alert_ratio') then 'large'
    end
   or (s.band in ('no_baseline', 'no_distance')) = (s.spike_ratio is not null)

union all

select activity_id, any_value(band), null, 'duplicate run' as problem
from session_spikes
group by activity_id
having count(*) > 1

union all

select r.activity_id, null, null, 'run missing' as problem
from int_sessions as r
anti join session_spikes as s on s.activity_id = r.activity_id
where r.is_run and r.started_at is not null
