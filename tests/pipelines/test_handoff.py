"""Issue 17: a decode worker's results are pickled with their frames packed
(``pipelines.handoff``): all-NULL columns and columns of few runs travel small, and the landing
process unpickles the very frames the worker built."""

from __future__ import annotations

import pickle
from multiprocessing.reduction import ForkingPickler

import numpy as np
import polars as pl
import pytest

from pipelines.handoff import MIN_ROWS, packed
from pipelines.work import DeriveContext, FileResult, decode_batch


def _round_trip(obj):
    return pickle.loads(bytes(ForkingPickler.dumps(obj)))  # as concurrent.futures sends results


def _float_bits(s: pl.Series) -> np.ndarray:
    return s.to_numpy().view(np.int64)


def assert_same_frame(a: pl.DataFrame, b: pl.DataFrame, what: str = "") -> None:
    assert a.schema == b.schema, what
    assert a.equals(b, null_equal=True), what
    for name, dtype in a.schema.items():
        ma, mb = a.get_column(name).is_null().to_numpy(), b.get_column(name).is_null().to_numpy()
        assert (ma == mb).all(), (what, name)
        if dtype in (pl.Float32, pl.Float64):  # NaN vs NaN, -0.0 vs 0.0: the bits themselves
            fa, fb = a.get_column(name).cast(pl.Float64), b.get_column(name).cast(pl.Float64)
            assert (_float_bits(fa)[~ma] == _float_bits(fb)[~mb]).all(), (what, name)


def test_every_column_kind_unpickles_as_it_was():
    n = 1000
    rng = np.random.default_rng(17)
    runs = np.repeat(np.arange(20), 50)  # 20 runs of 50 rows: sent as runs
    df = pl.DataFrame(
        [
            pl.Series("activity_id", ["act-0123456789abcdef"] * n),  # one run, longer than 12 bytes
            pl.Series("gait", np.where(runs % 2 == 0, "run", "walk")).set(pl.Series(runs == 3), None),
            pl.Series("field_number", runs.astype(np.int32)),
            pl.Series("flag", runs % 3 == 0),
            pl.Series("record_index", np.arange(n, dtype=np.int32)),  # as many runs as rows: as is
            pl.Series("note", [f"n{i % 7}" for i in range(n)]),  # short runs: as is
            pl.Series("speed_mps", np.where(runs % 2 == 0, -0.0, 0.0)),  # floats: never as runs
            pl.Series("nan_mps", np.full(n, np.nan)),
            pl.Series("recorded_at", (np.arange(n) * 1_000_000).astype("datetime64[us]")).cast(pl.Datetime("us", "UTC")),
            *[pl.Series(f"null_{i}", [None], dtype=dt).new_from_index(0, n)
              for i, dt in enumerate([pl.Float64, pl.Utf8, pl.Int32, pl.Boolean, pl.Datetime("us"),
                                      pl.Datetime("us", "UTC"), pl.Null, pl.List(pl.Int32), pl.Categorical])],
            pl.Series("value", rng.normal(size=n)),
        ]
    )
    out = _round_trip(packed(df))
    assert isinstance(out, pl.DataFrame)
    assert_same_frame(df, out, "synthetic")
    assert len(pickle.dumps(packed(df))) < len(pickle.dumps(df)) / 2  # it did send less
    small = df.head(MIN_ROWS - 1)
    assert packed(small) is small  # too short to bother
    dense = df.select("record_index", "value")
    assert packed(dense) is dense  # nothing to pack


@pytest.fixture(scope="module")
def results(corpus_dir, catalog):
    """Every corpus file the pipeline reads (FIT, GPX, TCX), decoded and derived in this process."""
    ctx = DeriveContext(athlete_id="handoff")
    out = []
    for rel, row in catalog.items():
        if row["format"] in ("fit", "gpx", "tcx") and (corpus_dir / rel).is_file():
            data = (corpus_dir / rel).read_bytes()
            out.extend(decode_batch([(str(corpus_dir / rel), None, rel, data, None)], ctx))
    assert len(out) > 100, len(out)
    return out


def test_every_corpus_file_reaches_the_landing_process_unchanged(results):
    sent = unpacked = 0
    for r in results:
        back = _round_trip(r)
        assert isinstance(back, FileResult)
        for f in FileResult.__dataclass_fields__:
            if f not in ("decoded", "metrics"):
                assert getattr(back, f) == getattr(r, f), (r.name, f)
        assert (back.metrics is None) == (r.metrics is None), r.name
        if r.metrics is not None:
            assert_same_frame(r.metrics, back.metrics, f"{r.name}: metrics")
        assert (back.decoded is None) == (r.decoded is None), r.name
        if r.decoded is None:
            continue
        for name, value in vars(r.decoded).items():
            if isinstance(value, pl.DataFrame):
                assert_same_frame(value, getattr(back.decoded, name), f"{r.name}: {name}")
            else:
                assert getattr(back.decoded, name) == value, (r.name, name)
        sent += len(ForkingPickler.dumps(r))
        unpacked += len(pickle.dumps(r.decoded.__dict__)) + len(pickle.dumps(r.metrics))
    assert sent < unpacked * 0.8, (sent, unpacked)  # the corpus as a whole travels smaller


def test_pickling_leaves_the_workers_result_as_it_was(results):
    r = max(results, key=lambda r: r.decoded.developer_values.height if r.decoded else 0)
    assert r.decoded.developer_values.height >= MIN_ROWS, "no corpus file with developer fields"
    before = {k: v for k, v in vars(r.decoded).items()}
    ForkingPickler.dumps(r)
    assert all(getattr(r.decoded, k) is v for k, v in before.items())  # frames, not stand-ins
