-- stg_activity_checks: the data-quality checks models/ ran on each activity (models/quality.py,
-- models/sport.py, models/track.py), passed or not.
-- grain: one row per activity x check; key: (activity_id, check_name)
-- units: measured_value, expected_low, expected_high in the row's own unit (column unit)
-- variables: none

create or replace view stg_activity_checks as

with

checks as (

    select * from activity_checks

),

final as (

    select
        athlete_id,
        activity_id,
        check_name,
        outcome,
        measured_value,
        expected_low,
        expected_high,
        unit,
        effect,
        detail,
        threshold_name

    from checks

)

select * from final
