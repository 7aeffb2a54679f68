"""Landing decoded files into DuckDB: one transaction per batch, idempotent, deduplicated.

- A file whose hash is already in ``files`` is skipped (nothing changes).
- The same run from two sources (a Garmin FIT and its Strava GPX): one activity is kept, the
  richer one; the other is recorded in ``activity_duplicates`` and its file gets status
  ``duplicate`` with ``duplicate_of`` pointing at the kept activity (the choice:
  ``models.duplicates.decide``, a pure function; this module reads its candidates and writes it).
- Everything in a batch lands in one transaction: an interrupted sync leaves the database as it
  was before that batch.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb
import numpy as np
import polars as pl

from ingest import schema
from ingest.errors import retried_error_classes
from models.duplicates import Candidate, Decision, decide
from models.version import DERIVE_VERSION
from pipelines.db import bump_data_generation, first, transaction, utcnow
from pipelines.pausepoint import pause_point
from pipelines.work import FileResult, path_text

ACTIVITY_TABLES = ("activities", "laps", "records", "events", "developer_values", "field_sources")
#: Derived per-activity tables (models/), landed and deleted with the activity.
DERIVED_TABLES = ("activity_metrics", "activity_checks")


@dataclass
class LandStats:
    by_status: Counter = field(default_factory=Counter)
    activities: int = 0
    records: int = 0
    duplicates: int = 0
    skipped_known: int = 0
    quarantined: list[tuple[str, str, str]] = field(default_factory=list)  # (file, class, reason)
    #: files landed before this batch that a richer copy in it replaced:
    #: (file_id, status it had, activities removed, records removed)
    demoted: list[tuple[str, str, int, int]] = field(default_factory=list)
    rederived: int = 0  # landed files read again for newer derivation rules (models/version.py)
    file_status: dict[str, str] = field(default_factory=dict)  # status each file landed with


def _candidates_of(r: FileResult) -> list[Candidate]:
    dec = r.decoded
    if dec is None or dec.activities.height == 0:
        return []
    cols = Counter(dec.field_sources["activity_id"].to_list()) if dec.field_sources.height else {}
    out = []
    for row in dec.activities.iter_rows(named=True):
        out.append(
            Candidate(
                activity_id=row["activity_id"],
                file_id=dec.file_id,
                started_at=row["started_at"],
                ended_at=row["ended_at"],
                source_format=row["source_format"] or dec.format,
                n_records=int(row["n_records"] or 0),
                n_columns=int(cols.get(row["activity_id"], 0)),
            )
        )
    return out


def _existing_candidates(con, athlete_id: str, lo: datetime, hi: datetime) -> list[Candidate]:
    rows = con.execute(
        """
        SELECT a.activity_id, a.file_id, a.started_at, a.ended_at, a.source_format,
               coalesce(a.n_records, 0), count(DISTINCT fs.column_name)
        FROM activities a LEFT JOIN field_sources fs USING (activity_id)
        WHERE a.athlete_id = ? AND a.started_at BETWEEN ? AND ?
        GROUP BY ALL
        """,
        [athlete_id, lo, hi],
    ).fetchall()
    return [Candidate(*r) for r in rows]


def _shift(t: datetime, days: int) -> datetime:
    """``t`` moved by ``days``, clamped to what a datetime holds (year 1 and 9999 never raise)."""
    try:
        return t + timedelta(days=days)
    except OverflowError:
        return datetime.min if days < 0 else datetime.max


def _delete_activity(con, activity_id: str) -> None:
    for t in (*ACTIVITY_TABLES, *DERIVED_TABLES):
        con.execute(f"DELETE FROM {t} WHERE activity_id = ?", [activity_id])


#: A frame of at most this many rows lands as one chunk: a batch's small tables (activities,
#: laps, events, field_sources, metrics, checks) are a concatenation of one chunk per file, and
#: DuckDB's Arrow scan (and ``to_arrow``) pay per chunk and column, more than copying them costs.
SMALL_FRAME_ROWS = 50_000


def _insert_frame(con, table: str, df: pl.DataFrame) -> None:
    if df is None or df.height == 0:
        return
    if df.height <= SMALL_FRAME_ROWS and df.n_chunks() > 1:
        df = df.rechunk()
    # Arrow string views: polars hands its strings over without copying them (DuckDB reads
    # them as they are); the default large_string conversion copies every text column.
    # DuckDB reads the frame from this function's locals (its Python replacement scan):
    # con.register + con.unregister cost ~1 ms more per statement, in catalog changes (issue 17).
    # A table of the same name would win over the local: the name is one no schema uses.
    _footfall_landing_arrow = df.to_arrow(compat_level=pl.CompatLevel.newest())
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _footfall_landing_arrow")
    del _footfall_landing_arrow


def land_results(
    con: duckdb.DuckDBPyConnection,
    results: list[FileResult],
    *,
    athlete_id: str,
    sources: list[tuple[str, int, int, int]] = (),
    export_rows: list[dict] = (),
) -> LandStats:
    """Land one batch in one transaction. ``sources``: (path, size, mtime_ns, n_files) completed;
    ``export_rows``: export-index rows whose file is not in the export (``land_export_rows``)."""
    stats = LandStats()
    now = utcnow()
    with transaction(con):  # a failed COMMIT (full disk) keeps the first error
        _land(con, results, athlete_id, sources, now, stats)
        if export_rows:  # in the batch's transaction: its sources are marked synced with it
            land_export_rows(con, export_rows, athlete_id)
        bump_data_generation(con)  # the models are behind this batch until they are rebuilt
        pause_point("land")
    return stats


def _land(con, results, athlete_id, sources, now, stats) -> None:
    fresh, stale = _fresh(con, results, stats)
    _rederive(con, stale, stats)
    decision = _decide_duplicates(con, fresh, athlete_id)
    _record_duplicates(con, decision, athlete_id, now, stats)
    _land_frames(con, fresh, decision, athlete_id, now, stats)
    _land_value_checks(con, fresh, athlete_id)
    _land_export_index(con, fresh, athlete_id)
    if sources:
        _land_sources(con, sources, athlete_id, now)


def _fresh(con, results: list[FileResult], stats: LandStats) -> tuple[list[FileResult], list[FileResult]]:
    """(the batch's results whose content is not landed yet (nor earlier in the batch), the
    decoded results of landed files whose rows an older footfall derived: to re-derive)."""
    ids = [r.file_id for r in results]
    known: set[str] = set()
    old: set[str] = set()
    if ids:
        for fid, is_old in con.execute(
            "SELECT file_id, status IN ('landed', 'salvaged') AND n_activities > 0 "
            "AND coalesce(derive_version, 0) < ? FROM files WHERE list_contains(?, file_id)",
            [DERIVE_VERSION, ids],
        ).fetchall():
            known.add(fid)
            if is_old:
                old.add(fid)
    fresh: list[FileResult] = []
    stale: list[FileResult] = []
    seen: set[str] = set()
    for r in results:
        if r.file_id in old and r.status != "skipped" and r.decoded is not None and r.file_id not in seen:
            seen.add(r.file_id)
            stale.append(r)
            continue
        if r.status == "skipped" or r.file_id in known or r.file_id in seen:
            stats.skipped_known += 1
            continue
        seen.add(r.file_id)
        fresh.append(r)
    return fresh, stale


def _rederive(con, stale: list[FileResult], stats: LandStats) -> None:
    """Landed files read again because an older footfall derived them (``files.derive_version``
    below ``models.version.DERIVE_VERSION``): their activity rows are replaced by the new
    decode's, in the batch's transaction. The activity ids stay (they come from the content
    hash), and so does the choice of which activities were kept (duplicates are not decided
    again: only the activities this file has landed are replaced); the runner's journal and
    ``activity_overrides`` are not touched. An activity the new rules refuse goes."""
    if not stale:
        return
    file_ids = [r.file_id for r in stale]
    owner = dict(con.execute(
        "SELECT file_id, athlete_id FROM files WHERE list_contains(?, file_id)", [file_ids]
    ).fetchall())
    landed = con.execute(
        "SELECT activity_id, file_id FROM activities WHERE list_contains(?, file_id)", [file_ids]
    ).fetchall()
    old_ids = [a for a, _ in landed]
    for t in (*ACTIVITY_TABLES, *DERIVED_TABLES):
        con.execute(f"DELETE FROM {t} WHERE list_contains(?, activity_id)", [old_ids])
    con.execute("DELETE FROM value_checks WHERE list_contains(?, file_id)", [file_ids])
    keep = set(old_ids)
    for r in stale:
        dec, ath = r.decoded, owner[r.file_id]
        frames = {t: getattr(dec, t) for t in ACTIVITY_TABLES}
        frames["activity_metrics"] = r.metrics
        frames["activity_checks"] = getattr(dec, "activity_checks", None)
        kept = [a for a in dec.activities["activity_id"].to_list() if a in keep]
        n_records = 0
        for t, df in frames.items():
            if df is None or df.height == 0:
                continue
            df = df.filter(pl.col("activity_id").is_in(kept))
            if t == "records":
                n_records = df.height
            if t in ("activities", *DERIVED_TABLES):
                df = df.with_columns(pl.lit(ath).alias("athlete_id"))
            _insert_frame(con, t, df)
        vc = getattr(dec, "value_checks", None)
        if vc is not None and vc.height:
            _insert_frame(con, "value_checks", vc.with_columns(pl.lit(ath).alias("athlete_id")))
        if kept:
            con.execute("UPDATE files SET derive_version = ?, n_activities = ?, n_records = ? "
                        "WHERE file_id = ?", [DERIVE_VERSION, len(kept), n_records, r.file_id])
        else:  # the new rules refuse every activity it had: the file says why, as a new one would
            con.execute("UPDATE files SET derive_version = ?, n_activities = 0, n_records = 0, "
                        "status = ?, reason = ?, error_class = ? WHERE file_id = ?",
                        [DERIVE_VERSION, r.status, path_text(r.reason), r.error_class, r.file_id])
        stats.rederived += 1


def _decide_duplicates(con, fresh: list[FileResult], athlete_id: str) -> Decision:
    """The same run twice: the batch's candidates against the athlete's landed activities of the
    same days (``models.duplicates.decide`` makes the choice)."""
    cands = [c for r in fresh for c in _candidates_of(r)]
    if not cands:
        return Decision()
    starts = [c.started_at for c in cands if c.started_at is not None]
    existing: list[Candidate] = []
    if starts:
        existing = _existing_candidates(con, athlete_id, _shift(min(starts), -1), _shift(max(starts), 1))
    return decide(cands, existing)


def _record_duplicates(con, decision: Decision, athlete_id: str, now: datetime, stats: LandStats) -> None:
    """Delete the landed copies a richer new one replaces, list every dropped copy in
    ``activity_duplicates``, and give a landed file whose every activity went status 'duplicate'."""
    for aid, d in decision.dropped.items():
        cand, kept = d.candidate, d.kept_id
        if d.landed:
            _delete_activity(con, aid)
        # delete, then insert (not INSERT OR REPLACE: a DuckLake has no keys; same result)
        con.execute("DELETE FROM activity_duplicates WHERE activity_id = ?", [aid])
        con.execute(
            "INSERT INTO activity_duplicates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [aid, cand.file_id, athlete_id, cand.started_at, cand.source_format,
             cand.n_records, kept,
             f"same run as {kept}; kept the richer source", now],
        )
    removed = Counter(d.candidate.file_id for d in decision.replaced)
    for d in decision.replaced:
        cand, kept = d.candidate, d.kept_id
        left = first(con.execute(
            "SELECT count(*) FROM activities WHERE file_id = ?", [cand.file_id]
        ))[0]
        row = first(con.execute(
            "SELECT status, n_records FROM files WHERE file_id = ?", [cand.file_id]
        ))
        if left == 0 and row is not None and row[0] != "duplicate":
            con.execute(
                "UPDATE files SET status = 'duplicate', duplicate_of = ?, reason = ? "
                "WHERE file_id = ?",
                [kept, f"same run as {kept} (richer source landed later)", cand.file_id],
            )
            stats.demoted.append((cand.file_id, row[0], removed[cand.file_id], int(row[1] or 0)))


def _land_frames(con, fresh: list[FileResult], decision: Decision, athlete_id: str,
                 now: datetime, stats: LandStats) -> None:
    """The kept activities' frames, and one ``files`` row per new file.

    Each table is concatenated over the batch (chunks appended, no copy) and filtered once to
    the kept activities: one filter per table instead of one per file and table. A file's
    frames carry only its own activity ids (activity_id_for(file_id, ...)), so the batch's
    kept set selects exactly what each file's own kept set would."""
    dropped = decision.dropped
    parts: dict[str, list[pl.DataFrame]] = {t: [] for t in (*ACTIVITY_TABLES, *DERIVED_TABLES)}
    record_owner: list[tuple[int, int]] = []  # (index in file_rows, records in the frame)
    kept_all: list[str] = []
    file_rows = []
    for r in fresh:
        dec = r.decoded
        kept_ids: list[str] = []
        dup_of = None
        status, reason = r.status, r.reason
        if dec is not None and dec.activities.height:
            all_ids = dec.activities["activity_id"].to_list()
            kept_ids = decision.kept(all_ids)
            if not kept_ids:
                status = "duplicate"
                dup_of = dropped[all_ids[0]].kept_id
                note = f"same run as {dup_of}; kept the richer source"
                reason = f"{note} (this copy: {r.status}: {reason})" if reason else note
        n_records = 0
        if dec is not None and kept_ids:
            kept_all.extend(kept_ids)
            for t in ACTIVITY_TABLES:
                parts[t].append(getattr(dec, t))
            if r.metrics is not None and r.metrics.height:
                parts["activity_metrics"].append(r.metrics)
            checks = getattr(dec, "activity_checks", None)  # models/quality.py (issue 13)
            if checks is not None and checks.height:
                parts["activity_checks"].append(checks)
            record_owner.append((len(file_rows), dec.records.height))
            stats.activities += len(kept_ids)
        elif dec is not None:
            n_records = dec.records.height
        if status == "duplicate":
            stats.duplicates += 1
        if status == "quarantined":
            stats.quarantined.append((path_text(r.display), r.error_class or "", path_text(r.reason or "")))
        stats.by_status[status] += 1
        if r.file_id:
            stats.file_status[r.file_id] = status
        file_rows.append(
            {
                "file_id": r.file_id,
                "path": path_text(r.path),
                "member": path_text(r.member),
                "size_bytes": r.size_bytes,
                "format": r.format,
                "athlete_id": athlete_id,
                "status": status,
                "reason": path_text(reason),
                "error_class": r.error_class,
                "n_activities": len(kept_ids) if dec is not None else 0,
                "n_records": n_records if dec is not None else 0,
                "n_messages_salvaged": dec.n_messages_salvaged if dec is not None else None,
                "duplicate_of": dup_of,
                "decoder": dec.decoder if dec is not None else None,
                "landed_at": now,
                "derive_version": DERIVE_VERSION,
            }
        )
    keep = pl.Series("kept", kept_all, dtype=pl.Utf8).implode()
    for t, dfs in parts.items():
        dfs = [d for d in dfs if d is not None and d.height]
        if not dfs:
            continue
        df = pl.concat(dfs, how="vertical_relaxed", rechunk=False)
        mask = df.select(pl.col("activity_id").is_in(keep).fill_null(False)).to_series()
        if t == "records":  # each file's landed records: the kept rows of its slice
            kept = np.concatenate(([0], np.cumsum(mask.to_numpy(), dtype=np.int64)))
            end = np.cumsum([n for _, n in record_owner], dtype=np.int64)
            start = end - np.array([n for _, n in record_owner], dtype=np.int64)
            for (i, _), c in zip(record_owner, (kept[end] - kept[start]).tolist()):
                file_rows[i]["n_records"] = c
                stats.records += c
        if not mask.all():
            df = df.filter(mask)
        if t in ("activities", *DERIVED_TABLES):
            df = df.with_columns(pl.lit(athlete_id).alias("athlete_id"))
        _insert_frame(con, t, df)
    if file_rows:
        _insert_frame(con, "files", pl.DataFrame(file_rows, infer_schema_length=None))
        _forget_retried_problems(
            con, [f for f in file_rows if f["error_class"] not in RETRIED_ERROR_CLASSES])


def _land_value_checks(con, fresh: list[FileResult], athlete_id: str) -> None:
    """What the plausibility checks refused or set NULL, for every new file (kept or not)."""
    checks = [r.decoded.value_checks for r in fresh
              if r.decoded is not None and getattr(r.decoded, "value_checks", None) is not None
              and r.decoded.value_checks.height]
    if checks:
        _insert_frame(con, "value_checks", pl.concat(checks, how="vertical_relaxed")
                      .with_columns(pl.lit(athlete_id).alias("athlete_id")))


def _land_export_index(con, fresh: list[FileResult], athlete_id: str) -> None:
    """A bulk export's own index (Strava activities.csv), kept against the file it names."""
    meta_rows = []
    for r in fresh:
        m = r.export_meta
        if m:
            meta_rows.append(_export_row(m, athlete_id, r.file_id))
    if meta_rows:
        _insert_frame(con, "export_activities", pl.DataFrame(meta_rows, infer_schema_length=None))


def _land_sources(con, sources, athlete_id: str, now: datetime) -> None:
    """The batch's completed sources, one statement (the last row of a path wins)."""
    last = {path: (path, size, mtime_ns, n_files) for path, size, mtime_ns, n_files in sources}
    rows = list(last.values())
    src = pl.DataFrame(
        {"path": [r[0] for r in rows], "size_bytes": [r[1] for r in rows],
         "mtime_ns": [r[2] for r in rows], "n_files": [r[3] for r in rows]},
        schema={"path": pl.Utf8, "size_bytes": pl.Int64, "mtime_ns": pl.Int64, "n_files": pl.Int64},
    )
    con.register("_sources", src.to_arrow())
    try:
        # delete, then insert (not INSERT OR REPLACE: a DuckLake has no keys; same result)
        con.execute("DELETE FROM sync_sources WHERE path IN (SELECT path FROM _sources)")
        con.execute(
            "INSERT INTO sync_sources "
            "SELECT path, size_bytes, mtime_ns, ?, n_files, ? FROM _sources", [athlete_id, now])
    finally:
        con.unregister("_sources")


#: Quarantine reasons that say "not read this time" (``ingest.errors.RETRIED``): once the file is
#: read, the old row goes.
RETRIED_ERROR_CLASSES = retried_error_classes()


def _forget_retried_problems(con, file_rows: list[dict]) -> None:
    """A file that could not be read before (permissions, I/O, a size budget) and is read now:
    its old quarantine row goes (as does an archive-level one once a member of it is read); the
    row just landed for its content says what it is."""
    if not file_rows:
        return
    read = pl.DataFrame(
        {"path": [f["path"] for f in file_rows], "member": [f["member"] for f in file_rows],
         "file_id": [f["file_id"] for f in file_rows]},
        schema={"path": pl.Utf8, "member": pl.Utf8, "file_id": pl.Utf8},
    )
    con.register("_read_now", read.to_arrow())
    try:
        con.execute(
            "DELETE FROM files WHERE list_contains(?, error_class) AND EXISTS ("
            " SELECT 1 FROM _read_now r WHERE r.path = files.path AND r.file_id <> files.file_id"
            " AND (files.member IS NULL OR r.member IS NOT DISTINCT FROM files.member))",
            [list(RETRIED_ERROR_CLASSES)],
        )
    finally:
        con.unregister("_read_now")


def _export_row(m: dict, athlete_id: str, file_id: str | None) -> dict:
    pe = m.get("perceived_exertion")
    try:
        pe = float(pe) if pe not in (None, "") else None
    except (TypeError, ValueError):
        pe = None
    return {
        "athlete_id": athlete_id,
        "export_source": m.get("export_source"),
        "export_path": path_text(m.get("export_path")),
        "filename": m.get("filename"),
        "file_id": file_id,
        "external_id": None if m.get("external_id") is None else str(m.get("external_id")),
        "activity_name": m.get("activity_name"),
        "activity_type": m.get("activity_type"),
        "gear": m.get("gear"),
        "perceived_exertion": pe,
        "row_json": json.dumps(m.get("row") or {}, ensure_ascii=False, default=str),
    }


def land_export_rows(con, rows: list[dict], athlete_id: str) -> int:
    """Export-index rows whose file was not in the export (kept so nothing is dropped)."""
    data = [_export_row(m, athlete_id, None) for m in rows]
    if not data:
        return 0
    existing = {
        (r[0], r[1])
        for r in con.execute(
            "SELECT export_path, filename FROM export_activities WHERE athlete_id = ?", [athlete_id]
        ).fetchall()
    }
    data = [d for d in data if (d["export_path"], d["filename"]) not in existing]
    if data:
        _insert_frame(con, "export_activities", pl.DataFrame(data, infer_schema_length=None))
    return len(data)
