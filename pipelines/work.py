"""Decode and derive one batch of files: the CPU-bound part of a sync.

Runs in worker processes (``concurrent.futures`` with the ``spawn`` context), so it imports
neither prefect nor duckdb and everything it takes and returns pickles (polars frames do).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field

import polars as pl

from ingest.decode import Decoded, decode_bytes
from ingest.options import ReaderOptions
from models.frames import put_columns
from pipelines.handoff import packed
from pipelines.paths import path_text  # noqa: F401  (re-exported; defined in pipelines/paths.py)


@dataclass
class DeriveContext:
    """What deriving needs to know about the runner (picklable)."""

    athlete_id: str
    timezone: str | None = None
    hr_rest_bpm: float | None = None
    hr_max_bpm: float | None = None
    sex: str | None = None
    thresholds: dict[str, float] = field(default_factory=dict)

    def reader_options(self) -> ReaderOptions:
        """The readers' settings: models/thresholds.py with this runner's overrides."""
        from models.thresholds import reader_options

        return reader_options(self.thresholds)


@dataclass
class FileResult:
    """One user file (or one unreadable container entry) after decoding."""

    path: str  # on-disk file
    member: str | None  # inside archive(s)
    name: str
    file_id: str
    status: str  # landed | salvaged | quarantined | not_activity | no_timestamps | skipped
    format: str = "unknown"
    size_bytes: int | None = None
    reason: str | None = None
    error_class: str | None = None
    decoded: Decoded | None = None
    metrics: pl.DataFrame | None = None
    export_meta: dict | None = None

    @property
    def display(self) -> str:
        return f"{self.path}!{self.member}" if self.member else self.path

    def __getstate__(self) -> dict:
        """Pickled (worker -> landing) with its frames packed (pipelines/handoff.py): fewer
        bytes through the pipe, and the unpickled result equals this one."""
        state = dict(self.__dict__)
        dec = self.decoded
        if dec is not None:
            dec = copy.copy(dec)
            for name, value in vars(dec).items():
                if isinstance(value, pl.DataFrame):
                    setattr(dec, name, packed(value))
            state["decoded"] = dec
        state["metrics"] = packed(self.metrics)
        return state


def problem_id(path: str, member: str | None, detail: str = "") -> str:
    """Stable id for an entry that has no readable bytes (a bad archive, an unsafe member)."""
    h = hashlib.sha256(f"{path}\0{member or ''}\0{detail}".encode()).hexdigest()
    return "problem-" + h[:56]


def decode_one(data: bytes, name: str, ctx: DeriveContext) -> tuple[Decoded, pl.DataFrame | None]:
    """Decode bytes and derive the running metrics for their activities."""
    dec = decode_bytes(data, name, ctx.reader_options())
    if dec.activities.height == 0:
        return dec, None
    from models.plausibility import check_decoded

    # impossible spans refuse the activity, impossible values become NULL, before any metric
    check_decoded(dec, overrides=ctx.thresholds)
    if dec.activities.height == 0:
        return dec, None
    from models.localtime import fill_local_time

    dec.activities = fill_local_time(dec.activities, ctx.timezone)
    from models.summary import AthleteProfile, derive_file

    profile = AthleteProfile(
        athlete_id=ctx.athlete_id,
        hr_rest_bpm=ctx.hr_rest_bpm,
        hr_max_bpm=ctx.hr_max_bpm,
        sex=ctx.sex,
    )
    acts = _with_athlete(dec.activities, ctx.athlete_id)
    try:
        derived = derive_file(
            acts, dec.records, dec.laps, dec.events, athlete=profile, overrides=ctx.thresholds
        )
    except Exception as err:  # a metrics bug must not lose the decoded data: land it raw, say so
        note = f"metrics not derived ({type(err).__name__}: {err})"
        dec.reason = f"{dec.reason}; {note}" if dec.reason else note
        return dec, None
    dec.records = derived.records
    dec.activity_checks = derived.checks
    from models.plausibility import check_metrics

    return dec, check_metrics(dec, derived.metrics, overrides=ctx.thresholds)


def _with_athlete(activities: pl.DataFrame, athlete_id: str) -> pl.DataFrame:
    """``activities.with_columns(pl.lit(athlete_id).alias("athlete_id"))`` without planning a
    query: a String column of that value, replacing one of the name in place or added last."""
    if not isinstance(athlete_id, str):  # pl.lit(None) is of dtype Null: let polars say
        return activities.with_columns(pl.lit(athlete_id).alias("athlete_id"))
    return put_columns(activities, [pl.Series("athlete_id", [athlete_id], dtype=pl.Utf8)
                                    .new_from_index(0, activities.height)])


def decode_batch(items: list[tuple[str, str | None, str, bytes, dict | None]], ctx: DeriveContext) -> list[FileResult]:
    """Decode (path, member, name, data, export_meta) tuples; never raises for a bad file."""
    out = []
    for path, member, name, data, meta in items:
        dec, metrics = decode_one(data, name, ctx)
        out.append(
            FileResult(
                path=path,
                member=member,
                name=name,
                file_id=dec.file_id,
                status=dec.status,
                format=dec.format,
                size_bytes=len(data),
                reason=dec.reason,
                error_class=dec.error_class,
                decoded=dec,
                metrics=metrics,
                export_meta=meta,
            )
        )
    return out
