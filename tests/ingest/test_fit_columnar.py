"""The columnar FIT decoder against fitparse, field by field, over every FIT file of the corpus.

The reference is ``ingest.fit_fitparse.read_fit_messages`` (fitparse 1.2.0). For every corpus FIT file
the columnar path either returns the same ``FitMessages`` -- same message names, same columns,
dtypes, nulls and values (floats within 1e-9 relative), same ``n_messages``, ``file_type`` and
``developer_fields`` -- or refuses it with ``FallbackNeeded`` for the reason listed in
``FALLBACK``; a refused file still decodes through ``ingest.fit.decode_fit`` (via fitparse).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import struct
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from fitparse.base import FitFile
from fitparse.records import Crc

from ingest import fit, fit_fitparse
from ingest.decode import file_id_of
from ingest.errors import IngestError
from ingest.fit_columnar import (
    FallbackNeeded,
    _rollover_scan,
    read_fit_messages_columnar,
)
from ingest.fit_messages import compare_fit_messages, fit_crc16

#: Corpus FIT files the columnar path hands to fitparse, and why (all damaged: fitparse salvages).
#: (The Coros file with a misaligned field is read by both readers since issue 17: see
#: tests/ingest/test_record_completeness.py.)
FALLBACK: dict[str, str] = {
    "dtcooper+python-fitparse/tests/files/activity-activity-filecrc.fit": "file CRC mismatch",
    "dtcooper+python-fitparse/tests/files/activity-filecrc.fit": "file CRC mismatch",
    "dtcooper+python-fitparse/tests/files/activity-settings-corruptheader.fit":
        "invalid FIT header",
    "dtcooper+python-fitparse/tests/files/activity-settings-nodata.fit": "truncated file",
    "dtcooper+python-fitparse/tests/files/activity-unexpected-eof.fit": "truncated file",
    "dtcooper+python-fitparse/tests/files/nick.fit": "file CRC mismatch",
    "dtcooper+python-fitparse/tests/files/strava-android-app-201.10-b1218918.fit": "truncated file",
}


def _fit_files(corpus_dir) -> list:
    return sorted(p for p in corpus_dir.rglob("*") if p.suffix.lower() == ".fit")


@pytest.fixture(scope="module")
def decoded(corpus_dir) -> dict:
    """relative path -> (bytes, reference FitMessages or IngestError, columnar or FallbackNeeded).

    fitparse over the whole corpus is the slow part (~20 s of CPU): it runs on every core.
    """
    paths = _fit_files(corpus_dir)
    datas = {p: p.read_bytes() for p in paths}
    workers = min(len(paths), os.cpu_count() or 1, 4)
    refs: dict = {}
    if workers > 1:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            # largest first, so that one big file does not finish last
            futures = {p: pool.submit(fit_fitparse.read_fit_messages, datas[p])
                       for p in sorted(paths, key=lambda p: -len(datas[p]))}
            for p, fut in futures.items():
                err = fut.exception()
                refs[p] = err if isinstance(err, IngestError) else fut.result()
    else:
        for p in paths:
            try:
                refs[p] = fit_fitparse.read_fit_messages(datas[p])
            except IngestError as err:
                refs[p] = err
    out = {}
    for p in paths:
        try:
            got = read_fit_messages_columnar(datas[p])
        except FallbackNeeded as err:
            got = err
        out[p.relative_to(corpus_dir).as_posix()] = (datas[p], refs[p], got)
    return out


@pytest.mark.corpus
def test_corpus_has_fit_files(decoded):
    assert len(decoded) >= 80
    assert set(FALLBACK) <= set(decoded), "a FALLBACK file is missing from the corpus"


@pytest.mark.corpus
def test_columnar_frames_equal_fitparse_field_by_field(decoded):
    problems, n_values, n_files = [], 0, 0
    for rel, (_data, ref, got) in decoded.items():
        if rel in FALLBACK:
            continue
        if isinstance(got, FallbackNeeded):
            problems.append(f"{rel}: unexpected fallback ({got.reason})")
            continue
        assert not isinstance(ref, Exception) and ref.error is None, (
            f"{rel}: fitparse reports damage ({ref}) but the columnar path accepted the file")
        diffs = compare_fit_messages(ref, got)
        problems += [f"{rel}: {d}" for d in diffs]
        n_files += 1
        n_values += sum(df.height * df.width for df in ref.frames.values())
        assert got.decoder == "columnar" and got.error is None
    assert not problems, "\n".join(problems[:40])
    assert n_files == len(decoded) - len(FALLBACK)
    assert n_values > 1_000_000  # the corpus holds millions of field values; all were compared


@pytest.mark.corpus
def test_cycle_skipping_finds_the_messages_of_the_plain_walk(decoded, monkeypatch):
    """The bulk skip over repeating header cycles sees exactly what one message at a time sees."""
    import ingest.fit_columnar as fc

    n_skipped = 0
    for rel, (data, _ref, got) in decoded.items():
        if isinstance(got, FallbackNeeded):
            continue
        fast = fc._walk(data)
        with monkeypatch.context() as m:
            m.setattr(fc, "_CYCLE_EVERY", 10**9)
            slow = fc._walk(data)
        for attr in ("starts", "lids", "comp_ord", "comp_off"):
            assert np.array_equal(getattr(fast, attr), getattr(slow, attr)), (rel, attr)
        assert (fast.seg_starts, fast.def_events) == (slow.seg_starts, slow.def_events), rel
        n_skipped += 1
    assert n_skipped == len(decoded) - len(FALLBACK)


@pytest.mark.corpus
@pytest.mark.parametrize("tiny, max_bytes", [(0, 150_000), (10**9, 40_000)])
def test_message_by_message_and_bulk_paths_agree(decoded, monkeypatch, tiny, max_bytes):
    """Message names with few messages go message by message, the rest in bulk: force each way.

    (Message by message is slow on big files; dozens of files of each kind remain.)
    """
    import ingest.fit_columnar as fc

    monkeypatch.setattr(fc, "_TINY_MESSAGES", tiny)
    n = 0
    for rel, (data, ref, got) in decoded.items():
        if isinstance(got, FallbackNeeded) or len(data) > max_bytes:
            continue
        diffs = compare_fit_messages(ref, read_fit_messages_columnar(data))
        assert not diffs, (rel, diffs[:5])
        n += 1
    assert n >= 30


@pytest.mark.corpus
def test_fallback_list_is_exact(decoded):
    """Every refusal is listed with its reason, and fitparse too finds each of them damaged."""
    refused = {rel: got.reason for rel, (_d, _r, got) in decoded.items()
               if isinstance(got, FallbackNeeded)}
    assert set(refused) == set(FALLBACK)
    for rel, reason in refused.items():
        assert FALLBACK[rel] in reason, (rel, reason)
        ref = decoded[rel][1]
        assert isinstance(ref, IngestError) or ref.error is not None, rel


@pytest.mark.corpus
def test_refused_files_still_decode_through_fitparse(decoded):
    for rel in FALLBACK:
        data, ref, got = decoded[rel]
        fid = file_id_of(data)
        if isinstance(ref, IngestError):  # nothing to keep: the same error as the reference
            with pytest.raises(type(ref)):
                fit.decode_fit(data, fid)
            continue
        expected = fit.fit_messages_to_decoded(ref, fid)  # = the reference reader's Decoded
        dec = fit.decode_fit(data, fid)
        assert dec.decoder == f"fitparse-fallback:{got.reason}"
        assert (dec.status, dec.reason, dec.error_class, dec.n_messages_salvaged) == (
            expected.status, expected.reason, expected.error_class, expected.n_messages_salvaged)
        for table, frame in expected.frames().items():
            assert frame.equals(dec.frames()[table]), (rel, table)


@pytest.mark.corpus
@pytest.mark.parametrize("rel", [
    "dtcooper+python-fitparse/tests/files/garmin-fenix-5-run.fit",
    "dtcooper+python-fitparse/tests/files/compressed-speed-distance.fit",
    "dtcooper+python-fitparse/tests/files/developer-types-sample.fit",
    "muktihari+fit/testdata/chained_Activity_activity_poolswim.fit",
    "jimmykane+fit-parser/test/running-with-developer-data.fit",
])
def test_decode_fit_lands_the_same_activity_as_the_reference(decoded, rel):
    data, _ref, _got = decoded[rel]
    fid = file_id_of(data)
    expected = fit.decode_fit(data, fid, reader=fit_fitparse.read_fit_messages)
    dec = fit.decode_fit(data, fid)
    assert dec.decoder == "columnar"
    assert (dec.status, dec.reason) == (expected.status, expected.reason)
    for table, frame in expected.frames().items():
        assert frame.equals(dec.frames()[table]), table


@pytest.mark.corpus
def test_damaged_copies_fall_back(decoded):
    """Bytes cut mid-message or flipped: refused by the fast path, salvaged by fitparse."""
    data = decoded["dtcooper+python-fitparse/tests/files/garmin-fenix-5-run.fit"][0]
    cut = data[: len(data) // 2]
    with pytest.raises(FallbackNeeded, match="truncated"):
        read_fit_messages_columnar(cut)
    dec = fit.decode_fit(cut, file_id_of(cut))
    assert dec.decoder.startswith("fitparse-fallback:truncated")
    assert dec.status == fit.decode_fit(cut, file_id_of(cut), reader=fit_fitparse.read_fit_messages).status
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01  # inside a record value: only the CRC can tell
    with pytest.raises(FallbackNeeded, match="CRC"):
        read_fit_messages_columnar(bytes(flipped))
    assert fit.decode_fit(bytes(flipped), "x").status == "salvaged"


# --- building blocks, by hand --------------------------------------------------------------


def test_fit_crc16_matches_fitparse():
    rng = random.Random(5)
    for n in (0, 1, 12, 63, 64, 65, 1000, 4096, 70_001):
        data = bytes(rng.getrandbits(8) for _ in range(n))
        assert fit_crc16(data) == Crc.calculate(data), n
    # a FIT file's CRC over header + data equals the two bytes that end it
    assert fit_crc16(b"\x0e\x10\x00\x00") == Crc.calculate(b"\x0e\x10\x00\x00")


def test_rollover_scan_matches_fitparse_accumulation():
    """fitparse's compressed accumulation applied one event at a time vs the vectorised scan."""
    rng = random.Random(11)
    for bits in (5, 8, 12, 16):
        kind, val, expect, acc = [0], [1_000_000_000], [1_000_000_000], 1_000_000_000
        for _ in range(500):
            if rng.random() < 0.1:
                acc = rng.randrange(0, 2**31)
                kind.append(0)
                val.append(acc)
            else:
                raw = rng.randrange(0, 2**bits)
                acc = FitFile._apply_compressed_accumulation(raw, acc, bits)
                kind.append(1)
                val.append(raw)
            expect.append(acc)
        got = _rollover_scan(np.array(kind), np.array(val, dtype=np.int64), bits)
        assert got.tolist() == expect
    # hand-worked compressed timestamps: last 1000 (low 5 bits 8): offset 10 -> 1002,
    # offset 3 (< 10) -> 1002 - 10 + 3 + 32 = 1027
    got = _rollover_scan(np.array([0, 1, 1]), np.array([1000, 10, 3]), 5)
    assert got.tolist() == [1000, 1002, 1027]


def _fit_bytes(messages: bytes) -> bytes:
    header = struct.pack("<BBHI4s", 14, 0x10, 2093, len(messages), b".FIT")
    header += struct.pack("<H", Crc.calculate(header))
    body = header + messages
    return body + struct.pack("<H", Crc.calculate(body))


def test_big_endian_redefinition_and_compressed_timestamps():
    """A hand-built file: file_id, a little-endian record definition redefined big-endian mid-file,
    normal and compressed-timestamp headers, an invalid heart rate and a compressed
    speed/distance byte array (accumulated distance)."""
    msgs = b""
    # file_id (global 0) on local 0: type (0, enum) = 4 (activity)
    msgs += bytes([0x40, 0, 0]) + struct.pack("<HB", 0, 1) + bytes([0, 1, 0x00])
    msgs += bytes([0x00, 4])
    # record (global 20), little endian: timestamp (253, uint32), heart_rate (3, uint8),
    # compressed_speed_distance (8, byte[3])
    msgs += bytes([0x41, 0, 0]) + struct.pack("<HB", 20, 3)
    msgs += bytes([253, 4, 0x86, 3, 1, 0x02, 8, 3, 0x0D])
    ts0 = 1_000_000_000

    def csd(speed_raw: int, dist_raw: int) -> bytes:
        v = (speed_raw & 0xFFF) | ((dist_raw & 0xFFF) << 12)
        return v.to_bytes(3, "little")

    msgs += bytes([0x01]) + struct.pack("<IB", ts0, 150) + csd(300, 4000)
    compressed = 0x80 | (1 << 5) | ((ts0 + 3) & 0x1F)  # local 1, time offset 3
    msgs += bytes([compressed]) + struct.pack("<IB", 0xFFFFFFFF, 0xFF) + csd(310, 4090)
    # the same local message redefined big endian, then data
    msgs += bytes([0x41, 0, 1]) + struct.pack(">HB", 20, 3)
    msgs += bytes([253, 4, 0x86, 3, 1, 0x02, 8, 3, 0x0D])
    msgs += bytes([0x01]) + struct.pack(">IB", ts0 + 40, 152) + csd(320, 10)
    data = _fit_bytes(msgs)

    ref = fit_fitparse.read_fit_messages(data)
    got = read_fit_messages_columnar(data)
    assert compare_fit_messages(ref, got) == []
    rec = got.frames["record"]
    fit_zero = datetime(1989, 12, 31)
    # explicit, then compressed (ts0 has low bits 0, offset 3), then big-endian explicit
    assert rec["timestamp"].to_list() == [fit_zero + timedelta(seconds=ts0 + d) for d in (0, 3, 40)]
    assert rec["heart_rate"].to_list() == [150.0, None, 152.0]
    assert rec["speed"].to_list() == [3.0, 3.1, 3.2]
    # distance: 12-bit counts / 16, accumulated (4090 -> 4000 + 90); the redefinition resets
    # fitparse's accumulator to 0, so the last count 10 is 10, not 4096 + 10
    assert rec["distance"].to_list() == [4000 / 16, 4090 / 16, 10 / 16]
    assert got.file_type == "activity"
    assert got.n_messages == 4


def test_invalid_field_size_is_read_as_bytes_by_both_readers():
    """A size that is not a multiple of the base type's: bytes, message kept (FIT SDK, fitdecode)."""
    msgs = bytes([0x40, 0, 0]) + struct.pack("<HB", 20, 1) + bytes([3, 3, 0x84])  # 3 bytes uint16
    msgs += bytes([0x00, 1, 2, 3])
    data = _fit_bytes(msgs)
    got = read_fit_messages_columnar(data)
    assert compare_fit_messages(fit_fitparse.read_fit_messages(data), got) == []
    assert got.frames["record"]["heart_rate"].to_list() == [[1.0, 2.0, 3.0]]


def test_undescribed_developer_field_matches_fitparse():
    """A developer field nobody described: ``dev:0:unknown_dev_0_7`` bytes, as the reference reader."""
    msgs = bytes([0x60, 0, 0]) + struct.pack("<HB", 20, 1) + bytes([3, 1, 0x02])
    msgs += bytes([1, 7, 2, 0])  # one developer field: number 7, 2 bytes, developer index 0
    msgs += bytes([0x00, 140, 0x01, 0x02])
    data = _fit_bytes(msgs)
    ref = fit_fitparse.read_fit_messages(data)
    got = read_fit_messages_columnar(data)
    assert compare_fit_messages(ref, got) == []
    assert got.frames["record"]["dev:0:unknown_dev_0_7"].to_list() == [[1.0, 2.0]]
    assert got.frames["record"].schema["dev:0:unknown_dev_0_7"] == pl.List(pl.Float64)


def _with_valid_crcs(b: bytearray) -> bytes:
    """Recompute the header and file CRCs, so only the structure inside is damaged."""
    from synth.fit_encode import crc16

    hs = b[0]
    if hs == 14 and len(b) >= 14:
        b[12:14] = struct.pack("<H", crc16(bytes(b[:12])))
    if len(b) > hs + 2:
        b[-2:] = struct.pack("<H", crc16(bytes(b[:-2])))
    return bytes(b)


def test_structural_damage_behind_valid_crcs_is_refused_or_decoded_exactly(decoded):
    """Files from other tools will be damaged in ways the corpus is not. Seeded damage: bits
    flipped, bytes replaced, or the file cut (with its header's data size and both CRCs made
    valid again, so the fast path cannot lean on the CRC). The columnar reader either refuses
    (``FallbackNeeded``) or returns exactly what fitparse reads; the whole decode never raises."""
    from ingest.decode import decode_bytes
    from models.thresholds import reader_options

    READ = reader_options()

    sources = [d for rel, (d, ref, got) in sorted(decoded.items())
               if not isinstance(got, FallbackNeeded) and len(d) < 60_000][:12]
    assert sources, "no small FIT files decode columnar in the corpus"
    rng = random.Random(20261125)
    outcome = {"same": 0, "refused": 0}
    for _ in range(90):
        b = bytearray(rng.choice(sources))
        hs, kind = b[0], rng.choice(["flip", "byte", "cut"])
        if kind == "cut":
            b = b[: rng.randrange(hs + 3, len(b))]
            b[4:8] = struct.pack("<I", len(b) - hs - 2)
        else:
            for _ in range(rng.randint(1, 3)):
                pos = rng.randrange(hs, len(b) - 2)
                b[pos] = b[pos] ^ (1 << rng.randrange(8)) if kind == "flip" else rng.randrange(256)
        data = _with_valid_crcs(b)
        try:
            got = read_fit_messages_columnar(data)
        except FallbackNeeded:
            outcome["refused"] += 1
        else:
            ref = fit_fitparse.read_fit_messages(data)  # raises if fitparse cannot read what columnar did
            assert compare_fit_messages(ref, got) == [], kind
            outcome["same"] += 1
        assert decode_bytes(data, "damaged.fit", READ).status in (
            "landed", "salvaged", "quarantined", "not_activity", "no_timestamps")
    print(f"\nstructural damage: {outcome}")
    assert outcome["same"] and outcome["refused"]  # both paths were exercised
