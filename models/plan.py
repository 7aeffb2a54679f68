"""A return-to-run plan: parsing and validating what the runner (or a clinician) wrote. Pure.

A plan is weeks 1..N from one start date (week N = the 7 local days from
``start + 7 (N - 1)``). Each week has:

- ``run_min``: planned running minutes in the week (> 0; leave a week with no running out);
- ``pattern`` (optional): the walk-run pattern of a session, ``"R:W x N"`` = run R minutes, walk
  W minutes, N times (``"1:1 x 10"``, ``"2:1 x 8"``, ``"0.5:1.5 x 6"``; ``x``, ``X``, ``×`` or
  ``*``). One session's running (R x N) cannot exceed the week's ``run_min``;
- ``longest_min`` (optional): the longest continuous running bout planned; default the
  pattern's R; at most ``run_min``;
- ``note`` (optional).

The CSV (``footfall plan import plan.csv``, example: ``examples/return_to_run_plan.csv``) has a
header with ``week`` and ``run_min`` and optionally ``pattern``, ``longest_min``, ``note``,
``start_date`` (the same date on every row that gives it). Bad rows are all listed with their
line numbers (``PlanFileError``); nothing is imported then.

The writes (one transaction, the data generation) are in ``pipelines/plan.py``; the comparison
with what was run is the SQL model ``sql/30_marts/plan_vs_actual.sql``.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import date, timedelta

from models.journal import JournalError, RowError

#: Most weeks a plan may have (a return-to-run programme runs weeks to a few months).
MAX_WEEKS = 104
#: Most repeats of a walk-run pattern in one session.
MAX_REPEATS = 100
#: Most running minutes planned in one week (a check on typos: 10080 is the whole week).
MAX_WEEK_MIN = 3000.0

_PATTERN = re.compile(
    r"^\s*(?P<run>\d+(?:\.\d+)?)\s*:\s*(?P<walk>\d+(?:\.\d+)?)\s*[x×*]\s*(?P<n>\d+)\s*$",
    re.IGNORECASE,
)
CSV_COLUMNS = ("week", "run_min", "pattern", "longest_min", "note", "start_date")
REQUIRED_COLUMNS = ("week", "run_min")


class PlanError(JournalError):
    """A plan value the runner gave is not acceptable; the message says why (exit 2)."""


class PlanFileError(PlanError):
    """A plan CSV with bad rows; ``errors`` lists every one and nothing was imported."""

    def __init__(self, errors: list[RowError], path: str = "the file"):
        self.errors = sorted(errors, key=lambda e: e.line)
        self.path = path
        n = len(self.errors)
        lines = "\n".join(f"  {e}" for e in self.errors)
        super().__init__(f"{path}: {n} bad row{'s' if n != 1 else ''}; nothing was imported\n{lines}")


@dataclass(frozen=True)
class Pattern:
    run_min: float
    walk_min: float
    repeats: int

    @property
    def text(self) -> str:
        return f"{_g(self.run_min)}:{_g(self.walk_min)} x {self.repeats}"

    @property
    def session_run_min(self) -> float:
        return self.run_min * self.repeats


@dataclass(frozen=True)
class PlanWeek:
    week_number: int
    run_min: float
    pattern: Pattern | None = None
    longest_min: float | None = None
    note: str | None = None

    def row(self, athlete_id: str, start_date: date) -> dict:
        p = self.pattern
        return {
            "athlete_id": athlete_id, "start_date": start_date, "week_number": self.week_number,
            "run_min": self.run_min, "pattern": p.text if p else None,
            "pattern_run_min": p.run_min if p else None, "pattern_walk_min": p.walk_min if p else None,
            "pattern_repeats": p.repeats if p else None, "longest_min": self.longest_min,
            "note": self.note,
        }


def _g(x: float) -> str:
    return f"{x:g}"


def parse_pattern(text: str | None) -> Pattern | None:
    """``"1:1 x 10"`` -> Pattern(1, 1, 10); empty -> None; anything else -> PlanError."""
    if text is None or not str(text).strip():
        return None
    m = _PATTERN.match(str(text))
    if not m:
        raise PlanError(f"pattern {text!r} is not like '1:1 x 10' (run minutes:walk minutes x repeats)")
    run, walk, n = float(m["run"]), float(m["walk"]), int(m["n"])
    if run <= 0:
        raise PlanError(f"pattern {text!r}: the running part must be more than 0 minutes")
    if not 1 <= n <= MAX_REPEATS:
        raise PlanError(f"pattern {text!r}: repeats must be 1-{MAX_REPEATS}")
    return Pattern(run, walk, n)


def _number(text, what: str, *, low: float = 0.0, high: float = MAX_WEEK_MIN) -> float:
    try:
        x = float(str(text).strip())
    except (TypeError, ValueError):
        raise PlanError(f"{what} {text!r} is not a number of minutes") from None
    if not math.isfinite(x) or x <= low or x > high:
        raise PlanError(f"{what} {text!r} must be more than {low:g} and at most {high:g} minutes")
    return x


def parse_week_number(text) -> int:
    t = str(text).strip() if text is not None else ""
    if not t.isdigit() or not 1 <= int(t) <= MAX_WEEKS:
        raise PlanError(f"week {text!r} must be a whole number 1-{MAX_WEEKS}")
    return int(t)


def parse_start(text: str | date | None) -> date | None:
    if text is None or isinstance(text, date):
        return text
    t = str(text).strip()
    if not t:
        return None
    try:
        return date.fromisoformat(t)
    except ValueError:
        raise PlanError(f"start date {text!r} is not a date like 2026-03-02") from None


def make_week(week, run_min, pattern=None, longest_min=None, note=None) -> PlanWeek:
    """One validated plan week (values as typed: text or numbers)."""
    n = parse_week_number(week)
    if run_min is None or str(run_min).strip() == "":
        raise PlanError("run_min (planned running minutes in the week) is required")
    total = _number(run_min, "run_min")
    pat = parse_pattern(pattern)
    if pat is not None and pat.session_run_min > total + 1e-9:
        raise PlanError(f"pattern {pat.text} runs {_g(pat.session_run_min)} min in one session, "
                        f"more than the week's run_min {_g(total)}")
    longest = None
    if longest_min is not None and str(longest_min).strip() != "":
        longest = _number(longest_min, "longest_min")
    elif pat is not None:
        longest = pat.run_min
    if longest is not None and longest > total + 1e-9:
        raise PlanError(f"longest_min {_g(longest)} is more than the week's run_min {_g(total)}")
    if pat is not None and longest is not None and longest + 1e-9 < pat.run_min:
        raise PlanError(f"longest_min {_g(longest)} is shorter than the pattern's running part "
                        f"({_g(pat.run_min)} min in {pat.text})")
    text = (note or "").strip() or None
    return PlanWeek(n, total, pat, longest, text)


def week_start(start: date, week_number: int) -> date:
    return start + timedelta(days=7 * (week_number - 1))


@dataclass
class PlanRows:
    weeks: list[PlanWeek]
    start_date: date | None
    errors: list[RowError]


def read_plan_csv(data: bytes, path: str = "the file") -> PlanRows:
    """Parse a plan CSV: every bad row in ``errors`` with its line number (see the module doc).

    A file that cannot be a plan at all (not UTF-8, no header with week and run_min, unknown
    columns, no rows) raises ``PlanError``.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise PlanError(f"{path} is not UTF-8 text (byte {err.start}); save it as UTF-8 CSV") from err
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    header_line = 0
    weeks: list[PlanWeek] = []
    errors: list[RowError] = []
    starts: dict[date, int] = {}
    seen: dict[int, int] = {}
    for cells in reader:
        line = reader.line_num
        if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [c.strip().lower() for c in cells]
            header_line = line
            unknown = [c for c in header if c not in CSV_COLUMNS]
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if unknown or missing:
                raise PlanError(
                    f"{path} line {line}: the header must name week and run_min (and may name "
                    f"{', '.join(CSV_COLUMNS[2:])})"
                    + (f"; unknown column(s): {', '.join(unknown)}" if unknown else "")
                    + (f"; missing: {', '.join(missing)}" if missing else ""))
            if len(set(header)) != len(header):
                raise PlanError(f"{path} line {line}: a column is named twice in the header")
            continue
        if len(cells) > len(header):
            errors.append(RowError(line, f"{len(cells)} cells but the header has {len(header)} columns"))
            continue
        row = dict(zip(header, [c.strip() for c in cells]))
        try:
            w = make_week(row.get("week"), row.get("run_min"), row.get("pattern"),
                          row.get("longest_min"), row.get("note"))
            st = parse_start(row.get("start_date"))
        except PlanError as err:
            errors.append(RowError(line, str(err)))
            continue
        if w.week_number in seen:
            errors.append(RowError(line, f"week {w.week_number} is also on line {seen[w.week_number]}"))
            continue
        seen[w.week_number] = line
        if st is not None:
            starts.setdefault(st, line)
        weeks.append(w)
    if header is None:
        raise PlanError(f"{path} is empty: it needs a header (week,run_min,pattern,longest_min,note) "
                        "and one row per week")
    if not weeks and not errors:
        raise PlanError(f"{path} has a header (line {header_line}) but no plan weeks")
    if len(starts) > 1:
        (d1, l1), (d2, l2) = sorted(starts.items(), key=lambda kv: kv[1])[:2]
        errors.append(RowError(l2, f"start_date {d2} differs from {d1} on line {l1}: a plan has one "
                                   "start date (week N starts 7 (N - 1) days after it)"))
    return PlanRows(weeks, next(iter(sorted(starts, key=starts.get)), None), errors)
