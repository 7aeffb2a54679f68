"""Prefect flows: composition only. The steps are in ``pipelines/sync.py``, their tasks in
``pipelines/tasks.py``, which Prefect server a run reports to in ``pipelines/prefect_api.py``.

A sync is planned once: the CLI discovers and plans (``sync.plan_sources``) to know whether there
is anything to do, then hands that plan to the flow (``run_planned_sync``); a run from a
deployment (``footfall serve``) plans in the flow. The plan stays in this process: the flow gets
a key to it (``plan_key``), so its Prefect parameters stay paths, db, athlete and workers.

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
import uuid  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402

from prefect import flow  # noqa: E402
from prefect.settings import temporary_settings  # noqa: E402

from pipelines import db as dbm  # noqa: E402
from pipelines import progress  # noqa: E402
from pipelines import sync as s  # noqa: E402
from pipelines import tasks as t  # noqa: E402
from pipelines.config import Settings, load_settings  # noqa: E402
from pipelines.prefect_api import run_settings  # noqa: E402
from pipelines.snapshot import publish_db as publish_snapshot  # noqa: E402


def _settings(db: str | None, athlete: str | None, workers: int | None) -> Settings:
    base = load_settings()
    return base.with_overrides(db=Path(db) if db else None, athlete=athlete, workers=workers)


#: Plans handed to a flow run in this process, by key (``run_planned_sync``).
_PLANS: dict[str, s.SyncPlan] = {}


@flow(name="footfall-sync", log_prints=False)
def sync(
    paths: list[str],
    db: str | None = None,
    athlete: str | None = None,
    workers: int | None = None,
    build: bool = True,
    plan_key: str | None = None,
    today: str | None = None,
) -> dict:
    """Sync watch exports into the DuckDB file: plan, decode in parallel, land, build models.

    ``plan_key``: a plan made in this process (``run_planned_sync``); without it (or when it is
    not here, e.g. a run started from the UI) the flow loads the config and plans itself.
    ``today``: the models' last calendar day, YYYY-MM-DD (default: today in the config's time zone).
    """
    t0 = time.perf_counter()
    planned = _PLANS.pop(plan_key, None) if plan_key else None
    settings = planned.settings if planned else _settings(db, athlete, workers)
    # lock_wait_s is the whole sync's wait for another process to let go of the file (the
    # CLI's budget, started before it planned, when it ran this flow), not a wait per open
    with dbm.wait_budget(settings.lock_wait_s):
        # fails here, before any decoding, if the database cannot be written
        applied = t.open_database(settings.db, settings)
        if planned is None:
            planned = t.plan_sources(paths, settings)
        else:
            t0 -= planned.seconds  # the summary's time includes the planning
            if applied and planned.db_existed:  # a migration changed the database under the plan
                planned = t.replan(planned)
        summary = planned.summary()
        t.run_decode_and_land(planned, summary)
        if build:
            progress.report("models", 0, 1)
            built, new_flags = t.build_models(settings.db, settings, date.fromisoformat(today) if today else None)
            summary.models_built, summary.new_flags = built, new_flags
            progress.report("models", 1)
        summary.seconds = round(time.perf_counter() - t0, 3)
        t.record_sync_run(settings.db, summary, planned.paths, planned.started_at, settings)
        publish_snapshot(settings.db, settings)  # analysts' read-only copy, once the sync is complete
    result = summary.to_dict()
    publish_artifacts(result, share_health=settings.share_health_with_prefect)
    return result


def run_planned_sync(planned: s.SyncPlan) -> dict:
    """Run the sync flow on a plan made in this process (the CLI's): nothing is discovered,
    planned or configured twice. The flow takes the plan over by its key, a JSON parameter
    (Prefect records a flow's parameters on its server: the plan, with every path and file hash
    and the runner's settings, is none of its business)."""
    key = uuid.uuid4().hex
    _PLANS[key] = planned
    st = planned.settings
    try:
        return run_flow(sync, paths=planned.paths, db=str(st.db), athlete=st.athlete,
                        workers=st.workers or None, plan_key=key)
    finally:
        _PLANS.pop(key, None)


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
LOAD_RULES = frozenset({"single_session_spike", "day_total_spike", "return_after_break",
                        "weekly_ramp", "acwr_high", "monotony"})
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
    with dbm.wait_budget(settings.lock_wait_s):
        built, _ = t.build_models(settings.db, settings)
        publish_snapshot(settings.db, settings)
    return built


def run_flow(fn, /, **kwargs):
    """Run a flow with the settings ``pipelines.prefect_api.run_settings`` chooses (heartbeat
    off; footfall's own local server when there is one and none is configured, else Prefect's
    temporary server with a longer start-up wait)."""
    with temporary_settings(run_settings()):
        return fn(**kwargs)
