"""ingest.fit (and its reference reader, ingest.fit_fitparse) against the real corpus (and a few FIT files built here byte by byte).

The oracle is fitparse itself, run independently (default processor, ``get_values()``), and the
corpus CATALOG (record counts written by fitparse 1.2.0). The whole corpus is decoded once, in
a process pool, by a module-scoped fixture that keeps small summaries.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import random
import struct
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from datetime import time as dt_time
from pathlib import Path

import fitparse
import fitparse.records as fr
import fitparse.utils as fu
import polars as pl
import pytest

from ingest import errors, schema
from ingest.decode import decode_bytes, file_id_of
from ingest.fit import SEMICIRCLE_TO_DEG, decode_fit, fit_messages_to_decoded
from ingest.fit_fitparse import read_fit_messages
from ingest.fit_messages import FitMessages, fit_crc16
from models.thresholds import reader_options

READ = reader_options()  # the readers' settings: models/thresholds.py, no overrides

from tests.conftest import MANIFEST, corpus_member

RUNNING_DEV = "jimmykane+fit-parser/test/running-with-developer-data.fit"
FENIX2_RUN = "dtcooper+python-fitparse/tests/files/activity-small-fenix2-run.fit"
FENIX5_RUN = "dtcooper+python-fitparse/tests/files/garmin-fenix-5-run.fit"
DEV_TYPES_SAMPLE = "dtcooper+python-fitparse/tests/files/developer-types-sample.fit"
CYCLING = "GoldenCheetah+sweatpy/sweat/examples/data/2020-06-01-16-52-40.fit"
NICK = "dtcooper+python-fitparse/tests/files/nick.fit"
UNEXPECTED_EOF = "dtcooper+python-fitparse/tests/files/activity-unexpected-eof.fit"
FILECRC = "dtcooper+python-fitparse/tests/files/activity-filecrc.fit"
NULL_CSD = "dtcooper+python-fitparse/tests/files/null_compressed_speed_dist.fit"
DEVICE_TIME = "dtcooper+python-fitparse/tests/files/compressed-speed-distance.fit"
TRI_FIRST = "muktihari+fit/testdata/from_garmin_forums/triathlon_summary_first.fit"
TRI_LAST = "muktihari+fit/testdata/from_garmin_forums/triathlon_summary_last.fit"
CHAINED = "muktihari+fit/testdata/chained_Activity_activity_poolswim.fit"

ERROR_CLASSES = {n for n, c in vars(errors).items() if isinstance(c, type) and issubclass(c, errors.IngestError)}
FILE_STATUSES = set(schema.STATUSES) - {"duplicate"}


# ---------------------------------------------------------------------------------------------
# fitparse as the independent reference
# ---------------------------------------------------------------------------------------------


def fitparse_values(data: bytes, check_crc: bool = True) -> tuple[list[tuple[str, dict]], Exception | None]:
    """(message name, get_values()) of every data message fitparse yields before an error."""
    fr.DEV_TYPES = {}
    out: list[tuple[str, dict]] = []
    try:
        ff = fitparse.FitFile(io.BytesIO(data), check_crc=check_crc)
        for m in ff.get_messages():
            out.append((m.name, m.get_values()))
        return out, None
    except fu.FitParseError as err:
        return out, err
    finally:
        fr.DEV_TYPES = {}


def _read(corpus_dir: Path, rel: str) -> bytes:
    p = corpus_dir / rel
    if not p.is_file():
        pytest.skip(f"{rel} not in this corpus")
    return p.read_bytes()


# ---------------------------------------------------------------------------------------------
# the whole corpus, once
# ---------------------------------------------------------------------------------------------


def _summarise(path: str) -> dict:
    """decode_bytes one file; keep what the corpus-wide tests look at (runs in a worker)."""
    data = Path(path).read_bytes()
    d = decode_bytes(data, Path(path).name, READ)
    out = {
        "status": d.status, "reason": d.reason, "error_class": d.error_class,
        "n_messages_salvaged": d.n_messages_salvaged, "decoder": d.decoder,
        "n_records": d.records.height, "frames_ok": all(
            df.columns == list(schema.TABLES[t]) for t, df in d.frames().items()),
        "activities": [], "utc_record_times": None,
    }
    if d.activities.height:
        per = d.records.group_by("activity_id").agg(
            pl.len().alias("n"),
            pl.col("recorded_at").min().alias("first"),
            pl.col("recorded_at").max().alias("last"),
        )
        acts = d.activities.join(per, on="activity_id", how="left").sort("session_index")
        out["activities"] = acts.select(
            "activity_id", "session_index", "sport", "started_at", "ended_at", "n_records",
            "n_laps", "n", "first", "last").to_dicts()
    if d.status == "no_timestamps":
        rec = read_fit_messages(data).frames.get("record")
        out["utc_record_times"] = 0 if rec is None or "timestamp" not in rec.columns else int(
            rec["timestamp"].is_not_null().sum())
    return out


@pytest.fixture(scope="module")
def corpus_fits(corpus_dir) -> list[Path]:
    files = sorted(p for p in corpus_dir.rglob("*") if p.is_file() and p.suffix.lower() == ".fit")
    assert files, "no FIT files in the corpus"
    return files


@pytest.fixture(scope="module")
def decoded_corpus(corpus_dir, corpus_fits) -> dict[str, dict]:
    """rel path -> summary, for every FIT file (biggest first across the pool)."""
    order = sorted(corpus_fits, key=lambda p: -p.stat().st_size)
    workers = max(1, min(os.cpu_count() or 1, 4))
    ctx = multiprocessing.get_context("spawn")  # polars is not fork-safe
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        results = list(pool.map(_summarise, [str(p) for p in order]))
    return {str(p.relative_to(corpus_dir)): r for p, r in zip(order, results)}


def test_the_corpus_holds_the_fit_files_of_the_manifest(decoded_corpus, catalog):
    assert len(decoded_corpus) == sum(1 for r in catalog.values() if r["format"] == "fit")
    assert sorted(decoded_corpus) == MANIFEST.files("fit")


@pytest.mark.parametrize("corpus_file", MANIFEST.files("fit"))
def test_every_fit_file_gets_a_status(decoded_corpus, catalog, corpus_file):
    rel, s = corpus_file, corpus_member(decoded_corpus, corpus_file)
    assert s["status"] in FILE_STATUSES, rel
    # decode_bytes takes the columnar path; damaged files fall back to fitparse for salvage
    assert s["status"] == "quarantined" or s["decoder"] == "columnar" or (
        s["decoder"] or "").startswith("fitparse"), rel
    if s["status"] == "salvaged":
        assert s["decoder"].startswith("fitparse"), rel
    assert s["frames_ok"], rel
    if s["status"] in ("quarantined", "salvaged"):
        assert s["reason"] and s["error_class"], rel
        # a reader bug would show as IndexError, KeyError, ... here
        assert s["error_class"] in ERROR_CLASSES, (rel, s["error_class"], s["reason"])
    if s["status"] == "salvaged":
        assert s["n_messages_salvaged"] and s["n_messages_salvaged"] > 0, rel
    if s["status"] in ("landed", "salvaged"):
        assert s["activities"], rel
        assert sum(a["n_records"] for a in s["activities"]) == s["n_records"], rel
        assert all(a["started_at"] is not None for a in s["activities"]), rel
    else:
        assert not s["activities"] and s["reason"], rel


@pytest.mark.parametrize("corpus_file", MANIFEST.files("fit"))
def test_not_activity_files_say_what_they_are(decoded_corpus, catalog, corpus_file):
    rel, s = corpus_file, corpus_member(decoded_corpus, corpus_file)
    ft = catalog[rel]["file_type"]
    if ft and ft != "activity":
        assert s["status"] == "not_activity", rel
        assert ft in s["reason"], (rel, s["reason"])


def test_record_counts_match_fitparse(decoded_corpus, catalog):
    """Every record message fitparse reads lands (CATALOG n_records was counted by fitparse 1.2.0).

    Files whose records carry no UTC time at all (device-relative timestamps, or none) are
    ``no_timestamps`` and land nothing; they are checked to really have no UTC record time.
    """
    checked = 0
    for rel, s in decoded_corpus.items():
        row = catalog[rel]
        if row["parse_ok"] != "yes" or row["file_type"] not in ("activity", ""):
            continue
        n_cat = int(row["n_records"] or 0)
        if s["status"] == "no_timestamps":
            assert s["utc_record_times"] == 0, rel
            continue
        assert s["status"] == "landed", (rel, s["status"], s["reason"])
        assert s["n_records"] == n_cat, rel
        checked += 1
    assert checked >= 60


def test_multisport_files_give_one_activity_per_session(decoded_corpus, catalog):
    multi = [rel for rel, r in catalog.items()
             if r["format"] == "fit" and r["n_sessions"] and int(r["n_sessions"]) > 1]
    assert len(multi) >= 5
    for rel in multi:
        s, row = decoded_corpus[rel], catalog[rel]
        assert s["status"] in ("landed", "salvaged"), rel
        acts = s["activities"]
        assert len(acts) == int(row["n_sessions"]), rel
        assert [a["session_index"] for a in acts] == list(range(len(acts))), rel
        assert [a["sport"] for a in acts] == row["sport"].split(";"), rel
        assert len({a["activity_id"] for a in acts}) == len(acts), rel


def test_triathlon_records_fall_in_their_own_session(decoded_corpus, corpus_dir):
    for rel in (TRI_FIRST, TRI_LAST):
        if rel not in decoded_corpus:
            pytest.skip(f"{rel} not in this corpus")
        for a in decoded_corpus[rel]["activities"]:
            assert a["n"] > 0
            assert a["first"] >= a["started_at"] - timedelta(seconds=1), (rel, a)
            assert a["last"] <= a["ended_at"] + timedelta(seconds=1), (rel, a)
    # summary-first and summary-last layouts of the same race give the same activities
    keep = ("session_index", "sport", "started_at", "ended_at", "n_records", "n_laps")
    first = [{k: a[k] for k in keep} for a in decoded_corpus[TRI_FIRST]["activities"]]
    last = [{k: a[k] for k in keep} for a in decoded_corpus[TRI_LAST]["activities"]]
    assert first == last


def test_chained_files_keep_their_own_records(decoded_corpus):
    if CHAINED not in decoded_corpus:
        pytest.skip(f"{CHAINED} not in this corpus")
    acts = decoded_corpus[CHAINED]["activities"]
    # two chained activity files whose sessions start at the same second: 3601 + 24 records
    assert [(a["sport"], a["n_records"]) for a in acts] == [
        ("stand_up_paddleboarding", 3601), ("swimming", 24)]


def test_salvaged_files_keep_what_precedes_the_damage(decoded_corpus, corpus_dir):
    for rel in (NICK, UNEXPECTED_EOF):
        data = _read(corpus_dir, rel)
        ref, err = fitparse_values(data)
        assert isinstance(err, fu.FitEOFError), rel
        n_ref = sum(1 for name, _ in ref if name == "record")
        assert n_ref > 0
        s = decoded_corpus[rel]
        assert s["status"] == "salvaged"
        assert s["error_class"] == "TruncatedFile"
        assert s["n_records"] == n_ref, rel
        assert s["n_messages_salvaged"] == len(ref), rel
        msgs = read_fit_messages(data)
        assert isinstance(msgs.error, errors.TruncatedFile)
        assert isinstance(msgs.error.__cause__, fu.FitEOFError)


def test_crc_mismatch_keeps_everything(decoded_corpus, corpus_dir):
    data = _read(corpus_dir, FILECRC)
    ref, err = fitparse_values(data, check_crc=False)
    assert err is None
    s = decoded_corpus[FILECRC]
    assert s["status"] == "salvaged" and s["error_class"] == "CrcMismatch"
    assert s["n_records"] == sum(1 for name, _ in ref if name == "record") > 0


# ---------------------------------------------------------------------------------------------
# values against fitparse
# ---------------------------------------------------------------------------------------------


def _close(a, b, tol=1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tol * max(1.0, abs(b))


@pytest.mark.parametrize("rel", [RUNNING_DEV, FENIX2_RUN, FENIX5_RUN, DEV_TYPES_SAMPLE, CYCLING])
def test_record_values_equal_fitparse(corpus_dir, rel):
    data = _read(corpus_dir, rel)
    d = decode_fit(data, file_id_of(data), reader=read_fit_messages)
    assert d.status == "landed" and d.activities.height == 1
    ref, err = fitparse_values(data)
    assert err is None
    ref_rec = [v for name, v in ref if name == "record"]
    got = d.records.sort("record_index").to_dicts()
    assert len(got) == len(ref_rec) > 0
    n_checked = {"lat": 0, "hr": 0, "cad": 0, "gct": 0, "dist": 0}
    for g, v in zip(got, ref_rec):
        assert g["recorded_at"] == v.get("timestamp")
        for col, f in (("latitude_deg", "position_lat"), ("longitude_deg", "position_long")):
            exp = None if v.get(f) is None else v[f] * 180.0 / 2**31
            assert _close(g[col], exp), (col, g[col], exp)
        n_checked["lat"] += v.get("position_lat") is not None
        assert _close(g["heart_rate_bpm"], v.get("heart_rate"))
        n_checked["hr"] += v.get("heart_rate") is not None
        if v.get("cadence") is not None:
            assert _close(g["cadence_raw"], v["cadence"] + (v.get("fractional_cadence") or 0.0))
            n_checked["cad"] += 1
        assert _close(g["ground_contact_time_ms"], v.get("stance_time"))
        n_checked["gct"] += v.get("stance_time") is not None
        assert _close(g["distance_m"], v.get("distance"))
        n_checked["dist"] += v.get("distance") is not None
        speed = v.get("enhanced_speed") if v.get("enhanced_speed") is not None else v.get("speed")
        assert _close(g["speed_mps"], speed)
        assert _close(g["vertical_oscillation_mm"], v.get("vertical_oscillation"))
    assert n_checked["hr"] > 0 and n_checked["dist"] > 0
    if rel != DEV_TYPES_SAMPLE:
        assert n_checked["cad"] > 0
    if rel in (RUNNING_DEV, FENIX5_RUN, DEV_TYPES_SAMPLE):
        assert n_checked["gct"] > 0


@pytest.mark.parametrize("rel", [RUNNING_DEV, FENIX5_RUN])
def test_session_summary_equals_fitparse(corpus_dir, rel):
    data = _read(corpus_dir, rel)
    d = decode_fit(data, file_id_of(data), reader=read_fit_messages)
    ref, _ = fitparse_values(data)
    ses = next(v for name, v in ref if name == "session")
    act = next(v for name, v in ref if name == "activity")
    a = d.activities.row(0, named=True)
    assert a["sport"] == "running" and a["cadence_raw_unit"] == "strides_min"
    assert a["started_at"] == ses["start_time"]
    assert a["ended_at"] == ses["start_time"] + timedelta(seconds=ses["total_elapsed_time"])
    assert _close(a["device_avg_cadence_spm"],
                  2 * (ses["avg_running_cadence"] + (ses.get("avg_fractional_cadence") or 0)))
    assert _close(a["device_avg_ground_contact_time_ms"], ses["avg_stance_time"])
    assert _close(a["device_avg_vertical_oscillation_mm"], ses["avg_vertical_oscillation"])
    assert a["device_total_strides"] == ses["total_strides"]
    offset = int((act["local_timestamp"] - act["timestamp"]).total_seconds())
    assert a["local_offset_s"] == offset
    assert a["local_date"] == (ses["start_time"] + timedelta(seconds=offset)).date()
    assert a["n_records"] == sum(1 for name, _ in ref if name == "record")
    assert a["n_laps"] == d.laps.height == sum(1 for name, _ in ref if name == "lap")
    assert a["manufacturer"] == "garmin" and a["product"] and a["serial_number"]


def test_developer_fields_map_by_name(corpus_dir):
    data = _read(corpus_dir, RUNNING_DEV)
    d = decode_fit(data, file_id_of(data), reader=read_fit_messages)
    ref, _ = fitparse_values(data)
    ref_rec = [v for name, v in ref if name == "record"]
    got = d.records.sort("record_index")
    gt = [v.get("Ground Time") for v in ref_rec]
    vo = [v.get("Vertical Oscillation") for v in ref_rec]
    assert sum(x is not None for x in gt) > 1000
    assert got["dev_ground_contact_time_ms"].to_list() == [None if x is None else float(x) for x in gt]
    # Stryd writes centimeters: x10 -> mm
    assert all(_close(g, None if x is None else x * 10)
               for g, x in zip(got["dev_vertical_oscillation_mm"].to_list(), vo))
    src = d.field_sources.filter(pl.col("column_name") == "dev_ground_contact_time_ms")
    assert src["source"].to_list() == ["fit_dev:Ground Time"]
    assert src["n_values"].to_list() == [sum(x is not None for x in gt)]
    dv = d.developer_values.filter(pl.col("field_name") == "Ground Time")
    assert dv.height == sum(x is not None for x in gt)
    assert set(dv["units"].to_list()) == {"Milliseconds"} and set(dv["message"].to_list()) == {"record"}
    assert dv.sort("message_index")["value"].to_list() == [float(x) for x in gt if x is not None]


def test_developer_definitions_do_not_leak_between_files(corpus_dir):
    with_dev = read_fit_messages(_read(corpus_dir, RUNNING_DEV))
    assert any(c.startswith("dev:") for c in with_dev.frames["record"].columns)
    assert with_dev.developer_fields.height > 0
    assert fr.DEV_TYPES == {}  # reset after each file
    without = read_fit_messages(_read(corpus_dir, FENIX5_RUN))
    assert not any(c.startswith("dev:") for df in without.frames.values() for c in df.columns)
    assert without.developer_fields.height == 0
    d = fit_messages_to_decoded(without, "f" * 64)
    assert d.developer_values.height == 0
    assert d.records["dev_ground_contact_time_ms"].null_count() == d.records.height


# ---------------------------------------------------------------------------------------------
# layer 1 contract (the columnar decoder is diffed against these frames)
# ---------------------------------------------------------------------------------------------


def _expected_frames(data: bytes) -> tuple[dict[str, list[dict]], int]:
    """The FitMessages rows by the contract, from fitparse's default processor; message count."""
    fr.DEV_TYPES = {}
    out: dict[str, list[dict]] = {}
    ff = fitparse.FitFile(io.BytesIO(data))
    i = -1
    for i, m in enumerate(ff.get_messages()):
        if m.def_mesg.mesg_type is None:
            continue
        row = {"_message_index": i}
        for fd in m.fields:
            if fd.field is None or fd.value is None:
                continue
            key = (f"dev:{fd.field.dev_data_index}:{fd.field.name}"
                   if fd.field.field_type == "devfield" else fd.field.name)
            row[key] = fd.value  # last non-null wins
        out.setdefault(m.name, []).append(row)
    fr.DEV_TYPES = {}
    return out, i + 1


@pytest.mark.parametrize("rel", [FENIX5_RUN, NULL_CSD, DEVICE_TIME,
                                 "dtcooper+python-fitparse/tests/files/DeveloperData.fit"])
def test_message_frames_follow_the_contract(corpus_dir, rel):
    data = _read(corpus_dir, rel)
    got = read_fit_messages(data)
    exp, n_messages = _expected_frames(data)
    assert got.error is None
    assert set(got.frames) == set(exp)
    assert got.n_messages == n_messages
    for name, rows in exp.items():
        df = got.frames[name]
        assert df.height == len(rows), name
        assert df.schema["_message_index"] == pl.Int64
        cols = {c: df[c].to_list() for c in df.columns}
        for j, row in enumerate(rows):
            assert cols["_message_index"][j] == row["_message_index"]
            for key, v in row.items():
                if key == "_message_index":
                    continue
                if isinstance(v, datetime):
                    assert df.schema[key] == pl.Datetime("us") and cols[key][j] == v
                elif isinstance(v, dt_time):
                    assert df.schema[key] == pl.Time and cols[key][j] == v
                elif isinstance(v, int) and f"{key}__device_s" in cols:  # device-relative time
                    assert cols[key][j] is None and cols[f"{key}__device_s"][j] == v
                elif isinstance(v, bool):
                    assert cols[key][j] is v
                elif isinstance(v, str):
                    assert cols[key][j] == v, (name, key)
                elif isinstance(v, tuple):
                    assert cols[key][j] == [None if x is None else float(x) for x in v]
                elif isinstance(df.schema[key], pl.List):
                    assert cols[key][j] == [float(v)]
                elif df.schema[key] == pl.Utf8:
                    assert cols[key][j] == str(v)
                else:
                    assert df.schema[key] == pl.Float64 and _close(cols[key][j], v), (name, key)
            # nothing else is filled
            filled = {c for c in cols if cols[c][j] is not None and not c.endswith("__device_s")}
            assert filled <= set(row), (name, filled - set(row))
        assert not any(c.startswith("unknown_") for c in df.columns)
        assert all(df[c].null_count() < df.height or f"{c}__device_s" in cols
                   for c in df.columns), name


def test_last_non_null_value_wins(corpus_dir):
    """null_compressed_speed_dist.fit: an invalid compressed_speed_distance expands to a null
    ``distance`` after the valid native one; fitparse's get_values() would keep the null."""
    data = _read(corpus_dir, NULL_CSD)
    rec = read_fit_messages(data).frames["record"]
    assert rec["distance"].null_count() == 0
    ref, _ = fitparse_values(data)
    assert all(v.get("distance") is None for name, v in ref if name == "record")


def test_device_relative_timestamps_get_their_own_column(corpus_dir):
    data = _read(corpus_dir, DEVICE_TIME)
    rec = read_fit_messages(data).frames["record"]
    assert rec["timestamp"].null_count() == rec.height
    assert rec["timestamp__device_s"].null_count() == 0
    assert (rec["timestamp__device_s"] < 0x10000000).all()
    d = decode_fit(data, file_id_of(data), reader=read_fit_messages)
    assert d.status == "no_timestamps" and "device-relative" in d.reason
    assert d.records.height == 0


# ---------------------------------------------------------------------------------------------
# FIT files built here
# ---------------------------------------------------------------------------------------------

FIT_T0 = 1_000_000_000  # FIT seconds: 2021-09-08T01:46:40Z


def _fit(body: bytes) -> bytes:
    header = struct.pack("<BBHI4s", 14, 0x20, 2093, len(body), b".FIT")
    header += struct.pack("<H", fr.Crc.calculate(header))
    out = header + body
    return out + struct.pack("<H", fr.Crc.calculate(out))


def _definition(local: int, mesg_num: int, fields, dev_fields=()) -> bytes:
    head = 0x40 | local | (0x20 if dev_fields else 0)
    out = struct.pack("<BBBHB", head, 0, 0, mesg_num, len(fields))
    out += b"".join(struct.pack("BBB", *f) for f in fields)
    if dev_fields:
        out += struct.pack("B", len(dev_fields)) + b"".join(struct.pack("BBB", *f) for f in dev_fields)
    return out


def _activity_body(n_records: int = 5, dev_field: bool = False) -> bytes:
    body = _definition(0, 0, [(0, 1, 0x00), (1, 2, 0x84), (4, 4, 0x86)])  # file_id
    body += struct.pack("<BBHI", 0, 4, 1, FIT_T0)  # activity, garmin
    dev = [(7, 2, 0)] if dev_field else []  # field 7 of developer 0: never described
    body += _definition(1, 20, [(253, 4, 0x86), (3, 1, 0x02), (4, 1, 0x02)], dev)  # record
    for i in range(n_records):
        body += struct.pack("<BIBB", 1, FIT_T0 + i, 120 + i, 80) + (struct.pack("<H", 500 + i) if dev_field else b"")
    body += _definition(2, 18, [(253, 4, 0x86), (2, 4, 0x86), (7, 4, 0x86), (5, 1, 0x00)])  # session
    body += struct.pack("<BIIIB", 2, FIT_T0 + n_records, FIT_T0, n_records * 1000, 1)  # running
    return body


def test_a_built_activity_lands(tmp_path):
    data = _fit(_activity_body())
    d = decode_bytes(data, "built.fit", READ)
    assert d.status == "landed", d.reason
    a = d.activities.row(0, named=True)
    assert a["started_at"] == datetime(1989, 12, 31) + timedelta(seconds=FIT_T0)
    assert a["ended_at"] == a["started_at"] + timedelta(seconds=5)
    assert a["sport"] == "running" and a["n_records"] == 5 and a["manufacturer"] == "garmin"
    assert d.records["heart_rate_bpm"].to_list() == [120.0, 121.0, 122.0, 123.0, 124.0]
    assert d.records["cadence_raw"].to_list() == [80.0] * 5


def test_an_undescribed_developer_field_is_kept(tmp_path):
    data = _fit(_activity_body(dev_field=True))
    _, err = fitparse_values(data)  # fitparse 1.2.0 on its own refuses the file
    assert isinstance(err, fu.FitParseError) and "No such dev_data_index=0" in str(err)
    msgs = read_fit_messages(data)
    assert msgs.error is None
    col = msgs.frames["record"]["dev:0:unknown_dev_0_7"]
    assert col.dtype == pl.List(pl.Float64)
    assert col.to_list()[0] == [244.0, 1.0]  # 500 as little-endian bytes
    d = fit_messages_to_decoded(msgs, file_id_of(data))
    assert d.status == "landed"
    dv = d.developer_values
    assert dv.height == 5 and set(dv["field_name"].to_list()) == {"unknown_dev_0_7"}
    assert dv["field_number"].to_list() == [7] * 5 and dv["value_text"].to_list()[0] == "244,1"


def test_empty_and_garbage_files_are_quarantined():
    d = decode_bytes(b"", "empty.fit", READ)
    assert d.status == "quarantined" and d.error_class == "EmptyFile"

    noise = random.Random(7).randbytes(4096)
    d = decode_bytes(noise, "noise.fit", READ)
    assert d.status == "quarantined" and d.error_class == "BadHeader" and d.reason

    d = decode_bytes(b".FIT", "short.fit", READ)
    assert d.status == "quarantined" and d.error_class == "BadHeader"

    garbage = random.Random(11).randbytes(300)
    d = decode_bytes(_fit(garbage), "garbage.fit", READ)
    assert d.status == "quarantined"
    assert d.error_class in {"CorruptFile", "TruncatedFile", "BadHeader"} and d.reason

    d = decode_bytes(_fit(b""), "header-only.fit", READ)
    assert d.status == "quarantined" and d.error_class == "EmptyFile"


def test_quarantine_keeps_the_backend_error_as_cause():
    garbage = random.Random(11).randbytes(300)
    with pytest.raises(errors.CorruptFile) as info:
        read_fit_messages(_fit(garbage))
    assert isinstance(info.value.__cause__, (fu.FitParseError, struct.error, KeyError, ValueError))
    with pytest.raises(errors.BadHeader) as info:
        read_fit_messages(random.Random(7).randbytes(100))
    assert isinstance(info.value.__cause__, fu.FitHeaderError)


def test_fit_crc16_is_fitparses_crc(corpus_dir):
    data = _read(corpus_dir, FENIX5_RUN)
    assert fit_crc16(data[:-2]) == struct.unpack("<H", data[-2:])[0]
    noise = random.Random(3).randbytes(1000)
    assert fit_crc16(noise) == fr.Crc.calculate(noise)


def test_truncated_and_crc_damaged_copies_of_a_real_file(corpus_dir):
    data = _read(corpus_dir, FENIX5_RUN)
    cut = data[: len(data) // 2]
    ref, err = fitparse_values(cut)
    assert isinstance(err, fu.FitEOFError)
    d = decode_bytes(cut, "cut.fit", READ)
    n_ref = sum(1 for name, _ in ref if name == "record")
    assert d.status == "salvaged" and d.error_class == "TruncatedFile"
    assert 0 < d.records.height == n_ref < 21
    assert d.n_messages_salvaged == len(ref)

    bad_crc = data[:-2] + bytes([data[-2] ^ 0xFF, data[-1]])
    d = decode_bytes(bad_crc, "crc.fit", READ)
    assert d.status == "salvaged" and d.error_class == "CrcMismatch" and d.records.height == 21

    bad_header_crc = data[:12] + bytes([data[12] ^ 0xFF, data[13]]) + data[14:]
    d = decode_bytes(bad_header_crc, "hcrc.fit", READ)
    assert d.status == "salvaged" and d.error_class == "CrcMismatch" and d.records.height == 21


# ---------------------------------------------------------------------------------------------
# layer 2 on FitMessages built in polars (the seam both decoders plug into)
# ---------------------------------------------------------------------------------------------


def _ts(*seconds) -> pl.Series:
    t0 = datetime(2024, 5, 1, 6, 0, 0)
    return pl.Series([None if s is None else t0 + timedelta(seconds=s) for s in seconds],
                     dtype=pl.Datetime("us"))


def test_records_go_to_the_session_that_holds_them():
    secs = list(range(0, 21)) + [25, None]  # 25: after both sessions; None: untimed
    n = len(secs)
    frames = {
        "file_id": pl.DataFrame({"_message_index": [0], "type": ["activity"]}),
        "record": pl.DataFrame({
            "_message_index": pl.Series(range(1, n + 1), dtype=pl.Int64),
            "timestamp": _ts(*secs),
            "cadence": pl.Series([85.0] * n),
            "fractional_cadence": pl.Series([0.5] * n),
            "position_lat": pl.Series([2**30] * n, dtype=pl.Float64),  # 90 degrees
        }),
        "session": pl.DataFrame({
            "_message_index": pl.Series([n + 1, n + 2], dtype=pl.Int64),
            "start_time": _ts(0, 10),
            "timestamp": _ts(99, 99),  # a summary-first style timestamp: never the end
            "total_elapsed_time": [10.0, 10.0],
            "sport": ["running", "cycling"],
            "avg_running_cadence": [85.0, None],
            "avg_cadence": [None, 90.0],
            "avg_fractional_cadence": [0.5, 0.25],
        }),
        "activity": pl.DataFrame({"_message_index": [n + 3], "timestamp": _ts(30),
                                  "local_timestamp": _ts(30 + 7200)}),
    }
    msgs = FitMessages(frames=frames, developer_fields=pl.DataFrame(), n_messages=n + 4,
                       file_type="activity")
    d = fit_messages_to_decoded(msgs, "a" * 64)
    assert d.status == "landed"
    a0, a1 = d.activities.sort("session_index").to_dicts()
    assert (a0["n_records"], a1["n_records"]) == (10, 13)  # 0..9 | 10..20, 25, untimed
    assert a0["ended_at"] == _ts(10)[0] and a1["ended_at"] == _ts(20)[0]
    assert a0["device_avg_cadence_spm"] == 171.0 and a0["device_avg_cadence_rpm"] is None
    assert a1["device_avg_cadence_rpm"] == 90.25 and a1["device_avg_cadence_spm"] is None
    assert (a0["cadence_raw_unit"], a1["cadence_raw_unit"]) == ("strides_min", "rpm")
    assert a0["local_offset_s"] == 7200
    rec = d.records
    assert rec["cadence_raw"].unique().to_list() == [85.5]
    assert rec["latitude_deg"].unique().to_list() == [2**30 * SEMICIRCLE_TO_DEG] == [90.0]
    assert rec.filter(pl.col("recorded_at") == _ts(10)[0])["activity_id"].to_list() == [a1["activity_id"]]
    assert rec.filter(pl.col("activity_id") == a1["activity_id"])["record_index"].to_list() == list(range(13))


def test_records_without_a_session_make_one_activity():
    frames = {
        "file_id": pl.DataFrame({"_message_index": [0], "type": ["activity"]}),
        "sport": pl.DataFrame({"_message_index": [1], "sport": ["walking"], "name": ["Walk"]}),
        "record": pl.DataFrame({"_message_index": pl.Series([2, 3, 4], dtype=pl.Int64),
                                "timestamp": _ts(0, 1, 60), "distance": [0.0, 1.0, 80.0]}),
    }
    msgs = FitMessages(frames=frames, developer_fields=pl.DataFrame(), n_messages=5,
                       file_type="activity")
    d = fit_messages_to_decoded(msgs, "b" * 64)
    a = d.activities.row(0, named=True)
    assert (a["sport"], a["name"], a["n_records"]) == ("walking", "Walk", 3)
    assert a["started_at"] == _ts(0)[0] and a["ended_at"] == _ts(60)[0]
    assert a["elapsed_time_s"] == 60.0 and a["distance_m"] == 80.0
    assert a["cadence_raw_unit"] == "strides_min"


def test_decode_fit_takes_another_reader(corpus_dir):
    data = _read(corpus_dir, FENIX5_RUN)
    calls = []

    def reader(b: bytes) -> FitMessages:
        calls.append(len(b))
        m = read_fit_messages(b)
        m.decoder = "other"
        return m

    d = decode_fit(data, file_id_of(data), reader=reader)
    assert calls == [len(data)] and d.decoder == "other" and d.records.height == 21
