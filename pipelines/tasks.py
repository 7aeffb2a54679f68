"""The sync's Prefect tasks: each names one step of ``pipelines/sync.py`` and says how it runs.

No task retries: a lock held by another process is waited for inside ``pipelines.db.connect``,
``lock_wait_s`` in total for the whole sync (``db.wait_budget``), so a Prefect retry would only
wait again (issue 15: a busy file made the sync wait twice, then print Prefect's tracebacks);
decoding is deterministic, so a retry would fail the same way. Inputs are bytes and frames, so no
task caches its inputs (hashing megabytes of FIT data would cost more than decoding it). The
steps stay plain functions in ``sync.py`` (the CLI plans with them without starting Prefect;
tests and the bench call them directly).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from pipelines import sync as s
from pipelines.config import Settings


@task(name="open_database", cache_policy=NO_CACHE)
def open_database(db_path: Path, settings: Settings) -> list[int]:
    """Open the database for writing and migrate it before anything is decoded; the versions applied."""
    return s.open_database(db_path, settings)


@task(name="plan_sources", cache_policy=NO_CACHE)
def plan_sources(paths: list[str], settings: Settings) -> s.SyncPlan:
    """Discover the sources and plan them (a flow run from a deployment; the CLI plans itself)."""
    return s.plan_sources(paths, settings)


@task(name="replan", cache_policy=NO_CACHE)
def replan(planned: s.SyncPlan) -> s.SyncPlan:
    """Plan the discovered sources again after a migration changed the database."""
    return s.replan(planned)


@task(name="decode_and_land", cache_policy=NO_CACHE)
def decode_and_land(planned: s.SyncPlan, summary: s.SyncSummary) -> None:
    """Decode the planned files batch by batch in the process pool (or the cluster) and land
    each batch in its own transaction while the next one decodes (``sync.decode_and_land_all``)."""
    s.decode_and_land_all(planned, summary)


@task(name="build_models", cache_policy=NO_CACHE)
def build_models(db_path: Path, settings: Settings,
                 today: date | None = None) -> tuple[list[str], list[dict]]:
    """Run the SQL models up to ``today`` (default: today in the config's time zone);
    (models built, new flags)."""
    return s.build_models(db_path, settings, today)


@task(name="record_sync_run", cache_policy=NO_CACHE)
def record_sync_run(db_path: Path, summary: s.SyncSummary, paths: list[str], started_at: datetime,
                    settings: Settings) -> None:
    """Record the sync in ``sync_runs``."""
    s.record_sync_run(db_path, summary, paths, started_at, settings)


# Prefect walks every task parameter looking for futures and states to resolve: for a batch of
# results that was every FileResult, its Decoded and their fields (~40,000 visits per 300 files,
# measured with yappi: the largest Prefect cost in the sync's process). ``quote`` tells Prefect
# not to look inside the plan and the summary (they never hold a future); the task receives them
# unchanged.


def run_decode_and_land(planned: s.SyncPlan, summary: s.SyncSummary) -> None:
    """``decode_and_land`` with the plan and the summary passed through untouched by Prefect
    (the summary is filled in place, batch by batch)."""
    decode_and_land(quote(planned), quote(summary))
