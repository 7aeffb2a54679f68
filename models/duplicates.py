"""The same run from two sources: which copy is kept (a pure decision, no database).

A Garmin FIT and Strava's GPX of the same run are two activities of one athlete whose starts
are within ``SAME_RUN_START_S`` seconds and whose time spans overlap by at least
``SAME_RUN_OVERLAP`` of the shorter one. Of such copies the **richer** is kept: more canonical
columns filled (``field_sources``), then the device's own format (FIT > TCX > GPX), then more
records. A richer copy arriving in a later sync replaces the one landed before.

``decide(new, existing)`` takes the candidates of a batch and those already landed (of the same
athlete, around the same dates) and returns which are dropped and which kept copy each one
duplicates; ``pipelines.land`` reads the candidates from the database and writes the decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

#: A source is "richer" with more canonical columns filled; ties go to the device's own format.
FORMAT_RANK = {"fit": 3, "tcx": 2, "gpx": 1}
#: Two activities of one athlete are the same run when their starts are this close (seconds) ...
#: (footfall heuristic: a watch and the app that re-exports its file start within seconds)
SAME_RUN_START_S = 120
#: ... and their time spans overlap by at least this share of the shorter one (footfall heuristic).
SAME_RUN_OVERLAP = 0.8


@dataclass(frozen=True)
class Candidate:
    """One activity that may be a copy of another: its span and how rich its source is."""

    activity_id: str
    file_id: str
    started_at: datetime | None
    ended_at: datetime | None
    source_format: str
    n_records: int
    n_columns: int  # canonical columns filled (distinct field_sources.column_name)

    @property
    def richness(self) -> tuple:
        return (self.n_columns, FORMAT_RANK.get(self.source_format, 0), self.n_records)


@dataclass(frozen=True)
class Dropped:
    """A copy that is not kept: ``candidate`` is the same run as the kept ``kept_id``."""

    candidate: Candidate
    kept_id: str
    landed: bool  # True: it was landed before (one of ``existing``) and is replaced now


@dataclass
class Decision:
    #: activity_id -> what happens to the copy not kept, in the order the decision was made
    dropped: dict[str, Dropped] = field(default_factory=dict)

    def kept(self, activity_ids: list[str]) -> list[str]:
        """Those of ``activity_ids`` that are not dropped."""
        return [a for a in activity_ids if a not in self.dropped]

    @property
    def replaced(self) -> list[Dropped]:
        """Landed copies that a richer new one replaces."""
        return [d for d in self.dropped.values() if d.landed]


def same_run(a: Candidate, b: Candidate) -> bool:
    """Do two activities describe the same run (by start and overlapping time span)?"""
    if a.started_at is None or b.started_at is None:
        return False
    if abs((a.started_at - b.started_at).total_seconds()) > SAME_RUN_START_S:
        return False
    a_end = a.ended_at or a.started_at
    b_end = b.ended_at or b.started_at
    shorter = min((a_end - a.started_at).total_seconds(), (b_end - b.started_at).total_seconds())
    if shorter <= 0:
        return True
    overlap = (min(a_end, b_end) - max(a.started_at, b.started_at)).total_seconds()
    return overlap >= SAME_RUN_OVERLAP * shorter


def decide(new: list[Candidate], existing: list[Candidate]) -> Decision:
    """Which of ``new`` (a batch) and ``existing`` (landed before) are dropped as copies.

    The new candidates are taken richest first; each is compared with the kept ones (landed
    first, then the new ones kept so far): with no twin it is kept; a richer new copy replaces its
    twin; otherwise it is dropped in favour of the twin (an equally rich landed copy stays).
    """
    existing_ids = {c.activity_id for c in existing}
    pool = list(existing)
    decision = Decision()
    dropped = decision.dropped
    for c in sorted(new, key=lambda c: c.richness, reverse=True):
        twin = next((p for p in pool if p.activity_id not in dropped and same_run(c, p)), None)
        if twin is None:
            pool.append(c)
            continue
        if c.richness > twin.richness:  # the new copy is richer: replace the kept one
            dropped[twin.activity_id] = Dropped(twin, c.activity_id, twin.activity_id in existing_ids)
            pool.append(c)
        else:
            dropped[c.activity_id] = Dropped(c, twin.activity_id, c.activity_id in existing_ids)
    return decision
