"""ingest.fit_messages: the one FIT CRC and the constants every FIT module takes from it."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from fitparse.processors import UTC_REFERENCE
from fitparse.records import Crc

from synth import fit_encode
from ingest.fit_messages import FIT_EPOCH, FIT_EPOCH_S, fit_crc16


@pytest.mark.parametrize("n", [0, 1, 2, 13, 63, 64, 65, 100, 1000, 4097])
def test_crc_continues_from_a_start_state(n):
    """``fit_crc16(b, fit_crc16(a)) == fit_crc16(a + b)`` on both sides of the byte-table cut-off
    (the FIT writer signs header + body this way), and equals fitparse's CRC."""
    rng = random.Random(n)
    a, b = rng.randbytes(14), rng.randbytes(n)
    assert fit_crc16(b, fit_crc16(a)) == fit_crc16(a + b) == Crc.calculate(a + b)
    assert fit_crc16(b) == Crc.calculate(b)


def test_crc_for_every_chunk_count_up_to_70():
    """The vectorised CRC cuts long input into 32-byte chunks and combines them pairwise, putting a
    zero chunk in front of an odd count at any level: every count from 2 to 70 chunks (odd
    and even at each level), whole and one byte short, with and without a start state."""
    rng = random.Random(17)
    for k in range(2, 71):
        for n in (32 * k - 1, 32 * k):
            data = rng.randbytes(n)
            assert fit_crc16(data) == Crc.calculate(data), n
            head = rng.randbytes(14)
            assert fit_crc16(data, fit_crc16(head)) == Crc.calculate(head + data), n


def test_crc_of_a_bytearray_and_the_check_value():
    assert fit_crc16(b"123456789") == 0xBB3D  # CRC-16/ARC check value
    data = bytearray(random.Random(1).randbytes(300))
    assert fit_crc16(data) == Crc.calculate(bytes(data))
    assert fit_crc16(data, 0xBEEF) == fit_crc16(bytes(data), 0xBEEF)


def test_the_writer_uses_the_one_crc_and_epoch():
    assert fit_encode.crc16 is fit_crc16
    assert fit_encode.FIT_EPOCH_UNIX_S == FIT_EPOCH_S == UTC_REFERENCE
    assert fit_encode.FIT_EPOCH == datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=FIT_EPOCH_S)
    assert FIT_EPOCH == fit_encode.FIT_EPOCH.replace(tzinfo=None)
