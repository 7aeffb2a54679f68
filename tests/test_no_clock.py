"""No test reads today's date: fixtures and tests use fixed dates (tests/conftest.py's ``TODAY``,
which the command line's edge reads through ``FOOTFALL_TODAY``), so that no result depends on the
day or the weekday the suite runs on (issue 12, point 5)."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent

#: Reading the clock: date.today(), datetime.now(...), datetime.today(), local_today() and the
#: utcnow() helpers.
CLOCK = re.compile(r"\b(?:date\.today|datetime\.now|datetime\.today|datetime\.utcnow|local_today|utcnow)\(")


def test_no_test_reads_the_clock():
    readers = []
    for f in sorted(TESTS.rglob("*.py")):
        if f.name == Path(__file__).name:
            continue
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if CLOCK.search(line):
                readers.append(f"{f.relative_to(TESTS)}:{n}: {line.strip()}")
    assert not readers, "tests reading today's date (use tests.conftest.TODAY):\n" + "\n".join(readers)


def test_the_pattern_finds_what_it_should():
    for line in ("x = date.today()", "datetime.now(timezone.utc)", "datetime.today()",
                 "local_today(s.timezone)", "db.utcnow()"):
        assert CLOCK.search(line), line
    assert not CLOCK.search("make_sample_export(end_date=TODAY)")
