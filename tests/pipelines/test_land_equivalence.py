"""Issue 17 (throughput): a faster landing must land the same rows.

The same sources (corpus files of every format and a synthetic export with its activities.csv
and its FIT/GPX twins of one run) are synced into fresh databases through the sync's own path
(``pipelines.sync.decode_and_land``: batches, the one landing connection, ``land_batch``): with
the sync's one landing connection and with a connection per batch (the landing before), with
decoding in a process pool and in this process. Every raw table's content (every column but the
wall-clock ``*_at`` ones, order-free) must hash the same. (Batch sizes are not compared: two
copies of one run with equal richness keep the first landed across batches, the smaller id
within one; a footfall choice older than this test.)

``table_digests`` is also the tool used to check each speed change against the tree before it
(the report of issue 17's throughput part).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines import sync as s

#: columns holding the wall clock of the sync, not the content
VOLATILE = {"landed_at", "synced_at", "detected_at"}
#: the raw tables a sync writes
SYNC_TABLES = ("files", "sync_sources", "export_activities", "activities", "laps", "records", "events",
               "developer_values", "field_sources", "activity_metrics", "activity_checks",
               "activity_duplicates", "value_checks")
#: corpus files per format in the sample (the smallest first: the test stays a few seconds)
PER_FORMAT = {"fit": 30, "gpx": 12, "tcx": 6}


def table_digests(db: Path) -> dict[str, tuple[int, int]]:
    """{table: (rows, order-free hash of its rows)} over every column but ``VOLATILE``."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for t in SYNC_TABLES:
            cols = [c for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "ORDER BY ordinal_position", [t]).fetchall() if c not in VOLATILE]
            row = ", ".join(f'"{c}"' for c in cols)
            n, h = con.execute(f"SELECT count(*), coalesce(sum(hash(row({row}))::HUGEINT), 0) "
                               f"FROM {t}").fetchone()
            out[t] = (int(n), int(h))
        return out
    finally:
        con.close()


class _Done:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def _land_per_batch(db, results, batch, settings, athlete_id):
    """The landing before issue 17: a connection opened, migrated and closed per batch."""
    from pipelines import db as dbm
    from pipelines.land import land_results

    with dbm.connection(db, wait_s=settings.lock_wait_s) as con:
        s._prepare_landing(con)
        st = land_results(con, results, athlete_id=athlete_id, sources=batch.sources_done,
                          export_rows=batch.export_rows_without_file)
    s.release_frames(results)
    return _Done(st)


def sync_sample(src: Path, db: Path, settings, *, pool: bool, per_batch: bool = False) -> None:
    """Land ``src`` into ``db`` through ``decode_and_land`` (no Prefect, no models);
    ``per_batch``: with a connection per batch (the landing before issue 17)."""
    settings = settings.with_overrides(db=db)
    s.open_database(db, settings)
    planned = s.plan_sources([src], settings)
    summary = planned.summary()

    def decode(items, ctx, p):
        return s.decode_items(items, ctx, p if pool else None)

    land = _land_per_batch if per_batch else (lambda *a: _Done(s.land_batch(*a)))
    s.decode_and_land(planned, summary, decode=decode, land=land)
    assert summary.files_new > 0


def sample_sources(corpus: Path, catalog: list[dict], dest: Path) -> Path:
    """A folder with the smallest readable corpus files of each format and a synthetic export."""
    from tests.pipelines.test_reliability_db import _sample_export

    rows = sorted((r for r in catalog if r["format"] in PER_FORMAT), key=lambda r: int(r["size_bytes"]))
    taken = dict.fromkeys(PER_FORMAT, 0)
    for r in rows:
        f = r["format"]
        if taken[f] < PER_FORMAT[f] and (corpus / r["path"]).is_file():
            taken[f] += 1
            out = dest / "corpus" / r["path"]
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(corpus / r["path"], out)
    _sample_export(dest, weeks=3)
    return dest


@pytest.fixture(scope="module")
def sources(corpus_dir, catalog, tmp_path_factory) -> Path:
    return sample_sources(corpus_dir, list(catalog.values()), tmp_path_factory.mktemp("eq-src"))


@pytest.fixture
def settings(isolated_config):
    from pipelines.config import load_settings

    return load_settings().with_overrides(athlete="eq", lock_wait_s=5.0)


def test_one_landing_connection_lands_what_a_connection_per_batch_did(sources, settings, tmp_path):
    """Batches of 7 files (several transactions, the export's twins in different batches)."""
    held = tmp_path / "held.duckdb"
    sync_sample(sources, held, settings.with_overrides(batch_files=7), pool=False)
    per_batch = tmp_path / "per-batch.duckdb"
    sync_sample(sources, per_batch, settings.with_overrides(batch_files=7), pool=False, per_batch=True)
    a, b = table_digests(held), table_digests(per_batch)
    for t in ("files", "activities", "records", "activity_metrics", "activity_duplicates"):
        assert a[t][0] > 0, (t, a[t])  # the sample lands something in every main table
    assert a == b, {t: (a[t], b[t]) for t in a if a[t] != b[t]}
    assert not s._LANDINGS  # the sync's landing connection is gone with it


def test_the_pool_and_this_process_land_the_same_rows(sources, settings, tmp_path):
    """The decode workers' hand-off (frames from other processes) against decoding in-process."""
    here = tmp_path / "here.duckdb"
    sync_sample(sources, here, settings.with_overrides(batch_files=60), pool=False)
    pooled = tmp_path / "pooled.duckdb"
    sync_sample(sources, pooled, settings.with_overrides(batch_files=60, workers=2), pool=True)
    a, b = table_digests(here), table_digests(pooled)
    assert a["records"][0] > 0 and a["activity_metrics"][0] > 0
    assert a == b, {t: (a[t], b[t]) for t in a if a[t] != b[t]}


def test_an_error_in_a_batch_keeps_the_batches_before_it(sources, settings, tmp_path, monkeypatch):
    """The one landing connection still commits each batch: an error inside the third batch's
    transaction leaves the database as a sync stopped before that batch left it (the two
    batches before it, nothing of the third), and the connection is closed."""
    import pipelines.land as land_mod

    st = settings.with_overrides(batch_files=7)
    calls = {"n": 0}

    def land_two(*a):  # a sync that stops before its third batch
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("stop before the third batch")
        return _Done(s.land_batch(*a))

    before = tmp_path / "before.duckdb"
    st_before = st.with_overrides(db=before)
    s.open_database(before, st_before)
    planned = s.plan_sources([sources], st_before)
    with pytest.raises(RuntimeError, match="third batch"):
        s.decode_and_land(planned, planned.summary(), decode=s.decode_items, land=land_two)

    real = land_mod.bump_data_generation
    bumps = {"n": 0}

    def bump(con):  # inside land_results' transaction, after the batch's rows were inserted
        bumps["n"] += 1
        if bumps["n"] == 3:
            raise RuntimeError("stop inside the third batch")
        real(con)

    monkeypatch.setattr(land_mod, "bump_data_generation", bump)
    inside = tmp_path / "inside.duckdb"
    with pytest.raises(RuntimeError, match="third batch"):
        sync_sample(sources, inside, st, pool=False)
    assert not s._LANDINGS
    duckdb.connect(str(inside)).close()  # not held any more
    a, b = table_digests(before), table_digests(inside)
    assert 7 <= a["files"][0] <= 14, a["files"]  # two batches landed
    assert a == b, {t: (a[t], b[t]) for t in a if a[t] != b[t]}
