-- Every landed activity starts inside the plausible window of models/thresholds.py (from the FIT
-- epoch, plausible_earliest_unix_s, to the build time + plausible_future_slack_s) and lasts at most
-- activity_max_duration_s, so daily_load's calendar never reaches back to 1901. A database landed
-- before these checks existed may hold such rows: this test names them.
select activity_id, athlete_id, started_at, ended_at
from activities
where started_at < make_timestamp(cast(getvariable('plausible_earliest_unix_s') * 1000000 as bigint))
   or started_at > cast(getvariable('built_at') as timestamp)
                   + to_seconds(cast(getvariable('plausible_future_slack_s') as bigint))
   or date_diff('second', started_at, ended_at) > getvariable('activity_max_duration_s')
