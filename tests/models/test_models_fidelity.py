"""Derived-from-records vs the watch's own summary, on every corpus FIT run that has one.

The issue's bar: average cadence within 2 spm on >= 90% of the runs, distance within 1% on all,
average stance time within 3 ms on >= 80%. Each test prints the table (run ``pytest -s`` to see
it) and every disagreement with its likely reason, detected from the records themselves.

Also: Strava and Garmin GPX/TCX runs come out in plausible steps/min (none halved or doubled).
"""

from __future__ import annotations

import csv
import functools
import multiprocessing
import os
import pickle
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ingest.decode import decode_bytes
from models.gait import sample_durations
from models.summary import derive_activity, derive_from_records
from models.thresholds import reader_options, value as threshold

READ = reader_options()  # the readers' settings: models/thresholds.py, no overrides

pytestmark = pytest.mark.corpus

CADENCE_TOL_SPM = 2.0
CADENCE_MIN_RATE = 0.90
DISTANCE_TOL = 0.01
STANCE_TOL_MS = 3.0
STANCE_MIN_RATE = 0.80


def _reader_available(fmt: str) -> str | None:
    """None when the reader for ``fmt`` can be imported, else the reason to skip."""
    try:
        if fmt == "fit":
            from ingest.fit import decode_fit  # noqa: F401
        elif fmt == "gpx":
            from ingest.gpx import decode_gpx  # noqa: F401
        else:
            from ingest.tcx import decode_tcx  # noqa: F401
    except ImportError as err:
        return f"ingest reader for {fmt} not available yet: {err}"
    return None


@dataclass
class Run:
    """One running session of a corpus FIT file, with its device summary and derived values."""

    path: str
    status: str
    device: dict
    derived: dict
    records: pl.DataFrame
    reasons: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{Path(self.path).name}#{self.device['session_index']}"

    @property
    def records_lost(self) -> str | None:
        """Why this run cannot be compared at all: the decoder lost records to file damage."""
        if self.status != "salvaged":
            return None
        end, last = self.device.get("ended_at"), _last_in_session(self)
        if end is not None and (last is None or (end - last).total_seconds() > 60):
            got = "no record" if last is None else f"records end at {last:%H:%M:%S}"
            return f"damaged file (salvaged): {got}, the session ends at {end:%H:%M:%S}"
        return None


def _catalog_paths(corpus: str, fmt: str, keep) -> list[str]:
    with open(Path(corpus) / "CATALOG.tsv", newline="") as fh:
        return [r["path"] for r in csv.DictReader(fh, delimiter="\t") if r["format"] == fmt and keep(r)]


def _has(n: str) -> bool:
    return (n or "0").strip() not in ("", "0")


def _decode_fit_runs(corpus: str, rel: str) -> list[Run]:
    """Worker: decode one FIT file, derive each running session from its records alone."""
    dec = decode_bytes((Path(corpus) / rel).read_bytes(), rel, READ)
    if dec.status not in ("landed", "salvaged"):
        return []
    runs = []
    for act in dec.activities.iter_rows(named=True):
        if act["sport"] != "running":
            continue
        recs = dec.records.filter(pl.col("activity_id") == act["activity_id"])
        derived = derive_from_records(act, recs)
        run = Run(rel, dec.status, act, derived, recs)
        run.reasons = _likely_reasons(run)
        runs.append(run)
    return runs


def _parallel(fn, corpus: str, paths: list[str]) -> list:
    """fitparse is slow (the 24k-record multisport file takes ~6 s): decode on every core.

    Worker processes are spawned, never forked (polars' thread pool deadlocks in a forked
    child); if no pool can be started, the files are decoded here, one after another.
    """
    workers = max(1, min(4, os.cpu_count() or 1))
    try:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            parts = list(pool.map(fn, [corpus] * len(paths), paths))
    except (OSError, BrokenProcessPool, pickle.PicklingError):
        parts = [fn(corpus, p) for p in paths]
    return [x for part in parts for x in part]


@functools.lru_cache(maxsize=None)
def _fit_runs(corpus: str) -> tuple[Run, ...]:
    paths = _catalog_paths(corpus, "fit", lambda r: "running" in (r["sport"] or "").lower())
    return tuple(_parallel(_decode_fit_runs, corpus, paths))


def _last_in_session(run: Run):
    ts = run.records["recorded_at"].drop_nulls()
    start, end = run.device.get("started_at"), run.device.get("ended_at")
    if start is not None and end is not None:
        ts = ts.filter((ts >= start) & (ts <= end))
    return ts.max() if ts.len() else None


def _likely_reasons(run: Run) -> list[str]:
    """Why records and the device summary may differ, from what the records show."""
    out: list[str] = []
    recs = run.records.sort("record_index")
    n = recs.height
    start, end = run.device.get("started_at"), run.device.get("ended_at")
    ts = recs["recorded_at"]
    if start is not None and end is not None:
        slack = timedelta(seconds=2)  # records are stamped to the second, the session end is not
        outside = int(((ts < start - slack) | (ts > end + slack)).sum())
        if outside:
            out.append(f"{outside} record(s) timestamped outside the session")
        recs = recs.filter((pl.col("recorded_at") >= start) & (pl.col("recorded_at") <= end))
    lost = run.records_lost
    if lost:
        out.append(lost)
    if n < 120:
        out.append(f"short file ({n} records)")
    ts = recs["recorded_at"].drop_nulls()
    if ts.len() > 1:
        steps = np.diff(ts.dt.epoch("ms").to_numpy()) / 1000.0
        med = float(np.median(steps))
        if med > 1.5:
            out.append(f"smart recording (median sample interval {med:.0f} s)")
        span = (ts.max() - ts.min()).total_seconds()
        timer = run.device.get("timer_time_s")
        if timer and span < timer - 5:
            out.append(f"records span {span:.0f} s of a {timer:.0f} s session")
        gap = threshold("pause_gap_s")
        paused = float(steps[steps > gap].sum())
        if paused > 0:
            out.append(f"{paused:.0f} s in gaps > {gap:.0f} s the device may count")
        dt = sample_durations(recs["recorded_at"])
        cad = recs["cadence_raw"].cast(pl.Float64).fill_null(np.nan).to_numpy()
        total = max(float(dt.sum()), 1.0)
        walking = (cad > 0) & (2 * cad < threshold("run_min_cadence_spm"))
        zero = float(dt[cad == 0].sum()) / total
        walk = float(dt[walking].sum()) / total
        if zero > 0.05:
            out.append(f"{zero:.0%} of the time at cadence 0 (standing counted differently)")
        if walk > 0.05:
            out.append(f"{walk:.0%} of the time at walking cadence")
        gct = recs["ground_contact_time_ms"].cast(pl.Float64).fill_null(np.nan).to_numpy()
        no_gct_walk = int(np.sum(np.isnan(gct) & walking))
        if run.device.get("device_avg_ground_contact_time_ms") is not None and no_gct_walk > 10:
            out.append(f"{no_gct_walk} walking records carry no stance time (the device's average may include them)")
    keys = ("device_avg_cadence_spm", "timer_time_s", "device_total_strides")
    avg, timer, strides = (run.device.get(k) for k in keys)
    if avg and timer and strides and abs(avg * timer / 60 - 2 * strides) > 0.02 * 2 * strides:
        out.append(
            f"the device's own totals disagree: avg cadence x timer time = {avg * timer / 60:.0f} steps,"
            f" 2 x total_strides = {2 * strides}"
        )
    rej = run.derived.get("rejected_values", {}).get("ground_contact_time_ms", 0)
    if rej:
        out.append(f"{rej} impossible stance values rejected")
    return out


def _report(title: str, rows: list[tuple[Run, float, float, bool]], unit: str, excluded: list[Run]) -> float:
    ok = sum(1 for *_, good in rows if good)
    rate = ok / len(rows)
    print(f"\n{title}: {ok}/{len(rows)} = {rate:.0%}")
    for run, dev, der, good in rows:
        mark = "ok  " if good else "DIFF"
        print(f"  {mark} {run.label:45s} device {dev:9.2f} derived {der:9.2f} {unit}  diff {der - dev:+.2f}")
        if not good:
            print(f"         likely: {'; '.join(run.reasons) or 'no reason found in the records'}")
    for run in excluded:
        print(f"  skip {run.label:45s} {run.records_lost}")
    return rate


def _runs_or_skip(corpus_dir) -> tuple[Run, ...]:
    reason = _reader_available("fit")
    if reason:
        pytest.skip(reason)
    runs = _fit_runs(str(corpus_dir))
    if not runs:
        pytest.skip("no FIT running session decoded from the corpus")
    return runs


def _compare(corpus_dir, device_key: str, derived_key: str, agree) -> tuple[list, list[Run]]:
    """(rows (run, device, derived, agrees), runs left out because the file lost its records)."""
    rows, excluded = [], []
    for r in _runs_or_skip(corpus_dir):
        dev = r.device.get(device_key)
        if dev is None or (device_key == "distance_m" and dev <= 0):
            continue
        if r.records_lost:
            excluded.append(r)
            continue
        der = r.derived[derived_key]
        assert der is not None, f"{r.label}: the device has {device_key}, the records gave none"
        rows.append((r, dev, der, agree(dev, der)))
    assert rows, f"no corpus FIT run with {device_key}"
    return rows, excluded


def test_cadence_agrees_with_device(corpus_dir):
    rows, excluded = _compare(corpus_dir, "device_avg_cadence_spm", "avg_cadence_spm",
                              lambda dev, der: abs(der - dev) <= CADENCE_TOL_SPM)
    rate = _report(f"avg cadence within {CADENCE_TOL_SPM} spm", rows, "spm", excluded)
    assert rate >= CADENCE_MIN_RATE


def test_distance_agrees_with_device(corpus_dir):
    rows, excluded = _compare(corpus_dir, "distance_m", "distance_m",
                              lambda dev, der: abs(der - dev) <= DISTANCE_TOL * dev)
    rate = _report(f"distance within {DISTANCE_TOL:.0%}", rows, "m", excluded)
    assert rate == 1.0
    # the damaged file left out is a real disagreement, explained by its lost records
    assert all(r.records_lost for r in excluded)


def _stance_rows(corpus_dir):
    return _compare(corpus_dir, "device_avg_ground_contact_time_ms", "avg_ground_contact_time_ms",
                    lambda dev, der: abs(der - dev) <= STANCE_TOL_MS)


def test_stance_time_disagreements_are_explained(corpus_dir):
    rows, excluded = _stance_rows(corpus_dir)
    _report(f"avg stance time within {STANCE_TOL_MS} ms", rows, "ms", excluded)
    unexplained = [r.label for r, _, _, good in rows if not good and not r.reasons]
    assert not unexplained, f"stance time disagreements with no reason found: {unexplained}"


@pytest.mark.xfail(
    strict=True,
    reason="the issue's bar (>= 80%) is not reachable on this corpus: 5/7 runs agree. "
    "activity-small-fenix2-run.fit (device 252.0 ms, records 241.6 ms): the device's average "
    "includes walking contact times the records do not carry (106 walking-cadence records have no "
    "stance_time; its last lap says 302 ms, that lap's records 273 ms). garmin-fenix-5-run.fit "
    "(device 270.3 ms, records 281.9 ms): a 57 s sample file with 18 smart-recorded contact values. "
    "Neither is derivable from the records without imputing.",
)
def test_stance_time_rate_meets_issue_bar(corpus_dir):
    rows, _ = _stance_rows(corpus_dir)
    assert sum(1 for *_, good in rows if good) / len(rows) >= STANCE_MIN_RATE


def test_steps_agree_with_device_strides(corpus_dir):
    """Not in the issue's bar, for the load units: sum(cadence x dt) vs 2 x total_strides.

    Where they differ by more than 2%, the device's own totals must disagree too (its average
    cadence x timer time is not 2 x its total strides), i.e. the derivation is not at fault.
    """
    rows = []
    for r in _runs_or_skip(corpus_dir):
        strides = r.device.get("device_total_strides")
        if not strides or r.derived["steps"] is None or r.records_lost:
            continue
        dev, der = 2.0 * strides, r.derived["steps"]
        rows.append((r, dev, der, abs(der - dev) <= 0.02 * dev))
    if not rows:
        pytest.skip("no corpus FIT run with device total_strides")
    _report("steps within 2% of 2 x total_strides", rows, "steps", [])
    for r, _, _, good in rows:
        assert good or any("own totals disagree" in x for x in r.reasons), r.label


# --------------------------------------------------------------------------------------------
# GPX / TCX: the unit decision on real exports
# --------------------------------------------------------------------------------------------


def _decode_xml_runs(corpus: str, rel: str) -> list[tuple]:
    """Worker: (path, activity, metrics, median moving spm, median moving speed) per run with cadence."""
    dec = decode_bytes((Path(corpus) / rel).read_bytes(), rel, READ)
    if dec.status not in ("landed", "salvaged") or dec.records["cadence_raw"].drop_nulls().len() == 0:
        return []
    recs, metrics = derive_activity(dec.activities, dec.records, dec.laps)
    dt_all = recs.with_columns(
        (pl.col("recorded_at").dt.epoch("ms").cast(pl.Float64) / 1000).diff().over("activity_id").alias("_dt"),
        pl.col("distance_m").diff().over("activity_id").alias("_dd"),
    )
    out = []
    for act, m in zip(dec.activities.iter_rows(named=True), metrics.iter_rows(named=True)):
        if act["sport"] != "running" or m["cadence_unit"] == "none":
            continue
        mine = dt_all.filter((pl.col("activity_id") == act["activity_id"]) & pl.col("is_moving"))
        spm = mine.filter(pl.col("cadence_spm") > 0)["cadence_spm"]
        speed = mine["speed_mps"].drop_nulls()
        if speed.len() == 0:
            speed = mine.filter(pl.col("_dt") > 0).select(pl.col("_dd") / pl.col("_dt"))["_dd"].drop_nulls()
        out.append((rel, act, m, spm.median() if spm.len() else None, speed.median() if speed.len() else None))
    return out


@functools.lru_cache(maxsize=None)
def _xml_runs(corpus: str) -> tuple[tuple, ...]:
    paths = _catalog_paths(corpus, "gpx", lambda r: _has(r["pts_with_ext_cad"]))
    paths += _catalog_paths(corpus, "tcx", lambda r: _has(r["rec_cadence"]))
    return tuple(_parallel(_decode_xml_runs, corpus, paths))


def test_gpx_tcx_runs_plausible_steps_per_minute(corpus_dir):
    for fmt in ("gpx", "tcx"):
        reason = _reader_available(fmt)
        if reason:
            pytest.skip(reason)
    runs = _xml_runs(str(corpus_dir))
    assert runs, "no GPX/TCX run with cadence in the corpus"
    run_speed = threshold("run_min_speed_mps")
    print(f"\nGPX/TCX runs with cadence: {len(runs)}")
    for rel, act, m, med, speed in runs:
        print(
            f"  {Path(rel).name:40s} {act['creator'] or act['product'] or '':28.28s} {m['cadence_unit']:11s}"
            f" median moving {med or float('nan'):6.1f} spm, avg {m['avg_cadence_spm'] or float('nan'):6.1f},"
            f" median speed {speed or float('nan'):.2f} m/s"
        )
    for rel, act, m, med, speed in runs:
        assert med is not None, rel
        if speed is not None and speed >= run_speed:
            # running pace: running cadence, neither halved (~85) nor doubled (~340)
            assert 150 <= med <= 200, f"{rel}: median {med} spm at running pace"
        else:
            # walking pace (a "run" that was mostly walked): walking cadence, still not halved/doubled
            assert 90 <= med <= 200, f"{rel}: median {med} spm at walking pace"
    creators = " ".join((act["creator"] or act["product"] or "").lower() for _r, act, *_x in runs)
    assert "strava" in creators and "garmin" in creators, "expected Strava and Garmin exports in the corpus"
