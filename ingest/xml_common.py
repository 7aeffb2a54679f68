"""Helpers the XML readers share (``ingest/gpx.py``, ``ingest/tcx.py``): tag names without their
namespace, times to naive UTC, GPX/TCX sport names to FIT's, ``field_sources`` rows, and the
repairs of readable files that XML parsers refuse (whitespace before the declaration, well-known
namespace prefixes used without a declaration).

Pure functions on strings, datetimes and counts; no reader imports another reader.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

#: GPX ``<type>`` / TCX ``Sport`` (lower case, spaces and dashes as ``_``) -> (sport, sub_sport).
#: Numeric codes are Strava's activity types in its GPX export (1 Ride, 4 Hike, 9 Run, 10 Walk,
#: 16 Swim, 17 VirtualRide).
SPORTS: dict[str, tuple[str, str | None]] = {
    "running": ("running", None),
    "run": ("running", None),
    "jogging": ("running", None),
    "9": ("running", None),
    "trail_running": ("running", "trail"),
    "trailrun": ("running", "trail"),
    "treadmill_running": ("running", "treadmill"),
    "treadmill": ("running", "treadmill"),
    "cycling": ("cycling", None),
    "biking": ("cycling", None),
    "bike": ("cycling", None),
    "ride": ("cycling", None),
    "1": ("cycling", None),
    "road_biking": ("cycling", "road"),
    "road_cycling": ("cycling", "road"),
    "mountain_biking": ("cycling", "mountain"),
    "mountainbikeride": ("cycling", "mountain"),
    "gravel_cycling": ("cycling", "gravel_cycling"),
    "virtualride": ("cycling", "virtual_activity"),
    "17": ("cycling", "virtual_activity"),
    "walking": ("walking", None),
    "walk": ("walking", None),
    "10": ("walking", None),
    "hiking": ("hiking", None),
    "hike": ("hiking", None),
    "4": ("hiking", None),
    "swimming": ("swimming", None),
    "swim": ("swimming", None),
    "16": ("swimming", None),
    "open_water_swimming": ("swimming", "open_water"),
    "lap_swimming": ("swimming", "lap_swimming"),
    "generic": ("generic", None),
    "other": ("generic", None),
}


def local_name(tag: str) -> str:
    """An XML tag without its ``{namespace}``, lower case."""
    return tag.rsplit("}", 1)[-1].lower()


def utc_naive(dt: datetime | None) -> tuple[datetime | None, int | None]:
    """(naive UTC datetime, stated UTC offset in seconds or None) of a gpxpy/ISO datetime.

    A naive datetime is taken to be UTC already (offset None).
    """
    if dt is None:
        return None, None
    try:
        off = dt.utcoffset()
    except ValueError:  # gpxpy keeps offsets like +99:99 that datetime refuses: no readable time
        return None, None
    if off is None:
        return dt, None
    return dt.replace(tzinfo=None) - off, int(off.total_seconds())


def map_sport(raw: str | None) -> tuple[str | None, str | None]:
    """(sport, sub_sport) in FIT names for a GPX type / TCX Sport string.

    None or blank -> (None, None); a value footfall does not know -> ('generic', None).
    """
    if raw is None or not raw.strip():
        return None, None
    key = re.sub(r"[\s\-]+", "_", raw.strip().lower())
    return SPORTS.get(key, ("generic", None))


def field_source_rows(activity_id: str, counts: dict[str, Counter]) -> list[dict]:
    """Rows for ``field_sources``: one per column, sources joined with '+' (most frequent first)."""
    rows = []
    for column, by_source in counts.items():
        n = sum(by_source.values())
        if n <= 0:
            continue
        source = "+".join(s for s, _ in by_source.most_common())
        rows.append({"activity_id": activity_id, "column_name": column, "source": source,
                     "n_values": n})
    return rows


# --------------------------------------------------------------------------------------------
# Repairs of readable files that XML refuses (issue 15, point 6)
# --------------------------------------------------------------------------------------------

_XSI = "http://www.w3.org/2001/XMLSchema-instance"  # W3C XML Schema Part 1, section 2.6
_GPXX = "http://www.garmin.com/xmlschemas/GpxExtensions/v3"
_TPX_V1 = "http://www.garmin.com/xmlschemas/TrackPointExtension/v1"

#: Namespace prefixes that exporters write without declaring them -> the namespace each one
#: names in the files that do declare it, per format. footfall declares these (and only these)
#: on the root and reads the file again; the readers match tags by local name, so the URI is a
#: record of what the prefix means, not something the values depend on. Sources:
#: Garmin's schemas (https://www8.garmin.com/xmlschemas/: GpxExtensionsv3.xsd,
#: TrackPointExtensionv1.xsd (v2 exists too, same prefix in OpenTracks), TrackStatsExtension.xsd,
#: WaypointExtensionv1.xsd, PowerExtensionv1.xsd, ActivityExtensionv2.xsd, UserProfileExtensionv2,
#: ProfileExtensionv1.xsd, ActivityGoalsv1.xsd); Cluetrust's GPX data schema
#: (http://www.cluetrust.com/Schemas/gpxdata10.xsd, targetNamespace below); the prefixes
#: ``ns2``..``ns5`` as Garmin Connect's GPX and TCX exports bind them (corpus:
#: GoldenCheetah+sweatpy activity_*.gpx / *.tcx); ``gpxtpx``/``gpxx`` as Strava's GPX export
#: binds them; ``xsi`` as the W3C reserves it (``xsi:schemaLocation`` on the root).
WELL_KNOWN_PREFIXES: dict[str, dict[str, str]] = {
    "gpx": {
        "xsi": _XSI,
        "gpxx": _GPXX,
        "gpxtpx": _TPX_V1,
        "gpxtrkx": "http://www.garmin.com/xmlschemas/TrackStatsExtension/v1",
        "wptx1": "http://www.garmin.com/xmlschemas/WaypointExtension/v1",
        "pwr": "http://www.garmin.com/xmlschemas/PowerExtension/v1",
        "gpxdata": "http://www.cluetrust.com/XML/GPXDATA/1/0",
        "ns2": _GPXX,
        "ns3": _TPX_V1,
    },
    "tcx": {
        "xsi": _XSI,
        "ns2": "http://www.garmin.com/xmlschemas/UserProfile/v2",
        "ns3": "http://www.garmin.com/xmlschemas/ActivityExtension/v2",
        "ns4": "http://www.garmin.com/xmlschemas/ProfileExtension/v1",
        "ns5": "http://www.garmin.com/xmlschemas/ActivityGoals/v1",
    },
}

#: expat's error code for "unbound prefix" (``xml.parsers.expat.errors.XML_ERROR_UNBOUND_PREFIX``)
UNBOUND_PREFIX_CODE = 27
#: rounds of "declare, parse again" before giving up (each declares every prefix it finds missing)
_MAX_REPAIR_ROUNDS = 4

_NAME = r"[A-Za-z_][\w.\-]*"
_LEADING = {
    bytes: re.compile(rb"\A(?:[ \t\r\n]|\xef\xbb\xbf)+(?=<\?xml[\s?])"),
    str: re.compile(r"\A[ \t\r\n\ufeff]+(?=<\?xml[\s?])"),
}


def _pat(pattern: str) -> dict[type, re.Pattern]:
    """The pattern compiled for text and for bytes; ``{BOM}`` is the byte-order mark of each."""
    return {str: re.compile(pattern.replace("{BOM}", r"\ufeff"), re.S),
            bytes: re.compile(pattern.replace("{BOM}", r"\xef\xbb\xbf").encode(), re.S)}


#: the prolog (declaration, comments, processing instructions, doctype, blanks), then the root's
#: name: group 1 ends where declarations can be inserted
_ROOT = _pat(r"\A(?:{BOM})?(?:\s|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>)*"
             r"<((?:" + _NAME + r":)?" + _NAME + r")")
_ELEMENT_PREFIX = _pat(r"</?(" + _NAME + r"):" + _NAME)
_ATTR_PREFIX = _pat(r"\s(" + _NAME + r"):" + _NAME + r"\s*=\s*[\"']")
_DECLARED = _pat(r"\sxmlns:(" + _NAME + r")\s*=")


def _s(x) -> str:
    return x.decode("utf-8", "replace") if isinstance(x, bytes) else x


def strip_before_declaration(data):
    """(data without what precedes its ``<?xml`` declaration, note or None).

    XML allows nothing before the declaration (a byte-order mark aside), so a file starting with
    blank lines or spaces is refused by every parser ("XML or text declaration not at start of
    entity"); editors and some exporters write them. Only whitespace and UTF-8 byte-order marks
    are removed (one mark is kept in front when there was one, so the encoding reads the same);
    anything else before the declaration still fails. Works on bytes or text.
    """
    m = _LEADING[type(data)].match(data)
    if m is None:
        return data, None
    junk = m.group(0)
    bom = b"\xef\xbb\xbf" if isinstance(data, bytes) else "\ufeff"
    if junk == bom:
        return data, None  # a byte-order mark alone: legal, nothing to repair
    n_bom = junk.count(bom)
    n_ws = len(junk) - n_bom * len(bom)
    unit = "byte" if isinstance(data, bytes) else "character"
    parts = [f"{n_ws} whitespace {unit}{'s' if n_ws != 1 else ''}"] if n_ws else []
    misplaced = n_bom - (1 if junk.startswith(bom) else 0)
    if misplaced:
        parts.append(f"{misplaced} misplaced byte-order mark{'s' if misplaced != 1 else ''}")
    kept = bom if n_bom else data[:0]
    return kept + data[len(junk):], f"repaired: removed {' and '.join(parts)} before the XML declaration"


def root_name(data) -> str | None:
    """The root element's name as written (prefix included), found without parsing; None if the
    text has no recognisable root start tag."""
    m = _ROOT[type(data)].match(data)
    return _s(m.group(1)) if m else None


def _tag_at(data, line: int, column: int):
    """The start tag text (``<...>``) expat points at with (line, column), or None."""
    nl = b"\n" if isinstance(data, bytes) else "\n"
    pos = 0
    for _ in range(line - 1):
        pos = data.find(nl, pos)
        if pos < 0:
            return None
        pos += 1
    end_of_line = data.find(nl, pos)
    end_of_line = len(data) if end_of_line < 0 else end_of_line
    at = min(pos + column, end_of_line)
    lt = data.rfind(b"<" if isinstance(data, bytes) else "<", pos, at + 1)
    if lt < 0:
        return None
    gt = data.find(b">" if isinstance(data, bytes) else ">", lt)
    return data[lt: (len(data) if gt < 0 else gt + 1)]


def undeclared_prefixes(data, position: tuple[int, int] | None) -> tuple[set[str], set[str]]:
    """(namespace prefixes used in ``data``, in element or attribute names, that nothing in it
    declares; those of the start tag at expat's error ``position`` that the tag itself does not
    declare), ``xml``/``xmlns`` excluded. The first is found by pattern, so a prefix written in
    a comment or in text counts too; the second is the one the parser stopped at."""
    t = type(data)

    def used(x) -> set[str]:
        return {_s(p) for p in _ELEMENT_PREFIX[t].findall(x)} | {_s(p) for p in _ATTR_PREFIX[t].findall(x)}

    def declared(x) -> set[str]:
        return {_s(p) for p in _DECLARED[t].findall(x)}

    reserved = {"xml", "xmlns"}
    everywhere = used(data) - declared(data) - reserved
    tag = _tag_at(data, *position) if position is not None else None
    at_error = (used(tag) - declared(tag) - reserved) if tag is not None else set()
    return everywhere, at_error


def declare_on_root(data, uris: dict[str, str]):
    """``data`` with ``xmlns:prefix="uri"`` added to the root start tag for each of ``uris``."""
    m = _ROOT[type(data)].match(data)
    if m is None:
        raise ValueError("no root start tag")
    decl = "".join(f' xmlns:{p}="{u}"' for p, u in sorted(uris.items()))
    if isinstance(data, bytes):
        decl = decl.encode("ascii")
    return data[: m.end(1)] + decl + data[m.end(1):]


def parse_declaring_prefixes(data, fmt: str, parse, error_position, refuse):
    """``parse(data)``; when the parser reports an unbound namespace prefix, declare the missing
    prefixes on the root from ``WELL_KNOWN_PREFIXES[fmt]`` and parse again.

    ``parse`` raises whatever the parser raises; ``error_position(exc)`` gives expat's (line,
    column) for an unbound-prefix error and None for any other error (re-raised as is);
    ``refuse(message, exc)`` builds the exception raised when the file cannot be repaired: a
    prefix footfall does not know, a root that is not the format's (``<gpx>``,
    ``<TrainingCenterDatabase>``: a document footfall does not recognise is not rewritten), or
    the repair not being enough. Returns (parse result, note or None), the note naming the
    prefixes declared ("repaired: declared undeclared namespace prefix gpxdata").
    """
    table = WELL_KNOWN_PREFIXES[fmt]
    expected_root = {"gpx": "gpx", "tcx": "TrainingCenterDatabase"}[fmt]
    added: dict[str, str] = {}
    first_err = None
    for _ in range(_MAX_REPAIR_ROUNDS + 1):
        try:
            result = parse(data)
        except Exception as exc:  # noqa: BLE001 - the caller's parser decides what it raises
            position = error_position(exc)
            if position is None:
                if first_err is None:
                    raise
                raise refuse(f"{first_err} (declaring {', '.join(sorted(added))} did not make it "
                             f"parse: {exc})", exc) from exc
            first_err = first_err or exc
            root = root_name(data)
            if root is None or local_name(root) != expected_root.lower():
                raise refuse(f"{exc} (root element <{root}> is not <{expected_root}>: "
                             f"namespace prefixes not declared by footfall)", exc) from exc
            everywhere, at_error = undeclared_prefixes(data, position)
            # refused for an unknown prefix where the parser stopped; one seen elsewhere only
            # (perhaps in a comment) waits until the parser stops at it
            unknown = sorted(p for p in at_error if p not in table)
            if unknown:
                raise refuse(f"{exc}: undeclared namespace prefix{'es' if len(unknown) > 1 else ''} "
                             f"{', '.join(unknown)}, not one footfall knows "
                             f"(it declares only {', '.join(sorted(table))})", exc) from exc
            new = {p: table[p] for p in sorted(everywhere | at_error) if p in table and p not in added}
            if not new:
                raise refuse(f"{exc} (no undeclared prefix footfall knows found there)", exc) from exc
            data = declare_on_root(data, new)
            added.update(new)
            continue
        if not added:
            return result, None
        names = sorted(added)
        return result, (f"repaired: declared undeclared namespace prefix{'es' if len(names) > 1 else ''} "
                        f"{', '.join(names)}")
    raise refuse(f"{first_err} (still unbound after declaring {', '.join(sorted(added))})", first_err)
