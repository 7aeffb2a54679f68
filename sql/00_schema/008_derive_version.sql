-- 008_derive_version: which version of footfall's derivation rules (models/version.py
-- DERIVE_VERSION) produced a file's activity rows. NULL = derived before this column existed
-- (an older footfall, before the data-quality rules of issue 13). The next sync reads such a
-- landed file again and replaces its activity rows (same activity ids; the runner's journal and
-- activity_overrides are untouched): an upgrade does not keep the old false alarms.
-- grain, keys: unchanged (one row per file).
ALTER TABLE files ADD COLUMN IF NOT EXISTS derive_version INTEGER;  -- models/version.py DERIVE_VERSION that derived the file's activity rows (NULL: an older footfall)
