"""Readable XML that parsers refuse (issue 15, point 6): a TCX or GPX with whitespace, blank lines
or a byte-order mark before ``<?xml``, and GPX/TCX using well-known namespace prefixes
(``gpxtpx``, ``gpxx``, ``gpxdata``, ``ns3``, ``xsi``) without declaring them. footfall repairs
them (ingest/xml_common.py), lands them and says so in ``files.reason``; what it cannot read
stays quarantined with a reason that names the cause.

Every file here is a corpus file's bytes mutated at test time (nothing copied into the
repository): the repaired file must decode to exactly what the original decodes to.
"""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from ingest.decode import decode_bytes
from models.thresholds import reader_options
from tests.conftest import MANIFEST

READ = reader_options()

GPX_STRAVA = MANIFEST.one("gpx_strava")  # gpxtpx: and gpxx: (Strava's export)
GPX_GARMIN = MANIFEST.one("gpx_garmin")  # ns2: and ns3: (Garmin Connect's export)
TCX_GARMIN = "GoldenCheetah+sweatpy/sweat/examples/data/activity_4801048867.tcx"  # ns3:TPX, ns3:LX
MALFORMED_TCX = "corriporai+runpandas/runpandas/tests/io/data/tcx/malformed.tcx"


def _read(corpus_dir, rel: str) -> bytes:
    assert rel in MANIFEST.roles, f"{rel} is not in tests/corpus_manifest.tsv"
    p = corpus_dir / rel
    if not p.is_file():
        pytest.skip(f"{rel} is not in this corpus")
    return p.read_bytes()


def _undeclare(data: bytes) -> bytes:
    """The file without any ``xmlns:prefix=`` declaration (the default namespace is kept)."""
    out, n = re.subn(rb'\sxmlns:[\w.-]+="[^"]*"', b"", data)
    assert n > 0
    return out


def _same_content(repaired, original) -> None:
    assert repaired.status == original.status == "landed", repaired.reason
    assert repaired.records.height == original.records.height > 0
    for col in ("recorded_at", "latitude_deg", "heart_rate_bpm", "cadence_raw", "distance_m"):
        assert repaired.records[col].to_list() == original.records[col].to_list(), col
    assert repaired.laps.height == original.laps.height


def _decode(data: bytes, name: str):
    return decode_bytes(data, name, READ)


# --- whitespace before the declaration ---------------------------------------------------------


@pytest.mark.parametrize("lead", [b"\n\n", b"  \r\n\t", b"\xef\xbb\xbf\n\n", b"\n\xef\xbb\xbf"],
                         ids=["blank-lines", "spaces-crlf-tab", "bom-then-blank-lines", "blank-line-then-bom"])
def test_a_tcx_with_whitespace_before_the_declaration_lands_with_the_repair_said(corpus_dir, lead):
    data = _read(corpus_dir, TCX_GARMIN)
    assert data.startswith(b"<?xml")
    original = _decode(data, "run.tcx")
    repaired = _decode(lead + data, "run.tcx")
    _same_content(repaired, original)
    assert repaired.reason.startswith("repaired: removed ")
    assert repaired.reason.endswith("before the XML declaration")
    n_ws = len(lead.replace(b"\xef\xbb\xbf", b""))
    assert f"{n_ws} whitespace byte" in repaired.reason
    assert ("misplaced byte-order mark" in repaired.reason) == (not lead.startswith(b"\xef\xbb\xbf")
                                                                and b"\xef\xbb\xbf" in lead)
    assert original.reason is None  # the unmodified file needs no repair


def test_a_gpx_with_blank_lines_before_the_declaration_lands_with_the_repair_said(corpus_dir):
    data = _read(corpus_dir, GPX_STRAVA)
    original = _decode(data, "run.gpx")
    repaired = _decode(b"\r\n\r\n  " + data, "run.gpx")
    _same_content(repaired, original)
    assert "repaired: removed 6 whitespace characters before the XML declaration" in repaired.reason


def test_other_bytes_before_the_declaration_are_still_refused(corpus_dir):
    data = _read(corpus_dir, TCX_GARMIN)
    d = _decode(b"\n.\n" + data, "run.tcx")
    assert (d.status, d.error_class) == ("quarantined", "XmlError")
    assert "declaration not at start" in d.reason or "syntax error" in d.reason, d.reason


# --- undeclared well-known prefixes ------------------------------------------------------------


def test_a_strava_gpx_without_its_namespace_declarations_lands(corpus_dir):
    data = _read(corpus_dir, GPX_STRAVA)
    assert b"<gpxtpx:hr>" in data
    original = _decode(data, "run.gpx")
    repaired = _decode(_undeclare(data), "run.gpx")
    _same_content(repaired, original)
    assert original.records["heart_rate_bpm"].is_not_null().sum() > 0  # read through the prefix
    assert "repaired: declared undeclared namespace prefixes gpxtpx, xsi" in repaired.reason


def test_a_garmin_connect_gpx_without_its_ns2_ns3_declarations_lands(corpus_dir):
    data = _read(corpus_dir, GPX_GARMIN)
    assert b"<ns3:TrackPointExtension>" in data
    original = _decode(data, "run.gpx")
    repaired = _decode(_undeclare(data), "run.gpx")
    _same_content(repaired, original)
    assert "repaired: declared undeclared namespace prefixes ns3, xsi" in repaired.reason


def test_a_gpx_with_undeclared_cluetrust_gpxdata_extensions_lands(corpus_dir):
    """Cluetrust's gpxdata: prefix (``<gpxdata:hr>``), undeclared: the values are read."""
    data = _read(corpus_dir, GPX_STRAVA)
    gpxdata = _undeclare(data).replace(b"gpxtpx:", b"gpxdata:")
    gpxdata = re.sub(rb'\sxsi:schemaLocation="[^"]*"', b"", gpxdata)
    original = _decode(data, "run.gpx")
    repaired = _decode(gpxdata, "run.gpx")
    _same_content(repaired, original)
    assert "repaired: declared undeclared namespace prefix gpxdata" in repaired.reason


def test_a_garmin_tcx_without_its_namespace_declarations_lands(corpus_dir):
    data = _read(corpus_dir, TCX_GARMIN)
    assert b"<ns3:RunCadence>" in data or b"<ns3:TPX>" in data
    original = _decode(data, "run.tcx")
    repaired = _decode(_undeclare(data), "run.tcx")
    _same_content(repaired, original)
    assert repaired.activities["cadence_raw_unit"].to_list() == original.activities["cadence_raw_unit"].to_list()
    assert "repaired: declared undeclared namespace prefixes ns3, xsi" in repaired.reason


def test_both_repairs_on_one_file_are_both_said(corpus_dir):
    data = _read(corpus_dir, GPX_STRAVA)
    d = _decode(b"\n" + _undeclare(data), "run.gpx")
    assert d.status == "landed"
    assert "repaired: removed 1 whitespace character before the XML declaration" in d.reason
    assert "repaired: declared undeclared namespace prefixes gpxtpx, xsi" in d.reason


# --- what stays refused ------------------------------------------------------------------------


def test_an_unknown_undeclared_prefix_is_refused_naming_it(corpus_dir):
    data = _read(corpus_dir, GPX_STRAVA)
    d = _decode(_undeclare(data).replace(b"gpxtpx:", b"acme:"), "run.gpx")
    assert (d.status, d.error_class) == ("quarantined", "XmlError")
    assert "unbound prefix" in d.reason
    assert "undeclared namespace prefix acme, not one footfall knows" in d.reason
    assert d.records.height == 0


def test_an_unknown_prefix_in_a_comment_does_not_stop_the_repair(corpus_dir):
    data = _undeclare(_read(corpus_dir, GPX_STRAVA))
    end_of_decl = data.index(b"?>") + 2
    commented = data[:end_of_decl] + b"\n<!-- exported with <acme:tool> -->" + data[end_of_decl:]
    d = _decode(commented, "run.gpx")
    assert d.status == "landed", d.reason
    assert "repaired: declared undeclared namespace prefixes gpxtpx, xsi" in d.reason


def test_a_prefix_known_to_gpx_only_is_refused_in_a_tcx(corpus_dir):
    """The table is per format: ``pwr`` (Garmin PowerExtension, in GPX) means nothing in a TCX."""
    data = _read(corpus_dir, TCX_GARMIN)
    d = _decode(_undeclare(data).replace(b"ns3:", b"pwr:"), "run.tcx")
    assert (d.status, d.error_class) == ("quarantined", "XmlError")
    assert "undeclared namespace prefix pwr, not one footfall knows" in d.reason


def test_broken_xml_with_an_undeclared_prefix_stays_refused(corpus_dir):
    data = _undeclare(_read(corpus_dir, GPX_STRAVA))
    cut = data[: len(data) // 2]  # a truncated download
    d = _decode(cut, "run.gpx")
    assert (d.status, d.error_class) == ("quarantined", "XmlError")
    assert "declaring gpxtpx, xsi did not make it parse" in d.reason, d.reason
    assert re.search(r"(unclosed token|no element found): line \d+", d.reason), d.reason


def test_the_corpus_malformed_tcx_is_not_rewritten(corpus_dir):
    """runpandas' malformed.tcx has an undeclared ``xsi`` under a root that is not
    <TrainingCenterDatabase>: footfall does not rewrite a document it does not recognise."""
    data = _read(corpus_dir, MALFORMED_TCX)
    d = _decode(data, "malformed.tcx")
    assert (d.status, d.error_class) == ("quarantined", "XmlError")
    assert "unbound prefix: line 4653" in d.reason
    assert "root element <Activities> is not <TrainingCenterDatabase>" in d.reason


# --- through the command line, into files.reason ------------------------------------------------


def test_sync_lands_repaired_files_and_files_reason_says_so(corpus_dir, prefect_harness, isolated_config):
    from pipelines import db
    from pipelines.cli import app

    src = isolated_config / "watch"
    src.mkdir()
    tcx = _read(corpus_dir, TCX_GARMIN)
    (src / "leading_blank_lines.tcx").write_bytes(b"\n\n" + tcx)
    gpx = _read(corpus_dir, GPX_GARMIN)  # another run than the TCX's (no duplicate between them)
    (src / "gpxdata.gpx").write_bytes(re.sub(rb'\sxsi:schemaLocation="[^"]*"', b"",
                                             _undeclare(gpx).replace(b"ns3:", b"gpxdata:")))
    (src / "acme.gpx").write_bytes(_undeclare(gpx).replace(b"ns3:", b"acme:"))
    dbfile = isolated_config / "f.duckdb"
    res = CliRunner().invoke(app, ["sync", str(src), "--db", str(dbfile), "--json"])
    assert res.exit_code == 0, res.output
    with db.connection(dbfile, read_only=True) as con:
        rows = con.execute("SELECT path, status, reason FROM files").fetchall()
    by_name = {p.rsplit("/", 1)[-1]: (status, reason) for p, status, reason in rows}
    assert by_name["leading_blank_lines.tcx"] == (
        "landed", "repaired: removed 2 whitespace bytes before the XML declaration")
    assert by_name["gpxdata.gpx"] == ("landed", "repaired: declared undeclared namespace prefix gpxdata")
    status, reason = by_name["acme.gpx"]
    assert status == "quarantined" and "undeclared namespace prefix acme" in reason
