"""The runner's log in DuckDB: pain, RPE, shoes, CSV import, default shoes, Strava gear and RPE.

Modules: ``writes`` (pain, RPE, shoes, the shoe rules, the transaction every write runs in,
``rebuild_models``), ``csv_import`` (a CSV journal, all or nothing), ``strava`` (Strava gear and
perceived exertion, and ``after_sync``: what a sync does for the journal). The SQL side: the
journal tables are ``sql/00_schema/003_journal.sql``; the models that read them are
``sql/10_staging/stg_*``, ``sql/20_intermediate/int_*`` and ``sql/30_marts/journal_flags.sql``.

Every public function that writes runs in ONE transaction: on any error nothing is changed
(values are validated by ``models/journal.py`` first, then against the database: the activity
exists, the shoe is known). Errors the runner can fix are ``JournalError`` (bad value, exit code
2 in the CLI), ``NotFound`` (unknown activity or shoe, exit 2) or ``JournalFileError`` (a CSV
with bad rows, every one listed with its line number; exit 1).

Decisions (also in the report / README):
- Pain and RPE logged by date (no activity id) are kept by date; the SQL models attach them to
  the run of that day when it is synced (``int_pain_entries``, ``stg_session_rpe``), so a runner
  can log right after a run and sync at night.
- ``--activity`` accepts a full activity id or a unique prefix (at least 6 characters); an id of a
  copy dropped as a duplicate resolves to the copy kept. The entry's date is the activity's local
  date (the next day for ``next_morning``: pain is dated on the day it was felt).
- Shoes: one shoe per activity (``activity_shoes``). Manual assignments are never overridden by a
  rule. Every other assignment is recomputed by :func:`assign_default_shoes` with this precedence:
  ``range`` rule (newest first) > Strava gear > the default shoe ("the shoe in use") > the only
  shoe whose date range covers the run. Rules apply to runs; Strava gear to foot activities.
  A shoe's range is [coalesce(first_used, added_on), retired_on]. The rule itself is the model
  ``sql/20_intermediate/int_shoe_assignment.sql``: the journal runs its query (inlined by
  ``sqlmodels.model_query``, so no build is needed) and writes its rows into ``activity_shoes``.
- A run is ``int_sessions.is_run`` (read from the model, never written again in Python).
- CSV import is all or nothing; rows identical to entries already in the journal are skipped,
  so importing the same file twice changes nothing.
- Strava: a shoe per distinct gear name used on foot activities (linked to an existing shoe of
  the same name, case-insensitive); perceived exertion (Strava's 1-10) is stored as CR-10 as is,
  for activities with no RPE logged yet.
"""

from models.journal import JournalError, JournalFileError
from pipelines.journal.csv_import import ImportResult, import_journal
from pipelines.journal.strava import after_sync, fill_from_strava
from pipelines.journal.writes import (
    JOURNAL_TABLES, MIN_PREFIX, Activity, NotFound, add_pain, add_rpe, add_shoe,
    assign_default_shoes, assign_shoe, delete_entry, journal_counts, list_shoes, local_today,
    rebuild_models, recent_entries, resolve_activity, resolve_shoe, retire_shoe,
)

__all__ = [
    "JournalError", "JournalFileError", "NotFound", "local_today", "add_pain", "add_rpe",
    "add_shoe", "retire_shoe", "assign_shoe", "list_shoes", "import_journal",
    "assign_default_shoes", "fill_from_strava", "after_sync", "journal_counts", "delete_entry",
    "recent_entries", "rebuild_models", "ImportResult", "Activity", "resolve_activity",
    "resolve_shoe", "JOURNAL_TABLES", "MIN_PREFIX",
]
