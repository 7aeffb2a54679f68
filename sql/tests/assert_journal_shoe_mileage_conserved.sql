-- Every metre of an activity with a shoe is in exactly that shoe's shoe_mileage row, and each
-- activity's shoe belongs to the activity's athlete. Returns the shoes (or activities) that break it.
with

worn as (

    select shoe_id, sum(distance_m) as distance_m, count(*) as n_activities
    from int_shoe_activities
    group by shoe_id

)

select m.shoe_id, m.distance_m, w.distance_m as expected_m, 'mileage differs' as problem
from shoe_mileage as m
left join worn as w on w.shoe_id = m.shoe_id
where abs(m.distance_m - coalesce(w.distance_m, 0)) > 1e-6
   or m.n_activities <> coalesce(w.n_activities, 0)

union all

select x.shoe_id, null, null, 'shoe of another athlete: ' || x.activity_id as problem
from activity_shoes as x
join int_sessions as s on s.activity_id = x.activity_id
join shoes as h on h.shoe_id = x.shoe_id
where h.athlete_id <> s.athlete_id or x.athlete_id <> s.athlete_id
