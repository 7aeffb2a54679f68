"""Benchmark: footfall's columnar FIT decoder against the plain fitparse loop, same files, same run.

    python bench/bench_decode.py [--reps 3] [--min-records 2000] [--no-demo] [--corpus DIR]

Files: every FIT file of the shared corpus (``FOOTFALL_CORPUS``, default ``../shared/corpus``)
with at least ``--min-records`` record messages that the columnar path decodes (files it hands
to fitparse are listed with the reason), plus the demo export's FIT files
(``synth.sample.make_sample_export()``).

Baseline, timed in the same run over the same bytes: the plain fitparse loop every FIT tool
starts from, ``for m in FitFile(data).get_messages(): m.get_values()`` (developer definitions
reset per file). Contender: ``ingest.fit_columnar.read_fit_messages_columnar(data)``, which
returns polars frames. ``--reps`` rounds each time one fitparse pass and (best of 3) columnar
passes over the whole set, interleaved so that both see the same machine load; the medians are
reported as records/s (``record`` messages) and as the ratio (target >= 50x).

Values: every file's columnar frames are compared field by field with footfall's fitparse
reader (``ingest.fit_fitparse.read_fit_messages``, the reference the differential test uses); that
reader's own time is printed too. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import fitparse  # noqa: E402
import fitparse.records as fitparse_records  # noqa: E402

from ingest.fit_columnar import FallbackNeeded, read_fit_messages_columnar  # noqa: E402
from ingest.fit_fitparse import read_fit_messages  # noqa: E402
from ingest.fit_messages import compare_fit_messages  # noqa: E402


def plain_fitparse(data: bytes) -> int:
    """The baseline: fitparse's own loop, a dict of values per message. Returns messages seen."""
    fitparse_records.DEV_TYPES = {}  # fitparse keeps developer definitions across files
    n = 0
    for m in fitparse.FitFile(data).get_messages():
        m.get_values()
        n += 1
    return n


def corpus_files(corpus: Path, min_records: int) -> tuple[list[tuple[str, bytes, int]], list]:
    """(name, bytes, records) of corpus FIT files with many records; and the fallbacks."""
    chosen, fallbacks = [], []
    for p in sorted(p for p in corpus.rglob("*") if p.suffix.lower() == ".fit"):
        data = p.read_bytes()
        name = str(p.relative_to(corpus))
        try:
            fm = read_fit_messages_columnar(data)
        except FallbackNeeded as err:
            fallbacks.append((name, err.reason))
            continue
        rec = fm.frames.get("record")
        n = rec.height if rec is not None else 0
        if n >= min_records:
            try:  # the baseline must read the same bytes to the end (fitparse 1.2.0 refuses a
                plain_fitparse(data)  # field size that is not a multiple of its type's)
            except Exception as err:  # noqa: BLE001 - any fitparse error: not comparable
                fallbacks.append((name, f"columnar reads it, plain fitparse stops: {err}"))
                continue
            chosen.append((name, data, n))
    return chosen, fallbacks


def demo_files() -> list[tuple[str, bytes, int]]:
    """(name, bytes, records) of the demo export's FIT files (``footfall demo``'s data)."""
    try:
        from synth.sample import make_sample_export
    except ImportError as err:
        print(f"demo export unavailable ({err}); corpus files only")
        return []
    out = []
    for name, data in sorted(make_sample_export().items()):
        if name.lower().endswith(".fit"):
            try:
                rec = read_fit_messages_columnar(data).frames.get("record")
            except FallbackNeeded as err:
                print(f"  demo {name} falls back to fitparse: {err.reason}")
                continue
            out.append((name, data, rec.height if rec is not None else 0))
    return out


def one_pass(fn, files) -> list[float]:
    """Seconds per file for one pass of ``fn`` over ``files``."""
    per = []
    for _name, data, _n in files:
        t = time.perf_counter()
        fn(data)
        per.append(time.perf_counter() - t)
    return per


def time_interleaved(files, reps: int) -> tuple[list[float], list[float], list, list]:
    """``reps`` rounds of (fitparse pass, columnar passes) so both see the same machine load.

    Returns the per-round totals of each decoder and the per-file seconds of each one's fastest
    round. The columnar pass is repeated 3 times per round (its minimum is the round's figure):
    it is short enough for a background hiccup to matter.
    """
    fp_tot, col_tot, fp_best, col_best = [], [], None, None
    for _ in range(reps):
        fp = one_pass(plain_fitparse, files)
        col = min((one_pass(read_fit_messages_columnar, files) for _ in range(3)), key=sum)
        fp_tot.append(sum(fp))
        col_tot.append(sum(col))
        fp_best = fp if fp_best is None or sum(fp) < sum(fp_best) else fp_best
        col_best = col if col_best is None or sum(col) < sum(col_best) else col_best
    return fp_tot, col_tot, fp_best, col_best


def check_values(files) -> tuple[int, list[str], float]:
    """Compare every file's columnar frames with ingest.fit_fitparse's; (fields compared, problems, s)."""
    problems, n_values, ref_s = [], 0, 0.0
    for name, data, _n in files:
        t = time.perf_counter()
        ref = read_fit_messages(data)
        ref_s += time.perf_counter() - t
        got = read_fit_messages_columnar(data)
        diffs = compare_fit_messages(ref, got)
        problems += [f"{name}: {d}" for d in diffs]
        n_values += sum(df.height * (df.width - 1) for df in ref.frames.values())
    return n_values, problems, ref_s


def report(label: str, files, reps: int, per_file: bool) -> tuple[float, float, int]:
    records = sum(n for *_x, n in files)
    read_fit_messages_columnar(files[0][1])  # imports and caches warm, outside the timing
    fp_tot, col_tot, fp_files, col_files = time_interleaved(files, reps)
    t_fp, t_col = statistics.median(fp_tot), statistics.median(col_tot)
    print(f"\n{label}: {len(files)} files, {records:,} records")
    if per_file:
        print(f"  {'file':64s} {'records':>8s} {'fitparse s':>10s} {'columnar ms':>11s}"
              f" {'ratio':>6s}")
        for (name, _d, n), a, b in zip(files, fp_files, col_files):
            print(f"  {name[-64:]:64s} {n:8d} {a:10.3f} {b * 1000:11.2f} {a / b:6.1f}")
    print(f"  plain fitparse loop : {t_fp:8.3f} s   {records / t_fp:12,.0f} records/s")
    print(f"  columnar            : {t_col:8.3f} s   {records / t_col:12,.0f} records/s")
    rounds = ", ".join(f"{a / b:.0f}x" for a, b in zip(fp_tot, col_tot))
    print(f"  ratio               : {t_fp / t_col:8.1f} x   (medians of {reps} rounds; "
          f"per round: {rounds})")
    return t_fp, t_col, records


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3,
                    help="rounds (medians reported); a round = one fitparse pass + best of 3 "
                         "columnar passes")
    ap.add_argument("--min-records", type=int, default=2000)
    ap.add_argument("--corpus", type=Path,
                    default=Path(os.environ.get("FOOTFALL_CORPUS",
                                                ROOT.parent / "shared" / "corpus")))
    ap.add_argument("--no-demo", action="store_true", help="skip the demo export's FIT files")
    ap.add_argument("--per-file", action="store_true", help="print a line per file")
    args = ap.parse_args(argv)

    sets = []
    if args.corpus.is_dir():
        files, fallbacks = corpus_files(args.corpus, args.min_records)
        print(f"corpus {args.corpus}: {len(files)} FIT files with >= {args.min_records} records "
              f"decoded columnar; {len(fallbacks)} FIT files fall back to fitparse:")
        for name, reason in fallbacks:
            print(f"  {name}: {reason}")
        if files:
            sets.append(("corpus files with many records", files))
    else:
        print(f"corpus not found at {args.corpus} (set FOOTFALL_CORPUS); demo files only")
    if not args.no_demo:
        demo = demo_files()
        if demo:
            sets.append(("demo export (synth.sample) FIT files", demo))
    if not sets:
        print("no files to time")
        return 1

    all_files = [f for _label, files in sets for f in files]
    n_values, problems, ref_s = check_values(all_files)
    records = sum(n for *_x, n in all_files)
    print(f"\nvalues: {n_values:,} field values of {len(all_files)} files compared with "
          f"ingest.fit_fitparse.read_fit_messages: "
          f"{'identical' if not problems else f'{len(problems)} DIFFERENCES'}")
    for p in problems[:20]:
        print(f"  {p}")
    print(f"  (ingest.fit_fitparse.read_fit_messages, one pass: {ref_s:.2f} s, "
          f"{records / ref_s:,.0f} records/s)")

    tot_fp = tot_col = 0.0
    for label, files in sets:
        t_fp, t_col, _n = report(label, files, args.reps, args.per_file)
        tot_fp += t_fp
        tot_col += t_col
    print(f"\nall files: {records:,} records; plain fitparse {records / tot_fp:,.0f} records/s, "
          f"columnar {records / tot_col:,.0f} records/s; ratio {tot_fp / tot_col:.1f}x "
          f"(target >= 50x)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
