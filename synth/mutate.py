"""Seeded, deterministic mutants of FIT, GPX and TCX files, for fuzzing the decode and the sync.

``mutant(seed_file, rng)`` applies one to three mutations chosen by ``rng`` (a
``random.Random``) and returns a :class:`Mutant` (bytes, file name, the mutations as labels,
tags). The same seed file and the same ``rng`` state give the same bytes.

- **FIT** mutations understand the format: record headers, definition messages (field sizes,
  base types, counts, architecture, global message numbers), data messages (field values set
  to 0, the largest, the invalid sentinel, the most negative, in one message or in every
  message of a kind), compressed timestamp headers, records duplicated, deleted, swapped or
  moved, the file cut, the header's data size or size byte changed, files chained, plus bytes
  flipped in the data area. Then the header CRC and the file CRC are computed again (except in
  a few "bad CRC" mutants), so the damage reaches past the CRC check.
- **GPX/TCX** mutations understand XML text: times (year 1, year 9999, 1901, invalid dates,
  odd offsets), positions (lat 91, lon 500, NaN, inf), heart rate 300, huge elevation,
  distances, points duplicated, reversed, shuffled or deleted, tags deleted or renamed,
  namespaces wrong or missing, files cut, entities (internal, external, undefined, a small
  expansion), character references, CDATA, encodings (UTF-16, a wrong declaration, invalid
  UTF-8), plus byte-level damage.

Seeds: :func:`builtin_seeds` (written by footfall's own FIT writer and small GPX/TCX templates,
so the fuzz runs without the corpus) and :func:`corpus_seeds` (the shared corpus's
``CATALOG.tsv``). Tags: ``date-overflow`` marks a mutant given a year outside 2..9998 (the
dates Python's ``datetime`` cannot move a day away from).
"""

from __future__ import annotations

import csv
import math
import random
import re
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from synth.fit_encode import STRYD_FIELDS, crc16, encode_activity

FORMATS = ("fit", "gpx", "tcx")

#: Share of mutants per format (whatever the seed counts): FIT's structure has the most to break.
FORMAT_WEIGHTS = {"fit": 0.5, "gpx": 0.3, "tcx": 0.2}

#: A mutant never grows past this many bytes (duplications are cut short).
MAX_MUTANT_BYTES = 8_000_000


@dataclass(frozen=True)
class SeedFile:
    name: str  # e.g. "builtin/run-plain.fit" or the corpus path
    fmt: str  # fit | gpx | tcx
    data: bytes


@dataclass
class Mutant:
    data: bytes
    name: str  # file name to write, with the seed's extension
    seed: str  # SeedFile.name
    ops: list[str] = field(default_factory=list)  # the mutations applied, in order
    tags: set[str] = field(default_factory=set)  # e.g. {"date-overflow", "bad-crc"}

    @property
    def label(self) -> str:
        return " + ".join(self.ops)


def mutant(seed: SeedFile, rng: random.Random, index: int = 0, max_ops: int = 3) -> Mutant:
    """One mutant of ``seed``: 1..max_ops mutations drawn from ``rng``."""
    m = Mutant(data=seed.data, name="", seed=seed.name)
    n_ops = rng.choice([1, 1, 1, 2, 2, 3][: max(1, 2 * max_ops)])
    if seed.fmt == "fit":
        _mutate_fit(seed.data, rng, m, n_ops)
    else:
        data = seed.data
        for _ in range(n_ops):
            data = _mutate_xml(data, seed.fmt, rng, m)
        m.data = data[:MAX_MUTANT_BYTES]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(seed.name).stem)[:40]
    m.name = f"m{index:05d}-{stem}.{seed.fmt}"
    return m


def mutants(seeds: list[SeedFile], n: int, seed: int = 0, max_ops: int = 3) -> list[Mutant]:
    """``n`` mutants; mutant ``i`` depends only on (``seed``, ``i``) and the seed list."""
    if not seeds:
        raise ValueError("no seed files")
    by_fmt = {f: [s for s in seeds if s.fmt == f] for f in FORMATS}
    fmts = [f for f in FORMATS if by_fmt[f]]
    weights = [FORMAT_WEIGHTS[f] for f in fmts]
    out = []
    for i in range(n):
        rng = random.Random(f"footfall-fuzz:{seed}:{i}")
        pool = by_fmt[rng.choices(fmts, weights)[0]]
        out.append(mutant(pool[rng.randrange(len(pool))], rng, i, max_ops))
    return out


# --------------------------------------------------------------------------------------- FIT

@dataclass
class FitRec:
    """One record of a FIT data area; offsets are relative to the start of the data area."""

    start: int
    end: int
    kind: str  # def | data | ctime
    local: int
    gmn: int | None = None  # global message number (definitions, and data from their definition)
    big: bool = False
    fields: list[tuple[int, int, int, int]] = field(default_factory=list)  # num, size, base, offset


@dataclass
class FitParts:
    header: bytearray
    body: bytearray  # the data area
    tail: bytes  # anything after the first file's CRC (chained files)
    records: list[FitRec]

    def data_recs(self) -> list[FitRec]:
        return [r for r in self.records if r.kind != "def"]

    def defs(self) -> list[FitRec]:
        return [r for r in self.records if r.kind == "def"]


def split_fit(data: bytes) -> FitParts:
    """Header, data area, tail and the records that parse (stops at the first that does not)."""
    hs = data[0] if data else 0
    if hs < 12 or len(data) < hs:
        return FitParts(bytearray(data[:hs]), bytearray(data[hs:]), b"", [])
    size = struct.unpack("<I", data[4:8])[0]
    end = min(hs + size, len(data))
    body = data[hs:end]
    tail = data[end + 2:] if end + 2 <= len(data) else b""
    return FitParts(bytearray(data[:hs]), bytearray(body), tail, parse_records(body))


def parse_records(body: bytes) -> list[FitRec]:
    recs: list[FitRec] = []
    layouts: dict[int, FitRec] = {}
    pos, n = 0, len(body)
    while pos < n:
        h = body[pos]
        if h & 0x40 and not h & 0x80:  # definition
            lid = h & 0x0F
            if pos + 6 > n:
                break
            big = body[pos + 2] == 1
            gmn = struct.unpack(">H" if big else "<H", body[pos + 3:pos + 5])[0]
            nf = body[pos + 5]
            p = pos + 6
            if p + 3 * nf > n:
                break
            fields, off = [], 1
            for k in range(nf):
                num, size, base = body[p + 3 * k:p + 3 * k + 3]
                fields.append((num, size, base, off))
                off += size
            p += 3 * nf
            if h & 0x20:  # developer fields
                if p >= n:
                    break
                nd = body[p]
                p += 1
                if p + 3 * nd > n:
                    break
                for k in range(nd):
                    num, size, idx = body[p + 3 * k:p + 3 * k + 3]
                    fields.append((-1 - num, size, 0x0D, off))  # developer: negative number
                    off += size
                p += 3 * nd
            rec = FitRec(pos, p, "def", lid, gmn, big, fields)
            layouts[lid] = rec
            recs.append(rec)
            pos = p
        else:  # a data message; a compressed timestamp header (bit 7) names local 0-3
            ctime = bool(h & 0x80)
            lid = (h >> 5) & 3 if ctime else h & 0x0F
            d = layouts.get(lid)
            if d is None:
                break
            size = sum(f[1] for f in d.fields)
            if pos + 1 + size > n:
                break
            recs.append(FitRec(pos, pos + 1 + size, "ctime" if ctime else "data", lid, d.gmn,
                               d.big, d.fields))
            pos += 1 + size
    return recs


def fit_with_crcs(header: bytes, body: bytes, *, fix_size: bool = True, tail: bytes = b"") -> bytes:
    """Header (data size set to the body's when ``fix_size``; header CRC when it has one) +
    body + file CRC + tail: the CRCs are right whatever is inside."""
    h = bytearray(header)
    if len(h) >= 8 and fix_size:
        h[4:8] = struct.pack("<I", len(body))
    if len(h) >= 14 and h[0] >= 14:
        h[12:14] = struct.pack("<H", crc16(bytes(h[:12])))
    return bytes(h) + bytes(body) + struct.pack("<H", crc16(bytes(body), crc16(bytes(h)))) + tail


# FIT field numbers worth pushing to extremes, per global message number
_INTERESTING = {
    20: [253, 0, 1, 2, 3, 4, 5, 6, 7, 13, 39, 41, 53, 73, 78, 83, 84, 85],  # record
    18: [253, 2, 3, 4, 7, 8, 9, 14, 16, 17, 5, 6, 0, 1],  # session
    19: [253, 2, 3, 4, 7, 8, 9, 15, 16, 25],  # lap
    34: [253, 0, 1, 5],  # activity
    0: [0, 1, 2, 3, 4],  # file_id
    21: [253, 0, 1, 3],  # event
    23: [253, 0, 2, 4],  # device_info
    206: [0, 1, 2, 3, 8],  # field_description
}
_BASE_TYPES = [0x00, 0x01, 0x02, 0x83, 0x84, 0x85, 0x86, 0x07, 0x88, 0x89, 0x0A, 0x8B, 0x8C,
               0x0D, 0x8E, 0x8F, 0x90]


def _extreme(size: int, big: bool, rng: random.Random) -> tuple[bytes, str]:
    bits = 8 * size
    name, v = rng.choice([
        ("zero", 0), ("one", 1), ("max", (1 << bits) - 1), ("max-1", (1 << bits) - 2),
        ("max_signed", (1 << (bits - 1)) - 1), ("min_signed", 1 << (bits - 1)),
        ("minus_one_ish", (1 << (bits - 1)) + 1), ("random", rng.getrandbits(bits)),
    ])
    return v.to_bytes(size, "big" if big else "little"), name


def _mutate_fit(seed: bytes, rng: random.Random, m: Mutant, n_ops: int) -> None:
    parts = split_fit(seed)
    fix_size = True
    for _ in range(n_ops):
        if not parts.records or len(parts.header) < 12:
            op = "flip"
        else:
            op = rng.choices(
                ["flip", "overwrite", "field", "field_all", "timestamps", "definition", "truncate",
                 "duplicate", "delete", "swap", "move", "insert", "compressed", "header",
                 "chain", "many_copies"],
                weights=[8, 6, 14, 10, 8, 12, 6, 6, 5, 4, 3, 3, 5, 5, 2, 2])[0]
        label, keep_size = _FIT_OPS[op](parts, rng)
        fix_size = fix_size and keep_size
        m.ops.append(label)
        parts.records = parse_records(bytes(parts.body))
    if rng.random() < 0.04:  # a few keep a wrong CRC: the CRC path itself
        m.ops.append("bad_crc")
        m.tags.add("bad-crc")
        body = bytes(parts.body)
        m.data = bytes(parts.header) + body + struct.pack("<H", rng.getrandbits(16)) + parts.tail
    else:
        m.data = fit_with_crcs(parts.header, parts.body, fix_size=fix_size, tail=parts.tail)
    m.data = m.data[:MAX_MUTANT_BYTES]


def _pos(parts: FitParts, rng: random.Random) -> int:
    return rng.randrange(len(parts.body)) if parts.body else 0


def _op_flip(p: FitParts, rng: random.Random):
    k = rng.choice([1, 1, 2, 3, 8, 32])
    for _ in range(k):
        if p.body:
            i = _pos(p, rng)
            p.body[i] ^= 1 << rng.randrange(8)
    return f"flip_bits({k})", True


def _op_overwrite(p: FitParts, rng: random.Random):
    k = rng.choice([1, 2, 4, 16])
    val = rng.choice([0x00, 0xFF, 0x7F, 0x80, None])
    for _ in range(k):
        if p.body:
            p.body[_pos(p, rng)] = rng.randrange(256) if val is None else val
    return f"overwrite_bytes({k},{'rand' if val is None else hex(val)})", True


def _pick_field(p: FitParts, rng: random.Random, gmn_pref: bool = True):
    recs = p.data_recs()
    if not recs:
        return None
    interesting = [r for r in recs if r.gmn in _INTERESTING]
    rec = rng.choice(interesting if interesting and gmn_pref and rng.random() < 0.8 else recs)
    nums = [f for f in rec.fields if f[1] > 0]
    if not nums:
        return None
    pref = [f for f in nums if f[0] in _INTERESTING.get(rec.gmn, [])]
    f = rng.choice(pref if pref and rng.random() < 0.8 else nums)
    return rec, f


def _set_field(p: FitParts, rec: FitRec, f, value: bytes) -> None:
    off = rec.start + f[3]
    p.body[off:off + f[1]] = value[: f[1]].ljust(f[1], b"\0")


def _op_field(p: FitParts, rng: random.Random):
    got = _pick_field(p, rng)
    if got is None:
        return _op_flip(p, rng)
    rec, f = got
    value, name = _extreme(f[1], rec.big, rng)
    _set_field(p, rec, f, value)
    return f"field(mesg={rec.gmn},field={f[0]},{name})", True


def _op_field_all(p: FitParts, rng: random.Random):
    """The same field of every message of a kind (and local type) to one extreme."""
    got = _pick_field(p, rng)
    if got is None:
        return _op_flip(p, rng)
    rec, f = got
    value, name = _extreme(f[1], rec.big, rng)
    n = 0
    for r in p.data_recs():
        if r.gmn == rec.gmn and r.fields is rec.fields:
            _set_field(p, r, f, value)
            n += 1
    return f"field_all(mesg={rec.gmn},field={f[0]},{name},n={n})", True


def _op_timestamps(p: FitParts, rng: random.Random):
    """Timestamps (field 253) of records: backwards, frozen, jumping, or far away."""
    recs = [r for r in p.data_recs() if any(f[0] == 253 and f[1] == 4 for f in r.fields)]
    if not recs:
        return _op_field(p, rng)
    how = rng.choice(["backwards", "frozen", "jump", "far", "zero", "sentinel", "shuffle"])
    base = rng.getrandbits(32)
    vals = []
    for r in recs:
        f = next(f for f in r.fields if f[0] == 253 and f[1] == 4)
        off = r.start + f[3]
        vals.append(struct.unpack(">I" if r.big else "<I", p.body[off:off + 4])[0])
    t0 = vals[0]
    if how == "shuffle":
        vals = vals[:]
        rng.shuffle(vals)
        new = vals
    elif how == "backwards":
        new = [max(0, t0 - i) for i in range(len(vals))]
    elif how == "frozen":
        new = [t0] * len(vals)
    elif how == "jump":
        k = rng.randrange(len(vals))
        jump = rng.choice([86400 * 365 * 30, -86400 * 365 * 5, 86400 * 40, 2**31])
        new = [(v + jump) % 2**32 if i >= k else v for i, v in enumerate(vals)]
    elif how == "far":
        new = [(base + v - t0) % 2**32 for v in vals]
    elif how == "zero":
        new = [0] * len(vals)
    else:
        new = [0xFFFFFFFF] * len(vals)
    for r, v in zip(recs, new):
        f = next(f for f in r.fields if f[0] == 253 and f[1] == 4)
        _set_field(p, r, f, struct.pack(">I" if r.big else "<I", v))
    return f"timestamps({how},n={len(recs)})", True


def _op_definition(p: FitParts, rng: random.Random):
    defs = p.defs()
    if not defs:
        return _op_flip(p, rng)
    d = rng.choice(defs)
    what = rng.choice(["size", "size", "base", "base", "count", "gmn", "arch", "devflag", "local",
                       "fieldnum"])
    s = d.start
    if what == "count":
        old = p.body[s + 5]
        new = rng.choice([0, 1, 255, (old + 1) % 256, max(0, old - 1)])
        p.body[s + 5] = new
        return f"def_count({d.gmn}:{old}->{new})", True
    if what == "gmn":
        new = rng.choice([0, 18, 19, 20, 21, 34, 0xFFFF, 0xFF00, rng.getrandbits(16)])
        p.body[s + 3:s + 5] = struct.pack(">H" if d.big else "<H", new)
        return f"def_gmn({d.gmn}->{new})", True
    if what == "arch":
        new = rng.choice([0, 1, 2, 0xFF])
        p.body[s + 2] = new
        return f"def_arch({d.gmn}->{new})", True
    if what == "devflag":
        p.body[s] ^= 0x20
        return f"def_devflag({d.gmn})", True
    if what == "local":
        new = rng.randrange(16)
        p.body[s] = (p.body[s] & 0xF0) | new
        return f"def_local({d.gmn}:{d.local}->{new})", True
    nf = p.body[s + 5]
    if nf == 0:
        return _op_flip(p, rng)
    k = rng.randrange(nf)
    at = s + 6 + 3 * k
    if what == "size":
        old = p.body[at + 1]
        new = rng.choice([0, 1, 3, 255, old + 1 if old < 255 else 0, max(0, old - 1), rng.randrange(256)])
        p.body[at + 1] = new
        return f"def_size({d.gmn},field={p.body[at]}:{old}->{new})", True
    if what == "base":
        old = p.body[at + 2]
        new = rng.choice(_BASE_TYPES + [rng.randrange(256)])
        p.body[at + 2] = new
        return f"def_base({d.gmn},field={p.body[at]}:{old:#x}->{new:#x})", True
    old = p.body[at]
    new = rng.choice([253, 254, 0, 3, rng.randrange(256)])
    p.body[at] = new
    return f"def_fieldnum({d.gmn}:{old}->{new})", True


def _op_truncate(p: FitParts, rng: random.Random):
    if not p.body:
        return "truncate(empty)", True
    cut = rng.choice([rng.randrange(len(p.body)), rng.choice(p.records).start,
                      rng.choice(p.records).start + 1])
    keep = rng.random() < 0.75  # header data size follows the cut, or still says the old size
    del p.body[cut:]
    return f"truncate({cut},{'size_fixed' if keep else 'size_stale'})", keep


def _op_duplicate(p: FitParts, rng: random.Random):
    r = rng.choice(p.records)
    chunk = bytes(p.body[r.start:r.end])
    k = rng.choice([1, 1, 2, 10])
    at = rng.choice([r.end, rng.choice(p.records).end, len(p.body)])
    p.body[at:at] = chunk * k
    return f"duplicate({r.kind}:{r.gmn},x{k})", True


def _op_delete(p: FitParts, rng: random.Random):
    r = rng.choice(p.records)
    del p.body[r.start:r.end]
    return f"delete({r.kind}:{r.gmn})", True


def _op_swap(p: FitParts, rng: random.Random):
    if len(p.records) < 2:
        return _op_flip(p, rng)
    i = rng.randrange(len(p.records) - 1)
    a, b = p.records[i], p.records[i + 1]
    p.body[a.start:b.end] = p.body[b.start:b.end] + p.body[a.start:a.end]
    return f"swap({a.kind}:{a.gmn},{b.kind}:{b.gmn})", True


def _op_move(p: FitParts, rng: random.Random):
    """A record moved elsewhere (a data message before its definition, a session first...)."""
    r = rng.choice(p.records)
    chunk = bytes(p.body[r.start:r.end])
    del p.body[r.start:r.end]
    at = rng.choice([0, rng.randrange(len(p.body) + 1)])
    at = min((x.start for x in parse_records(bytes(p.body)) if x.start >= at), default=len(p.body))
    p.body[at:at] = chunk
    return f"move({r.kind}:{r.gmn}->{at})", True


def _op_insert(p: FitParts, rng: random.Random):
    r = rng.choice(p.records)
    junk = bytes(rng.randrange(256) for _ in range(rng.choice([1, 2, 7, 64])))
    p.body[r.start:r.start] = junk
    return f"insert_bytes({len(junk)})", True


def _op_compressed(p: FitParts, rng: random.Random):
    """Data messages of local 0-3 given compressed timestamp headers (random time offsets)."""
    recs = [r for r in p.data_recs() if r.kind == "data" and r.local < 4]
    if not recs:
        return _op_flip(p, rng)
    allr = rng.random() < 0.4
    chosen = recs if allr else [rng.choice(recs)]
    for r in chosen:
        p.body[r.start] = 0x80 | (r.local << 5) | rng.randrange(32)
    # or a compressed header whose local type is another one's (layout mismatch)
    if rng.random() < 0.2:
        r = rng.choice(recs)
        p.body[r.start] = 0x80 | (rng.randrange(4) << 5) | rng.randrange(32)
    return f"compressed_ts(n={len(chosen)})", True


def _op_header(p: FitParts, rng: random.Random):
    what = rng.choice(["size", "size", "hsize", "protocol", "profile", "tag"])
    h = p.header
    if what == "size":
        new = rng.choice([0, 1, len(p.body) + rng.randrange(1, 5000), max(0, len(p.body) - rng.randrange(1, 200)),
                          0xFFFFFFFF, 0x7FFFFFFF])
        h[4:8] = struct.pack("<I", new)
        return f"header_data_size({new})", False
    if what == "hsize":
        if h[0] == 14:
            p.header = bytearray(h[:12])
            p.header[0] = 12
            return "header_size(14->12)", True
        if h[0] == 12:
            p.header = bytearray(h[:12]) + b"\0\0"
            p.header[0] = 14
            return "header_size(12->14)", True
        return "header_size(noop)", True
    if what == "protocol":
        h[1] = rng.choice([0x00, 0x10, 0x20, 0x21, 0xFF])
        return f"header_protocol({h[1]:#x})", True
    if what == "profile":
        h[2:4] = struct.pack("<H", rng.choice([0, 100, 2199, 0xFFFF]))
        return "header_profile", True
    h[8:12] = rng.choice([b".fit", b"FIT.", b"\0\0\0\0"])
    return f"header_tag({bytes(h[8:12])!r})", True


def _op_chain(p: FitParts, rng: random.Random):
    """Another FIT file after this one (chained files), itself damaged or cut or not."""
    other = fit_with_crcs(p.header, p.body)
    how = rng.choice(["copy", "cut", "garbage"])
    if how == "cut":
        other = other[: rng.randrange(1, len(other))]
    elif how == "garbage":
        other = bytes(rng.randrange(256) for _ in range(rng.choice([1, 13, 100])))
    p.tail = p.tail + other
    return f"chain({how})", True


def _op_many_copies(p: FitParts, rng: random.Random):
    """A data message repeated many times (a stuck recorder; quadratic code paths)."""
    recs = p.data_recs()
    if not recs:
        return _op_flip(p, rng)
    r = rng.choice(recs)
    chunk = bytes(p.body[r.start:r.end])
    k = min(rng.choice([500, 5000, 50000]), max(1, 2_000_000 // max(1, len(chunk))))
    p.body[r.end:r.end] = chunk * k
    return f"many_copies({r.gmn},x{k})", True


_FIT_OPS = {
    "flip": _op_flip, "overwrite": _op_overwrite, "field": _op_field, "field_all": _op_field_all,
    "timestamps": _op_timestamps, "definition": _op_definition, "truncate": _op_truncate,
    "duplicate": _op_duplicate, "delete": _op_delete, "swap": _op_swap, "move": _op_move,
    "insert": _op_insert, "compressed": _op_compressed, "header": _op_header, "chain": _op_chain,
    "many_copies": _op_many_copies,
}


# --------------------------------------------------------------------------------- GPX / TCX

_TIMES = [
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1901-12-13T20:45:52Z", "1970-01-01T00:00:00Z",
    "1989-12-31T00:00:00Z", "2100-01-01T00:00:00Z", "2262-04-11T23:47:17Z", "2024-02-30T12:00:00Z",
    "2024-13-01T00:00:00Z", "2024-06-01T25:61:61Z", "2024-06-01T12:00:00+14:00",
    "2024-06-01T12:00:00-23:59", "2024-06-01T12:00:00.123456789Z", "2024-06-01", "",
    "not-a-time", "   ", "2024-06-01T12:00:00+99:99", "-0001-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z", "2024-06-01T12:00:00", "0000-00-00T00:00:00Z",
    "2024-06-01T12:00:00Z\x0b", "1e10",
]
_LATS = ["91", "-91", "90.0000001", "500", "-500", "NaN", "nan", "inf", "-inf", "1e308", "-1e308",
         "", "abc", "0", "1e-320", "0x10", "45,5", "+45.0", " 45.0 "]
_LONS = ["181", "-181", "500", "-1000", "NaN", "inf", "-Infinity", "1e308", "", "x", "360"]
_HRS = ["300", "-5", "0", "255", "256", "65536", "1e9", "NaN", "inf", "12.5", "abc", "", "-0",
        "99999999999999999999999"]
_ELES = ["1e308", "-1e308", "99999999", "-99999", "NaN", "inf", "", "1e400"]
_DISTS = ["1e12", "-5", "NaN", "inf", "0", "1e308", "-1e308"]
_CADS = ["500", "-1", "NaN", "1e9", "255", "abc"]

_DATE_OVERFLOW = ("0001-", "9999-", "-0001", "10000-", "0000-")


def _num_pat(tags: list[str]) -> re.Pattern:
    alt = "|".join(tags)
    return re.compile(rb"(<(?:[\w.-]+:)?(?:" + alt.encode() + rb")\b[^>]*>)([^<]*)(</)")


_GPX_FIELDS = {
    "time": (_num_pat(["time"]), _TIMES),
    "hr": (_num_pat(["hr", "heartrate"]), _HRS),
    "ele": (_num_pat(["ele"]), _ELES),
    "cad": (_num_pat(["cad", "cadence"]), _CADS),
    "speed": (_num_pat(["speed"]), _DISTS),
    "power": (_num_pat(["power", "PowerInWatts"]), _HRS),
}
_TCX_FIELDS = {
    "time": (_num_pat(["Time", "Id"]), _TIMES),
    "hr": (re.compile(rb"(<(?:[\w.-]+:)?HeartRateBpm\b[^>]*>\s*<(?:[\w.-]+:)?Value>)([^<]*)(</)"), _HRS),
    "ele": (_num_pat(["AltitudeMeters"]), _ELES),
    "lat": (_num_pat(["LatitudeDegrees"]), _LATS),
    "lon": (_num_pat(["LongitudeDegrees"]), _LONS),
    "dist": (_num_pat(["DistanceMeters"]), _DISTS),
    "cad": (_num_pat(["Cadence", "RunCadence"]), _CADS),
    "secs": (_num_pat(["TotalTimeSeconds"]), _DISTS),
    "speed": (_num_pat(["Speed", "AvgSpeed"]), _DISTS),
    "power": (_num_pat(["Watts"]), _HRS),
}
_ATTR = {
    "lat": (re.compile(rb'(\blat=")([^"]*)(")'), _LATS),
    "lon": (re.compile(rb'(\blon=")([^"]*)(")'), _LONS),
    "starttime": (re.compile(rb'(\bStartTime=")([^"]*)(")'), _TIMES),
}
_POINT = {"gpx": re.compile(rb"<(trkpt|rtept|wpt)\b.*?</\1>", re.S),
          "tcx": re.compile(rb"<(Trackpoint)\b.*?</\1>", re.S)}
_TAG = re.compile(rb"</?[A-Za-z][\w.:-]*[^>]*>")
_NS = {"gpx": [b"http://www.topografix.com/GPX/1/1", b"http://www.topografix.com/GPX/1/0"],
       "tcx": [b"http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"]}


def _mutate_xml(data: bytes, fmt: str, rng: random.Random, m: Mutant) -> bytes:
    op = rng.choices(
        ["value", "value_all", "points", "tags", "namespace", "truncate", "entity", "encoding", "bytes"],
        weights=[22, 14, 12, 8, 5, 6, 6, 5, 10])[0]
    return _XML_OPS[op](data, fmt, rng, m)


def _fields(fmt: str) -> dict:
    base = dict(_GPX_FIELDS if fmt == "gpx" else _TCX_FIELDS)
    base.update({k: v for k, v in _ATTR.items() if fmt == "gpx" or k == "starttime"})
    return base


def _note_value(m: Mutant, value: str) -> None:
    if value.strip().startswith(_DATE_OVERFLOW):
        m.tags.add("date-overflow")


def _x_value(data: bytes, fmt: str, rng: random.Random, m: Mutant, every: bool = False) -> bytes:
    fields = _fields(fmt)
    present = [k for k, (pat, _) in fields.items() if pat.search(data)]
    if not present:
        return _x_bytes(data, fmt, rng, m)
    key = rng.choice(present)
    pat, values = fields[key]
    value = rng.choice(values)
    hits = list(pat.finditer(data))
    if every:
        frac = rng.choice([1.0, 1.0, 0.5, 0.1])
        chosen = [h for h in hits if frac >= 1.0 or rng.random() < frac]
    else:
        chosen = [rng.choice(hits)]
    if key == "time" and value and rng.random() < 0.3 and not every:
        value = _shifted(hits[len(hits) // 2].group(2).decode("utf-8", "replace"), rng) or value
    _note_value(m, value)
    enc = value.encode("utf-8")
    out, last = [], 0
    for h in chosen:
        out += [data[last:h.start(2)], enc]
        last = h.end(2)
    out.append(data[last:])
    m.ops.append(f"{'all' if every else 'one'}_{key}({value!r},n={len(chosen)})")
    return b"".join(out)


def _shifted(text: str, rng: random.Random) -> str | None:
    """A real time moved by a large amount (still a valid timestamp)."""
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    delta = rng.choice([timedelta(days=-365 * 40), timedelta(days=365 * 60), timedelta(days=45),
                        timedelta(seconds=-1), timedelta(days=-365 * 1900)])
    try:
        return (t + delta).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError):
        return "0001-01-01T00:00:00Z"


def _x_value_all(data: bytes, fmt: str, rng: random.Random, m: Mutant) -> bytes:
    return _x_value(data, fmt, rng, m, every=True)


def _x_points(data: bytes, fmt: str, rng: random.Random, m: Mutant) -> bytes:
    pts = list(_POINT[fmt].finditer(data))
    if not pts:
        return _x_tags(data, fmt, rng, m)
    how = rng.choice(["dup_one", "dup_all", "reverse", "shuffle", "delete", "swap", "same_time",
                      "many"])
    chunks = [p.group(0) for p in pts]
    lo, hi = pts[0].start(), pts[-1].end()
    if how == "dup_one":
        i = rng.randrange(len(chunks))
        chunks[i:i] = [chunks[i]] * rng.choice([1, 5, 50])
    elif how == "dup_all":
        chunks = chunks + chunks
    elif how == "reverse":
        chunks.reverse()
    elif how == "shuffle":
        rng.shuffle(chunks)
    elif how == "delete":
        del chunks[rng.randrange(len(chunks))]
    elif how == "swap":
        i, j = rng.randrange(len(chunks)), rng.randrange(len(chunks))
        chunks[i], chunks[j] = chunks[j], chunks[i]
    elif how == "same_time":
        tpat = _fields(fmt)["time"][0]
        first = tpat.search(chunks[0])
        if first:
            chunks = [tpat.sub(lambda x: x.group(1) + first.group(2) + x.group(3), c) for c in chunks]
    else:  # many: a long track of one repeated point (bounded)
        k = min(20_000, max(1, 3_000_000 // max(1, len(chunks[0]))))
        chunks = chunks[:1] * k
    # keep whatever sat between points (segment breaks) by joining with the first separator
    sep = data[pts[0].end():pts[1].start()] if len(pts) > 1 else b"\n"
    if b"<" in sep:
        sep = b"\n"
    m.ops.append(f"points({how},n={len(chunks)})")
    inner = sep.join(chunks)
    return data[:lo] + inner + data[hi:]


def _x_tags(data: bytes, fmt: str, rng: random.Random, m: Mutant) -> bytes:
    tags = list(_TAG.finditer(data))
    if not tags:
        return _x_bytes(data, fmt, rng, m)
    how = rng.choice(["delete_one", "delete_name", "rename", "unclose"])
    if how == "delete_one":
        t = rng.choice(tags)
        m.ops.append(f"tag_delete({t.group(0)[:30]!r})")
        return data[:t.start()] + data[t.end():]
    if how == "delete_name":
        name = rng.choice([b"time", b"trkseg", b"trk", b"gpx", b"Activity", b"Lap", b"Track",
                           b"Time", b"Id", b"Activities", b"extensions", b"metadata"])
        m.ops.append(f"tag_delete_all({name.decode()})")
        return re.sub(rb"<(?:[\w.-]+:)?" + name + rb"\b[^>]*>([^<]*</(?:[\w.-]+:)?" + name + rb">)?", b"", data)
    if how == "rename":
        pairs = [(b"trkpt", b"rtept"), (b"trk", b"rte"), (b"trkseg", b"seg"), (b"Trackpoint", b"Point"),
                 (b"Activity", b"Course"), (b"gpx", b"GPX"), (b"TrainingCenterDatabase", b"tcd")]
        a, b = rng.choice(pairs)
        m.ops.append(f"tag_rename({a.decode()}->{b.decode()})")
        return re.sub(rb"(</?)" + a + rb"\b", rb"\1" + b, data)
    t = rng.choice(tags)
    m.ops.append("tag_unclose")
    return data[:t.end() - 1] + data[t.end():]


def _x_namespace(data: bytes, fmt: str, rng: random.Random, m: Mutant) -> bytes:
    how = rng.choice(["other", "junk", "remove", "prefix"])
    for ns in _NS[fmt]:
        if ns in data:
            break
    else:
        ns = None
    if how == "prefix":
        m.ops.append("namespace(prefix_rebound)")
        return re.sub(rb'xmlns:(\w+)="[^"]*"', rb'xmlns:\1="urn:wrong"', data, count=2)
    if ns is None:
        return _x_tags(data, fmt, rng, m)
    if how == "other":
        new = _NS["gpx"][1] if ns == _NS["gpx"][0] else (
            b"http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v1" if fmt == "tcx" else _NS["gpx"][0])
    elif how == "junk":
        new = b"urn:x-not-gpx"
    else:
        m.ops.append("namespace(remove)")
        return re.sub(rb'\sxmlns="[^"]*"', b"", data, count=1)
    m.ops.append(f"namespace({how})")
    return data.replace(ns, new)


def _x_truncate(data: bytes, fmt: str, rng: random.Random, m: Mutant) -> bytes:
    cut = rng.randrange(len(data)) if data else 0
    m.ops.append(f"truncate({cut})")
    return data[:cut]


def _insert_doctype(data: bytes, doctype: bytes) -> bytes:
    """The DOCTYPE after the XML declaration (or at the start)."""
    mt = re.match(rb"(\xef\xbb\xbf)?\s*<\?xml[^>]*\?>", data)
    at = mt.end() if mt else 0
    return data[:at] + doctype + data[at:]


def _into_text(data: bytes, fmt: str, rng: random.Random, text: bytes) -> bytes:
    """``text`` put in place of a name, or else inside the first point's time."""
    name = re.search(rb"(<(?:\w+:)?(?:name|Name|Notes)>)([^<]*)(</)", data)
    if name and rng.random() < 0.6:
        return data[:name.start(2)] + text + data[name.end(2):]
    t = _fields(fmt)["time"][0].search(data)
    if t:
        return data[:t.start(2)] + text + data[t.end(2):]
    return data


def _x_entity(data: bytes, fmt: str, rng: random.Random, m: Mutant) -> bytes:
    root = b"gpx" if fmt == "gpx" else b"TrainingCenterDatabase"
    how = rng.choice(["internal", "external", "undefined", "small_laughs", "charref", "cdata",
                      "comment_in_number", "parameter"])
    m.ops.append(f"entity({how})")
    if how == "internal":
        return _into_text(_insert_doctype(data, b'<!DOCTYPE ' + root + b' [<!ENTITY a "Morning &#38;#60; Run">]>'),
                          fmt, rng, b"&a;")
    if how == "external":
        return _into_text(_insert_doctype(
            data, b'<!DOCTYPE ' + root + b' [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'), fmt, rng, b"&xxe;")
    if how == "parameter":
        return _insert_doctype(data, b'<!DOCTYPE ' + root + b' [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]>')
    if how == "undefined":
        return _into_text(data, fmt, rng, b"&nope;")
    if how == "small_laughs":  # 10^4 expansions of a 3-byte string: small, but an expansion
        ents = b'<!ENTITY l0 "lol">' + b"".join(
            b'<!ENTITY l%d "%s">' % (i, b"".join(b"&l%d;" % (i - 1) for _ in range(10))) for i in range(1, 5))
        return _into_text(_insert_doctype(data, b"<!DOCTYPE " + root + b" [" + ents + b"]>"), fmt, rng, b"&l4;")
    if how == "charref":
        return _into_text(data, fmt, rng, rng.choice([b"&#0;", b"&#xD800;", b"&#xFFFE;", b"&#1114112;", b"&#65;"]))
    if how == "cdata":
        t = _fields(fmt)["time"][0].search(data)
        if t:
            return data[:t.start(2)] + b"<![CDATA[" + t.group(2) + b"]]>" + data[t.end(2):]
        return data
    e = _fields(fmt)["ele"][0].search(data)
    if e and len(e.group(2)) > 1:
        v = e.group(2)
        return data[:e.start(2)] + v[:1] + b"<!-- x -->" + v[1:] + data[e.end(2):]
    return data


def _x_encoding(data: bytes, fmt: str, rng: random.Random, m: Mutant) -> bytes:
    how = rng.choice(["utf16", "declared_utf16", "declared_bogus", "latin1_name", "invalid_utf8",
                      "nul", "bom", "utf16_bom_only"])
    m.ops.append(f"encoding({how})")
    if how == "utf16":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return data
        return re.sub(r'encoding="[^"]*"', 'encoding="UTF-16"', text, count=1).encode("utf-16")
    if how == "declared_utf16":
        return re.sub(rb'encoding="[^"]*"', b'encoding="UTF-16"', data, count=1)
    if how == "declared_bogus":
        return re.sub(rb'encoding="[^"]*"', b'encoding="x-bogus-42"', data, count=1)
    if how == "latin1_name":
        return _into_text(data, fmt, rng, "Carrera mañana".encode("latin-1"))
    if how == "invalid_utf8":
        return _into_text(data, fmt, rng, rng.choice([b"\xff\xfe", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80"]))
    if how == "nul":
        i = rng.randrange(len(data)) if data else 0
        return data[:i] + b"\0" + data[i:]
    if how == "bom":
        return b"\xef\xbb\xbf" + data
    return b"\xff\xfe" + data


def _x_bytes(data: bytes, fmt: str, rng: random.Random, m: Mutant) -> bytes:
    b = bytearray(data)
    how = rng.choice(["flip", "overwrite", "insert", "delete_range", "dup_range"])
    if not b:
        m.ops.append("bytes(empty)")
        return data
    if how == "flip":
        for _ in range(rng.choice([1, 3, 10])):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif how == "overwrite":
        for _ in range(rng.choice([1, 3, 10])):
            b[rng.randrange(len(b))] = rng.choice([0x3C, 0x3E, 0x26, 0x22, 0x00, 0xFF, rng.randrange(256)])
    elif how == "insert":
        i = rng.randrange(len(b))
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 32])))
    elif how == "delete_range":
        i = rng.randrange(len(b))
        del b[i:i + rng.choice([1, 10, 200])]
    else:
        i = rng.randrange(len(b))
        j = min(len(b), i + rng.choice([10, 200, 2000]))
        b[j:j] = b[i:j] * rng.choice([1, 3])
    m.ops.append(f"bytes({how})")
    return bytes(b)


_XML_OPS = {
    "value": _x_value, "value_all": _x_value_all, "points": _x_points, "tags": _x_tags,
    "namespace": _x_namespace, "truncate": _x_truncate, "entity": _x_entity,
    "encoding": _x_encoding, "bytes": _x_bytes,
}


# ------------------------------------------------------------------------------------- seeds

def _track(n: int, start: datetime, step_s: int = 1):
    """A small loop run: (time, lat, lon, ele, hr, strides/min, distance m, speed m/s)."""
    out, dist = [], 0.0
    for i in range(n):
        a = 2 * math.pi * i / max(n, 1)
        lat = 46.05 + 0.004 * math.sin(a)
        lon = 14.50 + 0.006 * math.cos(a)
        v = 2.9 + 0.3 * math.sin(i / 17.0)
        dist += v * step_s if i else 0.0
        out.append((start + timedelta(seconds=i * step_s), lat, lon, 295.0 + 8 * math.sin(a),
                    int(140 + 15 * math.sin(i / 40.0)), 84 + (i % 3), round(dist, 2), round(v, 3)))
    return out


def _fit_seed(n: int, start: datetime, **kw) -> bytes:
    pts = _track(n, start)
    semi = 2**31 / 180.0
    cols = {
        "timestamp": [p[0] for p in pts],
        "position_lat": [round(p[1] * semi) for p in pts],
        "position_long": [round(p[2] * semi) for p in pts],
        "distance": [p[6] for p in pts],
        "enhanced_speed": [p[7] for p in pts],
        "enhanced_altitude": [round(p[3], 1) for p in pts],
        "heart_rate": [p[4] for p in pts],
        "cadence": [p[5] for p in pts],
        "fractional_cadence": [0.5 if i % 2 else 0.0 for i in range(n)],
        "stance_time": [250.0 + (i % 7) for i in range(n)],
        "vertical_oscillation": [82.0 + (i % 5) for i in range(n)],
    }
    if kw.pop("stryd", False):
        cols.update({"Power": [250 + i % 9 for i in range(n)], "Cadence": [p[5] for p in pts],
                     "Ground Time": [240 + i % 5 for i in range(n)],
                     "Vertical Oscillation": [8.1] * n, "Form Power": [60] * n,
                     "Leg Spring Stiffness": [10.2] * n})
        kw["developer_fields"] = STRYD_FIELDS
    return encode_activity(records=cols, auto_lap_m=200.0, local_offset_s=7200, **kw)


def _gpx_seed(n: int, start: datetime) -> bytes:
    z = "%Y-%m-%dT%H:%M:%SZ"
    pts = "".join(
        f'   <trkpt lat="{la:.7f}" lon="{lo:.7f}">\n    <ele>{el:.1f}</ele>\n    <time>{t.strftime(z)}</time>\n'
        f"    <extensions>\n     <gpxtpx:TrackPointExtension>\n      <gpxtpx:hr>{hr}</gpxtpx:hr>\n"
        f"      <gpxtpx:cad>{cad}</gpxtpx:cad>\n     </gpxtpx:TrackPointExtension>\n    </extensions>\n"
        "   </trkpt>\n"
        for t, la, lo, el, hr, cad, _, _ in _track(n, start, 3))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx creator="StravaGPX" version="1.1" xmlns="http://www.topografix.com/GPX/1/1" '
        'xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1">\n'
        f" <metadata>\n  <time>{start.strftime(z)}</time>\n </metadata>\n"
        " <trk>\n  <name>Morning Run</name>\n  <type>running</type>\n  <trkseg>\n"
        f"{pts}  </trkseg>\n </trk>\n</gpx>\n").encode()


def _tcx_seed(n: int, start: datetime) -> bytes:
    z = "%Y-%m-%dT%H:%M:%S.000Z"
    track = _track(n, start, 2)
    pts = "".join(
        f"       <Trackpoint>\n        <Time>{t.strftime(z)}</Time>\n        <Position>\n"
        f"         <LatitudeDegrees>{la:.7f}</LatitudeDegrees>\n         <LongitudeDegrees>{lo:.7f}</LongitudeDegrees>\n"
        f"        </Position>\n        <AltitudeMeters>{el:.1f}</AltitudeMeters>\n"
        f"        <DistanceMeters>{d:.1f}</DistanceMeters>\n"
        f"        <HeartRateBpm>\n         <Value>{hr}</Value>\n        </HeartRateBpm>\n"
        f"        <Extensions>\n         <ns3:TPX>\n          <ns3:Speed>{v}</ns3:Speed>\n"
        f"          <ns3:RunCadence>{cad}</ns3:RunCadence>\n         </ns3:TPX>\n        </Extensions>\n"
        "       </Trackpoint>\n"
        for t, la, lo, el, hr, cad, d, v in track)
    secs = (n - 1) * 2
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2" '
        'xmlns:ns3="http://www.garmin.com/xmlschemas/ActivityExtension/v2">\n'
        ' <Activities>\n  <Activity Sport="Running">\n'
        f"   <Id>{start.strftime(z)}</Id>\n"
        f'   <Lap StartTime="{start.strftime(z)}">\n    <TotalTimeSeconds>{secs}</TotalTimeSeconds>\n'
        f"    <DistanceMeters>{track[-1][6]:.1f}</DistanceMeters>\n    <Calories>100</Calories>\n"
        "    <Intensity>Active</Intensity>\n    <TriggerMethod>Manual</TriggerMethod>\n"
        f"    <Track>\n{pts}    </Track>\n   </Lap>\n"
        "   <Creator xsi:type=\"Device_t\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
        "    <Name>Forerunner 935</Name>\n    <UnitId>3987654321</UnitId>\n    <ProductID>2691</ProductID>\n"
        "   </Creator>\n  </Activity>\n </Activities>\n</TrainingCenterDatabase>\n").encode()


def builtin_seeds() -> list[SeedFile]:
    """Small files written by footfall's own FIT writer and GPX/TCX templates (no corpus needed):
    FIT plain, with compressed timestamps, big-endian with developer fields, redefined records
    with a pause; a Strava-style GPX; a Garmin-style TCX."""
    t0 = datetime(2025, 5, 4, 6, 30, 0)
    return [
        SeedFile("builtin/run-plain.fit", "fit", _fit_seed(240, t0)),
        SeedFile("builtin/run-compressed.fit", "fit", _fit_seed(180, t0 + timedelta(days=1),
                                                                compressed_timestamps=True)),
        SeedFile("builtin/run-bigendian-stryd.fit", "fit", _fit_seed(150, t0 + timedelta(days=2),
                                                                     big_endian=True, stryd=True)),
        SeedFile("builtin/run-redefined.fit", "fit", _fit_seed(
            200, t0 + timedelta(days=3), redefine_records_at=40)),
        SeedFile("builtin/run-strava.gpx", "gpx", _gpx_seed(150, t0 + timedelta(days=4))),
        SeedFile("builtin/run-garmin.tcx", "tcx", _tcx_seed(120, t0 + timedelta(days=5))),
    ]


def date_overflow_mutants() -> list[Mutant]:
    """Three fixed mutants with the dates of issue 11's point 1 (year 1, year 9999) in builtin
    GPX and TCX seeds: the fuzz meets them by chance only now and then."""
    seeds = {s.fmt: s for s in builtin_seeds()}
    out = []
    for i, (fmt, tag, value, every) in enumerate([
            ("gpx", b"time", b"0001-01-01T00:00:00Z", False),
            ("gpx", b"time", b"9999-12-31T23:59:59Z", True),
            ("tcx", b"Id", b"0001-01-01T00:00:00Z", False)]):
        pat = re.compile(rb"(<" + tag + rb">)([^<]*)(</)")
        data = seeds[fmt].data
        at = data.find(b"<trkpt") if fmt == "gpx" and not every else 0  # the first point's time
        data = data[:at] + pat.sub(lambda mt: mt.group(1) + value + mt.group(3), data[at:],
                                   count=0 if every else 1)
        out.append(Mutant(data, f"overflow{i}.{fmt}", seeds[fmt].name,
                          [f"{'all' if every else 'one'}_{tag.decode()}({value.decode()})"], {"date-overflow"}))
    return out


def corpus_seeds(corpus: Path, max_bytes: int = 200_000, formats: tuple[str, ...] = FORMATS) -> list[SeedFile]:
    """The corpus files (``CATALOG.tsv``) of these formats up to ``max_bytes``, in catalog order."""
    cat = Path(corpus) / "CATALOG.tsv"
    if not cat.is_file():
        return []
    out = []
    with open(cat, newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            fmt, p = row.get("format"), Path(corpus) / row["path"]
            try:
                size = int(row.get("size_bytes") or 0)
            except ValueError:
                continue
            if fmt in formats and 0 < size <= max_bytes and p.is_file():
                out.append(SeedFile(row["path"], fmt, p.read_bytes()))
    return out
