"""derive_file (issue 13): records, activity_metrics and activity_checks for one decoded file; the
pipeline's decode_one lands the checks on Decoded; on the corpus, no FIT run with a device summary
changes its reported distance, moving time or cadence."""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from ingest import schema
from ingest.decode import decode_bytes
from models.summary import DerivedFile, derive_activity, derive_file
from models.thresholds import reader_options
from synth.fit_encode import encode_activity

T0 = datetime(2024, 3, 1, 7, 0, 0)
OUTCOMES = {"pass", "adjusted", "disagree", "excluded", "skipped"}


def act(aid, **kw) -> dict:
    base = {"activity_id": aid, "file_id": "f", "session_index": 0, "source_format": "fit", "sport": "running",
            "sub_sport": "generic", "started_at": T0, "local_date": date(2024, 3, 1),
            "cadence_raw_unit": "strides_min"}
    base.update(kw)
    return base


def recs(aid: str, n: int, t0: int = 0, **cols) -> pl.DataFrame:
    data = {"activity_id": [aid] * n, "record_index": list(range(n)),
            "recorded_at": [T0 + timedelta(seconds=t0 + i) for i in range(n)],
            "speed_mps": [3.0] * n, "distance_m": [3.0 * i for i in range(n)],
            "latitude_deg": [50.0 + 3.0 * i / 111_319.5 for i in range(n)], "longitude_deg": [6.0] * n}
    data.update({k: [v] * n for k, v in cols.items()})
    return schema.conform(pl.DataFrame(data), "records")


def _multisport() -> tuple[pl.DataFrame, pl.DataFrame]:
    acts = schema.conform(pl.DataFrame([
        act("f-0", distance_m=900.0, timer_time_s=300.0, elapsed_time_s=300.0, device_total_strides=425),
        act("f-1", session_index=1, sport="cycling", cadence_raw_unit="rpm", distance_m=2400.0,
            timer_time_s=300.0, elapsed_time_s=300.0),
        act("f-2", session_index=2, source_format="fit", timer_time_s=None),
    ]), "activities")
    records = pl.concat([recs("f-0", 301, cadence_raw=85.0), recs("f-1", 301, 400, cadence_raw=90.0),
                         recs("f-2", 301, 800, cadence_raw=80.0)])
    return acts, records


def test_every_check_row_is_complete():
    acts, records = _multisport()
    res = derive_file(acts, records, schema.empty("laps"), schema.empty("events"))
    assert isinstance(res, DerivedFile)
    assert res.checks.schema == pl.Schema(schema.ACTIVITY_CHECKS)
    assert res.checks.height > 0
    for col in ("activity_id", "check_name", "outcome", "effect", "detail"):
        assert res.checks[col].null_count() == 0, col
    # a measured number always has its unit (a check of a label, e.g. sub_sport, has neither)
    measured = res.checks.filter(pl.col("measured_value").is_not_null())
    assert measured["unit"].null_count() == 0, measured.filter(pl.col("unit").is_null())
    assert set(res.checks["outcome"].to_list()) <= OUTCOMES
    assert (res.checks["detail"].str.len_chars() > 0).all()
    # every activity has its checks, passed ones included, one row per activity x check
    assert set(res.checks["activity_id"].unique().to_list()) == {"f-0", "f-1", "f-2"}
    per = res.checks.group_by("activity_id", "check_name").len()
    assert per["len"].max() == 1
    for aid in ("f-0", "f-1", "f-2"):
        names = set(res.checks.filter(pl.col("activity_id") == aid)["check_name"].to_list())
        assert {"distance_choice", "time_order", "track_cleaning"} <= names, aid
    assert "pass" in res.checks["outcome"].to_list()
    # a measured check carries its expected range where it has one
    ranged = res.checks.filter(pl.col("check_name").str.starts_with("distance_agreement"))
    assert ranged.height and ranged["expected_low"].null_count() == 0 and ranged["expected_high"].null_count() == 0
    assert ranged["threshold_name"].null_count() == 0


def test_metrics_carry_the_new_columns():
    acts, records = _multisport()
    m = derive_file(acts, records, schema.empty("laps"), None).metrics
    assert m.schema == pl.Schema(schema.ACTIVITY_METRICS)
    assert m["distance_source"].to_list() == ["device", "device", "records"]
    assert m["distance_reason"].null_count() == 0
    assert m["distance_records_m"].to_list() == pytest.approx([900.0, 900.0, 900.0])
    assert m["distance_track_raw_m"].null_count() == 0 and m["distance_track_clean_m"].null_count() == 0
    assert m["distance_session_m"].to_list()[:2] == [900.0, 2400.0] and m["distance_session_m"][2] is None
    assert m["sport_reason"].null_count() == 0 and m["sport_confidence"].null_count() == 0
    assert m["is_run"].to_list() == [True, False, True]
    # the ride: no steps or cadence, as before
    assert m["steps"][1] is None and m["avg_cadence_spm"][1] is None


def test_derive_activity_is_derive_file_without_events_and_checks():
    acts, records = _multisport()
    out, m = derive_activity(acts, records, schema.empty("laps"))
    res = derive_file(acts, records, schema.empty("laps"), None)
    assert out.equals(res.records)
    assert m.equals(res.metrics)
    assert out.select("activity_id", "record_index").equals(records.select("activity_id", "record_index"))


def test_empty_file():
    res = derive_file(schema.empty("activities"), schema.empty("records"), schema.empty("laps"), None)
    assert res.records.height == res.metrics.height == res.checks.height == 0
    assert res.checks.columns == list(schema.ACTIVITY_CHECKS)


def test_decoded_has_empty_activity_checks_by_default():
    from ingest.schema import Decoded

    d = Decoded(file_id="x", format="fit")
    assert d.activity_checks.height == 0 and d.activity_checks.columns == list(schema.ACTIVITY_CHECKS)


def test_decode_one_sets_activity_checks():
    from pipelines.work import DeriveContext, decode_one

    start = datetime(2024, 5, 2, 6, 0, 0)
    n = 600
    data = encode_activity(records={"timestamp": [start + timedelta(seconds=i) for i in range(n)],
                                    "distance": [3.0 * i for i in range(n)], "enhanced_speed": [3.0] * n,
                                    "cadence": [85] * n})
    dec, metrics = decode_one(data, "run.fit", DeriveContext(athlete_id="ath"))
    assert metrics is not None and metrics.height == 1
    assert dec.activity_checks.height > 0
    assert dec.activity_checks.schema == pl.Schema(schema.ACTIVITY_CHECKS)
    assert set(dec.activity_checks["activity_id"].to_list()) == set(metrics["activity_id"].to_list())
    row = metrics.row(0, named=True)
    assert row["distance_source"] == "device" and row["distance_m"] == pytest.approx(3.0 * (n - 1))


# --- corpus: the device's own summary is not overridden for real runs --------------------------


@pytest.mark.corpus
def test_fit_runs_with_a_device_summary_keep_distance_time_and_cadence(corpus_dir):
    """Issue 13, must not regress: every corpus FIT run with a session summary reports the session's
    distance, timer time (unless it exceeds the elapsed time) and average cadence. Prints, per
    check, how many activities it changed."""
    with open(Path(corpus_dir) / "CATALOG.tsv", newline="") as fh:
        paths = [r["path"] for r in csv.DictReader(fh, delimiter="\t")
                 if r["format"] == "fit" and "running" in (r["sport"] or "").lower()]
    compared = 0
    changed: dict[tuple[str, str], list[str]] = {}
    for rel in paths:
        dec = decode_bytes((Path(corpus_dir) / rel).read_bytes(), rel, reader_options())
        if dec.status not in ("landed", "salvaged") or dec.activities.height == 0:
            continue
        res = derive_file(dec.activities, dec.records, dec.laps, dec.events)
        for c in res.checks.filter(pl.col("outcome") != "pass").iter_rows(named=True):
            changed.setdefault((c["check_name"], c["outcome"]), []).append(f"{rel}#{c['activity_id'][-1]}")
        for a, m in zip(dec.activities.iter_rows(named=True), res.metrics.iter_rows(named=True)):
            if a["sport"] != "running" or a["timer_time_s"] is None or not a["distance_m"]:
                continue
            compared += 1
            assert (m["distance_m"], m["distance_source"]) == (a["distance_m"], "device"), rel
            elapsed = a["elapsed_time_s"]
            assert m["moving_time_s"] == (a["timer_time_s"] if elapsed is None else min(a["timer_time_s"], elapsed))
            if a["device_avg_cadence_spm"]:
                assert (m["avg_cadence_spm"], m["cadence_source"]) == (a["device_avg_cadence_spm"], "device"), rel
    assert compared >= 10, f"only {compared} corpus FIT runs with a session summary"
    print(f"\nFIT runs with a device summary compared: {compared}")
    for (name, outcome), where in sorted(changed.items()):
        print(f"  {name} {outcome}: {len(where)}")
        for w in where:
            print(f"    {w}")


def test_the_decided_sport_rules_steps_cadence_and_the_track_ceiling(monkeypatch):
    """models/sport.py decides (here a stand-in decision: the file says running, the evidence says
    cycling): the ride gets no steps, cadence or gait, is not a run, carries the decision's reason and
    checks, and its track is cleaned again with the cycling ceiling."""
    from models import sport as sp
    from models import track as trk

    def decide(e, overrides=None):
        return sp.SportDecision("cycling", False, "inferred", 0.9, "6.8 m/s for 25 min is not running",
                                [{"check_name": "sport_label", "outcome": "excluded", "measured_value": 6.8,
                                  "expected_low": None, "expected_high": 6.5, "unit": "m/s",
                                  "effect": "excluded from running load", "detail": "label refused",
                                  "threshold_name": "run_max_speed_mps"}])

    ceilings = []
    real_ceiling = trk.speed_ceiling_mps

    def ceiling(sport, overrides=None):
        ceilings.append(sport)
        return real_ceiling(sport, overrides) + (1.0 if sport == "cycling" else 0.0)

    monkeypatch.setattr(sp, "decide_sport", decide)
    monkeypatch.setattr(trk, "speed_ceiling_mps", ceiling)
    a = act("f-0", distance_m=900.0, timer_time_s=300.0, elapsed_time_s=300.0, device_avg_cadence_spm=170.0,
            device_total_strides=425)
    res = derive_file(schema.conform(pl.DataFrame([a]), "activities"), recs("f-0", 301, cadence_raw=85.0),
                      schema.empty("laps"), None)
    row = res.metrics.row(0, named=True)
    assert ceilings == [None, "cycling"]
    assert (row["sport"], row["sport_source"], row["is_run"]) == ("cycling", "inferred", False)
    assert row["sport_confidence"] == 0.9 and "not running" in row["sport_reason"]
    assert row["steps"] is None and row["avg_cadence_spm"] is None and row["run_time_s"] is None
    assert res.records["gait"].null_count() == res.records.height
    assert res.records["cadence_spm"].null_count() == res.records.height
    (c,) = res.checks.filter(pl.col("check_name") == "sport_label").to_dicts()
    assert c["activity_id"] == "f-0" and c["outcome"] == "excluded"
    assert (row["distance_m"], row["distance_source"]) == (900.0, "device")


@pytest.mark.corpus
def test_corpus_checks_and_invariants(corpus_dir):
    """Every corpus activity (FIT, GPX, TCX): moving time <= elapsed time, the chosen distance is one of
    its stored candidates (or the file's own total), every activity has its distance, time and track
    checks. Prints, per check and outcome, how many activities and which (``pytest -s``)."""
    with open(Path(corpus_dir) / "CATALOG.tsv", newline="") as fh:
        paths = [r["path"] for r in csv.DictReader(fh, delimiter="\t") if r["format"] in ("fit", "gpx", "tcx")]
    per_check: dict[tuple[str, str], list[str]] = {}
    sources: dict[str, int] = {}
    n = 0
    for rel in paths:
        dec = decode_bytes((Path(corpus_dir) / rel).read_bytes(), rel, reader_options())
        if dec.status not in ("landed", "salvaged") or dec.activities.height == 0:
            continue
        res = derive_file(dec.activities, dec.records, dec.laps, dec.events)
        for c in res.checks.iter_rows(named=True):
            per_check.setdefault((c["check_name"], c["outcome"]), []).append(f"{rel} [{c['activity_id']}]")
        for m in res.metrics.iter_rows(named=True):
            n += 1
            sources[m["distance_source"]] = sources.get(m["distance_source"], 0) + 1
            if m["moving_time_s"] is not None and m["elapsed_time_s"] is not None:
                assert m["moving_time_s"] <= m["elapsed_time_s"], rel
            cands = [m[k] for k in ("distance_session_m", "distance_laps_m", "distance_records_m",
                                    "distance_track_clean_m")]
            a = dec.activities.filter(pl.col("activity_id") == m["activity_id"]).row(0, named=True)
            if m["distance_m"] is not None:
                assert m["distance_m"] in cands + [a["distance_m"]], (rel, m["distance_reason"])
            assert m["distance_reason"], rel
            names = set(res.checks.filter(pl.col("activity_id") == m["activity_id"])["check_name"].to_list())
            assert {"distance_choice", "time_order", "track_cleaning"} <= names, rel
    assert n > 100
    print(f"\n{n} corpus activities; distance_source: {dict(sorted(sources.items()))}")
    for (name, outcome), where in sorted(per_check.items()):
        print(f"  {name:28s} {outcome:9s} {len(where)}")
        if outcome != "pass":
            for w in where:
                print(f"      {w}")
