"""Import a CSV journal (format: ``models/journal.py``): every row or none."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from models import journal as mj
from models.journal import JournalError, JournalFileError
from pipelines.db import first, utcnow
from pipelines.journal.writes import (
    _PAIN_TYPES, _RPE_TYPES, _apply_shoe_rules, _check_in_use, _next_id, _transaction,
    local_today, resolve_activity, resolve_shoe,
)

@dataclass
class ImportResult:
    pain_added: int = 0
    rpe_added: int = 0
    shoes_assigned: int = 0  # activity assignments + date rules stored
    skipped_existing: int = 0
    rows: int = 0


def import_journal(con, athlete_id: str, data: bytes, *, path: str = "the file",
                   today: date | None = None) -> ImportResult:
    """Import a CSV journal (format: ``models/journal.py``): all rows or none.

    Every bad row (bad value, unknown activity or shoe, a date in the future, an activity of
    another athlete) is reported with its line number in one ``JournalFileError`` and nothing is
    written. Rows identical to journal entries already stored are skipped (re-importing the same
    file changes nothing).
    """
    today = today or local_today()
    rows = mj.read_journal_csv(data, today, path)
    errors: list[mj.RowError] = list(rows.errors)
    with _transaction(con):
        pain = _resolve_rows(con, rows.pain, athlete_id, today, errors, moment_col="moment")
        rpe = _resolve_rows(con, rows.rpe, athlete_id, today, errors)
        shoe_rows = _resolve_rows(con, rows.shoe, athlete_id, today, errors)
        shoe_plan = []
        for r in shoe_rows:
            try:
                sid, name, fu, ret, _ = resolve_shoe(con, r["shoe"], athlete_id)
                _check_in_use(name, fu, ret, r["local_date"], r["local_date"])
                shoe_plan.append((r, sid))
            except JournalError as err:
                errors.append(mj.RowError(r["line"], str(err)))
        if errors:
            raise JournalFileError(errors, path)
        res = ImportResult(rows=rows.n_rows)
        now = utcnow()
        res.pain_added, skipped_p = _insert_new(con, "pain_log", pain, athlete_id, now,
                                                ["local_date", "activity_id", "moment", "score",
                                                 "location", "note"])
        res.rpe_added, skipped_r = _insert_new(con, "rpe_log", rpe, athlete_id, now,
                                               ["local_date", "activity_id", "rpe_cr10", "note"])
        res.skipped_existing = skipped_p + skipped_r
        for r, sid in shoe_plan:
            if r["activity_id"] is not None:
                cur = first(con.execute("SELECT shoe_id, source FROM activity_shoes WHERE activity_id = ?",
                                  [r["activity_id"]]))
                if cur == (sid, "manual"):
                    res.skipped_existing += 1
                    continue
                con.execute("DELETE FROM activity_shoes WHERE activity_id = ?", [r["activity_id"]])
                con.execute("INSERT INTO activity_shoes VALUES (?, ?, ?, 'manual', ?)",
                            [r["activity_id"], sid, athlete_id, now])
            else:
                exists = first(con.execute(
                    "SELECT 1 FROM shoe_ranges WHERE athlete_id = ? AND shoe_id = ? AND from_date = ? "
                    "AND to_date = ?", [athlete_id, sid, r["local_date"], r["local_date"]]))
                if exists:
                    res.skipped_existing += 1
                    continue
                con.execute("INSERT INTO shoe_ranges VALUES (?, ?, ?, ?, ?, 'import', ?)",
                            [_next_id(con, "shoe_ranges", "range_id"), athlete_id, sid,
                             r["local_date"], r["local_date"], now])
            res.shoes_assigned += 1
        if shoe_plan:
            _apply_shoe_rules(con, [athlete_id])
    return res


def _resolve_rows(con, df: pl.DataFrame, athlete_id: str, today: date, errors: list,
                  moment_col: str | None = None) -> list[dict]:
    """Rows with their activity resolved and date filled; bad ones appended to ``errors``."""
    out = []
    for r in df.to_dicts():
        if r["activity_id"]:
            try:
                act = resolve_activity(con, r["activity_id"], athlete_id)
            except JournalError as err:
                errors.append(mj.RowError(r["line"], str(err)))
                continue
            d = mj.felt_date(act.local_date, r.get(moment_col)) if moment_col else act.local_date
            if r["local_date"] is not None and r["local_date"] != d:
                what = "the morning after" if moment_col and r.get(moment_col) == "next_morning" else "the date of"
                errors.append(mj.RowError(r["line"], f"date {r['local_date']} is not {what} activity "
                                                     f"{act.activity_id} ({d})"))
                continue
            try:
                mj.check_not_future(d, today)
            except JournalError as err:
                errors.append(mj.RowError(r["line"], str(err)))
                continue
            r = r | {"activity_id": act.activity_id, "local_date": d}
        out.append(r)
    return out


def _insert_new(con, table: str, rows: list[dict], athlete_id: str, now, key: list[str]) -> tuple[int, int]:
    """Insert rows not identical (on ``key``) to stored or earlier rows; (inserted, skipped)."""
    if not rows:
        return 0, 0
    existing = {
        tuple(r) for r in con.execute(
            f"SELECT {', '.join(key)} FROM {table} WHERE athlete_id = ?", [athlete_id]).fetchall()
    }
    next_id = _next_id(con, table, "entry_id")
    inserted = skipped = 0
    types = _PAIN_TYPES if table == "pain_log" else _RPE_TYPES
    cols = ["entry_id", "athlete_id", *key, "source", "logged_at"]
    sql = (f"INSERT INTO {table} BY NAME SELECT * FROM (SELECT "
           + ", ".join(f"?::{types[c]} AS {c}" for c in cols) + ")")
    for r in rows:
        k = tuple(r[c] for c in key)
        if k in existing:
            skipped += 1
            continue
        existing.add(k)
        con.execute(sql, [next_id, athlete_id, *k, "import", now])
        next_id += 1
        inserted += 1
    return inserted, skipped
