"""Issue 17 (throughput): the decode workers never wait for this process between batches.

``pipelines.sync.decode_and_land`` hands batch k+1 to the workers before it collects batch k's
results (and so before it waits for batch k-1 to land and reads batch k+2), so the workers move
on to k+1 the moment k is decoded. Before, each batch's decoding started only after the previous
batch had been collected, its landing started and the next files were read: the workers idled.

The decoding and landing here are the sync's own (``decode_items`` on a real thread, the real
``land_batch``); only the order of the calls is recorded. The rows landed must be those of the
synchronous order (``table_digests``, as in test_land_equivalence).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from pipelines import sync as s
from tests.pipelines.test_land_equivalence import _Done, sample_sources, sync_sample, table_digests


@pytest.fixture(scope="module")
def sources(corpus_dir, catalog, tmp_path_factory):
    return sample_sources(corpus_dir, list(catalog.values()), tmp_path_factory.mktemp("ahead-src"))


@pytest.fixture
def settings(isolated_config):
    from pipelines.config import load_settings

    return load_settings().with_overrides(athlete="ahead", lock_wait_s=5.0, batch_files=7)


class _Recorded:
    """A real future of ``decode_items``; says when the sync asks for its result."""

    def __init__(self, future, k: int, events: list):
        self.future, self.k, self.events = future, k, events

    def result(self):
        self.events.append(("collect", self.k))
        return self.future.result()


def test_the_next_batch_is_queued_before_this_one_is_collected(sources, settings, tmp_path):
    db = tmp_path / "ahead.duckdb"
    st = settings.with_overrides(db=db)
    s.open_database(db, st)
    planned = s.plan_sources([sources], st)
    summary = planned.summary()
    events: list[tuple[str, int]] = []
    threads = ThreadPoolExecutor(max_workers=2)

    def decode(items, ctx, pool):
        k = sum(1 for e in events if e[0] == "decode")
        events.append(("decode", k))
        return _Recorded(threads.submit(s.decode_items, items, ctx, pool), k, events)

    def land(*a):
        events.append(("land", sum(1 for e in events if e[0] == "land")))
        return _Done(s.land_batch(*a))

    try:
        s.decode_and_land(planned, summary, decode=decode, land=land)
    finally:
        threads.shutdown()
    n = sum(1 for e in events if e[0] == "decode")
    assert n >= 4, events  # several batches, or the test says nothing
    at = {e: i for i, e in enumerate(events)}
    for k in range(n - 1):
        # batch k+1 is with the workers before batch k is collected, and batch k lands after
        assert at[("decode", k + 1)] < at[("collect", k)] < at[("land", k)], events
    assert [e for e in events if e[0] == "land"] == [("land", k) for k in range(n)]  # in order, once each

    # the same rows as the synchronous order (decode returns the results themselves)
    plain = tmp_path / "plain.duckdb"
    sync_sample(sources, plain, settings, pool=False)
    a, b = table_digests(db), table_digests(plain)
    assert a["records"][0] > 0
    assert a == b, {t: (a[t], b[t]) for t in a if a[t] != b[t]}
