"""A file the OS refuses to read (permissions) is quarantined with its reason, and read again by
the next sync: once readable it lands and the 'cannot read' row goes (issue 11, point 7).

As root, permissions are not checked; the unreadable pass runs in a subprocess without the
capabilities that bypass them (``setpriv``), so the refusal is the kernel's own.
"""

from __future__ import annotations

import os
from datetime import date
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipelines import db
from pipelines.flows import run_flow, sync

RUN_STEPS = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pipelines import sync as s
    from pipelines.config import load_settings
    from pipelines.work import DeriveContext
    src, dbfile = sys.argv[1], Path(sys.argv[2])
    settings = load_settings().with_overrides(db=dbfile, athlete="t")
    sources, _, _ = s.discover_sources([src])
    plan = s.plan_sync(dbfile, sources, settings)
    ctx = DeriveContext(athlete_id="t")
    for batch in s.iter_batches(plan, batch_files=60, max_member_bytes=settings.max_member_bytes):
        results = batch.ready + s.decode_items(batch.items, ctx, None)
        s.land_batch(dbfile, results, batch, settings, "t")
    """
)


def _without_dac_override() -> list[str]:
    if os.geteuid() != 0:
        return []
    exe = shutil.which("setpriv")
    if exe is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable to this process")
    return [exe, "--bounding-set=-dac_override,-dac_read_search"]


def _sample_fit() -> bytes:
    from synth.sample import make_sample_export

    files = make_sample_export(weeks=2, end_date=date(2026, 3, 1))
    return next(data for rel, data in sorted(files.items()) if rel.endswith(".fit"))


def test_a_file_unreadable_once_lands_when_it_can_be_read(tmp_path, prefect_harness, isolated_config):
    src = tmp_path / "watch"
    src.mkdir()
    run = src / "run.fit"
    run.write_bytes(_sample_fit())
    dbfile = tmp_path / "f.duckdb"
    run.chmod(0)
    env = {**os.environ, "FOOTFALL_CONFIG": str(isolated_config / "footfall.toml")}
    proc = subprocess.run([*_without_dac_override(), sys.executable, "-c", RUN_STEPS, str(src), str(dbfile)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with db.connection(dbfile, read_only=True) as con:
        rows = con.execute("SELECT status, error_class, reason FROM files").fetchall()
        n_sources = con.execute("SELECT count(*) FROM sync_sources").fetchone()[0]
    assert rows == [("quarantined", "UnreadableFile", rows[0][2])]
    assert "cannot read" in rows[0][2] and "ermission" in rows[0][2]
    assert n_sources == 0  # not recorded as synced: the next sync reads it again

    run.chmod(0o644)  # the user fixes the permissions; size and mtime are unchanged
    summary = run_flow(sync, paths=[str(src)], db=str(dbfile), athlete="t")
    assert summary["by_status"] == {"landed": 1}
    with db.connection(dbfile, read_only=True) as con:
        rows = con.execute("SELECT status, error_class FROM files").fetchall()
        n_acts = con.execute("SELECT count(*) FROM activities").fetchone()[0]
    assert rows == [("landed", None)]  # the stale 'cannot read' row is gone
    assert n_acts == 1
