"""The runner's log, pure part: validate what the runner typed, parse a CSV journal into frames.

Nothing here touches the database (that is ``pipelines/journal/``): checks that need it (does
this activity exist, is this shoe known) happen there, and are reported the same way.

Scales and units
- Pain: a 0-10 score (numeric rating scale, as in Silbernagel et al. 2007), in steps of 0.5
  ("2.5" is accepted, "2.3" is not: finer than half a point is not a meaningful rating).
- RPE: Borg CR-10, 0-10 in steps of 0.5 (Foster et al. 2001 session-RPE). CR-10's open top
  ("11", "maximal") is not accepted: session-RPE load uses 0-10.
- Moments: before, during, after, next_morning, evening. ``next-morning`` and ``morning`` are
  accepted spellings of ``next_morning``.
- Dates are local calendar dates, ``YYYY-MM-DD`` (also ``today`` and ``yesterday``); a date after
  ``today`` is refused.

CSV journal (``footfall log import FILE.csv``), one entry per row, header row required; column
names are case-insensitive; ``when`` and ``where`` are accepted for ``moment`` and ``location``:

    date         YYYY-MM-DD, the day (for next_morning: the morning). May be empty when
                 activity_id is given (then the activity's date, +1 day for next_morning)
    activity_id  optional: the footfall activity id
    moment       before | during | after | next_morning | evening; required with pain
    pain         0-10, optional
    location     optional, where it hurts
    rpe          0-10 (CR-10), optional
    shoe         optional: a shoe's id or name (it must exist: `footfall shoes add`). With
                 activity_id: that activity's shoe; with a date only: the runs of that day
    note         optional free text (kept with the pain entry when a row has both pain and rpe)

A row must carry at least one of pain, rpe or shoe. Empty lines and lines whose first cell starts
with ``#`` are skipped. Line numbers in errors are the file's own (the header is line 1 when the
file starts with it).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

MOMENTS = ("before", "during", "after", "next_morning", "evening")
_MOMENT_ALIASES = {"next-morning": "next_morning", "nextmorning": "next_morning",
                   "morning": "next_morning", "next morning": "next_morning"}

#: Canonical CSV columns, in the order the README lists them.
CSV_COLUMNS = ("date", "activity_id", "moment", "pain", "location", "rpe", "shoe", "note")
_CSV_ALIASES = {"when": "moment", "where": "location", "activity": "activity_id",
                "pain_score": "pain", "rpe_cr10": "rpe", "notes": "note"}

PAIN_SCHEMA = {"line": pl.Int64, "local_date": pl.Date, "activity_id": pl.Utf8,
               "moment": pl.Utf8, "score": pl.Float64, "location": pl.Utf8, "note": pl.Utf8}
RPE_SCHEMA = {"line": pl.Int64, "local_date": pl.Date, "activity_id": pl.Utf8,
              "rpe_cr10": pl.Float64, "note": pl.Utf8}
SHOE_SCHEMA = {"line": pl.Int64, "local_date": pl.Date, "activity_id": pl.Utf8, "shoe": pl.Utf8}


class JournalError(ValueError):
    """A journal value the runner gave is not acceptable; the message says why and what to do."""


@dataclass(frozen=True)
class RowError:
    """One bad CSV row: its line number in the file and what is wrong with it."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class JournalFileError(JournalError):
    """A CSV journal with bad rows. ``errors`` lists every one; nothing from the file is kept."""

    def __init__(self, errors: list[RowError], path: str = "the file"):
        self.errors = sorted(errors, key=lambda e: e.line)
        self.path = path
        n = len(self.errors)
        lines = "\n".join(f"  {e}" for e in self.errors)
        super().__init__(f"{path}: {n} bad row{'s' if n != 1 else ''}; nothing was imported\n{lines}")


@dataclass
class JournalRows:
    """A parsed CSV journal: one frame per kind of entry, each with the file's line numbers."""

    pain: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PAIN_SCHEMA))
    rpe: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=RPE_SCHEMA))
    shoe: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SHOE_SCHEMA))
    n_rows: int = 0
    #: bad rows found by parsing (the good rows are still in the frames, so a caller can add the
    #: errors only it can find, e.g. unknown activities, and report them all together)
    errors: list[RowError] = field(default_factory=list)

    def raise_if_errors(self, path: str = "the file") -> None:
        if self.errors:
            raise JournalFileError(self.errors, path)


# --------------------------------------------------------------------------- single values


def parse_score(text: str | float | int | None, what: str = "pain") -> float:
    """A 0-10 score in steps of 0.5 (pain NRS or CR-10 RPE), as a float.

    Raises ``JournalError`` naming ``what`` for anything else (text, NaN, 11, -1, 4.3).
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        raise JournalError(f"{what} is missing: give a score from 0 to 10")
    try:
        x = float(text.strip().replace(",", ".") if isinstance(text, str) else text)
    except ValueError:
        raise JournalError(f"{what} {text!r} is not a number: give a score from 0 to 10") from None
    if not math.isfinite(x) or x < 0 or x > 10:
        raise JournalError(f"{what} {text!r} is outside 0-10: give a score from 0 to 10")
    if x * 2 != int(x * 2):
        raise JournalError(f"{what} {text!r}: use whole or half points (e.g. 4 or 4.5)")
    return x


def parse_moment(text: str | None) -> str:
    """One of ``MOMENTS`` (case-insensitive; ``next-morning``/``morning`` mean next_morning)."""
    if text is None or not str(text).strip():
        raise JournalError(f"moment is missing: use one of {', '.join(MOMENTS)}")
    t = str(text).strip().lower()
    t = _MOMENT_ALIASES.get(t, t)
    if t not in MOMENTS:
        raise JournalError(f"unknown moment {text!r}: use one of {', '.join(MOMENTS)}")
    return t


def parse_date(text: str | date | None, today: date, what: str = "date") -> date:
    """A local calendar date (``YYYY-MM-DD``, ``today``, ``yesterday``), not after ``today``."""
    if isinstance(text, date):
        d = text
    else:
        t = (text or "").strip().lower()
        if t == "today":
            d = today
        elif t == "yesterday":
            d = today - timedelta(days=1)
        else:
            try:
                d = date.fromisoformat(t)
            except ValueError:
                raise JournalError(f"{what} {text!r} is not a date like {today.isoformat()}") from None
    check_not_future(d, today, what)
    return d


def check_not_future(d: date, today: date, what: str = "date") -> None:
    """Refuse a date after ``today`` (the runner's local date)."""
    if d > today:
        raise JournalError(f"{what} {d.isoformat()} is in the future (today is {today.isoformat()})")


def felt_date(activity_date: date, moment: str) -> date:
    """The day a pain score for a run at ``moment`` was felt: the next day for next_morning."""
    return activity_date + timedelta(days=1) if moment == "next_morning" else activity_date


def parse_measure(text: str | float | None, what: str, unit: str, hi: float) -> float | None:
    """An optional positive number (a shoe's drop, stack, weight); None when empty."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        x = float(text)
    except (TypeError, ValueError):
        raise JournalError(f"{what} {text!r} is not a number of {unit}") from None
    if not math.isfinite(x) or x < 0 or x > hi:
        raise JournalError(f"{what} {text!r} is outside 0-{hi:g} {unit}")
    return x


def clean_text(text: str | None) -> str | None:
    """Stripped text, None when empty."""
    if text is None:
        return None
    t = str(text).strip()
    return t or None


# --------------------------------------------------------------------------- CSV journal


def _header(cells: list[str], line: int) -> tuple[list[str], list[RowError]]:
    names, errors = [], []
    for c in cells:
        n = c.strip().lower().replace(" ", "_").replace("-", "_")
        n = _CSV_ALIASES.get(n, n)
        if n not in CSV_COLUMNS:
            errors.append(RowError(line, f"unknown column {c.strip()!r}; columns are "
                                         f"{', '.join(CSV_COLUMNS)}"))
        elif n in names:
            errors.append(RowError(line, f"column {n!r} appears twice"))
        names.append(n)
    if not errors:
        if "date" not in names and "activity_id" not in names:
            errors.append(RowError(line, "the header needs a 'date' or an 'activity_id' column"))
        if not {"pain", "rpe", "shoe"} & set(names):
            errors.append(RowError(line, "the header needs at least one of 'pain', 'rpe', 'shoe'"))
        if "pain" in names and "moment" not in names:
            errors.append(RowError(line, "a 'pain' column needs a 'moment' column"))
    return names, errors


def read_journal_csv(data: bytes, today: date, path: str = "the file") -> JournalRows:
    """Parse a CSV journal; every bad row is collected in ``errors`` with its line number.

    Returns frames of the good pain, RPE and shoe entries (``line`` = the row's first line in the
    file); ``local_date`` is NULL where the row gave only an activity id (the caller knows its
    date). Bad rows are in ``JournalRows.errors`` (call ``raise_if_errors``). A file that cannot
    be read as a journal at all (not UTF-8, not CSV, a bad header, no rows) raises
    ``JournalFileError`` / ``JournalError``. Pure: activity ids and shoe names are checked by the
    caller (``pipelines/journal/``).
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise JournalError(f"{path} is not UTF-8 text (byte {err.start}); save it as UTF-8 CSV") from err
    reader = csv.reader(io.StringIO(text, newline=""))
    errors: list[RowError] = []
    names: list[str] | None = None
    pain, rpe, shoe = [], [], []
    n_rows = 0
    next_line = 1
    while True:
        line = next_line
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise JournalFileError([RowError(line, f"not valid CSV ({err})")], path) from err
        next_line = reader.line_num + 1
        if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        if names is None:
            names, errs = _header(cells, line)
            if errs:
                raise JournalFileError(errs, path)
            continue
        n_rows += 1
        if len(cells) > len(names):
            extra = [c for c in cells[len(names):] if c.strip()]
            if extra:
                errors.append(RowError(line, f"{len(cells)} cells but the header has {len(names)} "
                                             "columns (a comma inside a note needs quotes)"))
                continue
        row = {n: clean_text(cells[i]) if i < len(cells) else None for i, n in enumerate(names)}
        errors.extend(_parse_row(row, line, today, pain, rpe, shoe))
    if names is None:
        raise JournalFileError([RowError(1, "the file is empty: no header row")], path)
    if n_rows == 0:
        raise JournalFileError([RowError(next_line - 1 or 1, "no entries after the header")], path)
    return JournalRows(
        pain=pl.DataFrame(pain, schema=PAIN_SCHEMA, orient="row"),
        rpe=pl.DataFrame(rpe, schema=RPE_SCHEMA, orient="row"),
        shoe=pl.DataFrame(shoe, schema=SHOE_SCHEMA, orient="row"),
        n_rows=n_rows,
        errors=errors,
    )


def _parse_row(row: dict, line: int, today: date, pain: list, rpe: list, shoe: list) -> list[RowError]:
    errs: list[RowError] = []

    def attempt(fn, *args):
        try:
            return fn(*args)
        except JournalError as err:
            errs.append(RowError(line, str(err)))
            return None

    activity_id = row.get("activity_id")
    d = None
    if row.get("date"):
        d = attempt(parse_date, row["date"], today)
    elif not activity_id:
        errs.append(RowError(line, "needs a date (or an activity_id)"))
    has_pain, has_rpe, has_shoe = bool(row.get("pain")), bool(row.get("rpe")), bool(row.get("shoe"))
    if not (has_pain or has_rpe or has_shoe):
        errs.append(RowError(line, "nothing to log: give pain (with moment), rpe or shoe"))
    score = moment = r = None
    if has_pain:
        score = attempt(parse_score, row["pain"], "pain")
        moment = attempt(parse_moment, row.get("moment"))
    elif row.get("moment"):
        errs.append(RowError(line, "moment given without a pain score"))
    elif row.get("location"):
        errs.append(RowError(line, "location given without a pain score"))
    if has_rpe:
        r = attempt(parse_score, row["rpe"], "rpe")
    if errs:
        return errs
    if has_pain:
        pain.append((line, d, activity_id, moment, score, row.get("location"), row.get("note")))
    if has_rpe:
        rpe.append((line, d, activity_id, r, None if has_pain else row.get("note")))
    if has_shoe:
        shoe.append((line, d, activity_id, row["shoe"]))
    return errs
