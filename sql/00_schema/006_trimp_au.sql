-- 006_trimp_au: units in the name: activity_metrics.trimp (Banister TRIMP, arbitrary units) is
-- trimp_au, as in ingest/schema.py METRICS and the marts (daily_load, weekly_load).
-- grain, keys: unchanged (one row per activity). The marts and views that read the old name are
-- rebuilt by the next model build; the UPDATE marks built models out of date (model_state, 005)
-- so the next sync rebuilds them even when no file is new (a new database is left as 005 made it).
ALTER TABLE activity_metrics RENAME COLUMN trimp TO trimp_au;
UPDATE model_state SET data_generation = data_generation + 1 WHERE id = 1 AND models_generation IS NOT NULL;
