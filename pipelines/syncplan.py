"""A sync's plan, before anything is read or written: discover the sources under the paths
and compare them with what the database holds (``plan_sources``, once per sync), and the sync's
summary (``SyncSummary``).

Kept apart from ``pipelines/sync.py`` (the decoding and landing: polars, numpy, the process
pool) so that ``footfall sync`` with nothing to do imports only DuckDB and the standard library:
an unchanged re-sync of 1,800 files is Python's start, the CLI, one ``stat`` per source and one
query (issue 17). ``pipelines.sync`` re-exports every name here. Its log lines go to the
``pipelines.sync`` logger, as before.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines import db as dbm
from pipelines.config import Settings
from pipelines.paths import path_text

if TYPE_CHECKING:
    from pipelines.land import LandStats
    from pipelines.work import FileResult

log = logging.getLogger("pipelines.sync")


@dataclass
class Plan:
    sources: list  # ingest.discover.SourceFile, not yet synced (or changed)
    unchanged: int  # on-disk sources skipped by path + size + mtime
    known_ids: set[str]
    #: why the models are not current (``sqlmodels.models_stale``), None when they are: a sync
    #: with nothing new to land must still build them then
    models_stale: str | None = None
    #: landed files an older footfall derived (``files.derive_version``): read again this sync
    rederive: int = 0


@dataclass
class SyncSummary:
    sync_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    athlete_id: str = ""
    sources_seen: int = 0
    sources_unchanged: int = 0
    files_new: int = 0
    skipped_known: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    activities: int = 0
    records: int = 0
    duplicates: int = 0
    rederived: int = 0  # landed files derived again by newer rules (models/version.py)
    quarantined: list[tuple[str, str, str]] = field(default_factory=list)
    decoders: dict[str, int] = field(default_factory=dict)
    export_rows_without_file: int = 0
    skipped_by_extension: dict[str, int] = field(default_factory=dict)  # not activity files
    walk_errors: list[str] = field(default_factory=list)
    new_flags: list[dict] = field(default_factory=list)
    models_built: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: status of each file landed by this sync (to move a file a later batch replaced)
    file_status: dict[str, str] = field(default_factory=dict, repr=False)

    def add(self, st: LandStats, results: list[FileResult]) -> None:
        c = Counter(self.by_status)
        c.update(st.by_status)
        self.by_status = dict(c)
        self.files_new += sum(st.by_status.values())
        self.skipped_known += st.skipped_known
        self.activities += st.activities
        self.records += st.records
        self.duplicates += st.duplicates
        self.rederived += st.rederived
        self.quarantined.extend(st.quarantined)
        self.file_status.update(st.file_status)
        for file_id, old, n_activities, n_records in st.demoted:
            if self.file_status.get(file_id) == old:  # landed earlier in this same sync
                c[old] -= 1
                c["duplicate"] += 1
                self.by_status = {k: v for k, v in c.items() if v}
                self.activities -= n_activities
                self.records -= n_records
                self.duplicates += 1
                self.file_status[file_id] = "duplicate"
        d = Counter(self.decoders)
        d.update(r.decoded.decoder for r in results if r.decoded is not None and r.decoded.decoder)
        self.decoders = dict(d)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("file_status")
        return out


def summary_rows(s: dict) -> list[tuple[str, int]]:
    """The sync summary's counts as (label, count) rows: the CLI table and the Prefect artifact."""
    st = s.get("by_status") or {}
    return [
        ("new files", s.get("files_new", 0)),
        ("skipped (unchanged or already landed)", s.get("skipped_known", 0) + s.get("sources_unchanged", 0)),
        ("landed", st.get("landed", 0)),
        ("salvaged (damaged, kept what was readable)", st.get("salvaged", 0)),
        ("quarantined", st.get("quarantined", 0)),
        ("not an activity", st.get("not_activity", 0)),
        ("no timestamps", st.get("no_timestamps", 0)),
        ("duplicates of a run already kept", s.get("duplicates", 0)),
        ("activities landed", s.get("activities", 0)),
        ("records landed", s.get("records", 0)),
    ] + ([("files derived again by newer rules", s["rederived"])] if s.get("rederived") else [])


# --------------------------------------------------------------------------- discover / plan


def discover_sources(paths: Iterable[str | Path]) -> tuple[list, dict[str, int], list[str]]:
    """(sources on disk, files skipped by extension, folders/links that could not be walked)."""
    from ingest.discover import Summary, list_sources

    summary = Summary()
    sources = list_sources([Path(p) for p in paths], summary=summary)
    return sources, dict(summary.skipped_by_ext), [path_text(w) for w in summary.walk_errors]


def plan_sync(db_path: Path, sources: list, settings: Settings) -> Plan:
    """Which sources changed since the last sync, which file hashes are already landed, and
    whether the models are current."""
    from pipelines.sqlmodels import models_stale

    if not dbm.exists(db_path):
        return Plan(sources=list(sources), unchanged=0, known_ids=set())
    with dbm.connection(db_path, read_only=True, wait_s=settings.lock_wait_s) as con:
        present = dbm.tables(con)
        if "files" not in present:
            return Plan(sources=list(sources), unchanged=0, known_ids=set())
        seen = {
            (p, s, m)
            for p, s, m in con.execute("SELECT path, size_bytes, mtime_ns FROM sync_sources").fetchall()
        }
        known, old_paths = _known_files(con, settings.athlete)
        stale = models_stale(con, settings.thresholds)
    todo = [s for s in sources
            if (path_text(s.path), s.size_bytes, s.mtime_ns) not in seen or path_text(s.path) in old_paths]
    return Plan(sources=todo, unchanged=len(sources) - len(todo), known_ids=known, models_stale=stale,
                rederive=sum(old_paths.values()))


def _known_files(con, athlete_id: str) -> tuple[set[str], dict[str, int]]:
    """(file ids landed, {path: files under it to derive again}), in ONE query over ``files``.

    A landed file of this athlete whose rows an older footfall derived (``derive_version`` NULL
    or below ``models.version.DERIVE_VERSION``) is left out of the ids, and its path is read
    again even when unchanged: its activities are derived by the current rules and replace the
    old rows (``land._rederive``). An up-to-date database costs nothing more than before."""
    from models.version import DERIVE_VERSION

    import duckdb

    q = ("SELECT file_id, CASE WHEN {old} AND athlete_id = $a AND status IN ('landed', 'salvaged') "
         "AND n_activities > 0 THEN path END AS old_path FROM files")  # NULL: current (no path read)
    try:
        rows = con.execute(q.format(old="coalesce(derive_version, 0) < $v"),
                           {"a": athlete_id, "v": DERIVE_VERSION}).fetchall()
    except duckdb.BinderException:  # before migration 008 (no derive_version): every file is older
        rows = con.execute(q.format(old="true"), {"a": athlete_id}).fetchall()
    known = {file_id for file_id, old_path in rows if old_path is None}
    paths = Counter(old_path for _, old_path in rows if old_path is not None)
    return known, dict(paths)


@dataclass
class SyncPlan:
    """A sync decided before anything is read or written: the settings (the config, loaded
    once), the sources found under the paths and the ``Plan`` against the database. The CLI makes
    it (and says "nothing to do" without starting Prefect when it is so); the flow takes it over
    (``pipelines.flows.run_planned_sync``), or makes its own when run from a deployment."""

    paths: list[str]
    settings: Settings
    sources: list  # every source found (ingest.discover.SourceFile)
    skipped_by_extension: dict[str, int]
    walk_errors: list[str]
    plan: Plan
    db_existed: bool  # the plan was read from a database file (not a new one)
    started_at: datetime
    seconds: float  # spent discovering and planning
    #: the first batches, already queued in the decode workers by the CLI (``sync.HeadStart``)
    head_start: object = field(default=None, repr=False, compare=False)

    @property
    def nothing_to_do(self) -> bool:
        """Every source unchanged, the models current, the database there: no flow run needed."""
        return self.db_existed and not self.plan.sources and self.plan.models_stale is None

    def summary(self) -> SyncSummary:
        """The sync's summary before any file is read (the sources seen, skipped, unchanged)."""
        return SyncSummary(athlete_id=self.settings.athlete, sources_seen=len(self.sources),
                           sources_unchanged=self.plan.unchanged,
                           skipped_by_extension=dict(self.skipped_by_extension),
                           walk_errors=list(self.walk_errors))


def plan_sources(paths: Iterable[str | Path], settings: Settings) -> SyncPlan:
    """Discover the sources under ``paths`` and plan them against ``settings.db``: a sync's first
    step, done once per sync (logged at INFO on ``pipelines.sync``)."""
    t0 = time.perf_counter()
    started_at = dbm.utcnow()
    paths = [str(p) for p in paths]
    sources, skipped, walk_errors = discover_sources(paths)
    db_existed = dbm.exists(settings.db)
    plan = plan_sync(settings.db, sources, settings)
    log.info("planned: %d sources found, %d new or changed, models %s", len(sources),
             len(plan.sources), "current" if plan.models_stale is None else "stale")
    return SyncPlan(paths=paths, settings=settings, sources=sources, skipped_by_extension=skipped,
                    walk_errors=walk_errors, plan=plan, db_existed=db_existed,
                    started_at=started_at, seconds=time.perf_counter() - t0)


def replan(planned: SyncPlan) -> SyncPlan:
    """The same sources planned again (after a migration changed the database under the plan)."""
    log.info("planned again after a migration")
    return replace(planned, plan=plan_sync(planned.settings.db, planned.sources, planned.settings),
                   head_start=None)  # read under the old plan: the CLI shuts it down
