"""ingest.discover: folders, .gz, nested .zip, Garmin and Strava exports, unsafe and damaged archives.

Inputs are built in tmp_path with zipfile/gzip from bytes the tests write (a few real corpus
files are read into memory and zipped into tmp_path; nothing is copied into the project).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import pytest

import ingest.discover as discover_module
from ingest.decode import file_id_of, sniff_format
from ingest.discover import (
    ExportRow,
    FoundFile,
    Problem,
    SourceFile,
    Summary,
    classify,
    discover,
    iter_source,
    list_sources,
    parse_activities_csv,
)
from ingest.errors import (
    ArchiveTooLarge,
    BadArchive,
    EmptyFile,
    UnsafeArchiveMember,
    UnsupportedFormat,
)

FIT_LIKE = b"\x0e\x10\x00\x00\x00\x00\x00\x00.FIT" + bytes(range(200))  # discover reads no content
GPX = b"""<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>
<trkpt lat="52.0" lon="4.0"><time>2024-01-15T07:00:00Z</time></trkpt>
</trkseg></trk></gpx>
"""
TCX = b"""<?xml version="1.0"?><TrainingCenterDatabase xmlns="x"><Activities/></TrainingCenterDatabase>"""

# corpus files used as real bytes (read into memory, zipped into tmp_path)
CORPUS_FIT = "dtcooper+python-fitparse/tests/files/Activity.fit"
CORPUS_GPX = "tkrajina+gpxpy/test_files/gpx1.1_with_extensions.gpx"
CORPUS_TCX = "tmcw+togeojson/test/data/sample.tcx"

# a Strava activities.csv header as exported (repeated Distance/Elapsed Time/... columns)
STRAVA_HEADER = (
    "Activity ID,Activity Date,Activity Name,Activity Type,Activity Description,Elapsed Time,"
    "Distance,Max Heart Rate,Relative Effort,Commute,Activity Private Note,Activity Gear,Filename,"
    "Athlete Weight,Bike Weight,Elapsed Time,Moving Time,Distance,Max Speed,Average Speed,"
    "Perceived Exertion"
)


def items_of(paths, **kw) -> tuple[list[FoundFile], list[Problem], Summary]:
    """discover() split by item type; ExportRow items are checked against the summary's copy."""
    summary = Summary()
    items = list(discover(paths, summary=summary, **kw))
    found = [i for i in items if isinstance(i, FoundFile)]
    problems = [i for i in items if isinstance(i, Problem)]
    rows = [i for i in items if isinstance(i, ExportRow)]
    assert len(found) + len(problems) + len(rows) == len(items)
    assert summary.found == len(found)
    assert sum(summary.problems.values()) == len(problems)
    assert summary.export_rows_without_file == rows
    return found, problems, summary


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def zip_bytes(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def tree_snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# ---------------------------------------------------------------------------------------------
# folders


def test_folder_yields_activity_files_sorted_and_counts_the_rest(tmp_path):
    write(tmp_path / "a.fit", FIT_LIKE)
    write(tmp_path / "B.FIT", FIT_LIKE + b"B")
    write(tmp_path / "Morning Run (1).fit", FIT_LIKE + b"space")
    write(tmp_path / "sub" / "c.gpx.gz", gz(GPX))
    write(tmp_path / "sub" / "deeper" / "e.GPX.GZ", gz(GPX + b"<!-- e -->"))
    write(tmp_path / "d.tcx", TCX)
    write(tmp_path / "photo.jpg", b"\xff\xd8\xff")
    write(tmp_path / "notes.txt", b"hello")
    write(tmp_path / "sub" / "summary.json.gz", gz(b"{}"))
    write(tmp_path / "README", b"no extension")

    found, problems, summary = items_of(tmp_path)

    assert problems == []
    rel = [str(f.path.relative_to(tmp_path)) for f in found]
    assert rel == ["B.FIT", "Morning Run (1).fit", "a.fit", "d.tcx", "sub/c.gpx.gz",
                   "sub/deeper/e.GPX.GZ"]
    assert [f.name for f in found] == ["B.FIT", "Morning Run (1).fit", "a.fit", "d.tcx", "c.gpx",
                                       "e.GPX"]
    assert all(f.member is None for f in found)
    by_name = {f.name: f for f in found}
    assert by_name["c.gpx"].data == GPX
    assert by_name["c.gpx"].size_bytes == len(GPX)
    assert by_name["c.gpx"].source_size_bytes == (tmp_path / "sub" / "c.gpx.gz").stat().st_size
    assert by_name["c.gpx"].source_size_bytes != by_name["c.gpx"].size_bytes
    st = (tmp_path / "Morning Run (1).fit").stat()
    assert by_name["Morning Run (1).fit"].source_mtime_ns == st.st_mtime_ns
    assert by_name["Morning Run (1).fit"].data == FIT_LIKE + b"space"
    assert summary.skipped_by_ext == {".jpg": 1, ".txt": 1, ".json.gz": 1, "(no extension)": 1}
    assert summary.sources == 6


def test_single_file_arguments_and_repeats_are_listed_once(tmp_path):
    f = write(tmp_path / "run.fit", FIT_LIKE)
    sources = list_sources([f, tmp_path, str(f)])
    assert [s.path for s in sources] == [f]
    assert sources[0] == SourceFile(f, f.stat().st_size, f.stat().st_mtime_ns, "plain", None)


def test_missing_argument_is_a_usage_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        list_sources([tmp_path / "nope"])


def test_symlinked_folder_loop_is_walked_once(tmp_path):
    write(tmp_path / "runs" / "a.fit", FIT_LIKE)
    os.symlink(tmp_path / "runs", tmp_path / "runs" / "loop")  # runs/loop -> runs
    os.symlink(tmp_path / "runs" / "a.fit", tmp_path / "runs" / "z-link.fit")
    os.symlink(tmp_path / "gone.fit", tmp_path / "runs" / "broken.fit")
    summary = Summary()
    sources = list_sources(tmp_path, summary=summary)
    assert [s.path.name for s in sources] == ["a.fit"]
    assert any("already walked" in w for w in summary.walk_errors)
    assert any("broken symbolic link" in w for w in summary.walk_errors)


def test_macos_metadata_is_skipped_on_disk_and_in_zips(tmp_path):
    write(tmp_path / "._run.fit", b"\x00\x05\x16\x07")
    write(tmp_path / "a.zip", zip_bytes({"run.fit": FIT_LIKE, "__MACOSX/._run.fit": b"\x00\x05"}))
    found, problems, summary = items_of(tmp_path)
    assert [f.member for f in found] == ["run.fit"]
    assert problems == []
    assert summary.skipped_by_ext == {"(macOS metadata: __MACOSX/, ._*)": 2}


# ---------------------------------------------------------------------------------------------
# archives


def test_garmin_export_nested_zip_members_carry_the_chain(tmp_path, corpus_dir):
    fit = (corpus_dir / CORPUS_FIT).read_bytes()
    inner = zip_bytes({"user@example.com_12345.fit": fit,
                       "user@example.com_67890.FIT": fit + b"\x00",
                       "user@example.com_555.gpx.gz": gz(GPX)}, compression=zipfile.ZIP_DEFLATED)
    outer = zip_bytes({
        "DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_0-_Part1.zip": inner,
        "DI_CONNECT/DI-Connect-Fitness/user_0_summarizedActivities.json": b"[]",
        "DI_CONNECT/DI-Connect-User/user_profile.json": b"{}",
    }, compression=zipfile.ZIP_STORED)
    export = write(tmp_path / "Garmin Export 1.zip", outer)

    found, problems, summary = items_of(tmp_path)

    assert problems == []
    part = "DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_0-_Part1.zip"
    assert [f.member for f in found] == [f"{part}!user@example.com_12345.fit",
                                         f"{part}!user@example.com_555.gpx.gz",
                                         f"{part}!user@example.com_67890.FIT"]
    assert [f.name for f in found] == ["user@example.com_12345.fit", "user@example.com_555.gpx",
                                       "user@example.com_67890.FIT"]
    assert found[0].data == fit and sniff_format(found[0].data) == "fit"
    assert found[1].data == GPX
    assert all(f.path == export for f in found)
    assert all(f.source_size_bytes == len(outer) for f in found)
    assert found[0].location == f"{export}!{part}!user@example.com_12345.fit"
    assert summary.skipped_by_ext == {".json": 2}
    assert summary.sources == 1


def _strava_csv(bom: bool = True) -> bytes:
    rows = [
        STRAVA_HEADER,
        # id, date, name, type, desc, elapsed, distance(km), maxhr, RE, commute, note, gear,
        # filename, athlete w, bike w, elapsed, moving, distance(m), max speed, avg speed, RPE
        '1,"Jan 15, 2024, 7:00:00 AM",Morning Run,Run,"easy, sore forefoot",3000,10.02,170,40,false,,'
        'Pegasus 40,activities/1.fit.gz,,,3000.0,2950.0,10020.5,4.1,3.4,6.0',
        '2,"Jan 16, 2024, 7:00:00 AM",Hills,Run,,2000,6.5,180,55,false,,Pegasus 40,'
        'activities/2.gpx.gz,,,2000.0,1990.0,6500.0,4.5,3.3,',
        '3,"Jan 17, 2024, 7:00:00 AM",Track,Run,,1500,5.0,185,60,false,,,activities/3.gpx,,,'
        '1500.0,1480.0,5000.0,6.0,3.4,8',
        '4,"Jan 18, 2024, 7:00:00 AM",Lost file,Run,,1500,5.0,,,false,,,activities/4.fit.gz,,,'
        '1500.0,1480.0,5000.0,,,',
        '5,"Jan 19, 2024, 7:00:00 AM",Manual treadmill,Run,,1800,5.0,,,false,,,,,,1800.0,1800.0,'
        '5000.0,,,',
    ]
    text = "\r\n".join(rows) + "\r\n"
    return ("\ufeff" if bom else "").encode() + text.encode("utf-8")


def _strava_members(prefix: str = "") -> dict[str, bytes]:
    return {
        f"{prefix}activities.csv": _strava_csv(),
        f"{prefix}activities/1.fit.gz": gz(FIT_LIKE),
        f"{prefix}activities/2.gpx.gz": gz(GPX),
        f"{prefix}activities/3.gpx": GPX + b"<!-- 3 -->",
        f"{prefix}media/abc.jpg": b"\xff\xd8\xff",
        f"{prefix}profile.csv": b"a,b\n1,2\n",
    }


def _check_strava(found, problems, summary, export_path: str, prefix_member: str | None,
                  csv_source: tuple[Path, str | None]):
    assert problems == []
    assert [f.name for f in found] == ["1.fit", "2.gpx", "3.gpx"]
    assert [f.data for f in found] == [FIT_LIKE, GPX, GPX + b"<!-- 3 -->"]
    if prefix_member is not None:
        assert [f.member for f in found] == [f"{prefix_member}activities/1.fit.gz",
                                             f"{prefix_member}activities/2.gpx.gz",
                                             f"{prefix_member}activities/3.gpx"]
    m1, m2, m3 = (f.export_meta for f in found)
    assert m1["export_source"] == "strava_activities_csv"
    assert m1["export_path"] == export_path
    assert m1["filename"] == "activities/1.fit.gz"
    assert m1["external_id"] == "1"
    assert m1["activity_name"] == "Morning Run"
    assert m1["activity_type"] == "Run"
    assert m1["gear"] == "Pegasus 40"
    assert m1["perceived_exertion"] == 6.0
    assert m1["row"]["Activity Description"] == "easy, sore forefoot"
    assert m1["row"]["Distance"] == "10.02" and m1["row"]["Distance_2"] == "10020.5"
    assert m1["row"]["Elapsed Time"] == "3000" and m1["row"]["Elapsed Time_2"] == "3000.0"
    assert "Activity ID" in m1["row"]  # BOM stripped from the first header
    assert m2["gear"] == "Pegasus 40" and m2["perceived_exertion"] is None
    assert m3["gear"] is None and m3["perceived_exertion"] == 8.0
    missing = sorted(summary.export_rows_without_file, key=lambda r: r.export_meta["external_id"])
    assert [(r.export_meta["external_id"], r.filename, r.reason) for r in missing] == [
        ("4", "activities/4.fit.gz", "file_missing"), ("5", None, "no_file")]
    assert all(isinstance(r, ExportRow) and (r.path, r.member) == csv_source for r in missing)
    assert missing[0].location == export_path
    as_json = json.loads(json.dumps(summary.as_dict()))
    assert sorted(r["reason"] for r in as_json["export_rows_without_file"]) == ["file_missing", "no_file"]
    assert summary.export_csvs == 1
    assert summary.skipped_by_ext == {".jpg": 1, ".csv": 1}  # profile.csv is not an activity list


def test_strava_export_zip_attaches_csv_rows(tmp_path):
    export = write(tmp_path / "export_12345.zip", zip_bytes(_strava_members()))
    found, problems, summary = items_of(export)
    _check_strava(found, problems, summary, f"{export}!activities.csv", "",
                  (export, "activities.csv"))


def test_strava_export_zip_with_a_top_folder(tmp_path):
    export = write(tmp_path / "export_12345.zip", zip_bytes(_strava_members("export_12345/")))
    found, problems, summary = items_of(export)
    _check_strava(found, problems, summary, f"{export}!export_12345/activities.csv", "export_12345/",
                  (export, "export_12345/activities.csv"))


def test_strava_extracted_folder_attaches_csv_rows(tmp_path):
    root = tmp_path / "export_12345"
    for name, data in _strava_members().items():
        write(root / name, data)
    sources = list_sources(tmp_path)
    assert [(s.path.name, s.kind) for s in sources] == [
        ("1.fit.gz", "gzip"), ("2.gpx.gz", "gzip"), ("3.gpx", "plain"),
        ("activities.csv", "export_csv")]
    assert [s.export_meta["external_id"] for s in sources[:3]] == ["1", "2", "3"]
    assert [r.export_meta["external_id"] for r in sources[3].export_rows] == ["5", "4"]
    found, problems, summary = items_of(tmp_path)
    _check_strava(found, problems, summary, str(root / "activities.csv"), None,
                  (root / "activities.csv", None))
    assert all(f.member is None for f in found)
    # an unchanged activities.csv is skipped like any source: its rows are not reported again
    csv_path = root / "activities.csv"
    found, problems, summary = items_of(tmp_path, skip_source=lambda p, size, mt: p == csv_path)
    assert len(found) == 3 and summary.export_rows_without_file == []
    assert found[0].export_meta["external_id"] == "1"  # the listing still attaches the rows


def test_unreadable_activities_csv_is_a_problem_and_files_still_come(tmp_path):
    bad_csv = (STRAVA_HEADER + "\n" + '1,"' + "x" * 200_000 + '"\n').encode()  # > csv field limit
    members = {"activities.csv": bad_csv, "activities/1.fit.gz": gz(FIT_LIKE)}
    write(tmp_path / "z" / "export_1.zip", zip_bytes(members))
    for name, data in members.items():
        write(tmp_path / "f" / name, data)
    found, problems, summary = items_of(tmp_path)
    assert [(f.path.parent.name, f.name, f.export_meta) for f in found] == [
        ("activities", "1.fit", None), ("z", "1.fit", None)]
    assert [(p.path.parent.name, p.path.name, p.member, p.error_class) for p in problems] == [
        ("f", "activities.csv", None, "CorruptFile"),
        ("z", "export_1.zip", "activities.csv", "CorruptFile")]
    assert all("CSV does not parse" in p.reason and "field larger" in p.reason for p in problems)


def test_strava_folder_matches_files_the_user_gunzipped(tmp_path):
    root = tmp_path / "export_9"
    write(root / "activities.csv", _strava_csv(bom=False))
    write(root / "activities" / "1.fit", FIT_LIKE)  # was activities/1.fit.gz in the export
    write(root / "ACTIVITIES" / "2.GPX.gz", gz(GPX))  # case differs from the CSV
    found, problems, summary = items_of(tmp_path)
    assert problems == []
    assert [(f.name, f.export_meta["external_id"]) for f in found] == [("2.GPX", "2"), ("1.fit", "1")]
    assert sorted(r.export_meta["external_id"] for r in summary.export_rows_without_file) == \
        ["3", "4", "5"]


def test_parse_activities_csv_translated_headers_and_non_exports():
    data = ("Aktivitäts-ID,Name der Aktivität,Dateiname,Distanz,Distanz\n"
            "77,Lauf,activities/77.fit.gz,5.0,5000.0\n"
            "78,Lauf 2,,5.0,5000.0\n").encode()
    metas = parse_activities_csv(data, "x.csv")
    assert [m["filename"] for m in metas] == ["activities/77.fit.gz", None]
    assert [m["external_id"] for m in metas] == ["77", "78"]
    assert metas[0]["row"]["Distanz_2"] == "5000.0"
    assert metas[0]["gear"] is None and metas[0]["perceived_exertion"] is None
    # not an activity list: no Filename column and no column of activities/<file> values
    assert parse_activities_csv(b"a,b\n1,2\n", "x.csv") is None
    assert parse_activities_csv(b"", "x.csv") is None


def test_unsafe_member_names_are_problems_and_nothing_is_written(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../evil.fit", FIT_LIKE)
        zf.writestr(zipfile.ZipInfo("/abs.fit"), FIT_LIKE)
        zf.writestr("C:/drive.fit", FIT_LIKE)
        zf.writestr("..\\windows.fit", FIT_LIKE)
        zf.writestr("sub/../../up.gpx", GPX)
        link = zipfile.ZipInfo("link.fit")
        link.create_system = 3
        link.external_attr = 0o120777 << 16  # S_IFLNK
        zf.writestr(link, b"/etc/passwd")
        zf.writestr("ok.fit", FIT_LIKE)
        zf.writestr("sub/ok2.gpx", GPX)
    inbox = tmp_path / "inbox"
    archive = write(inbox / "evil.zip", buf.getvalue())
    before_parent = tree_snapshot(tmp_path.parent)
    cwd_before = set(os.listdir(Path.cwd()))

    found, problems, summary = items_of(archive)

    assert [f.member for f in found] == ["ok.fit", "sub/ok2.gpx"]
    assert {p.member: type(p.error) for p in problems} == {
        "../evil.fit": UnsafeArchiveMember, "/abs.fit": UnsafeArchiveMember,
        "C:/drive.fit": UnsafeArchiveMember, "..\\windows.fit": UnsafeArchiveMember,
        "sub/../../up.gpx": UnsafeArchiveMember, "link.fit": UnsafeArchiveMember}
    reasons = {p.member: p.reason for p in problems}
    assert "absolute path" in reasons["/abs.fit"]
    assert "drive letter" in reasons["C:/drive.fit"]
    assert "symbolic link" in reasons["link.fit"]
    assert "'..'" in reasons["../evil.fit"]
    assert summary.problems == {"UnsafeArchiveMember": 6}
    assert tree_snapshot(tmp_path.parent) == before_parent
    assert set(os.listdir(Path.cwd())) == cwd_before
    assert not (tmp_path / "evil.fit").exists() and not Path("/abs.fit").exists()


def test_damaged_containers_are_bad_archive_and_the_walk_goes_on(tmp_path):
    write(tmp_path / "a_not_gzip.fit.gz", FIT_LIKE)
    write(tmp_path / "b_truncated.gpx.gz", gz(GPX * 20)[:-40])
    write(tmp_path / "c_corrupt.zip", b"PK\x03\x04 this is not really a zip" * 3)
    good_zip = zip_bytes({"x.fit": FIT_LIKE * 50}, compression=zipfile.ZIP_STORED)
    at = good_zip.index(FIT_LIKE)  # damage the stored bytes: CRC mismatch
    damaged = good_zip[:at + 20] + bytes([good_zip[at + 20] ^ 0xFF]) + good_zip[at + 21:]
    write(tmp_path / "d_crc.zip", damaged)
    write(tmp_path / "e_inner_bad.zip", zip_bytes({"inner.fit.gz": b"not gzip at all",
                                                   "nested.zip": b"not a zip", "fine.tcx": TCX}))
    write(tmp_path / "z_good.fit", FIT_LIKE)

    found, problems, summary = items_of(tmp_path)

    assert [(f.path.name, f.member) for f in found] == [("e_inner_bad.zip", "fine.tcx"),
                                                        ("z_good.fit", None)]
    got = {(p.path.name, p.member): p for p in problems}
    assert set(got) == {("a_not_gzip.fit.gz", None), ("b_truncated.gpx.gz", None),
                        ("c_corrupt.zip", None), ("d_crc.zip", "x.fit"),
                        ("e_inner_bad.zip", "inner.fit.gz"), ("e_inner_bad.zip", "nested.zip")}
    assert all(isinstance(p.error, BadArchive) for p in problems)
    assert all(p.error.__cause__ is not None for p in problems)
    assert "not a gzip file" in got[("a_not_gzip.fit.gz", None)].reason
    assert isinstance(got[("a_not_gzip.fit.gz", None)].error.__cause__, gzip.BadGzipFile)
    assert "truncated" in got[("b_truncated.gpx.gz", None)].reason
    assert isinstance(got[("b_truncated.gpx.gz", None)].error.__cause__, EOFError)
    assert "not a zip file" in got[("c_corrupt.zip", None)].reason
    assert isinstance(got[("c_corrupt.zip", None)].error.__cause__, zipfile.BadZipFile)
    assert "CRC" in got[("d_crc.zip", "x.fit")].reason
    assert summary.problems == {"BadArchive": 6}


def test_zip_bomb_guard(tmp_path):
    big = b"\x00" * 100_000  # deflates to ~100 bytes
    write(tmp_path / "bomb.zip", zip_bytes({"bomb.fit": big, "small.fit": FIT_LIKE}))
    write(tmp_path / "bomb.fit.gz", gz(big))
    write(tmp_path / "bombs_in_zip.zip", zip_bytes({"x.gpx.gz": gz(big)}))
    found, problems, _ = items_of(tmp_path, max_member_bytes=10_000)
    assert [(f.path.name, f.member) for f in found] == [("bomb.zip", "small.fit")]
    assert {(p.path.name, p.member) for p in problems} == {
        ("bomb.zip", "bomb.fit"), ("bomb.fit.gz", None), ("bombs_in_zip.zip", "x.gpx.gz")}
    assert all(isinstance(p.error, ArchiveTooLarge) for p in problems)
    assert all("10000" in p.reason for p in problems)
    # the same files under the default cap are delivered whole
    found, problems, _ = items_of(tmp_path)
    assert problems == [] and sorted(len(f.data) for f in found) == [len(FIT_LIKE), 100_000,
                                                                    100_000, 100_000]


def test_nesting_depth_and_nested_archive_size_are_capped(tmp_path):
    level3 = zip_bytes({"deep.fit": FIT_LIKE})
    level2 = zip_bytes({"l3.zip": level3, "two.fit": FIT_LIKE})
    write(tmp_path / "l1.zip", zip_bytes({"l2.zip": level2, "one.fit": FIT_LIKE}))

    found, problems, _ = items_of(tmp_path)
    assert [f.member for f in found] == ["l2.zip!l3.zip!deep.fit", "l2.zip!two.fit", "one.fit"]

    found, problems, _ = items_of(tmp_path, max_depth=2)
    assert [f.member for f in found] == ["l2.zip!two.fit", "one.fit"]
    assert [(p.member, type(p.error)) for p in problems] == [("l2.zip!l3.zip", ArchiveTooLarge)]
    assert "nested deeper than 2" in problems[0].reason

    found, problems, _ = items_of(tmp_path, max_archive_bytes=len(level3) + 10)
    assert [f.member for f in found] == ["one.fit"]
    assert [(p.member, type(p.error)) for p in problems] == [("l2.zip", ArchiveTooLarge)]


def test_large_nested_zip_is_spooled_not_held(tmp_path, monkeypatch):
    """Past SPOOL_IN_MEMORY_BYTES a nested zip goes to an anonymous temp file; same result."""
    monkeypatch.setattr(discover_module, "SPOOL_IN_MEMORY_BYTES", 64)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "spool"))
    (tmp_path / "spool").mkdir()
    payload = os.urandom(5000)
    write(tmp_path / "in" / "outer.zip", zip_bytes({"inner.zip": zip_bytes({"a.fit": payload})}))
    found, problems, _ = items_of(tmp_path / "in")
    assert problems == []
    assert [(f.member, f.data) for f in found] == [("inner.zip!a.fit", payload)]
    assert list((tmp_path / "spool").iterdir()) == []  # unlinked: no name, nothing left behind
    # it really went to the temp dir: with no temp dir the nested zip cannot be spooled
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-dir"))
    found, problems, _ = items_of(tmp_path / "in")
    assert found == []
    assert [(p.member, p.error_class) for p in problems] == [("inner.zip", "UnreadableFile")]
    assert "temporary file" in problems[0].reason


def test_empty_files_are_empty_file_problems(tmp_path):
    write(tmp_path / "a_empty.fit", b"")
    write(tmp_path / "b_empty.gpx.gz", gz(b""))
    write(tmp_path / "c_empty_member.zip", zip_bytes({"e.tcx": b"", "ok.tcx": TCX}))
    write(tmp_path / "d_no_entries.zip", zip_bytes({}))
    write(tmp_path / "e_zero.zip", b"")
    found, problems, summary = items_of(tmp_path)
    assert [(f.path.name, f.member) for f in found] == [("c_empty_member.zip", "ok.tcx")]
    assert [(p.path.name, p.member) for p in problems] == [
        ("a_empty.fit", None), ("b_empty.gpx.gz", None), ("c_empty_member.zip", "e.tcx"),
        ("d_no_entries.zip", None), ("e_zero.zip", None)]
    assert all(isinstance(p.error, EmptyFile) for p in problems)
    assert summary.problems == {"EmptyFile": 5}


def test_unsupported_compression_is_reported_other_archives_counted(tmp_path):
    write(tmp_path / "run.fit.bz2", b"BZh91AY&SY")
    write(tmp_path / "old.tar.gz", gz(b"tar"))
    write(tmp_path / "stuff.7z", b"7z\xbc\xaf")
    write(tmp_path / "x.zip", zip_bytes({"ride.gpx.xz": b"\xfd7zXZ"}))
    found, problems, summary = items_of(tmp_path)
    assert found == []
    assert [(p.path.name, p.member) for p in problems] == [("run.fit.bz2", None),
                                                           ("x.zip", "ride.gpx.xz")]
    assert all(isinstance(p.error, UnsupportedFormat) for p in problems)
    assert summary.skipped_by_ext == {".tar.gz": 1, ".7z": 1}


def test_skip_source_prevents_reading(tmp_path):
    write(tmp_path / "a.fit", FIT_LIKE)
    known = write(tmp_path / "b_known.zip", b"PK\x03\x04 damaged: reading it would be a Problem")
    write(tmp_path / "c.gpx.gz", gz(GPX))
    calls = []

    def skip(path: Path, size: int, mtime_ns: int) -> bool:
        calls.append((path, size, mtime_ns))
        return path == known

    found, problems, summary = items_of(tmp_path, skip_source=skip)
    st = known.stat()
    assert (known, st.st_size, st.st_mtime_ns) in calls
    assert len(calls) == 3
    assert problems == []  # the damaged zip was never opened
    assert [f.path.name for f in found] == ["a.fit", "c.gpx.gz"]
    assert summary.sources == 3 and summary.sources_skipped == 1


def test_discover_is_list_sources_then_iter_source(tmp_path):
    write(tmp_path / "a.fit", FIT_LIKE)
    write(tmp_path / "b.zip", zip_bytes({"x.gpx": GPX, "y.tcx.gz": gz(TCX), "../z.fit": b"1"}))
    via_discover = list(discover(tmp_path))
    sources = list_sources(tmp_path)
    assert [s.kind for s in sources] == ["plain", "zip"]
    # per-source expansion (what a parallel decoder does), summaries merged afterwards
    merged = Summary()
    via_sources = []
    for s in sources:
        part = Summary()
        via_sources += list(iter_source(s, summary=part))
        merged.merge(part)
    assert [(i.path, i.member, type(i)) for i in via_discover] == \
        [(i.path, i.member, type(i)) for i in via_sources]
    assert merged.found == 3 and merged.problems == {"UnsafeArchiveMember": 1}


def test_same_bytes_plain_gzipped_zipped_are_identical(tmp_path, corpus_dir):
    for rel in (CORPUS_FIT, CORPUS_GPX, CORPUS_TCX):
        data = (corpus_dir / rel).read_bytes()
        leaf = Path(rel).name
        d = tmp_path / Path(rel).stem
        write(d / leaf, data)
        write(d / (leaf + ".gz"), gz(data))
        write(d / "plain.zip", zip_bytes({leaf: data}))
        write(d / "gz_in.zip", zip_bytes({leaf + ".gz": gz(data)}, compression=zipfile.ZIP_STORED))
        write(d / "nested.zip", zip_bytes({"inner.zip": zip_bytes({"a/" + leaf: data})}))
        found, problems, _ = items_of(d)
        assert problems == []
        assert len(found) == 5
        assert {f.data for f in found} == {data}
        assert {file_id_of(f.data) for f in found} == {file_id_of(data)}
        assert {f.name for f in found} == {leaf}
        assert {f.size_bytes for f in found} == {len(data)}


def test_classify_names():
    assert classify("Run.FIT") == ("plain", "Run.FIT")
    assert classify("a.Gpx.GZ") == ("gzip", "a.Gpx")
    assert classify("x.ZIP") == ("zip", "x.ZIP")
    assert classify("a.fit.bz2") == ("unsupported", ".fit.bz2")
    assert classify("photo.JPG") == ("skip", ".jpg")
    assert classify("Morning 12.5km.json") == ("skip", ".json")
    assert classify(".DS_Store") == ("skip", ".ds_store")
    assert classify("fit") == ("skip", "(no extension)")
