-- int_pain_by_run: each run beside the pain logged for it and the shoe it was run in.
-- grain: one row per run (int_sessions.is_run), runs without any pain logged included (pain NULL);
--        key: activity_id; run_number = 1, 2, ... per athlete by start time
-- units: pain_* scores 0-10 (the highest score of that moment for the run); rpe_cr10 0-10;
--        distance_m metres; moving_time_s seconds; srpe_load_au arbitrary units
-- rules:
--   * pain entries are attached to runs by int_pain_entries (activity id, else by date);
--   * run_pain = the highest of pain during, after and next morning: the pain the run is answerable
--     for (pain before a run is the state it started from; evening pain is not used as it can
--     follow anything else done that day). NULL when none of the three was logged.
--   * rpe_cr10, srpe_load_au: stg_session_rpe (the RPE the load uses);
--   * shoe: activity_shoes (manual, Strava gear or a default-shoe rule; pipelines/journal/).
-- variables: none
-- column run_number: 1, 2, ... per athlete by start time
-- column pain_before, pain_during, pain_after, pain_evening, pain_next_morning: the highest pain
--     score (0-10) logged for that moment of the run; NULL when none
-- column run_pain: the highest of pain during, after and next morning (0-10): the pain the run is
--     answerable for; NULL when none of the three was logged
-- column n_pain_entries: pain entries attached to the run (every moment)
-- column pain_locations: the locations of those entries, '; '-separated
-- column shoe_name: name of the shoe the run was in (activity_shoes)
-- column shoe_source: how the shoe was assigned: manual | range | strava | default | only_shoe

create or replace view int_pain_by_run as

with

sessions as (

    select * from int_sessions

),

pain as (

    select * from int_pain_entries

),

activity_shoes as (

    select * from stg_activity_shoes

),

shoes as (

    select * from stg_shoes

),

session_rpe as (

    select * from stg_session_rpe

),

runs as (

    select
        athlete_id,
        activity_id,
        local_date,
        started_at,
        distance_m,
        moving_time_s,
        srpe_load_au

    from sessions
    where is_run

),

pain_per_run as (

    select
        run_activity_id as activity_id,
        max(score) filter (where moment = 'before') as pain_before,
        max(score) filter (where moment = 'during') as pain_during,
        max(score) filter (where moment = 'after') as pain_after,
        max(score) filter (where moment = 'evening') as pain_evening,
        max(score) filter (where moment = 'next_morning') as pain_next_morning,
        count(*) as n_pain_entries,
        string_agg(distinct location, '; ' order by location) as pain_locations

    from pain
    where run_activity_id is not null
    group by run_activity_id

),

final as (

    select
        r.athlete_id,
        r.activity_id,
        r.local_date,
        r.started_at,
        row_number() over (partition by r.athlete_id order by r.started_at, r.activity_id)
            as run_number,
        r.distance_m,
        r.moving_time_s,
        q.rpe_cr10,
        r.srpe_load_au,
        p.pain_before,
        p.pain_during,
        p.pain_after,
        p.pain_evening,
        p.pain_next_morning,
        greatest(p.pain_during, p.pain_after, p.pain_next_morning) as run_pain,
        coalesce(p.n_pain_entries, 0) as n_pain_entries,
        p.pain_locations,
        x.shoe_id,
        s.name as shoe_name,
        x.source as shoe_source

    from runs as r
    left join pain_per_run as p on p.activity_id = r.activity_id
    left join activity_shoes as x on x.activity_id = r.activity_id
    left join shoes as s on s.shoe_id = x.shoe_id
    left join session_rpe as q on q.activity_id = r.activity_id

)

select * from final
