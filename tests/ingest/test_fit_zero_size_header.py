"""A FIT file whose header declares 0 data bytes but holds a whole activity (issue 15, point 6).

A device writes the header first and fills in the data size when it closes the file; a file
never closed keeps 0 there. Before, every reader stopped at the header and the file was
quarantined as "invalid FIT header before any data message". Now the data are read to the end of
the file (less the CRC when one checks out): what decodes lands as ``salvaged`` with a
``BadHeader`` reason that says what the header claims and what the file holds; when nothing
decodes, the file is quarantined with the same words.

Files are written by synth/fit_encode.py and patched here.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta

import pytest
from typer.testing import CliRunner

from ingest.decode import decode_bytes
from models.thresholds import reader_options
from synth.fit_encode import crc16, encode_activity

READ = reader_options()
T0 = datetime(2025, 5, 4, 7, 0)
N = 5700  # records: the file is ~86 KB, the size of the one the issue saw


@pytest.fixture(scope="module")
def good() -> bytes:
    recs = {"timestamp": [T0 + timedelta(seconds=i) for i in range(N)],
            "distance": [2.9 * i for i in range(N)],
            "enhanced_speed": [2.9] * N,
            "heart_rate": [130 + (i % 20) for i in range(N)],
            "cadence": [84 + (i % 3) for i in range(N)]}
    data = encode_activity(records=recs)
    assert data[0] == 14 and struct.unpack_from("<I", data, 4)[0] == len(data) - 16
    return data


def zero_size(data: bytes, header_crc: str = "recomputed") -> bytes:
    """``data`` with its header's data size set to 0; the header CRC recomputed, or 0 (none)."""
    head = bytearray(data[:14])
    head[4:8] = b"\0\0\0\0"
    head[12:14] = struct.pack("<H", crc16(bytes(head[:12])) if header_crc == "recomputed" else 0)
    return bytes(head) + data[14:]


def _decode(data: bytes):
    return decode_bytes(data, "never_closed.fit", READ)


def _same_records(d, ref, n: int | None = None) -> None:
    n = ref.records.height if n is None else n
    for col in ("recorded_at", "distance_m", "heart_rate_bpm", "cadence_raw", "speed_mps"):
        assert d.records[col].head(n).to_list() == ref.records[col].head(n).to_list(), col


def test_zero_size_header_with_the_data_and_crc_intact_is_salvaged_whole(good):
    ref = _decode(good)
    assert ref.status == "landed" and ref.records.height == N
    data = zero_size(good)
    d = _decode(data)
    assert (d.status, d.error_class) == ("salvaged", "BadHeader"), d.reason
    assert d.reason == (f"FIT header declares 0 data bytes but the file holds {len(data) - 14:,} after "
                        f"its 14-byte header: read them to the end of the file (the file CRC at the end "
                        f"checks out)")
    assert 80_000 < len(data) < 90_000
    assert d.records.height == N and d.activities.height == 1
    _same_records(d, ref)
    assert d.activities["distance_m"].to_list() == ref.activities["distance_m"].to_list()
    assert d.n_messages_salvaged is not None and d.n_messages_salvaged >= N


def test_zero_size_header_without_header_crc_is_salvaged_whole(good):
    d = _decode(zero_size(good, header_crc="none"))
    assert (d.status, d.error_class) == ("salvaged", "BadHeader"), d.reason
    assert d.records.height == N


def test_a_file_never_closed_has_no_crc_and_is_read_to_its_last_byte(good):
    ref = _decode(good)
    data = zero_size(good)[:-2]  # no file CRC written
    d = _decode(data)
    assert (d.status, d.error_class) == ("salvaged", "BadHeader"), d.reason
    assert d.reason.startswith(f"FIT header declares 0 data bytes but the file holds {len(data) - 14:,} ")
    assert "no file CRC at the end checks out, so all of it is read as data" in d.reason
    assert d.records.height == N
    _same_records(d, ref)


def test_a_file_cut_mid_message_keeps_the_records_before_the_cut(good):
    ref = _decode(good)
    d = _decode(zero_size(good)[:-1000])  # the summary messages and the last records lost
    assert (d.status, d.error_class) == ("salvaged", "BadHeader"), d.reason
    assert "declares 0 data bytes" in d.reason and "file ends mid-message" in d.reason
    assert N - 100 < d.records.height < N
    _same_records(d, ref, d.records.height)


def test_a_12_byte_header_declaring_0_bytes_is_salvaged_too(good):
    head = bytearray(good[:12])
    head[0] = 12
    head[4:8] = b"\0\0\0\0"
    d = _decode(bytes(head) + good[14:-2])
    assert (d.status, d.error_class) == ("salvaged", "BadHeader"), d.reason
    assert "after its 12-byte header" in d.reason
    assert d.records.height == N


def test_zero_size_header_over_bytes_that_are_not_fit_is_quarantined_saying_so(good):
    junk = bytes((i * 37 + 11) % 251 for i in range(86_000))
    d = _decode(zero_size(good)[:14] + junk)
    assert (d.status, d.error_class) == ("quarantined", "BadHeader"), d.reason
    assert d.reason.startswith("FIT header declares 0 data bytes but the file holds 86,000 after its "
                               "14-byte header")
    assert "nothing there reads as FIT messages" in d.reason
    assert "invalid FIT header before any data message" not in d.reason


def test_a_header_of_0_bytes_followed_by_its_crc_only_is_still_an_empty_file(good):
    head = zero_size(good)[:14]
    d = _decode(head + struct.pack("<H", crc16(head)))
    assert d.status == "quarantined"
    assert "declares 0 data bytes" not in (d.reason or "")


def test_sync_lands_the_file_as_salvaged_with_the_reason(good, prefect_harness, isolated_config):
    from pipelines import db
    from pipelines.cli import app

    src = isolated_config / "watch"
    src.mkdir()
    (src / "never_closed.fit").write_bytes(zero_size(good)[:-2])
    dbfile = isolated_config / "f.duckdb"
    res = CliRunner().invoke(app, ["sync", str(src), "--db", str(dbfile), "--json"])
    assert res.exit_code == 0, res.output
    with db.connection(dbfile, read_only=True) as con:
        rows = con.execute("SELECT status, error_class, reason, n_records FROM files").fetchall()
        n_acts = con.execute("SELECT count(*) FROM activities").fetchall()[0][0]
    assert len(rows) == 1
    status, error_class, reason, n_records = rows[0]
    assert (status, error_class, n_records, n_acts) == ("salvaged", "BadHeader", N, 1)
    assert reason.startswith("FIT header declares 0 data bytes but the file holds ")
