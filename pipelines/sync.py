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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from multiprocessing import get_context
from pathlib import Path

from ingest.decode import file_id_of
from pipelines import db as dbm
from pipelines import progress
from pipelines.config import Settings
from pipelines.land import LandStats, land_results
from pipelines.pausepoint import pause_point
from pipelines.syncplan import (  # noqa: F401  (the plan and the summary: pipelines/syncplan.py)
    Plan, SyncPlan, SyncSummary, discover_sources, plan_sources, plan_sync, replan, summary_rows)
from pipelines.work import DeriveContext, FileResult, decode_batch, path_text, problem_id

#: Below this many new files a sync decodes in-process (a process pool costs ~1 s to start).
POOL_MIN_FILES = 24
#: Files per decode call sent to a worker process.
CHUNK_FILES = 16

log = logging.getLogger(__name__)


def open_database(db_path: Path, settings: Settings) -> list[int]:
    """Open the file for writing and migrate it before reading or decoding anything: a database
    the sync could not write (not a DuckDB file, a newer schema, a read-only folder, a full
    disk) fails the sync at once instead of after the decoding."""
    return dbm.open_for_writing(db_path, wait_s=settings.lock_wait_s)


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


def make_executor(settings: Settings) -> Executor:
    """The decode workers: the Dask cluster at ``settings.cluster`` (``--cluster``, config
    ``[cluster] address``; ``pipelines/cluster.py``) when set, else the local process pool."""
    if settings.cluster:
        from pipelines.cluster import executor

        return executor(settings.cluster)
    return make_pool(settings.workers)


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


def read_batches(planned: SyncPlan) -> Iterator[Batch]:
    """The plan's files in batches, as the settings bound them (``iter_batches``); each source
    read counts on the "sources" progress bar, whose total is set here (once per sync: by the
    head start, else by ``decode_and_land``)."""
    settings = planned.settings
    progress.report("sources", 0, len(planned.plan.sources))
    return iter_batches(
        planned.plan, batch_files=settings.batch_files, limits=settings.read_limits(),
        max_batch_bytes=settings.max_batch_bytes, max_sync_bytes=settings.max_sync_bytes,
        on_source=lambda _src: progress.report("sources", 1),
    )


# --------------------------------------------------------------------------- the head start

#: Batches ``footfall sync`` reads and queues in the decode workers before its flow run starts
#: (``HeadStart``). Prefect's temporary server takes ~3 s to answer on 2 cores (the CLI waited
#: for it with the workers not yet started, issue 17); with three batches of 60 files the
#: workers still sat idle ~2 s before the flow run began. Five, measured on the 5-year bench
#: archive (idle 2 cores, three alternating pairs): full sync 26.7-28.4 s against 28.0-30.0 s
#: with three, the same peak memory (1,257-1,296 MB: results travel packed, pipelines/handoff.py).
HEAD_START_BATCHES = 5


class Prefetched(list):
    """A batch's files (a list, as ``Batch.items``) whose decoding the head start already queued
    in the pool: ``queue_decode`` collects its futures instead of submitting the files again."""

    def __init__(self, items: list, ctx: DeriveContext, futures: list):
        super().__init__(items)
        self.ctx, self.futures = ctx, futures


class HeadStart:
    """The first batches of a planned sync, read and queued in a new process pool by the CLI
    before it imports Prefect and waits for a server (``start``); the flow run takes them and the
    pool over (``decode_and_land``), and collects work that began seconds earlier.
    The same batches, pool, files per chunk and derive context as the flow's own: what lands is
    the same. Only for the local pool (a Dask cluster is checked when the flow starts), and only
    when the first batch holds ``POOL_MIN_FILES`` files (a smaller sync decodes in the flow's
    process, as before). ``close`` shuts the pool down if no flow run took it (a failed start)."""

    def __init__(self, planned: SyncPlan):
        self.planned = planned
        self.ctx = derive_context(planned.settings)
        self.pool: Executor | None = None
        self.ready: list[Batch] = []  # read (and queued, when the pool is up), not yet taken
        self.error: BaseException | None = None  # raised by reading: raised again in the flow
        self._batches = read_batches(planned)
        self.taken = False

    def start(self, most: int = HEAD_START_BATCHES) -> HeadStart:
        try:
            for batch in self._batches:
                if self.pool is None:
                    if len(batch.items) < POOL_MIN_FILES:
                        self.ready.append(batch)  # decoded in the flow's own process
                        break
                    self.pool = make_pool(self.planned.settings.workers)
                batch.items = Prefetched(batch.items, self.ctx, submit_chunks(batch.items, self.ctx, self.pool))
                self.ready.append(batch)
                if len(self.ready) >= most:
                    break
        except Exception as err:  # noqa: BLE001 - the flow run raises it, as if it had read the batch
            self.error = err
        return self

    def batches(self) -> Iterator[Batch]:
        """The batches read ahead, then the rest of the plan's (the flow run's iteration)."""
        self.taken = True
        while self.ready:
            yield self.ready.pop(0)
        if self.error is not None:
            raise self.error
        yield from self._batches

    def close(self) -> None:
        self.ready.clear()
        if self.pool is not None and not self.taken:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self._batches.close()


def decode_and_land(planned: SyncPlan, summary: SyncSummary, *, decode: Callable, land: Callable) -> None:
    """Read the planned sources in batches; decode each batch (in worker processes once a batch
    holds ``POOL_MIN_FILES`` files) while the previous batch lands. One writer: batches land one
    at a time and in order; the summary counts each batch once it has landed.

    ``decode(items, ctx, pool)`` returns the batch's results (``decode_items``) or a future of
    them (``.result()``); ``land(db, results, batch, settings, athlete_id)`` starts landing them
    (``land_batch``) and returns a future. The flow's one task (``decode_and_land_all``) passes
    ``queue_decode`` and ``land_batch`` submitted to a thread of its own.

    The pipeline keeps the decode workers busy (issue 17): batch k+1 is read and handed to the
    workers *before* the sync waits for batch k's results, so the workers go on to k+1 the moment
    k is done, instead of idling while this process reads the next files, waits for a landing
    or for the slowest worker of a batch. In memory at once: the frames of the batch landing,
    of the batch being collected, and the raw bytes of the batch queued behind it.
    """
    settings, plan = planned.settings, planned.plan
    ctx = derive_context(settings)
    head = planned.head_start
    if head is not None and (head.taken or head.ctx != ctx or head.planned.plan is not plan):
        head = None  # not this plan's (a plan made again after a migration): read afresh
    pool = head.pool if head is not None else None
    landing = None  # (future of land, its results, its batch): lands while the next decodes
    decoding = None  # (batch, its results or a future of them): queued in the workers

    def finish_landing() -> None:
        nonlocal landing
        if landing is not None:
            future, results, batch = landing
            landing = None
            summary.add(future.result(), results)
            summary.export_rows_without_file += len(batch.export_rows_without_file)

    def collect_and_land() -> None:
        nonlocal decoding, landing
        batch, pending = decoding
        decoding = None
        results = batch.ready + (pending.result() if hasattr(pending, "result") else pending)
        progress.report("files", len(results))
        finish_landing()
        landing = (land(settings.db, results, batch, settings, settings.athlete), results, batch)

    # one connection lands every batch (opened at the first landing, closed, and so
    # checkpointed once, when the last batch has landed): ``landing_connection``
    with landing_connection(settings.db, settings):
        try:
            for batch in (head.batches() if head is not None else read_batches(planned)):
                if pool is None and len(batch.items) >= POOL_MIN_FILES:
                    pool = make_executor(settings)
                ahead = (batch, decode(batch.items, ctx, pool))  # the workers queue it now
                if decoding is not None:
                    collect_and_land()
                decoding = ahead
            if decoding is not None:
                collect_and_land()
            finish_landing()
        finally:
            if decoding is not None:  # an error elsewhere: let the queued decoding end first
                pending = decoding[1]
                decoding = None
                if pool is not None:
                    pool.shutdown(wait=False, cancel_futures=True)
                if hasattr(pending, "result"):
                    try:
                        pending.result()
                    except Exception:  # noqa: BLE001 - the error already raised is the one to report
                        pass
            if landing is not None:  # an error while the last batch landed: let it end first
                try:
                    landing[0].result()
                except Exception:  # noqa: BLE001 - the error already raised is the one to report
                    pass
            if pool is not None:
                pool.shutdown(cancel_futures=True)


def decode_and_land_all(planned: SyncPlan, summary: SyncSummary) -> None:
    """``decode_and_land`` as the sync flow runs it, in one Prefect task: batches queued in the
    process pool (``queue_decode``), each landed by one thread (``land_batch``) while the next
    decodes. One task, not two per batch: a task run costs the Prefect server and this process
    ~55 ms of CPU (issue 17: a full sync of the 5-year bench archive ran 60 of them; as one
    task, its server took 7.45 -> 5.08 s of CPU and this process 22.6 -> 21.7 s); the batches
    show in the sync's progress and summary instead."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="footfall-land") as lander:
        decode_and_land(planned, summary, decode=queue_decode,
                        land=lambda *args: lander.submit(land_batch, *args))


def submit_chunks(items: list[tuple], ctx: DeriveContext, pool: Executor) -> list:
    """Queue a batch's files in the pool, in chunks (``chunk_items``): the futures, in order."""
    # pickled polars frames: Arrow IPC (one stream per table and chunk) measured ~3% less CPU
    # in the parent and ~100 MB more peak memory (issue 17, throughput report): not taken
    return [pool.submit(decode_batch, c, ctx)
            for c in chunk_items(items, getattr(pool, "_max_workers", 1) or 1)]


class Queued:
    """A batch's decoding queued in the process pool: ``result()`` collects it, in order."""

    def __init__(self, futures: list):
        self.futures = futures

    def result(self) -> list[FileResult]:
        out: list[FileResult] = []
        for f in self.futures:
            out.extend(f.result())
        return out


def queue_decode(items: list[tuple], ctx: DeriveContext, pool: Executor | None) -> Queued | list[FileResult]:
    """A batch's decoding: queued in the pool (``Queued``; the head start's when it queued the
    batch), else, with no pool or a batch of at most ``CHUNK_FILES`` files, done now."""
    if isinstance(items, Prefetched) and items.ctx == ctx:
        return Queued(items.futures)
    if not items:
        return []
    if pool is None or len(items) <= CHUNK_FILES:
        return decode_batch(items, ctx)
    return Queued(submit_chunks(items, ctx, pool))


def decode_items(items: list[tuple], ctx: DeriveContext, pool: Executor | None) -> list[FileResult]:
    """Decode files, in worker processes when a pool is given; results keep the input order."""
    queued = queue_decode(items, ctx, pool)
    return queued.result() if isinstance(queued, Queued) else queued


# --------------------------------------------------------------------------- land / build


#: DuckDB threads while landing: one writer next to the decode workers, which own the cores
#: (measured on 2 cores: a batch's inserts take ~25% less CPU and less time than with 2 threads).
LAND_THREADS = 1
#: DuckDB's ``checkpoint_threshold`` while a sync lands: the WAL size at which a COMMIT also
#: writes the WAL into the file. DuckDB's default (16 MiB) made every batch's COMMIT a
#: checkpoint; the sync's landing connection checkpoints once it holds this much, and when it
#: closes. Bounded, so memory stays bounded on any archive size: DuckDB keeps the rows committed
#: since the last checkpoint in its buffer pool. Measured on the 5-year bench archive (1,800
#: files, idle 2 cores, the process tree's peak RSS): 256 MiB here with a 512 MiB memory limit
#: peaked at 1,597 MB; 128 MiB with 256 MiB peaked at 1,386 MB, in the same time (78 s).
LAND_CHECKPOINT_THRESHOLD = "128MiB"
#: DuckDB's memory limit on the sync's landing connection: a guard, its buffer pool would
#: otherwise keep the blocks it wrote cached up to 80% of RAM over a long sync (on 360 files
#: the peak was the same with and without it; a batch's inserts need far less; on 1,800 files
#: 512 MiB let the writer's process grow to 951 MB, 256 MiB to 715 MB: see above).
LAND_MEMORY_LIMIT = "256MiB"


class _Landing:
    """The sync's landing connection: opened (within the sync's lock wait budget) and migrated
    at the first batch's landing, so another process may still hold the file while the first
    batch decodes; every batch still lands in its own transaction (``land_results``)."""

    def __init__(self, db_path: Path, settings: Settings):
        self.db_path, self.settings = db_path, settings
        self.con = None

    def connection(self):
        if self.con is None:
            con = dbm.connect(self.db_path, wait_s=self.settings.lock_wait_s)
            try:
                _prepare_landing(con)
                con.execute(f"SET checkpoint_threshold = '{LAND_CHECKPOINT_THRESHOLD}'")
                if LAND_MEMORY_LIMIT:
                    con.execute(f"SET memory_limit = '{LAND_MEMORY_LIMIT}'")
            except BaseException:
                con.close()
                raise
            self.con = con
        return self.con

    def close(self) -> None:
        con, self.con = self.con, None
        if con is not None:
            con.close()  # checkpoints what the batches committed (DuckDB does on close)


#: the landing connections of the syncs running in this process, by database path
_LANDINGS: dict[str, _Landing] = {}


def _landing_key(db_path) -> str:
    return str(db_path)  # as given: the flow passes settings.db to both (a lake target too)


@contextmanager
def landing_connection(db_path: Path, settings: Settings) -> Iterator[_Landing]:
    """While the block runs, ``land_batch`` for ``db_path`` lands every batch through one DuckDB
    connection (instead of opening, migrating and closing, so checkpointing, the file per
    batch); it is closed (one checkpoint) when the block ends, error or not. A crash between
    batches keeps what the committed batches wrote (DuckDB replays its WAL at the next open)."""
    key = _landing_key(db_path)
    held = _Landing(db_path, settings)
    outer = _LANDINGS.get(key)
    _LANDINGS[key] = held
    failed = True
    try:
        yield held
        failed = False
    finally:
        if outer is None:
            _LANDINGS.pop(key, None)
        else:
            _LANDINGS[key] = outer
        try:
            held.close()
        except Exception:  # noqa: BLE001 - after an error (a full disk): report that one
            if not failed:
                raise


def _prepare_landing(con) -> None:
    con.execute(f"SET threads = {LAND_THREADS}")
    dbm.migrate(con)


def land_batch(db_path: Path, results: list[FileResult], batch: Batch, settings: Settings,
               athlete_id: str) -> LandStats:
    """Land one batch in one transaction, then drop the batch's frames from ``results`` (they
    are in the database now; the caller keeps statuses, decoders and counts), so a sync holds
    one batch of frames at a time, not two."""
    held = _LANDINGS.get(_landing_key(db_path))

    def _land() -> LandStats:
        if held is not None:  # inside decode_and_land: the sync's one landing connection
            return land_results(held.connection(), results, athlete_id=athlete_id,
                                sources=batch.sources_done, export_rows=batch.export_rows_without_file)
        with dbm.connection(db_path, wait_s=settings.lock_wait_s) as con:
            _prepare_landing(con)
            return land_results(con, results, athlete_id=athlete_id, sources=batch.sources_done,
                                export_rows=batch.export_rows_without_file)

    # a lake: another writer's commit conflicted with this batch's; run it again (its own
    # transaction rolled back, on the same landing connection)
    st = dbm.retry_conflicts(db_path, "landing a batch", _land)
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
