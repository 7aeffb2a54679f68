"""The FIT writer: what it writes, fitparse 1.2.0 reads back (CRC checked), value for value."""

from __future__ import annotations

import random
import struct
from datetime import datetime, timedelta, timezone

import fitparse
import pytest
from fitparse.records import Crc

from synth.fit_encode import (
    STRYD_FIELDS,
    DevFieldSpec,
    FitWriter,
    crc16,
    degrees,
    encode_activity,
    field_spec,
    fit_seconds,
    semicircles,
)

T0 = datetime(2026, 3, 14, 6, 30, 5)  # naive = UTC
LAT0, LON0 = 48.1520, 11.5920

# every record field the project reads, with its fitparse scale/offset
RECORD_FIELDS = (
    "position_lat", "position_long", "distance", "enhanced_speed", "enhanced_altitude",
    "heart_rate", "cadence", "fractional_cadence", "stance_time", "stance_time_balance",
    "vertical_oscillation", "vertical_ratio", "step_length", "power",
)


def _records(n: int = 60, dt: int = 2, start: datetime = T0, gaps: dict[int, int] | None = None):
    """n records every dt s (plus extra seconds before index i from ``gaps``), odd values."""
    gaps = gaps or {}
    out, t, d = [], start, 0.0
    for i in range(n):
        t += timedelta(seconds=gaps.get(i, 0))
        out.append({
            "timestamp": t,
            "position_lat": semicircles(LAT0 + i * 2.1e-5),
            "position_long": semicircles(LON0 - i * 1.3e-5),
            "distance": round(d, 2),
            "enhanced_speed": 2.5 + (i % 7) * 0.123,
            "enhanced_altitude": 519.4 + (i % 11) * 0.6,
            "heart_rate": 120 + i % 40,
            "cadence": 84 + i % 3,
            "fractional_cadence": 0.5 if i % 2 else 0.0,
            "stance_time": 241.3 + i % 9,
            "stance_time_balance": 49.87 + (i % 5) * 0.11,
            "vertical_oscillation": 87.6 + i % 4,
            "vertical_ratio": 8.43 + (i % 6) * 0.05,
            "step_length": 987.4 - i % 10,
            "power": 230 + i % 17,
        })
        t += timedelta(seconds=dt)
        d += 5.37
    return out


def _expected(mesg: str, name: str, value):
    """What fitparse returns for ``value``: quantized by the profile's scale/offset."""
    spec = field_spec(mesg, name)
    raw = round((value + spec.offset) * spec.scale)
    out = raw / spec.scale - spec.offset
    return out if (spec.scale != 1 or spec.offset) else raw


def _messages(data: bytes, **kw):
    return list(fitparse.FitFile(data, check_crc=True, **kw).get_messages())


def _by_name(msgs, name):
    return [m for m in msgs if m.name == name]


def test_crc_is_fitparse_crc():
    rnd = random.Random(1)
    for n in (0, 1, 2, 13, 257, 4096):
        data = bytes(rnd.randrange(256) for _ in range(n))
        assert crc16(data) == Crc.calculate(data)
    assert crc16(b"123456789") == 0xBB3D  # CRC-16/ARC check value


def test_header_and_crcs():
    data = encode_activity(records=_records(5))
    size, proto, profile, data_size, magic, hcrc = struct.unpack("<BBHI4sH", data[:14])
    assert (size, magic) == (14, b".FIT")
    assert proto == 0x20 and profile == 2132
    assert data_size == len(data) - 14 - 2
    assert hcrc == Crc.calculate(data[:12])
    assert struct.unpack("<H", data[-2:])[0] == Crc.calculate(data[:-2])
    # a flipped byte in the body is caught by fitparse's CRC check
    broken = bytearray(data)
    broken[40] ^= 0x01
    with pytest.raises(fitparse.FitParseError):
        _messages(bytes(broken))


def test_every_record_field_round_trips():
    recs = _records(60)
    recs[7]["heart_rate"] = None  # invalid sentinel -> None
    recs[8]["stance_time"] = None
    recs[9]["position_lat"] = recs[9]["position_long"] = None
    msgs = _messages(encode_activity(records=recs, local_offset_s=3600))
    got = [m.get_values() for m in _by_name(msgs, "record")]
    assert len(got) == len(recs)
    for r, g in zip(recs, got):
        assert g["timestamp"] == r["timestamp"]
        for name in RECORD_FIELDS:
            if r[name] is None:
                assert g[name] is None, name
            else:
                assert g[name] == pytest.approx(_expected("record", name, r[name]), abs=1e-9), name
    # the values that matter survive to their stated precision
    assert got[3]["enhanced_altitude"] == pytest.approx(recs[3]["enhanced_altitude"], abs=0.1)
    assert got[3]["vertical_ratio"] == pytest.approx(recs[3]["vertical_ratio"], abs=0.005)
    assert degrees(got[3]["position_lat"]) == pytest.approx(recs[3]["position_lat"] * 180 / 2**31)


def test_session_lap_activity_and_file_id():
    recs = _records(61, dt=2)
    pause = (recs[30]["timestamp"], recs[30]["timestamp"] + timedelta(seconds=95))
    for r in recs[31:]:
        r["timestamp"] += timedelta(seconds=95)
    data = encode_activity(records=recs, local_offset_s=7200, auto_lap_m=100.0, pauses=[pause],
                           device=("garmin", 2691, 3_900_000_001), sub_sport="street",
                           session={"total_calories": 321})
    msgs = _messages(data)
    fid = _by_name(msgs, "file_id")[0].get_values()
    assert fid["type"] == "activity" and fid["manufacturer"] == "garmin"
    assert fid["garmin_product"] == "fr935" and fid["serial_number"] == 3_900_000_001
    assert fid["time_created"] == T0

    s = _by_name(msgs, "session")[0].get_values()
    elapsed = 120.0 + 95.0
    assert s["start_time"] == T0
    assert s["total_elapsed_time"] == elapsed
    assert s["total_timer_time"] == elapsed - 95.0
    assert s["total_distance"] == pytest.approx(60 * 5.37, abs=0.01)
    assert s["timestamp"] == recs[-1]["timestamp"]
    assert (s["sport"], s["sub_sport"]) == ("running", "street")
    # strides: cadence_i x 2 s / 60 summed over the 60 intervals (the pause adds nothing)
    strides = sum((r["cadence"] + r["fractional_cadence"]) * 2 / 60 for r in recs[1:])
    assert abs(s["total_strides"] - strides) <= 0.5 + 1e-9
    mean_cad = sum(r["cadence"] + r["fractional_cadence"] for r in recs) / len(recs)
    assert s["avg_running_cadence"] + s["avg_fractional_cadence"] == pytest.approx(mean_cad, abs=1 / 256)
    assert s["avg_heart_rate"] == round(sum(r["heart_rate"] for r in recs) / len(recs))
    assert s["max_heart_rate"] == max(r["heart_rate"] for r in recs)
    for src, dst, res in (("stance_time", "avg_stance_time", 0.1),
                          ("vertical_oscillation", "avg_vertical_oscillation", 0.1),
                          ("stance_time_balance", "avg_stance_time_balance", 0.01),
                          ("vertical_ratio", "avg_vertical_ratio", 0.01),
                          ("step_length", "avg_step_length", 0.1)):
        assert s[dst] == pytest.approx(sum(r[src] for r in recs) / len(recs), abs=res / 2 + 1e-9)
    alts = [_expected("record", "enhanced_altitude", r["enhanced_altitude"]) for r in recs]
    ups = sum(max(0.0, b - a) for a, b in zip(alts, alts[1:]))
    assert s["total_ascent"] == round(ups)
    assert s["total_calories"] == 321
    laps = [m.get_values() for m in _by_name(msgs, "lap")]
    assert s["num_laps"] == len(laps) == 4 and s["first_lap_index"] == 0
    assert sum(lp["total_distance"] for lp in laps) == pytest.approx(s["total_distance"], abs=0.05)
    assert [lp["lap_trigger"] for lp in laps] == ["distance"] * 3 + ["session_end"]
    assert laps[1]["start_time"] == laps[0]["timestamp"]
    assert sum(lp["total_timer_time"] for lp in laps) == pytest.approx(s["total_timer_time"])

    events = [(m.get_value("timestamp"), m.get_value("event_type")) for m in _by_name(msgs, "event")]
    assert events == [(T0, "start"), (pause[0], "stop_all"), (pause[1], "start"),
                      (recs[-1]["timestamp"], "stop_all")]
    a = _by_name(msgs, "activity")[0].get_values()
    assert (a["local_timestamp"] - a["timestamp"]).total_seconds() == 7200
    assert a["num_sessions"] == 1 and a["total_timer_time"] == s["total_timer_time"]


def test_compressed_timestamps_round_trip():
    # steps of 30 and 31 s still fit a 5-bit offset; 32 s and the 200 s pause do not
    recs = _records(80, dt=1, gaps={10: 29, 20: 30, 30: 31, 40: 199, 50: 7})
    plain = _messages(encode_activity(records=recs))
    comp_data = encode_activity(records=recs, compressed_timestamps=True)
    comp = _messages(comp_data)
    p_rec, c_rec = _by_name(plain, "record"), _by_name(comp, "record")
    assert [m.get_value("timestamp") for m in c_rec] == [r["timestamp"] for r in recs]
    assert [m.get_values() for m in c_rec] == [m.get_values() for m in p_rec]
    offsets = [m.header.time_offset for m in c_rec]
    assert sum(o is not None for o in offsets) >= 75  # most records use the compressed header
    assert offsets[10] is not None and offsets[20] is not None
    assert offsets[30] is None and offsets[40] is None  # after 32 s and 200 s: full timestamps
    assert len(comp_data) < len(encode_activity(records=recs))


def test_big_endian_round_trips():
    recs = _records(30)
    for i, r in enumerate(recs):  # developer values too, a float32 among them
        r["Power"] = 240 + i
        r["Leg Spring Stiffness"] = 9.75 + i / 16
    little = _messages(encode_activity(records=recs, developer_fields=STRYD_FIELDS))
    big_data = encode_activity(records=recs, developer_fields=STRYD_FIELDS, big_endian=True)
    defs = [m for m in fitparse.FitFile(big_data).get_messages(with_definitions=True)
            if m.type == "definition"]
    assert defs and all(d.endian == ">" for d in defs)
    big = _messages(big_data)
    assert [(m.name, m.get_values()) for m in big] == [(m.name, m.get_values()) for m in little]
    rec = _by_name(big, "record")[3]
    assert rec.get_value("Leg Spring Stiffness") == 9.75 + 3 / 16
    assert rec.get_value("heart_rate") == recs[3]["heart_rate"]


def test_developer_fields_decode_by_name_with_units():
    recs = _records(20)
    for i, r in enumerate(recs):
        r["Ground Time"] = 238 + i
        r["Power"] = 251 + i
        r["Leg Spring Stiffness"] = 10.25 + i / 8 if i != 4 else None
    specs = [DevFieldSpec("Ground Time", "Milliseconds", "uint16", 3, native_field_num=41),
             DevFieldSpec("Power", "Watts", "uint16", 0, native_field_num=7),
             DevFieldSpec("Leg Spring Stiffness", "KN/m", "float32", 9)]
    msgs = _messages(encode_activity(records=recs, developer_fields=specs))
    desc = {m.get_value("field_name"): m.get_values() for m in _by_name(msgs, "field_description")}
    assert desc["Ground Time"]["units"] == "Milliseconds"
    assert desc["Ground Time"]["native_field_num"] == 41
    assert desc["Leg Spring Stiffness"]["fit_base_type_id"] == "float32"
    assert len(_by_name(msgs, "developer_data_id")) == 1
    for r, m in zip(recs, _by_name(msgs, "record")):
        gt = m.get("Ground Time")
        assert gt.value == r["Ground Time"] and gt.units == "Milliseconds"
        assert m.get("Power").value == r["Power"] and m.get("Power").units == "Watts"
        assert m.get_value("power") == r["power"]  # the native field sits beside it
        lss = m.get("Leg Spring Stiffness")
        assert lss.units == "KN/m"
        if r["Leg Spring Stiffness"] is None:
            assert lss.value is None
        else:
            assert lss.value == pytest.approx(r["Leg Spring Stiffness"], rel=1e-6)


def test_missing_field_descriptions_are_a_decoder_error():
    recs = _records(5)
    for r in recs:
        r["Power"] = 250
    data = encode_activity(records=recs, developer_fields=[STRYD_FIELDS[0]],
                           omit={"developer_data_id"})
    fitparse.records.DEV_TYPES.clear()  # fitparse keeps descriptions from earlier files
    with pytest.raises(fitparse.FitParseError):
        _messages(data)


def test_local_type_redefined_mid_file():
    recs = _records(30)
    for r in recs[:10]:  # the HRM joins after 10 records: no dynamics before
        for k in ("stance_time", "stance_time_balance", "vertical_oscillation", "vertical_ratio",
                  "step_length"):
            r[k] = None
    data = encode_activity(records=recs, redefine_records_at=10)
    defs = [m for m in fitparse.FitFile(data).get_messages(with_definitions=True)
            if m.type == "definition" and m.header.local_mesg_num == 0]
    assert [d.name for d in defs] == ["file_id", "record", "record"]
    assert len(defs[2].field_defs) == len(defs[1].field_defs) + 5
    got = [m.get_values() for m in _by_name(_messages(data), "record")]
    assert "stance_time" not in got[0] and got[10]["stance_time"] == pytest.approx(
        _expected("record", "stance_time", recs[10]["stance_time"]))
    assert [g["heart_rate"] for g in got] == [r["heart_rate"] for r in recs]


def test_invalid_sentinels_on_the_wire():
    w = FitWriter()
    w.add("record", {"timestamp": T0, "heart_rate": None, "position_lat": None,
                     "cadence": 85, "distance": None}, local=0)
    body = w.to_bytes()[14:-2]
    # definition: header, reserved, arch, global 20, 5 fields of 3 bytes
    data_msg = body[6 + 5 * 3:]
    fields = sorted([("timestamp", "I"), ("heart_rate", "B"), ("position_lat", "i"),
                     ("cadence", "B"), ("distance", "I")], key=lambda f: f[0] != "timestamp")
    values = dict(zip([f[0] for f in fields],
                      struct.unpack("<B" + "".join(f[1] for f in fields), data_msg)[1:]))
    assert values["heart_rate"] == 0xFF
    assert values["position_lat"] == 0x7FFFFFFF
    assert values["distance"] == 0xFFFFFFFF
    assert values["cadence"] == 85
    assert values["timestamp"] == fit_seconds(T0)


def test_device_relative_timestamps_stay_integers():
    recs = [{"timestamp": 1_000 + i, "heart_rate": 100 + i} for i in range(5)]
    msgs = _messages(encode_activity(records=recs))
    assert [m.get_value("timestamp") for m in _by_name(msgs, "record")] == [1000, 1001, 1002, 1003, 1004]


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match="heart_rate"):
        encode_activity(records=[{"timestamp": T0, "heart_rate": 255}])  # 255 is the sentinel
    with pytest.raises(ValueError, match="sub_sport"):
        encode_activity(records=_records(3), sub_sport="moonwalk")
    with pytest.raises(KeyError, match="heartrate"):
        encode_activity(records=[{"timestamp": T0, "heartrate": 120}])
    recs = _records(5)
    with pytest.raises(ValueError, match="inside a pause"):
        encode_activity(records=recs, pauses=[(recs[1]["timestamp"], recs[3]["timestamp"])])


def test_omit_and_aware_datetimes():
    start = datetime(2026, 3, 14, 7, 30, 5, tzinfo=timezone(timedelta(hours=1)))  # = T0 UTC
    recs = [{"timestamp": start + timedelta(seconds=i), "heart_rate": 130} for i in range(3)]
    msgs = _messages(encode_activity(records=recs, omit={"session", "lap", "device_info"}))
    names = {m.name for m in msgs}
    assert "session" not in names and "lap" not in names and "device_info" not in names
    assert _by_name(msgs, "record")[0].get_value("timestamp") == T0
    assert _by_name(msgs, "activity")[0].get_value("num_sessions") == 0
