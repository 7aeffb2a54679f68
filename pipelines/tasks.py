"""Thin Prefect tasks around the sync steps in ``pipelines/sync.py``.

Only the tasks that touch the DuckDB file retry (a lock held by another process is transient);
decoding is deterministic, so a retry would fail the same way. Inputs are bytes and frames, so no
task caches its inputs (hashing megabytes of FIT data would cost more than decoding it).
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from pipelines import sync as s
from pipelines.db import DatabaseBusy


def _busy(task, task_run, state) -> bool:
    try:
        state.result()
    except DatabaseBusy:
        return True
    except Exception:
        return False
    return False


open_database = task(s.open_database, name="open_database", cache_policy=NO_CACHE, retries=1,
                     retry_condition_fn=_busy)
discover_sources = task(s.discover_sources, name="discover_sources", cache_policy=NO_CACHE)
plan_sync = task(s.plan_sync, name="plan_sync", cache_policy=NO_CACHE, retries=1,
                 retry_condition_fn=_busy)
decode_files = task(s.decode_items, name="decode_files", cache_policy=NO_CACHE)
land_batch = task(s.land_batch, name="land_batch", cache_policy=NO_CACHE, retries=1,
                  retry_condition_fn=_busy)
build_models = task(s.build_models, name="build_models", cache_policy=NO_CACHE, retries=1,
                    retry_condition_fn=_busy)
record_sync_run = task(s.record_sync_run, name="record_sync_run", cache_policy=NO_CACHE,
                       retries=1, retry_condition_fn=_busy)
