"""Fuzzing (issue 11): seeded mutants of FIT/GPX/TCX files through the decode and a real sync.

The fast, always-on version of ``bench/fuzz.py``: a fixed seed, a couple of hundred mutants of
footfall's own writer output (and of the corpus's small files when the corpus is there), each
decoded through the sync's per-file path in worker processes with a time and memory budget, then
all of them landed by one real sync (Prefect test harness, real DuckDB file). Invariants: no
exception escapes, no file overruns its budget, every quarantine has a reason and an
``ingest.errors`` class (another class is a reader bug caught by the safety net), every mutant
ends with a ``files`` row, no absurd value lands.

Below them, the smallest reproductions of the reader bugs the fuzz found, built from a builtin
seed and one named mutation (no corpus bytes in the repository).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from ingest.decode import decode_bytes
from models.thresholds import reader_options
from synth.mutate import (
    builtin_seeds,
    corpus_seeds,
    date_overflow_mutants,
    fit_with_crcs,
    mutants,
    split_fit,
)

READ = reader_options()  # the readers' settings: models/thresholds.py, no overrides

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import fuzz  # noqa: E402  (bench/fuzz.py)

from tests.conftest import corpus_path  # noqa: E402

N_MUTANTS = 200
FUZZ_SEED = 20261129
#: Per-file budget: catches hangs, not slowness. The slowest mutants (a data message copied
#: 50,000 times, decoded by the fitparse fallback at a few thousand messages/s) take 5 s on an
#: idle 2-core machine and up to ~35 s on a loaded one.
TIMEOUT_S = 120.0
MEM_LIMIT_MB = 1024


def _seed_files():
    seeds = builtin_seeds()
    corpus = corpus_path()
    if (corpus / "CATALOG.tsv").is_file():
        seeds += corpus_seeds(corpus, max_bytes=60_000)
    return seeds


@pytest.fixture(scope="module")
def fuzz_set(tmp_path_factory):
    """The mutants written to two folders: those the sync must take today ("strict"), and the
    ones given a year-1 / year-9999 date ("date-overflow", fixed by another part of issue 11)."""
    base = tmp_path_factory.mktemp("fuzz")
    ms = mutants(_seed_files(), N_MUTANTS, seed=FUZZ_SEED) + date_overflow_mutants()
    strict = fuzz.write_mutants([m for m in ms if "date-overflow" not in m.tags], base / "strict")
    overflow = fuzz.write_mutants([m for m in ms if "date-overflow" in m.tags], base / "overflow")
    return base, strict, overflow


@pytest.fixture(scope="module")
def decoded(fuzz_set):
    base, strict, overflow = fuzz_set
    items = strict + overflow
    results = fuzz.decode_all(items, workers=2, timeout_s=TIMEOUT_S, mem_limit_mb=MEM_LIMIT_MB,
                              tz="Europe/Madrid")
    return items, results


def _problems(items, results, names):
    sel = [(it, r) for it, r in zip(items, results) if it["name"] in names]
    return fuzz.decode_problems([it for it, _ in sel], [r for _, r in sel])


def test_mutants_cover_every_format_and_kind_of_damage(fuzz_set):
    _, strict, overflow = fuzz_set
    items = strict + overflow
    assert len(items) >= 0.9 * N_MUTANTS  # identical mutants are kept once
    exts = {it["name"].rsplit(".", 1)[1] for it in items}
    assert exts == {"fit", "gpx", "tcx"}
    ops = " ".join(it["ops"] for it in items)
    for kind in ("def_", "field", "truncate", "compressed_ts", "time", "points(", "entity(", "encoding("):
        assert kind in ops, kind


def test_mutants_are_deterministic_and_fit_crcs_are_valid():
    seeds = builtin_seeds()
    a, b = mutants(seeds, 40, seed=7), mutants(seeds, 40, seed=7)
    assert [m.data for m in a] == [m.data for m in b]
    assert [m.data for m in mutants(seeds, 40, seed=8)] != [m.data for m in a]
    from synth.fit_encode import crc16

    for m in a:
        if m.name.endswith(".fit") and "bad-crc" not in m.tags and not any(
                k in m.label for k in ("header_size", "chain", "header_data_size", "size_stale")):
            hs = m.data[0]
            assert crc16(m.data[:hs]) == 0 or hs != 14, m.label  # header CRC checks out
            assert crc16(m.data) == 0, m.label  # so does the file CRC


def test_every_mutant_decodes_within_budget_without_escaping_exceptions(decoded, fuzz_set):
    _, strict, _ = fuzz_set
    items, results = decoded
    problems = _problems(items, results, {it["name"] for it in strict})
    assert not problems, {k: [(e["name"], e["ops"], e.get("error_class"), e.get("reason")) for e in v]
                          for k, v in problems.items()}
    assert max(r["seconds"] for r in results) < TIMEOUT_S
    peaks = [r["peak_kb"] - r["base_kb"] for r in results if r.get("peak_kb")]
    assert peaks and max(peaks) < MEM_LIMIT_MB * 1024
    statuses = {r["status"] for r in results}
    assert {"landed", "quarantined"} <= statuses  # both the good and the refused paths ran


def test_date_overflow_mutants_decode_without_escaping_exceptions(decoded, fuzz_set):
    _, _, overflow = fuzz_set
    items, results = decoded
    assert len(overflow) >= 3
    assert not _problems(items, results, {it["name"] for it in overflow})


@pytest.fixture(scope="module")
def synced(fuzz_set, prefect_harness):
    """ONE real sync of the strict mutants (a timezone configured), then the same for the
    date-overflow ones into a second file (exception or summary kept, not raised)."""
    from pipelines.flows import run_flow, sync

    base, strict, overflow = fuzz_set
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        for k in [k for k in __import__("os").environ if k.startswith("FOOTFALL_") and k != "FOOTFALL_CORPUS"]:
            mp.delenv(k)
        (base / "footfall.toml").write_text('timezone = "Europe/Madrid"\n')
        mp.setenv("FOOTFALL_CONFIG", str(base / "footfall.toml"))
        for name in ("strict", "overflow"):
            db = base / f"{name}.duckdb"
            try:
                out[name] = (db, run_flow(sync, paths=[str(base / name)], db=str(db), athlete="fuzz"), None)
            except Exception as err:  # noqa: BLE001 - asserted by the tests below
                out[name] = (db, None, err)
    return out


def test_one_real_sync_lands_every_mutant_with_a_files_row_and_reasons(synced, fuzz_set):
    _, strict, _ = fuzz_set
    db, summary, err = synced["strict"]
    assert err is None, f"the sync raised {type(err).__name__}: {err}"
    chk = fuzz.check_db(db, strict)
    assert chk["missing"] == [], [(m["name"], m["ops"]) for m in chk["missing"]]
    assert chk["no_reason"] == []
    assert sum(chk["status"].values()) == len(strict)
    assert chk["status"].get("landed", 0) + chk["status"].get("salvaged", 0) > 0
    known = fuzz.ingest_error_classes()
    assert set(chk["error_classes"]) <= known, chk["error_classes"]


def test_no_absurd_value_lands(synced, fuzz_set):
    _, strict, _ = fuzz_set
    db, _, err = synced["strict"]
    assert err is None
    chk = fuzz.check_db(db, strict)
    assert chk["absurd"] == {}, (chk["absurd"], [(m["name"], m["ops"]) for m in chk["absurd_files"][:10]])


def test_date_overflow_mutants_sync_and_each_has_a_files_row(synced, fuzz_set):
    _, _, overflow = fuzz_set
    db, _, err = synced["overflow"]
    assert len(overflow) >= 3
    assert err is None, f"the sync raised {type(err).__name__}: {err}"
    chk = fuzz.check_db(db, overflow)
    assert chk["missing"] == [] and chk["no_reason"] == []


# ------------------------------------------------------------- reader bugs the fuzz found

def _seed(name: str) -> bytes:
    return next(s.data for s in builtin_seeds() if s.name == name)


def test_fit_session_without_sport_beside_a_named_sport_message():
    """Fuzz: a session whose sport is invalid (0xFF) in a file with a named ``sport`` message
    raised TypeError (polars ``Utf8 == None``) in ``ingest.fit._activities``; the whole file was
    quarantined. Now it lands, unnamed."""
    from synth.fit_encode import FitWriter

    w = FitWriter()
    w.add("sport", {"sport": "running", "sub_sport": "generic", "name": "Run"}, local=9)
    sport_msg = split_fit(w.to_bytes()).body
    p = split_fit(_seed("builtin/run-plain.fit"))
    session = next(r for r in p.records if r.kind == "data" and r.gmn == 18)
    sport_field = next(f for f in session.fields if f[0] == 5)
    p.body[session.start + sport_field[3]] = 0xFF  # sport: invalid
    data = fit_with_crcs(p.header, bytes(sport_msg) + bytes(p.body))
    dec = decode_bytes(data, "sportless.fit", READ)
    assert dec.status == "landed", (dec.error_class, dec.reason)
    assert dec.records.height == 240


@pytest.mark.parametrize("value", ["1e308", "-1e308", "inf", "NaN"])
def test_tcx_lap_total_time_that_is_no_duration(value):
    """Fuzz: a lap ``TotalTimeSeconds`` of 1e308, inf or NaN raised OverflowError/ValueError
    (``timedelta``) in ``ingest.tcx._activity``; now the lap end comes from its trackpoints."""
    data = _seed("builtin/run-garmin.tcx").replace(
        b"<TotalTimeSeconds>238</TotalTimeSeconds>", f"<TotalTimeSeconds>{value}</TotalTimeSeconds>".encode())
    assert value.encode() in data
    dec = decode_bytes(data, "lap.tcx", READ)
    assert dec.status == "landed", (dec.error_class, dec.reason)
    assert dec.records.height == 120
    assert dec.laps["ended_at"].to_list() == [dec.records["recorded_at"].max()]


def test_tcx_with_an_unknown_declared_encoding_is_an_xml_error():
    """Fuzz: ``encoding="x-bogus-42"`` made expat raise LookupError (quarantined as a reader
    bug); now it is an ``XmlError`` like any XML that does not parse."""
    data = _seed("builtin/run-garmin.tcx").replace(b'encoding="UTF-8"', b'encoding="x-bogus-42"')
    dec = decode_bytes(data, "enc.tcx", READ)
    assert dec.status == "quarantined"
    assert dec.error_class == "XmlError", dec.reason
    assert "x-bogus-42" in dec.reason


def test_gpx_time_with_an_offset_beyond_24_hours_is_an_unreadable_time():
    """Fuzz: ``<time>2024-06-01T12:00:00+99:99</time>`` on one point made ``utc_offset()``
    raise ValueError in ``ingest.gpx.utc_naive`` and lost the whole file; now that point has no
    time and the rest lands."""
    data = _seed("builtin/run-strava.gpx")
    first = data.index(b"<time>", data.index(b"<trkpt"))
    end = data.index(b"</time>", first)
    data = data[:first + 6] + b"2024-06-01T12:00:00+99:99" + data[end:]
    dec = decode_bytes(data, "offset.gpx", READ)
    assert dec.status == "landed", (dec.error_class, dec.reason)
    assert dec.records.height == 150
    assert dec.records["recorded_at"].null_count() == 1
    assert not any(math.isnan(x) for x in dec.records["latitude_deg"].drop_nulls())


def test_a_file_with_thousands_of_sessions_is_quarantined_before_any_metric():
    """Fuzz (10,000-mutant run, seed 2026): one session message copied 25,000 times decoded in
    ~3 s into 25,001 activities whose metrics took ~220 s. More than ``activities_per_file_max``
    activities in one file is damage: the file is quarantined before anything is derived."""
    import time

    from models.thresholds import value
    from pipelines.work import DeriveContext, decode_one

    p = split_fit(_seed("builtin/run-plain.fit"))
    session = next(r for r in p.records if r.kind == "data" and r.gmn == 18)
    copies = int(value("activities_per_file_max")) + 500
    chunk = bytes(p.body[session.start:session.end])
    p.body[session.end:session.end] = chunk * copies
    data = fit_with_crcs(p.header, bytes(p.body))
    t0 = time.perf_counter()
    dec, metrics = decode_one(data, "stuck.fit", DeriveContext(athlete_id="t"))
    seconds = time.perf_counter() - t0
    assert dec.status == "quarantined" and dec.error_class == "ImplausibleData", dec.reason
    assert "activities_per_file_max" in dec.reason and f"{copies + 1:,} activities" in dec.reason
    assert dec.activities.height == 0 and dec.records.height == 0 and metrics is None
    assert dec.value_checks.height == 1
    assert seconds < 60, seconds  # a hang guard, not a speed test (was ~3 min for 25,000)
    ok, _ = decode_one(_seed("builtin/run-plain.fit"), "ok.fit", DeriveContext(athlete_id="t"))
    assert ok.status == "landed"  # one session is far below the bound
