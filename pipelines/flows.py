"""Prefect flows: composition only. The work is in ``pipelines/sync.py`` and its tasks.

Which Prefect server a run reports to (``run_flow``): ``PREFECT_API_URL`` when set (environment
or Prefect profile); else the server ``footfall serve`` started, when it is still running and
identified by its state file (``pipelines.serve.footfall_server``: the run then shows in its UI,
and costs no server start); else Prefect's temporary server, started for this run (~6 s on 2
cores; footfall waits up to 120 s for it, ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``
wins). Whatever else answers on 127.0.0.1:4200 is never used.

Health data (pain scores, body sites, journal text) stays out of what the flow sends to Prefect
(artifacts) unless the config says ``[privacy] share_health_with_prefect = true``.
"""

from __future__ import annotations

import os

# Quiet, offline-friendly defaults; a user's own environment wins.
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")

import time  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402

from prefect import flow  # noqa: E402
from prefect.settings import (  # noqa: E402
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    temporary_settings,
)

from pipelines import progress  # noqa: E402
from pipelines import sync as s  # noqa: E402
from pipelines import tasks as t  # noqa: E402
from pipelines.config import Settings, load_settings  # noqa: E402
from pipelines.db import utcnow  # noqa: E402
from pipelines.work import DeriveContext  # noqa: E402


def _settings(db: str | None, athlete: str | None, workers: int | None) -> Settings:
    base = load_settings()
    return base.with_overrides(db=Path(db) if db else None, athlete=athlete, workers=workers)


@flow(name="footfall-sync", log_prints=False)
def sync(
    paths: list[str],
    db: str | None = None,
    athlete: str | None = None,
    workers: int | None = None,
    build: bool = True,
    today: str | None = None,
) -> dict:
    """Sync watch exports into the DuckDB file: discover, decode in parallel, land, build models.
    ``today``: the models' last calendar day, YYYY-MM-DD (default: today in the config's time zone)."""
    t0 = time.perf_counter()
    started_at = utcnow()
    settings = _settings(db, athlete, workers)
    summary = s.SyncSummary(athlete_id=settings.athlete)
    t.open_database(settings.db, settings)  # fails here, before any decoding, if it cannot be written
    sources, summary.skipped_by_extension, summary.walk_errors = t.discover_sources(paths)
    summary.sources_seen = len(sources)
    plan = t.plan_sync(settings.db, sources, settings)
    summary.sources_unchanged = plan.unchanged
    progress.report("sources", 0, len(plan.sources))
    a = settings.athlete_settings()
    ctx = DeriveContext(
        athlete_id=settings.athlete, timezone=settings.timezone, hr_rest_bpm=a.hr_rest_bpm,
        hr_max_bpm=a.hr_max_bpm, sex=a.sex, thresholds=dict(settings.thresholds),
    )
    pool = None
    landing = None  # (future of land_batch, its results, its batch): lands while the next decodes

    def finish_landing() -> None:
        nonlocal landing
        if landing is not None:
            future, results, batch = landing
            landing = None
            summary.add(future.result(), results)
            summary.export_rows_without_file += len(batch.export_rows_without_file)

    try:
        for batch in s.iter_batches(
            plan, batch_files=settings.batch_files, limits=settings.read_limits(),
            max_batch_bytes=settings.max_batch_bytes, max_sync_bytes=settings.max_sync_bytes,
            on_source=lambda _src: progress.report("sources", 1),
        ):
            if pool is None and len(batch.items) >= s.POOL_MIN_FILES:
                pool = s.make_pool(settings.workers)
            # the decode workers take this batch while the previous one lands (one writer:
            # batches land one at a time and in order)
            results = batch.ready + t.decode_files(batch.items, ctx, pool)
            progress.report("files", len(results))
            finish_landing()
            landing = (t.land_batch.submit(settings.db, results, batch, settings, settings.athlete),
                       results, batch)
        finish_landing()
    finally:
        if landing is not None:  # an error while the last batch landed: let it end first
            landing[0].wait()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if build:
        progress.report("models", 0, 1)
        built, new_flags = t.build_models(settings.db, settings, date.fromisoformat(today) if today else None)
        summary.models_built, summary.new_flags = built, new_flags
        progress.report("models", 1)
    summary.seconds = round(time.perf_counter() - t0, 3)
    t.record_sync_run(settings.db, summary, [str(p) for p in paths], started_at, settings)
    result = summary.to_dict()
    publish_artifacts(result, share_health=settings.share_health_with_prefect)
    return result


#: Prefect artifact keys (each sync adds a version; the UI shows the latest under Artifacts).
SUMMARY_ARTIFACT = "footfall-sync-summary"
FLAGS_ARTIFACT = "footfall-new-flags"


def _artifact_tables(summary: dict, share_health: bool = False) -> tuple[list[dict], list[dict]]:
    rows = [("athlete", summary.get("athlete_id")), *s.summary_rows(summary),
            ("new flags", len(summary.get("new_flags") or [])), ("seconds", summary.get("seconds"))]
    table = [{"what": k, "value": str(v)} for k, v in rows]
    flags = [{k: _cell(f.get(k)) for k in FLAG_COLUMNS} for f in summary.get("new_flags") or []]
    if not share_health:
        flags = [_without_health(f) for f in flags]
    return table, flags


FLAG_COLUMNS = ("local_date", "severity", "rule", "message", "value", "threshold", "source", "activity_id")
#: Rules computed from the watch data alone (sql/30_marts/flags.sql): shared in full. Every other
#: rule comes from the runner's log (pain, shoes: sql/30_marts/journal_flags.sql).
LOAD_RULES = frozenset({"single_session_spike", "weekly_ramp", "acwr_high", "monotony"})
PAIN_FLAG_TEXT = "pain flag: see footfall flags"


def _without_health(flag: dict) -> dict:
    """A flag row fit for Prefect without the user's opt-in: load rules as they are; a rule from
    the runner's log keeps rule, severity, date and source, and loses its message (pain score,
    body site, shoe name); a pain rule also loses value and threshold (pain scores)."""
    rule = str(flag.get("rule") or "")
    if rule in LOAD_RULES:
        return flag
    out = dict(flag)
    if rule.startswith(("shoe", "new_shoe")):
        out["message"] = "shoe flag: see footfall flags"
    else:  # pain rules, and any rule added later: its name, severity, date and source only
        out["value"] = out["threshold"] = None
        out["message"] = PAIN_FLAG_TEXT if rule.startswith("pain") else "journal flag: see footfall flags"
    return out


def _cell(v):
    """A JSON-able table cell: numbers and text as they are, anything else (dates) as text."""
    return v if v is None or isinstance(v, (bool, int, float, str)) else str(v)


def publish_artifacts(summary: dict, share_health: bool = False) -> None:
    """The sync's summary and its new flags as table artifacts (Prefect UI, Artifacts).

    Only inside a flow run (``sync.fn()`` in a test publishes nothing); a failure is logged as a
    warning and never fails the sync, whose data is already committed. ``share_health`` (config
    ``[privacy] share_health_with_prefect``): flag messages and pain scores as they are; else
    without them (``_without_health``).
    """
    try:
        from prefect.artifacts import create_table_artifact
        from prefect.context import FlowRunContext

        if FlowRunContext.get() is None:
            return
        table, flags = _artifact_tables(summary, share_health)
        who = summary.get("athlete_id")
        create_table_artifact(
            key=SUMMARY_ARTIFACT, table=table,
            description=f"footfall sync {summary.get('sync_id')} for athlete {who!r}",
        )
        create_table_artifact(
            key=FLAGS_ARTIFACT,
            table=flags or [{"message": "no new flags in this sync"}],
            description=f"flags raised by footfall sync {summary.get('sync_id')} for athlete {who!r} "
                        "(rule, value against threshold, source)",
        )
    except Exception as err:  # noqa: BLE001 - artifacts are a view; the sync has landed
        try:
            from prefect.logging import get_run_logger

            get_run_logger().warning("footfall: could not publish the sync artifacts: %s",
                                     err if share_health else type(err).__name__)
        except Exception:  # noqa: BLE001
            pass


@flow(name="footfall-build")
def build(db: str | None = None) -> list[str]:
    """Rebuild the SQL models (weekly load, ratios, spikes, flags) without syncing files."""
    settings = _settings(db, None, None)
    built, _ = t.build_models(settings.db, settings)
    return built


#: How long a sync waits for Prefect's temporary server to answer (Prefect's default, 20 s, is
#: too short for a first start on a loaded 2-core machine). A user's setting wins.
EPHEMERAL_STARTUP_TIMEOUT_S = 120


def local_api_url() -> str | None:
    """The Prefect server to use when none is configured: the one ``footfall serve`` started,
    when it is running and identified (``pipelines.serve.footfall_server``), else None (Prefect
    then starts its temporary server). A configured ``PREFECT_API_URL`` always wins: then None.
    Nothing else that answers locally (e.g. on 127.0.0.1:4200) is ever used."""
    if PREFECT_API_URL.value():
        return None
    from pipelines.serve import footfall_server

    server = footfall_server()
    return server.api_url if server is not None else None


def _startup_timeout_configured() -> bool:
    name = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.name
    if name in os.environ:
        return True
    try:
        from prefect.settings import load_current_profile

        return any(getattr(k, "name", k) == name for k in load_current_profile().settings)
    except Exception:  # noqa: BLE001 - an unreadable profile: Prefect itself will say so
        return False


def run_flow(fn, /, **kwargs):
    """Run a flow with the per-run heartbeat thread off (it adds ~1 s to every run), on the
    local Prefect server footfall started when there is one and none is configured
    (``local_api_url``), else on Prefect's temporary server with a longer start-up wait."""
    updates = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    local = local_api_url()
    if local:
        updates[PREFECT_API_URL] = local
    elif not _startup_timeout_configured():
        updates[PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS] = EPHEMERAL_STARTUP_TIMEOUT_S
    with temporary_settings(updates):
        return fn(**kwargs)
