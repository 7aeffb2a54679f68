-- acwr_daily: acute:chronic workload ratios per athlete per day, three ways, on three load units.
-- DESCRIPTIVE numbers, not a risk score (Impellizzeri et al. 2020/2021: ACWR behaves as a rescaled
-- acute load; doi:10.4085/1062-6050-500-19, doi:10.1007/s40279-020-01378-6).
-- grain: one row per athlete_id x local_date (the daily_load calendar); key: (athlete_id, local_date)
-- units: *_m metres (running distance), *_s seconds (all-sport moving time), steps_* count (runs);
--        acwr_* ratios have no unit. Acute and chronic loads are per acute window (a week by default).
-- windows: A = acwr_acute_days, C = acwr_chronic_days (both Williams et al. 2017; values in
--          models/thresholds.py). C must be a whole multiple of A (the runner checks), so the
--          chronic window is K = C / A blocks of A days.
--   * <unit>_acute                   = load of the last A days (today included)
--   * <unit>_chronic_coupled         = load of the last C days / K          (Lolli et al. 2019)
--   * <unit>_chronic_uncoupled       = load of days A+1..C before / (K - 1)  (Windt & Gabbett 2019)
--   * acwr_coupled_<unit>            = acute / chronic_coupled
--   * acwr_uncoupled_<unit>          = acute / chronic_uncoupled
--   * <unit>_ewma_acute, _ewma_chronic: EWMA_t = lambda x_t + (1 - lambda) EWMA_(t-1),
--     lambda = 2 / (N + 1) with N = A and N = C, seeded with the first calendar day's load
--     (EWMA_1 = x_1; Williams et al. 2017, doi:10.1136/bjsports-2016-096589, leave the seed open). Computed exactly by a
--     recursive CTE walking each athlete's calendar one day at a time (the same arithmetic as the
--     textbook recursion, no truncated weights).
--   * acwr_ewma_<unit>               = ewma_acute / ewma_chronic
-- NULLs: chronic loads and every ratio are NULL until C days of calendar (day_index < C: the
--        first C - 1 days of an athlete), and a ratio is NULL when its chronic load is 0 (no
--        division by zero). Acute loads and the EWMAs themselves are always filled.
-- is_flaggable (issue 14, footfall choice): the ratios may raise a flag only when
--        the runner has acwr_chronic_days days of data since the calendar's start or since the
--        last return after a break (daily_load.load_history_days); after a return the ratios are
--        still computed and shown, but flagged nowhere until the chronic window has refilled.
-- variables: acwr_acute_days, acwr_chronic_days (models/thresholds.py)
-- column has_full_history: true when the athlete's calendar has acwr_chronic_days days up to this
--     one (day_index >= C): the chronic loads and ratios are defined
-- column is_flaggable: the ratios may raise a flag: load_history_days >= acwr_chronic_days since
--     the calendar's start or the last return after a break (issue 14, footfall choice)
-- column load_history_days: days of data since the calendar's start or the last return after a
--     break (daily_load), both included
-- column distance_acute_m: running distance of the last A days (today included), metres
-- column distance_chronic_coupled_m: running distance of the last C days / K, metres per acute
--     window (coupled: Lolli et al. 2019, doi:10.1136/bjsports-2017-098110)
-- column distance_chronic_uncoupled_m: running distance of days A+1..C before / (K - 1), metres
--     per acute window (uncoupled: Windt & Gabbett 2019, doi:10.1136/bjsports-2017-098925)
-- column distance_ewma_acute_m: EWMA of daily running distance with N = A, metres (Williams et al.
--     2017, doi:10.1136/bjsports-2016-096589)
-- column distance_ewma_chronic_m: EWMA of daily running distance with N = C, metres (Williams et
--     al. 2017, doi:10.1136/bjsports-2016-096589)
-- column acwr_coupled_distance: distance_acute_m / distance_chronic_coupled_m, ratio (no unit);
--     descriptive, not a risk score (Impellizzeri et al. 2020, doi:10.4085/1062-6050-500-19)
-- column acwr_uncoupled_distance: distance_acute_m / distance_chronic_uncoupled_m, ratio (no
--     unit); the ACWR flag reads it against Gabbett 2016's >= 1.5 (doi:10.1136/bjsports-2015-095788)
-- column acwr_ewma_distance: distance_ewma_acute_m / distance_ewma_chronic_m, ratio (no unit)
-- column duration_acute_s: all-sport moving time of the last A days, seconds
-- column duration_chronic_coupled_s: all-sport moving time of the last C days / K, seconds per
--     acute window (coupled)
-- column duration_chronic_uncoupled_s: all-sport moving time of days A+1..C before / (K - 1),
--     seconds per acute window (uncoupled)
-- column duration_ewma_acute_s, duration_ewma_chronic_s: EWMA of daily all-sport moving time with
--     N = A / N = C, seconds
-- column acwr_coupled_duration, acwr_uncoupled_duration, acwr_ewma_duration: acute / chronic all-sport
--     moving time, coupled, uncoupled or EWMA as the name says, ratio (no unit)
-- column steps_acute: steps of the runs of the last A days, count
-- column steps_chronic_coupled, steps_chronic_uncoupled: chronic steps per acute window, coupled
--     and uncoupled, count
-- column steps_ewma_acute, steps_ewma_chronic: EWMA of daily steps with N = A / N = C, count
-- column acwr_coupled_steps, acwr_uncoupled_steps, acwr_ewma_steps: acute / chronic steps, coupled,
--     uncoupled or EWMA as the name says, ratio (no unit)

create or replace table acwr_daily as

with

daily as (

    select * from daily_load

),

params as (

    select
        cast(getvariable('acwr_acute_days') as integer) as acute_days,
        cast(getvariable('acwr_chronic_days') as integer) as chronic_days,
        2.0 / (getvariable('acwr_acute_days') + 1) as lambda_acute,
        2.0 / (getvariable('acwr_chronic_days') + 1) as lambda_chronic

),

rolling as (

    select
        athlete_id,
        local_date,
        day_index,
        running_distance_m,
        duration_s,
        steps,
        load_history_days,
        sum(running_distance_m) over acute_days as distance_acute_m,
        sum(running_distance_m) over chronic_days as distance_chronic_sum_m,
        sum(running_distance_m) over prior_days as distance_prior_sum_m,
        sum(duration_s) over acute_days as duration_acute_s,
        sum(duration_s) over chronic_days as duration_chronic_sum_s,
        sum(duration_s) over prior_days as duration_prior_sum_s,
        sum(steps) over acute_days as steps_acute,
        sum(steps) over chronic_days as steps_chronic_sum,
        sum(steps) over prior_days as steps_prior_sum

    from daily
    window
        acute_days as (
            partition by athlete_id order by day_index
            rows between cast(getvariable('acwr_acute_days') as integer) - 1 preceding
                and current row
        ),
        chronic_days as (
            partition by athlete_id order by day_index
            rows between cast(getvariable('acwr_chronic_days') as integer) - 1 preceding
                and current row
        ),
        prior_days as (
            partition by athlete_id order by day_index
            rows between cast(getvariable('acwr_chronic_days') as integer) - 1 preceding
                and cast(getvariable('acwr_acute_days') as integer) preceding
        )

),

ewma as (

    with recursive walk as (

        select
            d.athlete_id,
            d.day_index,
            d.running_distance_m as distance_ewma_acute_m,
            d.running_distance_m as distance_ewma_chronic_m,
            d.duration_s as duration_ewma_acute_s,
            d.duration_s as duration_ewma_chronic_s,
            d.steps as steps_ewma_acute,
            d.steps as steps_ewma_chronic

        from daily as d
        where d.day_index = 1

        union all

        select
            d.athlete_id,
            d.day_index,
            p.lambda_acute * d.running_distance_m
                + (1 - p.lambda_acute) * w.distance_ewma_acute_m,
            p.lambda_chronic * d.running_distance_m
                + (1 - p.lambda_chronic) * w.distance_ewma_chronic_m,
            p.lambda_acute * d.duration_s
                + (1 - p.lambda_acute) * w.duration_ewma_acute_s,
            p.lambda_chronic * d.duration_s
                + (1 - p.lambda_chronic) * w.duration_ewma_chronic_s,
            p.lambda_acute * d.steps
                + (1 - p.lambda_acute) * w.steps_ewma_acute,
            p.lambda_chronic * d.steps
                + (1 - p.lambda_chronic) * w.steps_ewma_chronic

        from walk as w
        join daily as d
            on d.athlete_id = w.athlete_id
            and d.day_index = w.day_index + 1
        cross join params as p

    )

    select * from walk

),

chronic as (

    select
        r.*,
        e.distance_ewma_acute_m,
        e.distance_ewma_chronic_m,
        e.duration_ewma_acute_s,
        e.duration_ewma_chronic_s,
        e.steps_ewma_acute,
        e.steps_ewma_chronic,
        r.day_index >= p.chronic_days as has_full_history,
        p.chronic_days,
        p.chronic_days / p.acute_days as n_blocks

    from rolling as r
    join ewma as e
        on e.athlete_id = r.athlete_id
        and e.day_index = r.day_index
    cross join params as p

),

final as (

    select
        athlete_id,
        local_date,
        day_index,
        has_full_history,
        has_full_history and load_history_days >= chronic_days as is_flaggable,
        load_history_days,

        distance_acute_m,
        case when has_full_history
            then distance_chronic_sum_m / n_blocks end as distance_chronic_coupled_m,
        case when has_full_history
            then distance_prior_sum_m / (n_blocks - 1) end as distance_chronic_uncoupled_m,
        distance_ewma_acute_m,
        distance_ewma_chronic_m,
        case when has_full_history and distance_chronic_sum_m > 0
            then distance_acute_m / (distance_chronic_sum_m / n_blocks) end as acwr_coupled_distance,
        case when has_full_history and distance_prior_sum_m > 0
            then distance_acute_m / (distance_prior_sum_m / (n_blocks - 1)) end as acwr_uncoupled_distance,
        case when has_full_history and distance_ewma_chronic_m > 0
            then distance_ewma_acute_m / distance_ewma_chronic_m end as acwr_ewma_distance,

        duration_acute_s,
        case when has_full_history
            then duration_chronic_sum_s / n_blocks end as duration_chronic_coupled_s,
        case when has_full_history
            then duration_prior_sum_s / (n_blocks - 1) end as duration_chronic_uncoupled_s,
        duration_ewma_acute_s,
        duration_ewma_chronic_s,
        case when has_full_history and duration_chronic_sum_s > 0
            then duration_acute_s / (duration_chronic_sum_s / n_blocks) end as acwr_coupled_duration,
        case when has_full_history and duration_prior_sum_s > 0
            then duration_acute_s / (duration_prior_sum_s / (n_blocks - 1)) end as acwr_uncoupled_duration,
        case when has_full_history and duration_ewma_chronic_s > 0
            then duration_ewma_acute_s / duration_ewma_chronic_s end as acwr_ewma_duration,

        steps_acute,
        case when has_full_history
            then steps_chronic_sum / n_blocks end as steps_chronic_coupled,
        case when has_full_history
            then steps_prior_sum / (n_blocks - 1) end as steps_chronic_uncoupled,
        steps_ewma_acute,
        steps_ewma_chronic,
        case when has_full_history and steps_chronic_sum > 0
            then steps_acute / (steps_chronic_sum / n_blocks) end as acwr_coupled_steps,
        case when has_full_history and steps_prior_sum > 0
            then steps_acute / (steps_prior_sum / (n_blocks - 1)) end as acwr_uncoupled_steps,
        case when has_full_history and steps_ewma_chronic > 0
            then steps_ewma_acute / steps_ewma_chronic end as acwr_ewma_steps

    from chronic

)

select * from final
order by athlete_id, local_date
