"""Issue 17 (full sync): ``footfall sync`` queues its first batches in the decode workers before
its flow run starts (``pipelines.sync.HeadStart``), and the flow run takes them over.

Before, the CLI imported Prefect and waited ~3 s for Prefect's temporary server with the workers
not even started. The head start reads the same batches the flow would read, in the same pool
and chunks, with the same derive context: the rows landed must be those of a sync without it
(``table_digests``), and the batches it queued must not be decoded a second time.
"""

from __future__ import annotations

import pytest

from pipelines import sync as s
from tests.pipelines.test_land_equivalence import _Done, sample_sources, sync_sample, table_digests


@pytest.fixture(scope="module")
def sources(corpus_dir, catalog, tmp_path_factory):
    return sample_sources(corpus_dir, list(catalog.values()), tmp_path_factory.mktemp("head-src"))


@pytest.fixture
def settings(isolated_config):
    from pipelines.config import load_settings

    # a full batch starts the pool (sync.POOL_MIN_FILES), as in a large sync
    return load_settings().with_overrides(athlete="head", lock_wait_s=5.0, batch_files=s.POOL_MIN_FILES,
                                          workers=2)


def _planned(sources, settings, db):
    st = settings.with_overrides(db=db)
    s.open_database(db, st)
    return s.plan_sources([sources], st)


def test_the_flow_takes_the_queued_batches_and_lands_the_same_rows(sources, settings, tmp_path):
    db = tmp_path / "head.duckdb"
    planned = _planned(sources, settings, db)
    head = s.HeadStart(planned).start(most=2)
    try:
        assert head.pool is not None and len(head.ready) == 2, head.ready
        queued = [b.items for b in head.ready]
        assert all(isinstance(items, s.Prefetched) and items.futures for items in queued)
        planned.head_start = head
        summary = planned.summary()
        seen: list[tuple[bool, list]] = []  # (prefetched?, results) per decode call

        def decode(items, ctx, pool):
            assert pool is head.pool  # the flow decodes the rest of the sync in the same pool
            out = s.decode_items(items, ctx, pool)
            seen.append((isinstance(items, s.Prefetched), out))
            return out

        s.decode_and_land(planned, summary, decode=decode, land=lambda *a: _Done(s.land_batch(*a)))
        assert head.taken
        assert [p for p, _ in seen[:2]] == [True, True] and len(seen) > 2, [p for p, _ in seen]
        for items, (_, out) in zip(queued, seen):  # the queued work's own results, not a second decode
            assert [id(r) for r in out] == [id(r) for f in items.futures for r in f.result()]
        assert head.pool._shutdown_thread  # the flow shut the pool down when it was done
    finally:
        head.close()

    plain = tmp_path / "plain.duckdb"
    sync_sample(sources, plain, settings, pool=False)
    a, b = table_digests(db), table_digests(plain)
    assert a["records"][0] > 0
    assert a == b, {t: (a[t], b[t]) for t in a if a[t] != b[t]}
    assert summary.files_new == a["files"][0]  # every file of the sync counted once


def test_a_small_sync_is_read_but_decoded_in_the_flow(sources, settings, tmp_path):
    """Fewer files than POOL_MIN_FILES in the first batch: no pool is started for it."""
    db = tmp_path / "small.duckdb"
    planned = _planned(sources, settings.with_overrides(batch_files=s.POOL_MIN_FILES - 1), db)
    head = s.HeadStart(planned).start()
    try:
        assert head.pool is None and len(head.ready) == 1
        assert not isinstance(head.ready[0].items, s.Prefetched)
    finally:
        head.close()


def test_a_head_start_no_flow_took_is_shut_down(sources, settings, tmp_path):
    planned = _planned(sources, settings, tmp_path / "unused.duckdb")
    head = s.HeadStart(planned).start(most=1)
    futures = head.ready[0].items.futures
    head.close()  # the flow run never started (a busy database, Prefect failed to start)
    assert head.pool._shutdown_thread and not head.ready
    assert all(f.done() for f in futures)  # finished or cancelled: no worker is left running


def test_a_plan_made_again_drops_the_head_start(sources, settings, tmp_path):
    """A migration makes the flow plan again: the batches read under the old plan are not used."""
    planned = _planned(sources, settings, tmp_path / "again.duckdb")
    head = s.HeadStart(planned).start(most=1)
    try:
        planned.head_start = head
        again = s.replan(planned)
        assert again.head_start is None
        used: list[bool] = []

        def decode(items, ctx, pool):
            used.append(isinstance(items, s.Prefetched))
            return s.decode_items(items, ctx, pool)

        planned.head_start = head  # even if it were still attached, it is not this plan's
        again.head_start = head
        s.decode_and_land(again, again.summary(), decode=decode, land=lambda *a: _Done(s.land_batch(*a)))
        assert used and not any(used) and not head.taken
    finally:
        head.close()
