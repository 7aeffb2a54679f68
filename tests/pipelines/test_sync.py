"""The sync flow for real: Prefect test harness, real DuckDB files, real corpus files."""

from __future__ import annotations

import gzip
import io
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from pipelines import db
from pipelines.flows import run_flow, sync

ACCEPTED = (".fit", ".gpx", ".tcx")
DATA_TABLES = ("files", "activities", "laps", "records", "events", "developer_values",
               "field_sources", "activity_metrics", "activity_duplicates", "export_activities")


def table_digest(path: Path) -> dict[str, tuple]:
    """Row count and an order-independent hash of every row, per data table."""
    with db.connection(path, read_only=True) as con:
        out = {}
        for t in DATA_TABLES:
            out[t] = con.execute(f"SELECT count(*), coalesce(sum(hash(t)), 0) FROM {t} t").fetchone()
        return out


def run_sync(paths, dbfile, athlete="t", **kw) -> dict:
    return run_flow(sync, paths=[str(p) for p in paths], db=str(dbfile), athlete=athlete, **kw)


def corpus_files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix.lower() in ACCEPTED)


@pytest.fixture(scope="module")
def corpus_sync(corpus_dir, prefect_harness, tmp_path_factory):
    """One sync of the whole corpus folder (shared by the tests below)."""
    dbfile = tmp_path_factory.mktemp("corpus") / "corpus.duckdb"
    summary = run_sync([corpus_dir], dbfile, athlete="corpus")
    return dbfile, summary


def test_every_corpus_file_ends_with_a_status(corpus_dir, corpus_sync):
    dbfile, summary = corpus_sync
    files = corpus_files(corpus_dir)
    with db.connection(dbfile, read_only=True) as con:
        rows = con.execute("SELECT path, status, reason, error_class FROM files").fetchall()
        n_acts = con.execute("SELECT count(*) FROM activities").fetchone()[0]
        n_recs = con.execute("SELECT count(*) FROM records").fetchone()[0]
    by_status = Counter(r[1] for r in rows)
    print(f"\ncorpus sync: {len(files)} files -> {dict(by_status)}; "
          f"{n_acts} activities, {n_recs:,} records; {summary['seconds']} s")
    # every file on disk has exactly one row (files with identical bytes share one: count paths)
    landed_paths = {r[0] for r in rows}
    distinct_content = len({p.read_bytes() for p in files})
    assert len(rows) == distinct_content
    missing = [p for p in files if str(p) not in landed_paths]
    # a file missing by path must be a byte-identical copy of one that has a row
    for p in missing:
        assert any(q.read_bytes() == p.read_bytes() for q in files if str(q) in landed_paths), p
    for path, status, reason, cls in rows:
        assert status in ("landed", "salvaged", "quarantined", "not_activity", "no_timestamps", "duplicate")
        if status in ("quarantined", "salvaged", "not_activity", "no_timestamps"):
            assert reason, f"{path}: status {status} without a reason"
        if status == "quarantined":
            assert cls, f"{path}: quarantined without an error class"
    assert by_status["landed"] > 150
    assert summary["by_status"] == dict(by_status)
    assert n_recs == summary["records"] and n_acts == summary["activities"]


def test_truncated_fit_files_are_salvaged(corpus_dir, corpus_sync):
    """Damaged files keep what precedes the damage. activity-unexpected-eof.fit is a truncated copy
    of Activity.fit, so in the corpus the complete copy is kept and it is the duplicate; its
    salvage count is still recorded."""
    dbfile, _ = corpus_sync
    with db.connection(dbfile, read_only=True) as con:
        for name in ("nick.fit", "activity-unexpected-eof.fit"):
            st, salv, reason = con.execute(
                "SELECT status, n_messages_salvaged, reason FROM files WHERE path LIKE ?",
                [f"%/{name}"],
            ).fetchone()
            assert st in ("salvaged", "duplicate"), (name, st, reason)
            assert salv and salv > 0 and reason
        st = con.execute("SELECT status FROM files WHERE path LIKE '%/nick.fit'").fetchone()[0]
        assert st == "salvaged"
        n = con.execute(
            "SELECT count(*) FROM records r JOIN activities a USING (activity_id) "
            "JOIN files f USING (file_id) WHERE f.path LIKE '%/nick.fit'").fetchone()[0]
        assert n > 0


def test_resync_changes_nothing_and_skips_unread(corpus_dir, corpus_sync, tmp_path):
    dbfile, _ = corpus_sync
    before = table_digest(dbfile)
    summary = run_sync([corpus_dir], dbfile, athlete="corpus")
    assert summary["files_new"] == 0
    assert summary["sources_unchanged"] == summary["sources_seen"]  # nothing was even read
    assert table_digest(dbfile) == before


def test_same_files_zipped_and_gzipped_change_nothing(corpus_dir, prefect_harness, tmp_path):
    picks = [p for p in corpus_files(corpus_dir) if "runpandas/examples/session" in str(p)][:6]
    picks += [corpus_dir / "dtcooper+python-fitparse/tests/files/activity-small-fenix2-run.fit"]
    plain = tmp_path / "plain"
    plain.mkdir()
    for p in picks:
        (plain / p.name).write_bytes(p.read_bytes())
    dbfile = tmp_path / "z.duckdb"
    s1 = run_sync([plain], dbfile)
    assert s1["activities"] == len(picks)
    before = table_digest(dbfile)
    packed = tmp_path / "packed"
    packed.mkdir()
    with zipfile.ZipFile(packed / "export.zip", "w") as z:
        for p in picks[:3]:
            z.writestr(f"activities/{p.name}", p.read_bytes())
    for p in picks[3:]:
        (packed / (p.name + ".gz")).write_bytes(gzip.compress(p.read_bytes()))
    s2 = run_sync([packed], dbfile)
    assert s2["files_new"] == 0 and s2["skipped_known"] == len(picks)
    assert table_digest(dbfile) == before


def test_bad_inputs_are_quarantined_and_the_rest_lands(corpus_dir, prefect_harness, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    good = corpus_dir / "dtcooper+python-fitparse/tests/files/activity-small-fenix2-run.fit"
    (src / "good.fit").write_bytes(good.read_bytes())
    (src / "zero.fit").write_bytes(b"")
    (src / "empty.gpx").write_text('<?xml version="1.0"?><gpx version="1.1" creator="x"></gpx>')
    (src / "notgzip.fit.gz").write_bytes(b"this is not gzip at all")
    (src / "garbage.fit").write_bytes(b"\x0e\x10" + b"\x00" * 40)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../escape.fit", good.read_bytes()[:100])
        z.writestr("ok/inner.gpx", (corpus_dir / "tkrajina+gpxpy/test_files/korita-zbevnica.gpx").read_bytes())
    (src / "evil.zip").write_bytes(buf.getvalue())
    dbfile = tmp_path / "bad.duckdb"
    summary = run_sync([src], dbfile)
    with db.connection(dbfile, read_only=True) as con:
        rows = {(Path(p).name, m): (s, c, r) for p, m, s, c, r in con.execute(
            "SELECT path, member, status, error_class, reason FROM files").fetchall()}
    assert rows[("good.fit", None)][0] == "landed"
    assert rows[("zero.fit", None)][0] == "quarantined"
    assert rows[("notgzip.fit.gz", None)][1] == "BadArchive"
    assert rows[("garbage.fit", None)][0] == "quarantined"
    assert rows[("evil.zip", "../escape.fit")][1] == "UnsafeArchiveMember"
    assert not (tmp_path / "escape.fit").exists()
    assert rows[("evil.zip", "ok/inner.gpx")][0] in ("landed", "no_timestamps")
    assert rows[("empty.gpx", None)][0] in ("no_timestamps", "not_activity")
    assert all(r for (_, _), (s, _, r) in rows.items() if s != "landed")
    assert summary["by_status"]["quarantined"] >= 4


def test_a_writer_holding_the_file_while_a_batch_lands_fails_the_sync_cleanly(
        prefect_harness, isolated_config, tmp_path):
    """One writer: another process takes the DuckDB file after the sync planned and decoded,
    right before the batch lands (in its own task, next to the decoding). The landing waits what
    is left of ``lock_wait_s`` (no retry: issue 15), then the sync fails with DatabaseBusy and the
    database is as it was: nothing of the batch, no half batch."""
    import subprocess
    import sys
    from datetime import date

    from synth.sample import make_sample_export
    from pipelines import progress

    export = tmp_path / "export"
    for rel, data in make_sample_export(weeks=2, end_date=date(2026, 11, 1)).items():
        p = export / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (isolated_config / "footfall.toml").write_text("lock_wait_s = 1.0\n")
    dbfile = tmp_path / "held.duckdb"
    con = db.connect(dbfile)
    db.migrate(con)
    con.close()
    before = table_digest(dbfile)

    holder = None

    def take_the_file(stage, advance, total):
        nonlocal holder
        if stage == "files" and holder is None:  # decoded; the landing comes next
            holder = subprocess.Popen(
                [sys.executable, "-c", "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); "
                 "print('held', flush=True); time.sleep(60)", str(dbfile)],
                stdout=subprocess.PIPE, text=True)
            assert holder.stdout.readline().strip() == "held"

    progress.set_hook(take_the_file)
    try:
        with pytest.raises(db.DatabaseBusy, match="held by another process"):
            run_sync([export], dbfile, athlete="held")
    finally:
        progress.set_hook(None)
        if holder is not None:
            holder.kill()
            holder.wait()
    assert holder is not None, "the sync never reached its landing"
    assert table_digest(dbfile) == before
    summary = run_sync([export], dbfile, athlete="held")  # released: the same sync lands
    assert summary["by_status"].get("landed", 0) > 0
