"""The steps of a sync as plain functions (the Prefect tasks in ``tasks.py`` wrap these).

plan (discover the sources, compare them with what is landed: ``plan_sources``, once per sync)
-> read + hash files -> decode in parallel while the previous batch lands from one writer
(``decode_and_land``: the process pool and the overlap) -> build the SQL models -> summary.
No Prefect here: the CLI plans with these functions before deciding to start a flow run.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from multiprocessing import get_context
from pathlib import Path

from ingest.decode import file_id_of
from pipelines import db as dbm
from pipelines import progress
from pipelines.config import Settings
from pipelines.land import LandStats, land_results
from pipelines.pausepoint import pause_point
from pipelines.work import DeriveContext, FileResult, decode_batch, path_text, problem_id

#: Below this many new files a sync decodes in-process (a process pool costs ~1 s to start).
POOL_MIN_FILES = 24
#: Files per decode call sent to a worker process.
CHUNK_FILES = 16

log = logging.getLogger(__name__)


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


def open_database(db_path: Path, settings: Settings) -> list[int]:
    """Open the file for writing and migrate it before reading or decoding anything: a database
    the sync could not write (not a DuckDB file, a newer schema, a read-only folder, a full
    disk) fails the sync at once instead of after the decoding."""
    return dbm.open_for_writing(db_path, wait_s=settings.lock_wait_s)


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
        df = con.sql(q.format(old="coalesce(derive_version, 0) < $v"),
                     params={"a": athlete_id, "v": DERIVE_VERSION}).pl()
    except duckdb.BinderException:  # before migration 008 (no derive_version): every file is older
        df = con.sql(q.format(old="true"), params={"a": athlete_id}).pl()
    is_old = df["old_path"].is_not_null()
    known = set(df["file_id"].filter(~is_old).to_list())
    paths = Counter(df["old_path"].filter(is_old).to_list())
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
    return replace(planned, plan=plan_sync(planned.settings.db, planned.sources, planned.settings))


# --------------------------------------------------------------------------- read + decode


@dataclass
class Batch:
    items: list[tuple]  # (path, member, name, data, export_meta) to decode
    ready: list[FileResult]  # already decided without decoding (known hash, problems)
    sources_done: list[tuple[str, int, int, int]]  # (path, size, mtime_ns, n_files)
    export_rows_without_file: list[dict] = field(default_factory=list)


def iter_batches(plan: Plan, *, batch_files: int, max_member_bytes: int | None = None,
                 limits=None, max_batch_bytes: int | None = None, max_sync_bytes: int | None = None,
                 on_source: Callable[[object], None] | None = None) -> Iterator[Batch]:
    """Read the planned sources (decompressing in memory) into batches of at most ``batch_files``
    files and ``max_batch_bytes`` bytes held (a batch ends early when its bytes reach it).

    ``limits``: ``ingest.discover.Limits`` (default: the defaults, with ``max_member_bytes``);
    ``max_sync_bytes``: decompressed bytes this sync reads (``ingest.discover.SyncMeter``).
    A source's row in ``sync_sources`` is written with the batch that holds its last file, so a
    sync interrupted mid-archive reads that archive again next time (landed files then skip by
    hash). A source the OS refused to read (permissions, I/O error) or that hit a size budget
    (``TooLarge``) gets no row either: the next sync reads it again (so fixing the permissions or
    raising the budget in the config takes effect without touching the file), and once it reads,
    its old quarantine row is replaced (``land_results``).
    """
    from ingest.discover import (
        DEFAULT_MAX_BATCH_BYTES,
        DEFAULT_MAX_SYNC_BYTES,
        FoundFile,
        Limits,
        Problem,
        SyncMeter,
        iter_source,
    )
    from ingest.errors import RETRIED

    if limits is None:
        limits = Limits() if max_member_bytes is None else Limits(max_member_bytes=max_member_bytes)
    max_batch_bytes = DEFAULT_MAX_BATCH_BYTES if max_batch_bytes is None else max_batch_bytes
    meter = SyncMeter(DEFAULT_MAX_SYNC_BYTES if max_sync_bytes is None else max_sync_bytes)
    batch = Batch(items=[], ready=[], sources_done=[])
    held = 0  # bytes of the files in batch.items
    pending_ids: set[str] = set()
    for src in plan.sources:
        n_files = 0
        retry = False  # an OS read error or a size budget: read this source again next sync
        for item in iter_source(src, limits=limits, meter=meter):
            if isinstance(item, FoundFile):
                n_files += 1
                fid = file_id_of(item.data)
                if fid in plan.known_ids or fid in pending_ids:
                    batch.ready.append(
                        FileResult(path=path_text(item.path), member=item.member, name=item.name,
                                   file_id=fid, status="skipped", size_bytes=len(item.data))
                    )
                else:
                    pending_ids.add(fid)
                    batch.items.append((path_text(item.path), item.member, item.name, item.data,
                                        item.export_meta))
                    held += len(item.data)
            elif isinstance(item, Problem):
                n_files += 1
                err = item.error
                retry = retry or isinstance(err, RETRIED)
                batch.ready.append(
                    FileResult(
                        path=path_text(item.path), member=item.member,
                        name=(item.member or path_text(item.path)).rsplit("/", 1)[-1],
                        file_id=problem_id(path_text(item.path), item.member, type(err).__name__),
                        status="quarantined", format="unknown",
                        reason=_reason(err), error_class=getattr(err, "error_class", type(err).__name__),
                    )
                )
            else:  # an export-index row whose file is not in the export
                row = getattr(item, "meta", None) or getattr(item, "export_meta", None)
                if row:
                    batch.export_rows_without_file.append(row)
            if len(batch.items) + len(batch.ready) >= batch_files or held >= max_batch_bytes:
                yield batch
                batch = Batch(items=[], ready=[], sources_done=[])
                held = 0
        if not retry:  # not "done": retried next sync
            batch.sources_done.append((path_text(src.path), src.size_bytes, src.mtime_ns, n_files))
        if on_source:
            on_source(src)
    if batch.items or batch.ready or batch.sources_done or batch.export_rows_without_file:
        yield batch


def _reason(err: BaseException) -> str:
    msg = str(err) or type(err).__name__
    cause = err.__cause__
    if cause is not None and str(cause) and str(cause) not in msg:
        msg = f"{msg} ({type(cause).__name__}: {cause})"
    return msg


def make_pool(workers: int) -> Executor:
    n = workers or os.cpu_count() or 1
    return ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn"))


def chunk_items(items: list, workers: int, most: int = CHUNK_FILES) -> list[list]:
    """Consecutive chunks of at most ``most`` files, shrinking towards the end of the batch
    (each ~ what is left / (2 x workers)), so the workers finish a batch together instead of
    one worker decoding the last full chunk while the others wait."""
    chunks, i, n = [], 0, len(items)
    while i < n:
        size = max(1, min(most, (n - i) // (2 * workers)))
        chunks.append(items[i : i + size])
        i += size
    return chunks


def derive_context(settings: Settings) -> DeriveContext:
    """What the decode workers need to know about the runner (picklable)."""
    a = settings.athlete_settings()
    return DeriveContext(
        athlete_id=settings.athlete, timezone=settings.timezone, hr_rest_bpm=a.hr_rest_bpm,
        hr_max_bpm=a.hr_max_bpm, sex=a.sex, thresholds=dict(settings.thresholds),
    )


def decode_and_land(planned: SyncPlan, summary: SyncSummary, *, decode: Callable, land: Callable) -> None:
    """Read the planned sources in batches; decode each batch (in worker processes once a batch
    holds ``POOL_MIN_FILES`` files) while the previous batch lands. One writer: batches land one
    at a time and in order; the summary counts each batch once it has landed.

    ``decode(items, ctx, pool)`` returns the batch's results (``decode_items``);
    ``land(db, results, batch, settings, athlete_id)`` starts landing them (``land_batch``) and
    returns a future (``.result()``). The flow passes its tasks: ``decode_files`` and
    ``land_batch.submit``.
    """
    settings, plan = planned.settings, planned.plan
    progress.report("sources", 0, len(plan.sources))
    ctx = derive_context(settings)
    pool = None
    landing = None  # (future of land, its results, its batch): lands while the next decodes

    def finish_landing() -> None:
        nonlocal landing
        if landing is not None:
            future, results, batch = landing
            landing = None
            summary.add(future.result(), results)
            summary.export_rows_without_file += len(batch.export_rows_without_file)

    try:
        for batch in iter_batches(
            plan, batch_files=settings.batch_files, limits=settings.read_limits(),
            max_batch_bytes=settings.max_batch_bytes, max_sync_bytes=settings.max_sync_bytes,
            on_source=lambda _src: progress.report("sources", 1),
        ):
            if pool is None and len(batch.items) >= POOL_MIN_FILES:
                pool = make_pool(settings.workers)
            # the decode workers take this batch while the previous one lands
            results = batch.ready + decode(batch.items, ctx, pool)
            progress.report("files", len(results))
            finish_landing()
            landing = (land(settings.db, results, batch, settings, settings.athlete), results, batch)
        finish_landing()
    finally:
        if landing is not None:  # an error while the last batch landed: let it end first
            try:
                landing[0].result()
            except Exception:  # noqa: BLE001 - the error already raised is the one to report
                pass
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def decode_items(items: list[tuple], ctx: DeriveContext, pool: Executor | None) -> list[FileResult]:
    """Decode files, in worker processes when a pool is given; results keep the input order."""
    if not items:
        return []
    if pool is None or len(items) <= CHUNK_FILES:
        return decode_batch(items, ctx)
    futures = [pool.submit(decode_batch, c, ctx)
               for c in chunk_items(items, getattr(pool, "_max_workers", 1) or 1)]
    out: list[FileResult] = []
    for f in futures:
        out.extend(f.result())
    return out


# --------------------------------------------------------------------------- land / build


#: DuckDB threads while landing: one writer next to the decode workers, which own the cores
#: (measured on 2 cores: a batch's inserts take ~25% less CPU and less time than with 2 threads).
LAND_THREADS = 1


def land_batch(db_path: Path, results: list[FileResult], batch: Batch, settings: Settings,
               athlete_id: str) -> LandStats:
    """Land one batch in one transaction, then drop the batch's frames from ``results`` (they
    are in the database now; the caller keeps statuses, decoders and counts), so a sync holds
    one batch of frames at a time, not two."""
    def _land() -> LandStats:
        with dbm.connection(db_path, wait_s=settings.lock_wait_s) as con:
            con.execute(f"SET threads = {LAND_THREADS}")
            dbm.migrate(con)
            return land_results(con, results, athlete_id=athlete_id, sources=batch.sources_done,
                                export_rows=batch.export_rows_without_file)

    st = dbm.retry_conflicts(db_path, "landing a batch", _land)  # a lake: another writer's commit
    release_frames(results)
    batch.items.clear()
    return st


def release_frames(results: list[FileResult]) -> None:
    """Replace each result's frames by shared empty ones (statuses and counts stay)."""
    from ingest import schema

    empty = {t: schema.empty(t) for t in schema.TABLES}
    for r in results:
        if r.decoded is not None:
            for t, df in empty.items():
                setattr(r.decoded, t, df)
            r.decoded.value_checks = None
            if hasattr(r.decoded, "activity_checks"):
                r.decoded.activity_checks = None
        r.metrics = None


def build_models(db_path: Path, settings: Settings, today: date | None = None) -> tuple[list[str], list[dict]]:
    """Run sql/ models; return (models built, flags raised that were not there before).
    ``today``: the calendar's last day (default: today in the config's time zone)."""
    from pipelines.clock import local_today
    from pipelines.journal import after_sync
    from pipelines.sqlmodels import build_and_diff

    pause_point("before_build")
    def _build() -> tuple[list[str], list[dict]]:
        with dbm.connection(db_path, wait_s=settings.lock_wait_s) as con:
            dbm.migrate(con)
            after_sync(con)  # Strava gear/effort -> shoes/RPE, then the default-shoe rules
            return build_and_diff(con, overrides=settings.thresholds,
                                  today=today or local_today(settings.timezone))

    return dbm.retry_conflicts(db_path, "building the models", _build)  # a lake: another writer's


def record_sync_run(db_path: Path, summary: SyncSummary, paths: list[str], started_at, settings) -> None:
    with dbm.connection(db_path, wait_s=settings.lock_wait_s) as con:
        dbm.migrate(con)
        con.execute(
            "INSERT INTO sync_runs VALUES (?, ?, ?, ?, ?, ?)",
            [summary.sync_id, summary.athlete_id, started_at, dbm.utcnow(), json.dumps(paths),
             json.dumps(summary.to_dict(), default=str)],
        )
