-- stg_activities: the landed activities, renamed/cast for the models.
-- grain: one row per activity kept by the landing (a run that arrived twice is landed once; the
--        dropped copy sits in activity_duplicates, not here); key: activity_id
-- units: distance_m metres; elapsed_time_s, timer_time_s seconds; started_at, ended_at naive UTC;
--        local_offset_s seconds (local minus UTC); local_date the calendar date where the athlete was
-- variables: none (a view must not read getvariable(): variables live in the connection that set them)

create or replace view stg_activities as

with

activities as (

    select * from activities

),

final as (

    select
        athlete_id,
        activity_id,
        file_id,
        source_format,
        sport,
        sub_sport,
        started_at,
        ended_at,
        local_offset_s,
        -- the landing fills local_date; the fallback is the same rule (offset 0 when unknown)
        coalesce(
            local_date,
            cast(started_at + to_seconds(coalesce(local_offset_s, 0)) as date)
        ) as local_date,
        elapsed_time_s,
        timer_time_s,
        distance_m,
        is_indoor

    from activities

)

select * from final
