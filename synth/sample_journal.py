"""The demo runner's journal: the pain, effort and shoes that go with ``synth.sample``'s runs.

``sample_journal(seed, weeks, end_date)`` returns a :class:`SampleJournal`: two shoes with a
transition (for ``footfall shoes add`` / ``retire``) and a CSV journal (the format of
``footfall log import``, ``models/journal.py``) of pain and session RPE logged by date, one row
per run and moment. It is data only; ``footfall demo`` writes it through ``pipelines/journal/``.

The story follows the runs of :func:`synth.sample.plan_runs` (same seed, weeks and end date):

- build weeks: pain after a run 0-1/10, RPE 3-5;
- the last build week: a forefoot niggle (2nd metatarsal), pain after 2-3 and the next morning
  2-3, which is why the runner cut back;
- cut-back weeks: pain after 1-2 settling to 1, next morning 1;
- the spike week: the runner switches from "Clifton 9" (retired the day before) to a new
  "Novablast 4" on its Tuesday; pain after 3, then 4 (settled to 1 by the next morning); the long
  spike run in the new shoes hurts during (6/10) and after (6/10), and the next morning is 4/10;
  the Sunday recovery run 3/10; no next-morning score after it (runners skip days);
- the last week: pain after 2, next morning 1; the run on ``end_date`` has nothing logged, for
  the README's next steps (``footfall log pain 4 --when after ...``).

Under the rules of ``sql/30_marts/journal_flags.sql`` and the default thresholds this raises
``pain_during`` and ``pain_rising`` on the spike day, ``pain_next_morning`` the morning after, and
``new_shoe_load`` on the first run in which the new shoe carries more than half of a week's
running (the spike at the latest); with the default 12 weeks the niggle's last morning (3/10 after
2, 2, 2) raises ``pain_next_morning`` too, the flag that made the runner cut back.
``tests/synth/test_sample_journal.py`` and ``tests/pipelines/test_readme_walkthrough.py`` hold it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta

from synth.sample import plan_runs

LOCATION = "2nd metatarsal"
CSV_COLUMNS = ("date", "moment", "pain", "location", "rpe", "note")


@dataclass(frozen=True)
class SampleShoe:
    name: str
    brand: str
    drop_mm: float
    first_used: date
    retired_on: date | None = None
    is_default: bool = False


@dataclass(frozen=True)
class SampleEntry:
    """One CSV row: a pain score at a moment and/or a session RPE, by local date."""

    local_date: date
    moment: str | None = None
    pain: float | None = None
    location: str | None = None
    rpe: float | None = None
    note: str | None = None


@dataclass(frozen=True)
class SampleJournal:
    shoes: tuple[SampleShoe, ...]
    entries: tuple[SampleEntry, ...]
    switch_date: date  # the new shoe's first day
    spike_date: date
    end_date: date

    @property
    def n_pain(self) -> int:
        return sum(e.pain is not None for e in self.entries)

    @property
    def n_rpe(self) -> int:
        return sum(e.rpe is not None for e in self.entries)

    def to_csv(self) -> bytes:
        """The entries as a journal CSV ``footfall log import`` reads (a comment header first)."""
        buf = io.StringIO()
        buf.write("# footfall demo: the example runner's journal (pain 0-10 by moment, RPE CR-10),\n"
                  "# logged by date; imported by `footfall demo` like `footfall log import FILE`.\n")
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for e in self.entries:
            w.writerow([e.local_date.isoformat(), e.moment or "", _fmt(e.pain), e.location or "",
                        _fmt(e.rpe), e.note or ""])
        return buf.getvalue().encode("utf-8")


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def sample_journal(seed: int = 7, weeks: int = 12, end_date: date | None = None) -> SampleJournal:
    """The journal of the runner of ``make_sample_export(seed, weeks, end_date)`` (module docstring)."""
    runs = plan_runs(seed, weeks, end_date)
    end = runs[-1].local_start.date()  # plan_runs' last run is on end_date (default today)
    spike = next(r for r in runs if r.kind == "spike").local_start.date()
    switch = spike - timedelta(days=4)  # the spike week's Tuesday: its first run
    cutbacks = [r.local_start.date() for r in runs if r.kind == "cutback"]
    # the niggle: the 7 days before the first cut-back run (or before the spike week)
    niggle_end = cutbacks[0] if cutbacks else switch
    first_run = runs[0].local_start.date()
    shoes = (
        SampleShoe("Clifton 9", "Hoka", 5, first_used=first_run - timedelta(weeks=8),
                   retired_on=switch - timedelta(days=1)),
        SampleShoe("Novablast 4", "Asics", 8, first_used=switch, is_default=True),
    )
    out: list[SampleEntry] = []
    n_cut = 0
    for i, r in enumerate(runs):
        d = r.local_start.date()
        if d >= end:
            continue  # today's run: nothing logged yet
        nxt = d + timedelta(days=1)
        if r.kind == "spike":
            out += [SampleEntry(d, "during", 6, LOCATION, note="sore from about km 10"),
                    SampleEntry(d, "after", 6, LOCATION, 7, "longest run in months, in the new shoes"),
                    SampleEntry(nxt, "next_morning", 4, LOCATION)]
        elif r.kind == "recovery":
            out += [SampleEntry(d, "during", 3, LOCATION),
                    SampleEntry(d, "after", 3, LOCATION, 2, "short and slow")]
        elif d >= switch:  # the spike week's easy runs, then the last week's
            if d < spike:
                first = d == switch
                out += [SampleEntry(d, "after", 3 if first else 4, LOCATION, 3 if first else 4,
                                    "first run in the new shoes" if first else None),
                        SampleEntry(nxt, "next_morning", 1, LOCATION)]
            else:
                out.append(SampleEntry(d, "after", 2, LOCATION, 3))
                if nxt < end:  # the morning of end_date is left for the runner
                    out.append(SampleEntry(nxt, "next_morning", 1, LOCATION))
        elif r.kind == "cutback":
            out += [SampleEntry(d, "after", (2, 1.5)[n_cut] if n_cut < 2 else 1, LOCATION, 3,
                                "run/walk" if r.walk_breaks else None),
                    SampleEntry(nxt, "next_morning", 1, LOCATION)]
            n_cut += 1
        elif d >= niggle_end - timedelta(days=7):  # the niggle
            score = 3 if r.kind == "long" else 2
            out += [SampleEntry(d, "after", score, LOCATION, 5 if r.kind == "long" else 4,
                                "forefoot niggle" if score == 3 else None),
                    SampleEntry(nxt, "next_morning", score, LOCATION)]
        else:  # build weeks
            out.append(SampleEntry(d, "after", 1 if i % 3 == 0 else 0, None,
                                   5 if r.kind == "long" else 3 + (i % 2)))
    out.sort(key=lambda e: (e.local_date, _MOMENT_ORDER.get(e.moment, 9)))
    return SampleJournal(shoes, tuple(out), switch, spike, end)


_MOMENT_ORDER = {"next_morning": 0, "before": 1, "during": 2, "after": 3, "evening": 4}
