-- int_activity_status: whether each activity counts as running load, and why (issue 13).
-- grain: one row per landed activity; key: activity_id
-- units: sport_confidence 0-1; started_at, override_entered_at naive UTC
-- rules (footfall choice; README "footfall activity"):
--   * detected_sport / detected_is_run: what models/ decided (activity_metrics: the file's label
--     when the evidence agrees with it, else inferred), else the file's own sport when no metrics
--     were derived (is_run = sport 'running');
--   * the runner has the last word (activity_overrides, never deleted by a sync or a rebuild):
--     final_sport is the runner's latest `footfall activity sport`, else detected_sport; whether
--     the activity counts is decided by the runner's LATEST statement of any kind: `exclude`
--     (no), `include` (yes, whatever the sport), `sport S` (yes only for running); without one,
--     by detected_is_run;
--   * running_load_reason says which of these decided, in words a runner reads.
-- variables: none
-- column detected_sport: the sport models/ decided (activity_metrics), else the file's own sport
-- column detected_is_run: whether models/ decided it is running load, before the runner's word
-- column override_sport: the sport of the runner's latest `footfall activity sport` statement
--     (NULL: none)
-- column override_kind: kind of the runner's latest statement: sport | exclude | include (NULL:
--     none)
-- column override_reason: the runner's words with that statement
-- column override_entered_at: when the runner made it, naive timestamp in UTC
-- column final_sport: the runner's sport, else detected_sport
-- column counts_as_running_load: true when the activity counts as running load (the runner's
--     latest statement, else detected_is_run)
-- column running_load_reason: which of these decided, in words a runner reads

create or replace view int_activity_status as

with

activities as (

    select * from stg_activities

),

metrics as (

    select * from stg_activity_metrics

),

overrides as (

    select * from stg_activity_overrides

),

latest_statement as (

    select activity_id, kind, sport, reason, entered_at
    from overrides
    qualify row_number() over (
        partition by activity_id order by entered_at desc, override_id desc
    ) = 1

),

latest_sport as (

    select activity_id, sport, reason
    from overrides
    where kind = 'sport'
    qualify row_number() over (
        partition by activity_id order by entered_at desc, override_id desc
    ) = 1

),

detected as (

    select
        coalesce(a.athlete_id, m.athlete_id) as athlete_id,
        a.activity_id,
        coalesce(a.local_date, m.local_date) as local_date,
        coalesce(a.started_at, m.started_at) as started_at,
        coalesce(m.sport, a.sport) as detected_sport,
        coalesce(m.sport_source, case when a.sport is not null then 'file' else 'none' end)
            as sport_source,
        m.sport_confidence,
        coalesce(
            m.sport_reason,
            case
                when m.activity_id is null and a.sport is not null
                    then 'the file''s label ' || a.sport || ' (no metrics derived)'
                when m.activity_id is null then 'no sport in the file (no metrics derived)'
                else 'sport ' || coalesce(m.sport, 'unknown')
            end
        ) as sport_reason,
        coalesce(m.is_run, a.sport = 'running', false) as detected_is_run

    from activities as a
    left join metrics as m on m.activity_id = a.activity_id

),

joined as (

    select
        d.*,
        s.sport as override_sport,
        l.kind as override_kind,
        l.reason as override_reason,
        l.entered_at as override_entered_at,
        coalesce(s.sport, d.detected_sport) as final_sport

    from detected as d
    left join latest_sport as s on s.activity_id = d.activity_id
    left join latest_statement as l on l.activity_id = d.activity_id

),

final as (

    select
        athlete_id,
        activity_id,
        local_date,
        started_at,
        detected_sport,
        sport_source,
        sport_confidence,
        sport_reason,
        detected_is_run,
        override_sport,
        override_kind,
        override_reason,
        override_entered_at,
        final_sport,
        case
            when override_kind = 'exclude' then false
            when override_kind = 'include' then true
            when override_kind = 'sport' then final_sport = 'running'
            else detected_is_run
        end as counts_as_running_load,
        case
            when override_kind = 'exclude'
                then 'excluded by the runner: ' || coalesce(override_reason, 'no reason given')
            when override_kind = 'include'
                then 'included by the runner' || coalesce(': ' || override_reason, '')
            when override_kind = 'sport'
                then 'sport set to ' || final_sport || ' by the runner'
                    || coalesce(': ' || override_reason, '')
            when detected_is_run
                then 'running: ' || sport_reason
                    || coalesce(' (confidence ' || printf('%.2f', sport_confidence) || ')', '')
            else 'not a run: ' || sport_reason
                || coalesce(' (confidence ' || printf('%.2f', sport_confidence) || ')', '')
        end as running_load_reason

    from joined

)

select * from final
