"""Before/after flags: the same files synced by two footfall checkouts, and what changed.

    python bench/quality_before_after.py BEFORE_REPO AFTER_REPO PATH [PATH ...]
        [--athlete runner] [--today 2026-06-01] [--timezone UTC] [--workdir DIR]
        [--distance-pct 2] [--json]

``BEFORE_REPO`` and ``AFTER_REPO`` are footfall checkouts, each with its own ``.venv`` (the
project installed there). Both sync the same ``PATH``s (folders, files, archives) with their own
CLI, ``<repo>/.venv/bin/footfall sync PATH... --db <workdir>/<side>.duckdb --athlete A --json
--always-run``, in a fresh database, with the same athlete, ``FOOTFALL_TODAY``,
``FOOTFALL_TIMEZONE`` and ``TZ``, an empty config file (``FOOTFALL_CONFIG``), its own
``PREFECT_HOME`` and no ``PREFECT_API_URL`` (each run uses Prefect's temporary server). Each
database is then read with its own tree's Python (so a DuckDB version change between the trees
does not matter), read-only.

Printed (or ``--json``):

1. each side's flags: rule, severity, local date, activity, file (relative to the first PATH
   that contains it), and counts by rule x severity;
2. the difference: flags removed, added, and kept with another severity or a value moved by more
   than 1%; the key is (rule, local date, activity) (activity_id is the file's hash + session
   index, the same in both trees). For a removed flag, the reason the AFTER tree gives when it has one: for an
   activity-level flag, that activity's ``activity_checks`` rows that changed something (check,
   outcome, measured value, effect) and its AFTER ``is_run``/distance; for a day-level flag
   (ACWR, weekly ramp), the activities of the 42 days up to that date whose running distance
   changed, with their checks;
3. activities whose distance changed by more than ``--distance-pct`` percent, or whose
   ``is_run`` changed, with the AFTER tree's distance source/reason and checks.

A tree without the ``activity_checks`` table (before issue 13) reports no reasons, only values.
This is a measuring script, not a test: it asserts nothing and exits 0 unless a sync fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

#: Run by each tree's own Python against its own database (read-only); prints one JSON object.
DUMP = r"""
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
def cols(table):
    return {r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_name = ?", [table]).fetchall()}
def rows(sql):
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]
tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
mcols = cols("activity_metrics")
extra = [c for c in ("sport_source", "sport_reason", "distance_source", "distance_reason",
                     "distance_track_raw_m", "distance_track_clean_m") if c in mcols]
out = {
    "flags": rows('''
        select f.rule, f.severity, cast(f.local_date as varchar) as local_date, f.activity_id,
               f.value, f.threshold, f.unit, f.message, fi.path
        from flags f
        left join activities a on a.activity_id = f.activity_id
        left join files fi on fi.file_id = a.file_id
        order by f.local_date, f.rule, f.activity_id'''),
    "activities": rows(f'''
        select a.activity_id, a.session_index, cast(a.local_date as varchar) as local_date,
               a.sport as file_sport, fi.path, fi.status,
               m.sport, m.is_run, m.distance_m, m.moving_time_s
               {''.join(', m.' + c for c in extra)}
        from activities a
        join files fi on fi.file_id = a.file_id
        left join activity_metrics m on m.activity_id = a.activity_id
        order by a.local_date, a.activity_id'''),
    "checks": rows('''
        select activity_id, check_name, outcome, measured_value, expected_low, expected_high,
               unit, effect, detail
        from activity_checks
        where outcome not in ('pass', 'skipped') or coalesce(effect, 'none') <> 'none'
        order by activity_id, check_name''') if "activity_checks" in tables else None,
}
print(json.dumps(out, default=str))
"""

#: A removed day-level flag (ACWR, weekly ramp) is explained by the activities of this many days up
#: to its date whose running distance changed (covers a 28-day chronic window and the ramp's weeks).
DAY_FLAG_WINDOW_DAYS = 42

SEVERITY_ORDER = {"info": 0, "caution": 1, "warning": 2, "alert": 3}


def sync_and_dump(side: str, repo: Path, paths: list[Path], args, work: Path) -> dict:
    """Sync ``paths`` with ``repo``'s CLI into a fresh database; the database's flags and
    activities as dicts (``DUMP``)."""
    exe = repo / ".venv" / "bin" / "footfall"
    py = repo / ".venv" / "bin" / "python"
    for p in (exe, py):
        if not p.exists():
            sys.exit(f"{side}: {p} not found (each tree needs its own .venv with footfall installed)")
    home = work / side
    home.mkdir(parents=True, exist_ok=True)
    db = work / f"{side}.duckdb"
    for f in (db, Path(str(db) + ".wal")):
        if f.exists():
            f.unlink()
    (home / "footfall.toml").write_text("")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FOOTFALL_") and k not in ("PREFECT_API_URL", "VIRTUAL_ENV", "PYTHONPATH")}
    env.update(
        FOOTFALL_CONFIG=str(home / "footfall.toml"),
        FOOTFALL_TODAY=args.today,
        FOOTFALL_TIMEZONE=args.timezone,
        TZ=args.timezone,
        PREFECT_HOME=str(home / "prefect"),
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONDONTWRITEBYTECODE="1",  # write nothing into the checkouts
    )
    cmd = [str(exe), "sync", *map(str, paths), "--db", str(db), "--athlete", args.athlete,
           "--json", "--always-run"]
    proc = subprocess.run(cmd, cwd=home, env=env, capture_output=True, text=True)
    (home / "sync.stdout").write_text(proc.stdout)
    (home / "sync.stderr").write_text(proc.stderr)
    if proc.returncode != 0:
        sys.exit(f"{side}: `{' '.join(cmd)}` exited {proc.returncode}; see {home}/sync.stderr:\n"
                 + proc.stderr[-2000:])
    try:
        summary = json.loads(proc.stdout)
    except json.JSONDecodeError:
        summary = {}
    dump = subprocess.run([str(py), "-c", DUMP, str(db)], cwd=home, env=env, capture_output=True, text=True)
    if dump.returncode != 0:
        sys.exit(f"{side}: reading {db} failed:\n{dump.stderr[-2000:]}")
    data = json.loads(dump.stdout)
    data["sync"] = {k: summary.get(k) for k in ("files_new", "by_status", "activities", "duplicates")}
    data["repo"] = str(repo)
    data["commit"] = _git_head(repo)
    return data


def _git_head(repo: Path) -> str | None:
    r = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    return r.stdout.strip()[:100] if r.returncode == 0 else None


def _rel(path: str | None, roots: list[Path]) -> str:
    if not path:
        return "-"
    p = Path(path)
    for root in roots:
        try:
            return str(p.resolve().relative_to(root.resolve()))
        except ValueError:
            continue
    return path


def _key(f: dict) -> tuple:
    return (f["rule"], f["local_date"], f["activity_id"])


def _fmt(v, nd=1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return str(v)


def _value_moved(before, after, rel: float = 0.01) -> bool:
    """A flag kept under the same key whose value moved by more than ``rel`` (1%)."""
    if before is None or after is None:
        return (before is None) != (after is None)
    return abs(after - before) > rel * max(abs(before), 1e-9)


def compare(before: dict, after: dict, roots: list[Path], distance_pct: float) -> dict:
    for side in (before, after):
        for f in side["flags"]:
            f["file"] = _rel(f.get("path"), roots)
        for a in side["activities"]:
            a["file"] = _rel(a.get("path"), roots)
    b_flags = {_key(f): f for f in before["flags"]}
    a_flags = {_key(f): f for f in after["flags"]}
    b_acts = {a["activity_id"]: a for a in before["activities"]}
    a_acts = {a["activity_id"]: a for a in after["activities"]}
    a_checks: dict[str, list[dict]] = {}
    for c in after.get("checks") or []:
        a_checks.setdefault(c["activity_id"], []).append(c)

    def changed_acts_near(day: str) -> list[dict]:
        end = date.fromisoformat(day)
        start = end - timedelta(days=DAY_FLAG_WINDOW_DAYS - 1)
        out = []
        for aid, a in a_acts.items():
            b = b_acts.get(aid)
            if not a.get("local_date") or not (start <= date.fromisoformat(a["local_date"]) <= end):
                continue
            b_run = (b or {}).get("distance_m") if (b or {}).get("is_run") else 0.0
            a_run = a.get("distance_m") if a.get("is_run") else 0.0
            if abs((b_run or 0.0) - (a_run or 0.0)) > 1.0:
                out.append({"activity_id": aid, "file": a["file"], "local_date": a["local_date"],
                            "running_m_before": b_run, "running_m_after": a_run,
                            "checks": a_checks.get(aid, [])})
        return out

    removed, added, severity = [], [], []
    for k, f in b_flags.items():
        if k not in a_flags:
            reason: dict = {}
            if f["activity_id"]:
                aa = a_acts.get(f["activity_id"], {})
                reason = {"after_is_run": aa.get("is_run"), "after_distance_m": aa.get("distance_m"),
                          "after_sport": aa.get("sport"), "after_sport_reason": aa.get("sport_reason"),
                          "after_distance_reason": aa.get("distance_reason"),
                          "checks": a_checks.get(f["activity_id"], [])}
            else:
                reason = {"activities_changed": changed_acts_near(f["local_date"])}
            removed.append({**f, "reason": reason})
        elif a_flags[k]["severity"] != f["severity"] or _value_moved(f.get("value"), a_flags[k].get("value")):
            severity.append({**f, "severity_after": a_flags[k]["severity"], "value_after": a_flags[k]["value"]})
    for k, f in a_flags.items():
        if k not in b_flags:
            added.append(f)

    dist = []
    for aid, a in a_acts.items():
        b = b_acts.get(aid)
        if b is None:
            continue
        bd, ad = b.get("distance_m"), a.get("distance_m")
        pct = None
        if bd and ad is not None:
            pct = 100.0 * (ad - bd) / bd
        if (pct is not None and abs(pct) > distance_pct) or (bd is None) != (ad is None) or bool(b.get("is_run")) != bool(a.get("is_run")):
            dist.append({"activity_id": aid, "file": a["file"], "session_index": a.get("session_index"),
                         "local_date": a.get("local_date"), "distance_before_m": bd, "distance_after_m": ad,
                         "pct": pct, "is_run_before": b.get("is_run"), "is_run_after": a.get("is_run"),
                         "sport_before": b.get("sport"), "sport_after": a.get("sport"),
                         "distance_source_after": a.get("distance_source"),
                         "distance_reason_after": a.get("distance_reason"),
                         "checks": a_checks.get(aid, [])})
    return {"removed": removed, "added": added, "changed": severity, "activities_changed": dist}


def _counts(flags: list[dict]) -> list[tuple[str, str, int]]:
    c = Counter((f["rule"], f["severity"]) for f in flags)
    return sorted(((r, s, n) for (r, s), n in c.items()), key=lambda x: (x[0], SEVERITY_ORDER.get(x[1], 9)))


def _print_checks(checks: list[dict], indent: str = "      ") -> None:
    for c in checks:
        rng = f"[{_fmt(c.get('expected_low'))}, {_fmt(c.get('expected_high'))}]"
        print(f"{indent}check {c['check_name']}: {c['outcome']}, measured {_fmt(c.get('measured_value'))} "
              f"{c.get('unit') or ''} expected {rng} -> {c.get('effect') or '-'}"
              + (f" ({c['detail']})" if c.get("detail") else ""))


def print_report(before: dict, after: dict, diff: dict, args) -> None:
    for name, side in (("BEFORE", before), ("AFTER", after)):
        print(f"=== {name}: {side['repo']} ({side['commit']}) ===")
        print(f"sync: {side['sync']}")
        runs = [a for a in side["activities"] if a.get("is_run")]
        print(f"activities: {len(side['activities'])}, counted as runs: {len(runs)}, "
              f"running distance {sum(a.get('distance_m') or 0 for a in runs) / 1000:,.1f} km")
        print(f"flags: {len(side['flags'])}")
        for r, s, n in _counts(side["flags"]):
            print(f"  {r:28s} {s:8s} {n:4d}")
        for f in side["flags"]:
            print(f"  {f['local_date']}  {f['rule']:24s} {f['severity']:8s} value {_fmt(f.get('value'), 2):>8s}  "
                  f"{(f['activity_id'] or '-'):20s} {f['file']}")
        if side.get("checks") is None:
            print("(no activity_checks table in this tree)")
        print()
    print("=== DIFFERENCE (before -> after) ===")
    print(f"removed: {len(diff['removed'])}, added: {len(diff['added'])}, "
          f"kept with another severity or value (> 1%): {len(diff['changed'])}")
    for f in diff["removed"]:
        print(f"  - {f['local_date']} {f['rule']} {f['severity']} value {_fmt(f.get('value'), 2)} "
              f"{f['activity_id'] or '(day)'} {f['file']}")
        r = f["reason"]
        if f["activity_id"]:
            print(f"      after: is_run {r.get('after_is_run')}, sport {r.get('after_sport')}, "
                  f"distance {_fmt(r.get('after_distance_m'))} m"
                  + (f"; sport: {r['after_sport_reason']}" if r.get("after_sport_reason") else "")
                  + (f"; distance: {r['after_distance_reason']}" if r.get("after_distance_reason") else ""))
            _print_checks(r.get("checks") or [])
        else:
            for a in r.get("activities_changed") or []:
                print(f"      {a['local_date']} {a['file']}: running {_fmt(a['running_m_before'], 0)} -> "
                      f"{_fmt(a['running_m_after'], 0)} m")
                _print_checks(a["checks"], indent="        ")
            if not r.get("activities_changed"):
                print(f"      (no running distance changed in the {DAY_FLAG_WINDOW_DAYS} days up to it: "
                      "a change in the flag rules themselves)")
    for f in diff["added"]:
        print(f"  + {f['local_date']} {f['rule']} {f['severity']} value {_fmt(f.get('value'), 2)} "
              f"{f['activity_id'] or '(day)'} {f['file']}")
    for f in diff["changed"]:
        print(f"  ~ {f['local_date']} {f['rule']} {f['severity']} -> {f['severity_after']}, value "
              f"{_fmt(f.get('value'), 2)} -> {_fmt(f.get('value_after'), 2)} {f['activity_id'] or '(day)'} {f['file']}")
    print(f"\n=== ACTIVITIES: distance change > {args.distance_pct}% or is_run changed: "
          f"{len(diff['activities_changed'])} ===")
    for a in diff["activities_changed"]:
        pct = f"{a['pct']:+.1f}%" if a["pct"] is not None else "n/a"
        print(f"  {a['local_date']} {a['file']}#{a['session_index']}: {_fmt(a['distance_before_m'], 0)} -> "
              f"{_fmt(a['distance_after_m'], 0)} m ({pct}); is_run {a['is_run_before']} -> {a['is_run_after']}; "
              f"sport {a['sport_before']} -> {a['sport_after']}"
              + (f"; {a['distance_source_after']}: {a['distance_reason_after']}" if a.get("distance_reason_after") else ""))
        _print_checks(a["checks"], indent="      ")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", type=Path, help="footfall checkout with .venv (the old tree)")
    ap.add_argument("after", type=Path, help="footfall checkout with .venv (the new tree)")
    ap.add_argument("paths", type=Path, nargs="+", help="folders/files/archives to sync with both")
    ap.add_argument("--athlete", default="runner")
    ap.add_argument("--today", default="2026-06-01", help="FOOTFALL_TODAY for both syncs")
    ap.add_argument("--timezone", default="UTC", help="FOOTFALL_TIMEZONE and TZ for both syncs")
    ap.add_argument("--workdir", type=Path, default=None, help="where the databases go (default: a temp dir, kept)")
    ap.add_argument("--distance-pct", type=float, default=2.0)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = ap.parse_args(argv)
    paths = [p.resolve() for p in args.paths]
    for p in paths:
        if not p.exists():
            sys.exit(f"{p}: not found")
    work = (args.workdir or Path(tempfile.mkdtemp(prefix="footfall-before-after-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    before = sync_and_dump("before", args.before.resolve(), paths, args, work)
    after = sync_and_dump("after", args.after.resolve(), paths, args, work)
    roots = [p if p.is_dir() else p.parent for p in paths]
    diff = compare(before, after, roots, args.distance_pct)
    if args.json:
        print(json.dumps({"before": before, "after": after, "diff": diff, "workdir": str(work)}, default=str, indent=1))
    else:
        print(f"workdir: {work}\n")
        print_report(before, after, diff, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
