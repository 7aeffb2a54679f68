-- 005_model_state: are the models (marts, flags) current with the landed data?
-- grain: one row (id = 1). A sync killed after landing but before its model build ends used to
-- leave every file landed and no marts (or the previous build's), and the next sync, finding
-- nothing new on disk, never rebuilt them. Writers: every transaction that changes what the
-- models read adds 1 to data_generation (pipelines/land.py for each batch, pipelines/journal/
-- for the runner's log); the model build (pipelines/sqlmodels.py run_models) sets
-- models_generation to the data_generation it read, in its own transaction. The models are
-- current when the two are equal (and the thresholds table holds the configured values).
CREATE TABLE IF NOT EXISTS model_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),  -- always 1 (one row)
    data_generation BIGINT NOT NULL,   -- +1 per committed change of the models' inputs
    models_generation BIGINT,          -- data_generation the models were built from; NULL: not since this migration
    models_built_at TIMESTAMP          -- UTC, the last build's built_at
);
INSERT OR IGNORE INTO model_state VALUES (1, 1, NULL, NULL);
