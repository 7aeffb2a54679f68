"""The data-quality layer over the whole corpus (issue 13): what each rule changed, the device
values it must not touch, and the corpus files behind each defect of the issue.

Every corpus file is decoded (``ingest.decode.decode_bytes``) and derived by models'
entry point: ``models.summary.derive_file`` when it exists (records, activity_metrics and the
``activity_checks`` frame, ``ingest.schema.ACTIVITY_CHECKS``), else ``derive_activity`` (no
checks). ``pytest -s`` prints, per rule (check_name x outcome), how many activities it changed
and which (path, activity, measured value, effect).

Asserted:

- no FIT run with a device session summary reports another distance or average cadence than the
  device's own (``activities.distance_m``, ``activities.device_avg_cadence_spm``): the issue's
  "must not regress";
- each row of ``tests/corpus_quality_cases.tsv`` (a corpus file behind one of the issue's
  defects) meets its ``expected_after`` expression.

Takes ~15-30 s (decoding and deriving ~230 activities once per session).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import polars as pl
import pytest

CASES_TSV = Path(__file__).resolve().parent.parent / "corpus_quality_cases.tsv"

#: Check outcomes (ingest/schema.py ACTIVITY_CHECKS): the rule changed a value or the activity's
#: running load; the rule recorded a finding without changing anything; nothing to report.
CHANGED_OUTCOMES = ("adjusted", "excluded")
QUIET_OUTCOMES = ("pass", "skipped")


def _read_cases() -> list[dict[str, str]]:
    with open(CASES_TSV, newline="") as fh:
        lines = [ln for ln in fh if ln.strip() and not ln.startswith("#")]
    rows = list(csv.DictReader(lines, delimiter="\t"))
    assert rows and list(rows[0]) == ["defect", "path", "session_index", "measured_before", "expected_after"], (
        f"{CASES_TSV}: unexpected header {list(rows[0]) if rows else None}")
    return rows


CASES = _read_cases()


def _case_id(c: dict[str, str]) -> str:
    where = "no-corpus-file" if c["path"] == "-" else f"{Path(c['path']).name}#{c['session_index'] or 0}"
    return f"{c['defect']}:{where}"


# --------------------------------------------------------------------------------------------
# deriving the corpus once


def _derive(dec) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """(activity_metrics, activity_checks or None) for one decoded file, by models' entry point."""
    try:
        from models.summary import derive_file
    except ImportError:
        derive_file = None
    if derive_file is not None:
        res = derive_file(dec.activities, dec.records, dec.laps, dec.events)
        if isinstance(res, tuple):
            metrics, checks = res[1], res[2]
        else:
            metrics, checks = res.metrics, res.checks
        return metrics, checks
    from models.summary import derive_activity

    _, metrics = derive_activity(dec.activities, dec.records, dec.laps)
    return metrics, None


class Activity:
    """One derived corpus activity: its file, decoded row, metrics row and checks."""

    def __init__(self, path: str, act: dict, metrics: dict, checks: list[dict] | None, dec):
        self.path, self.act, self.metrics, self.checks, self._dec = path, act, metrics, checks, dec
        self._derived: dict | None = None

    @property
    def session_index(self) -> int:
        return int(self.act.get("session_index") or 0)

    def derived(self) -> dict:
        """models.summary.derive_from_records: the values the records alone give."""
        if self._derived is None:
            from models.summary import derive_from_records

            recs = self._dec.records.filter(pl.col("activity_id") == self.act["activity_id"])
            self._derived = derive_from_records(self.act, recs)
        return self._derived


@pytest.fixture(scope="module")
def corpus_activities(corpus_dir, catalog) -> dict[tuple[str, int], Activity]:
    from ingest.decode import decode_bytes
    from models.thresholds import reader_options

    opts = reader_options()
    out: dict[tuple[str, int], Activity] = {}
    errors: list[str] = []
    for rel in sorted(catalog):
        p = corpus_dir / rel
        if not p.is_file():
            continue
        dec = decode_bytes(p.read_bytes(), p.name, opts)
        if dec.activities.height == 0:
            continue
        try:
            metrics, checks = _derive(dec)
        except Exception as err:  # collected: one assertion names every file that failed
            errors.append(f"{rel}: {type(err).__name__}: {err}")
            continue
        by_id = {m["activity_id"]: m for m in metrics.iter_rows(named=True)}
        checks_by_id: dict[str, list[dict]] = defaultdict(list)
        if checks is not None:
            for c in checks.iter_rows(named=True):
                checks_by_id[c["activity_id"]].append(c)
        for act in dec.activities.iter_rows(named=True):
            m = by_id.get(act["activity_id"])
            if m is None:
                errors.append(f"{rel}: activity {act['activity_id']} has no activity_metrics row")
                continue
            a = Activity(rel, act, m, checks_by_id.get(act["activity_id"], []) if checks is not None else None, dec)
            out[(rel, a.session_index)] = a
    assert not errors, "deriving failed:\n" + "\n".join(errors)
    assert out, "no corpus activity was derived"
    return out


# --------------------------------------------------------------------------------------------
# the report: what each rule changed


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}"
    return str(v)


def test_rules_report(corpus_activities):
    """Print per rule (check_name x outcome) how many activities it changed, and which."""
    acts = list(corpus_activities.values())
    have_checks = any(a.checks is not None for a in acts)
    print(f"\n=== data-quality rules over the corpus: {len(acts)} activities "
          f"({sum(bool(a.metrics.get('is_run')) for a in acts)} counted as runs) ===")
    tally: dict[tuple, int] = defaultdict(int)
    for a in acts:
        m = a.metrics
        tally[("is_run", str(m.get("is_run")), "sport_source", str(m.get("sport_source")))] += 1
        tally[("distance_source", str(m.get("distance_source")), "", "")] += 1
    for key in sorted(tally):
        print(f"  {' '.join(k for k in key if k):50s} {tally[key]:4d}")
    if not have_checks:
        print("models.summary.derive_file is not available on this tree: no activity_checks to report")
        return
    listed: dict[tuple[str, str], list[tuple[Activity, dict]]] = defaultdict(list)
    ran: dict[tuple[str, str], set] = defaultdict(set)
    for a in acts:
        for c in a.checks or []:
            key = (c["check_name"], c["outcome"])
            ran[key].add((a.path, a.session_index))
            if c["outcome"] not in QUIET_OUTCOMES:
                listed[key].append((a, c))
    print("activities per rule and outcome ('changed': adjusted/excluded, 'recorded': a finding that"
          " changed nothing, e.g. disagree)")
    print(f"{'check_name':34s} {'outcome':10s} {'activities':>10s}  what")
    for key in sorted(ran):
        what = "changed" if key[1] in CHANGED_OUTCOMES else ("-" if key[1] in QUIET_OUTCOMES else "recorded")
        print(f"{key[0]:34s} {key[1]:10s} {len(ran[key]):10d}  {what}")
    for key in sorted(listed):
        rows = listed[key]
        verb = "changed" if key[1] in CHANGED_OUTCOMES else "recorded, nothing changed"
        print(f"\n--- {key[0]} / {key[1]}: {len({(a.path, a.session_index) for a, _ in rows})} activities ({verb}) ---")
        for a, c in sorted(rows, key=lambda ac: (ac[0].path, ac[0].session_index)):
            rng = f"[{_fmt(c.get('expected_low'))}, {_fmt(c.get('expected_high'))}]"
            print(f"  {a.path}#{a.session_index}: measured {_fmt(c.get('measured_value'))} "
                  f"{c.get('unit') or ''} expected {rng} -> {c.get('effect') or '-'}")
    n_excl = sum(1 for a in acts if any((c.get("effect") or "").startswith("excluded") for c in a.checks or []))
    print(f"\nactivities with an 'excluded ...' effect: {n_excl}")
    # every activity has at least one check recorded, passed or not (the audit is complete)
    missing = [f"{a.path}#{a.session_index}" for a in acts if not a.checks]
    assert not missing, f"{len(missing)} activities have no activity_checks row: {missing[:10]}"


# --------------------------------------------------------------------------------------------
# must not regress: the device's own session summary


def _device_runs(corpus_activities) -> list[Activity]:
    out = []
    for a in corpus_activities.values():
        act = a.act
        if act.get("source_format") != "fit" or act.get("sport") != "running":
            continue
        if act.get("timer_time_s") is None or act.get("distance_m") is None:
            continue  # no session summary (a FIT activity built from records alone)
        out.append(a)
    return out


def test_fit_runs_keep_device_distance_and_cadence(corpus_activities):
    runs = _device_runs(corpus_activities)
    assert len(runs) >= 20, f"expected the corpus's FIT runs with a session summary, found {len(runs)}"
    bad = []
    n_cad = 0
    refused = [a for a in runs if not a.metrics.get("is_run")]
    runs = [a for a in runs if a.metrics.get("is_run")]
    for a in refused:  # the sport decision refused the label: not a "real run", shown for review
        print(f"  FIT labelled running, decided not a run: {a.path}#{a.session_index} "
              f"({a.metrics.get('sport')}: {a.metrics.get('sport_reason')})")
    for a in runs:
        m, act = a.metrics, a.act
        if m.get("distance_m") is None or abs(m["distance_m"] - act["distance_m"]) > 0.01:
            bad.append(f"{a.path}#{a.session_index}: distance {_fmt(m.get('distance_m'))} m, "
                       f"device {_fmt(act['distance_m'])} m ({m.get('distance_source')}: {m.get('distance_reason')})")
        dev_cad = act.get("device_avg_cadence_spm")
        if dev_cad is not None and dev_cad > 0:
            n_cad += 1
            if m.get("avg_cadence_spm") is None or abs(m["avg_cadence_spm"] - dev_cad) > 0.01:
                bad.append(f"{a.path}#{a.session_index}: cadence {_fmt(m.get('avg_cadence_spm'))} spm, "
                           f"device {dev_cad:.2f} spm")
    print(f"\nFIT runs with a device session summary: {len(runs)} distances, {n_cad} cadences compared"
          f" ({len(refused)} labelled running but decided otherwise, not compared)")
    assert len(runs) >= 10 and n_cad >= 5
    assert not bad, "device values changed:\n" + "\n".join(bad)


# --------------------------------------------------------------------------------------------
# the corpus files behind each defect


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_defect_case(case, corpus_activities):
    if case["path"] == "-":
        pytest.skip(f"{case['defect']}: no corpus file ({case['measured_before']})")
    key = (case["path"], int(case["session_index"] or 0))
    if key not in corpus_activities:
        pytest.skip(f"{case['path']} session {key[1]} is not in this corpus (or not an activity)")
    a = corpus_activities[key]
    expr, _, note = case["expected_after"].partition("  # ")
    expr = expr.strip()

    def check(name_part: str, outcome: str) -> bool:
        if a.checks is None:
            raise AssertionError("models.summary.derive_file is not available: no activity_checks")
        return any(name_part in (c["check_name"] or "") and c["outcome"] == outcome for c in a.checks)

    scope = dict(a.metrics)
    scope.update(act=a.act, check=check, abs=abs)
    if "derived" in expr:
        scope["derived"] = a.derived()
    try:
        ok = eval(expr, {"__builtins__": {}}, scope)  # noqa: S307 - expressions from the repo's own TSV
    except (TypeError, ZeroDivisionError) as err:  # a NULL value where the rule needs one
        ok, why = False, f"{type(err).__name__}: {err}"
    else:
        why = ""
    shown = {k: _fmt(scope.get(k)) for k in (
        "sport", "sport_source", "is_run", "distance_m", "distance_source", "distance_reason",
        "moving_time_s", "elapsed_time_s", "avg_cadence_spm", "avg_cadence_run_spm",
        "avg_ground_contact_time_ms", "avg_ground_contact_time_run_ms") if k in scope}
    assert ok, (f"{case['defect']} {case['path']}#{key[1]}: expected {expr!r} ({note}); "
                f"before: {case['measured_before']}; now: {shown} {why}")
