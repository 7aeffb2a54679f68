"""Every ``record`` message fitdecode reads from a FIT file comes out of footfall (issue 17,
"Completeness"): a differential count over every FIT file of the corpus, plus hand-made files
for each cause found.

**Reference.** fitdecode 0.11.0 (the ``test`` extra), read with

- ``check_crc=CrcCheck.DISABLED``: a CRC mismatch does not stop it, it reads every message. footfall
  keeps every message of a file whose bytes parse but whose CRC does not match (``salvaged``,
  ``CrcMismatch``), so the two counts mean the same thing. The CRC is still checked by footfall:
  such a file leaves the columnar reader (``FallbackNeeded``) and is salvaged by the reference
  reader, which says so.
- ``error_handling=ErrorHandling.IGNORE``: fitdecode's lenient mode (its default ``WARN`` without
  the warnings), closest to the Garmin FIT SDK decoder: a field whose size is not a multiple of
  its base type's size is read as bytes and the message is kept; an undescribed developer field
  is read as bytes.
- a file fitdecode stops in (truncated data, a missing CRC, an undefined local message): the
  records it read before stopping. footfall salvages what precedes the damage, so it must read at
  least as many; reading more must be explained (``MORE_THAN_FITDECODE``, empty today).

**Decoder level** (the claim): the records of ``ingest.fit._read_messages`` -- the columnar
reader, or the reference reader (fitparse) for a file the columnar one refuses -- i.e. what
``ingest.decode.decode_bytes`` builds its frames from, before any derivation.

**Landing level** (explained separately): ``pipelines.work.decode_one`` (what a sync lands per
file: decode, plausibility checks, derivation). Differences there are footfall choices, each
with its reason: a file whose records carry no UTC time lands ``no_timestamps`` with no records
(the device-relative clock cannot be placed in time); a file that is not an activity
(``not_activity``) lands no records; an activity refused by the plausibility checks
(``models/plausibility.py``, a ``value_checks`` row says so) lands no records, and a record
dated outside the plausible window is dropped (``row_dropped`` in ``value_checks``, counted).
Duplicates are
decided per file at landing (a second copy of the same activity lands as ``duplicate``), never
per record, so they do not drop records from a file that lands.

**Files short before the fix** (footfall < fitdecode at the decoder, 2026-11-29, 87 corpus FIT
files):

- ``dtcooper+python-fitparse/tests/files/coros-pace-2-cycling-misaligned-fields.fit``: 1,785 of
  11,272 records. Its ``event`` definition declares field 3 (``data``, uint32) with 1 byte. The
  columnar reader refused the file (``FallbackNeeded("invalid field size")``) and fitparse 1.2.0
  stopped at that definition ("Invalid field size 1 for type 'uint32'"), so the file was
  ``salvaged`` with the records before it. Fixed: both readers read such a field as bytes (as
  fitdecode; the SDK reads uint8) and keep the message.
"""

from __future__ import annotations

import gzip
import io
import multiprocessing
import os
import struct
import zipfile
from concurrent.futures import ProcessPoolExecutor

import pytest

fitdecode = pytest.importorskip("fitdecode", reason="fitdecode (the test extra) is the reference")

from fitparse.records import Crc  # noqa: E402

from ingest import fit_fitparse  # noqa: E402
from ingest.decode import decode_bytes  # noqa: E402
from ingest.errors import IngestError  # noqa: E402
from ingest.fit import _read_messages, decode_fit  # noqa: E402
from ingest.fit_columnar import FallbackNeeded, read_fit_messages_columnar  # noqa: E402
from ingest.fit_messages import compare_fit_messages  # noqa: E402
from models.thresholds import reader_options  # noqa: E402

#: Corpus files short before the fix: relative path -> (footfall records then, fitdecode records).
SHORT_BEFORE_FIX = {
    "dtcooper+python-fitparse/tests/files/coros-pace-2-cycling-misaligned-fields.fit": (1785, 11272),
}
#: Corpus files where footfall reads MORE records than fitdecode, and why (none today).
MORE_THAN_FITDECODE: dict[str, str] = {}


def fitdecode_records(data: bytes) -> tuple[int, str | None]:
    """(record messages fitdecode reads, the error that stopped it or None); see the module doc."""
    n = 0
    try:
        with fitdecode.FitReader(
            io.BytesIO(data),
            check_crc=fitdecode.CrcCheck.DISABLED,
            error_handling=fitdecode.ErrorHandling.IGNORE,
        ) as reader:
            for frame in reader:
                if isinstance(frame, fitdecode.FitDataMessage) and frame.global_mesg_num == 20:
                    n += 1
    except Exception as err:  # noqa: BLE001 - fitdecode stops: count what it read before
        return n, f"{type(err).__name__}: {err}"
    return n, None


def footfall_records(data: bytes) -> tuple[int, str]:
    """(record messages footfall's decoder reads, which reader) -- before any derivation."""
    try:
        msgs = _read_messages(data, None)
    except IngestError as err:
        return 0, f"refused: {type(err).__name__}"
    rec = msgs.frames.get("record")
    return (0 if rec is None else rec.height), msgs.decoder


def corpus_fit_sources(corpus_dir) -> list[tuple[str, bytes]]:
    """(relative name, bytes) of every FIT file: ``*.fit``, ``*.fit.gz``, FIT members of ``*.zip``."""
    out = []
    for p in sorted(corpus_dir.rglob("*")):
        if not p.is_file():
            continue
        rel = str(p.relative_to(corpus_dir))
        low = p.name.lower()
        if low.endswith(".fit"):
            out.append((rel, p.read_bytes()))
        elif low.endswith(".fit.gz"):
            out.append((rel, gzip.decompress(p.read_bytes())))
        elif low.endswith(".zip"):
            with zipfile.ZipFile(p) as zf:
                for m in sorted(zf.namelist()):
                    if m.lower().endswith(".fit"):
                        out.append((f"{rel}!{m}", zf.read(m)))
                    elif m.lower().endswith(".fit.gz"):
                        out.append((f"{rel}!{m}", gzip.decompress(zf.read(m))))
    return out


@pytest.fixture(scope="module")
def counts(corpus_dir) -> dict:
    """relative name -> (fitdecode records, fitdecode stop, footfall records, footfall reader)."""
    sources = corpus_fit_sources(corpus_dir)
    workers = min(len(sources), os.cpu_count() or 1, 4)
    if workers > 1:  # fitdecode over the corpus is the slow part: on every core, largest first
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futs = {rel: pool.submit(fitdecode_records, data)
                    for rel, data in sorted(sources, key=lambda s: -len(s[1]))}
            ref = {rel: f.result() for rel, f in futs.items()}
    else:
        ref = {rel: fitdecode_records(data) for rel, data in sources}
    out = {}
    for rel, data in sources:
        fd, stop = ref[rel]
        ff, reader = footfall_records(data)
        out[rel] = (fd, stop, ff, reader)
    return out


def _table(rows: list[tuple]) -> str:
    lines = ["fitdecode  footfall  reader / fitdecode stop  file"]
    lines += [f"{fd:>9}  {ff:>8}  {reader} / {stop}  {rel}" for rel, fd, ff, reader, stop in rows]
    return "\n".join(lines)


@pytest.mark.corpus
def test_footfall_decodes_every_record_fitdecode_reads(counts, catalog):
    """At the decoder: footfall >= fitdecode for every corpus FIT file; more only if explained."""
    n_fit = sum(1 for r in catalog.values() if r["format"] == "fit")
    assert len(counts) >= n_fit > 0  # every catalogued FIT file (and any inside archives)
    diff = [(rel, fd, ff, reader, stop) for rel, (fd, stop, ff, reader) in counts.items()
            if ff != fd]
    if diff:
        print("\nfiles where footfall and fitdecode count different records:\n" + _table(diff))
    short = [d for d in diff if d[2] < d[1]]
    assert not short, "footfall decodes fewer records than fitdecode:\n" + _table(short)
    more = {d[0] for d in diff if d[2] > d[1]}
    assert more == set(MORE_THAN_FITDECODE), _table([d for d in diff if d[0] in more])


@pytest.mark.corpus
def test_the_files_short_before_the_fix_are_complete_and_columnar(counts):
    for rel, (before, fd_expected) in SHORT_BEFORE_FIX.items():
        if rel not in counts:
            pytest.skip(f"{rel} is not in this corpus")
        fd, stop, ff, reader = counts[rel]
        assert (fd, stop) == (fd_expected, None), rel
        assert ff == fd > before, rel
        assert reader == "columnar", (rel, reader)  # the fast path, CRC checked


@pytest.mark.corpus
def test_landing_keeps_every_decoded_record_or_says_why(counts, corpus_dir):
    """What a sync lands per file (``pipelines.work.decode_one``) against fitdecode's count."""
    from pipelines.work import DeriveContext, decode_one

    ctx = DeriveContext(athlete_id="completeness")
    explained = []
    for rel, data in corpus_fit_sources(corpus_dir):
        fd = counts[rel][0]
        dec, _metrics = decode_one(data, rel, ctx)
        landed = dec.records.height
        if landed == fd:
            continue
        vc = dec.value_checks
        dropped = int(vc.filter((vc["table_name"] == "records") & (vc["action"] == "row_dropped"))
                      ["n_rejected"].sum() or 0)
        refused = vc.filter(vc["action"] == "activity_refused").height
        why = {"no_timestamps": "records without a UTC time",
               "not_activity": "not an activity file"}.get(dec.status)
        if why is None and refused:
            why = f"{refused} activity(ies) refused by the plausibility checks"
        elif why is None and dropped and landed + dropped == fd:  # every missing record counted
            why = f"{dropped} record(s) dropped by the plausibility checks (value_checks)"
        assert why is not None and landed < fd, (rel, dec.status, landed, fd, dec.reason)
        explained.append((rel, fd, landed, dec.status, why))
    if explained:
        print("\nfiles landing fewer records than fitdecode reads, and why:")
        for rel, fd, landed, status, why in explained:
            print(f"{fd:>9}  {landed:>8}  {status}: {why}  {rel}")


# --------------------------------------------------------------------------------------------
# Hand-made files, one per cause
# --------------------------------------------------------------------------------------------


def _fit(messages: bytes) -> bytes:
    header = struct.pack("<BBHI4s", 14, 0x10, 2093, len(messages), b".FIT")
    header += struct.pack("<H", Crc.calculate(header))
    body = header + messages
    return body + struct.pack("<H", Crc.calculate(body))


TS0 = 1_000_000_000  # FIT seconds


def _misaligned_records(n: int = 5) -> bytes:
    """file_id, then records whose ``distance`` (uint32) is declared with 3 bytes, between
    ``timestamp`` and ``heart_rate``: the fields after it sit at an offset the declared type
    does not predict."""
    msgs = bytes([0x40, 0, 0]) + struct.pack("<HB", 0, 1) + bytes([0, 1, 0x00])
    msgs += bytes([0x00, 4])  # file_id.type = activity
    msgs += bytes([0x41, 0, 0]) + struct.pack("<HB", 20, 3)
    msgs += bytes([253, 4, 0x86, 5, 3, 0x86, 3, 1, 0x02])  # timestamp, distance[3 B], heart_rate
    for i in range(n):
        msgs += bytes([0x01]) + struct.pack("<I", TS0 + i) + bytes([i, 0, 0]) + bytes([140 + i])
    return msgs


def test_a_misaligned_field_is_read_as_bytes_and_its_messages_kept():
    data = _fit(_misaligned_records())
    assert fitdecode_records(data) == (5, None)
    got = read_fit_messages_columnar(data)  # no FallbackNeeded: the fast path reads it
    ref = fit_fitparse.read_fit_messages(data)  # the reference reader agrees, field by field
    assert ref.error is None
    assert compare_fit_messages(ref, got) == []
    rec = got.frames["record"]
    assert rec.height == 5
    assert rec["heart_rate"].to_list() == [140.0, 141.0, 142.0, 143.0, 144.0]  # offsets right
    # the misaligned field: its bytes, as fitdecode gives them (no uint32 read from 3 bytes)
    assert rec["distance"].to_list()[1] == [v / 100 for v in (1, 0, 0)]
    dec = decode_bytes(data, "misaligned.fit", reader_options())
    assert dec.status == "landed" and dec.decoder == "columnar"
    assert dec.records.height == 5


def test_a_misaligned_field_in_a_damaged_file_salvages_what_precedes_the_damage():
    """The CRC and structure checks stay: a truncated file still leaves the fast path and the
    reference reader salvages every record before the damage, past the misaligned definition."""
    msgs = _misaligned_records(5)
    good = _fit(msgs)
    # the header declares all the data, but the file stops in the middle of the 5th record
    cut = good[: 14 + len(msgs) - 3]
    with pytest.raises(FallbackNeeded, match="truncated"):
        read_fit_messages_columnar(cut)
    fd, stop = fitdecode_records(cut)
    assert fd == 4 and stop is not None
    dec = decode_fit(cut, "cut")
    assert dec.status == "salvaged" and dec.error_class == "TruncatedFile"
    assert dec.decoder.startswith("fitparse-fallback:truncated")
    assert dec.records.height == fd

    # a CRC that does not match: everything is kept, and the file says so
    bad = bytearray(good)
    bad[-1] ^= 0xFF
    with pytest.raises(FallbackNeeded, match="CRC"):
        read_fit_messages_columnar(bytes(bad))
    dec = decode_fit(bytes(bad), "crc")
    assert dec.status == "salvaged" and dec.error_class == "CrcMismatch"
    assert dec.records.height == fitdecode_records(bytes(bad))[0] == 5


def test_misaligned_fields_of_every_base_type_keep_their_messages():
    """Each multi-byte base type with a size that is not a multiple of it (sint16 ... float64)."""
    for btn, bsize in ((0x83, 2), (0x84, 2), (0x85, 4), (0x86, 4), (0x88, 4), (0x89, 8),
                       (0x8B, 2), (0x8C, 4), (0x8E, 8), (0x8F, 8), (0x90, 8)):
        size = bsize + 1
        msgs = bytes([0x40, 0, 0]) + struct.pack("<HB", 20, 3)
        msgs += bytes([253, 4, 0x86, 7, size, btn, 3, 1, 0x02])  # field 7 (power) misaligned
        for i in range(3):
            msgs += bytes([0x00]) + struct.pack("<I", TS0 + i) + bytes(range(size)) + bytes([150])
        data = _fit(msgs)
        assert fitdecode_records(data) == (3, None), hex(btn)
        got = read_fit_messages_columnar(data)
        assert compare_fit_messages(fit_fitparse.read_fit_messages(data), got) == [], hex(btn)
        assert got.frames["record"]["heart_rate"].to_list() == [150.0] * 3, hex(btn)


def test_chained_redefined_compressed_and_developer_records_are_all_read():
    """The other structures the brief names, each against fitdecode's count: a developer field,
    a redefinition of the local message mid-file, compressed-timestamp headers, and a second
    FIT file chained after the first."""
    msgs = bytes([0x40, 0, 0]) + struct.pack("<HB", 0, 1) + bytes([0, 1, 0x00]) + bytes([0x00, 4])
    # developer_data_id (207): developer_data_index (3, uint8) = 0
    msgs += bytes([0x42, 0, 0]) + struct.pack("<HB", 207, 1) + bytes([3, 1, 0x02]) + bytes([0x02, 0])
    # field_description (206): index 0, number 0, base type uint16 (0x84), name "Power"
    msgs += bytes([0x43, 0, 0]) + struct.pack("<HB", 206, 4)
    msgs += bytes([0, 1, 0x02, 1, 1, 0x02, 2, 1, 0x02, 3, 6, 0x07])
    msgs += bytes([0x03, 0, 0, 0x84]) + b"Power\x00"
    # record with the developer field, local 1
    msgs += bytes([0x61, 0, 0]) + struct.pack("<HB", 20, 2) + bytes([253, 4, 0x86, 3, 1, 0x02])
    msgs += bytes([1, 0, 2, 0])
    for i in range(3):
        msgs += bytes([0x01]) + struct.pack("<IBH", TS0 + i, 140, 250 + i)
    # compressed timestamps on local 1 (time offset in the header)
    for i in range(3, 6):
        msgs += bytes([0x80 | (1 << 5) | ((TS0 + i) & 0x1F)]) + struct.pack("<IBH", 0xFFFFFFFF, 141, 260)
    # local 1 redefined: record without the developer field, big endian
    msgs += bytes([0x41, 0, 1]) + struct.pack(">HB", 20, 2) + bytes([253, 4, 0x86, 3, 1, 0x02])
    for i in range(6, 9):
        msgs += bytes([0x01]) + struct.pack(">IB", TS0 + i, 142)
    first = _fit(msgs)
    second = _fit(bytes([0x41, 0, 0]) + struct.pack("<HB", 20, 2) + bytes([253, 4, 0x86, 3, 1, 0x02])
                  + b"".join(bytes([0x01]) + struct.pack("<IB", TS0 + 100 + i, 150) for i in range(4)))
    data = first + second
    fd, stop = fitdecode_records(data)
    assert (fd, stop) == (13, None)
    got = read_fit_messages_columnar(data)
    assert compare_fit_messages(fit_fitparse.read_fit_messages(data), got) == []
    assert got.frames["record"].height == fd
    assert footfall_records(data) == (fd, "columnar")
