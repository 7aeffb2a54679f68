"""A decoded file's frames, made smaller for the trip from a decode worker to the landing process.

A worker's results travel pickled through a pipe (``concurrent.futures``, or Dask's comms with
``--cluster``). Half of those bytes said nothing: columns of NULLs (a watch without power or
running dynamics), and text repeated on every row (``activity_id`` on every record; the
activity, message, field name and units on every developer value). Measured on the 5-year
bench archive (issue 17): 1.65 MB -> 0.70 MB per file, pickling 3.6 -> 2.2 ms, unpickling
1.5-1.9 -> 0.9 ms.

``packed(df)`` stands in for a frame in what gets pickled; unpickling it builds the very same
frame (names, order, dtypes, values and NULLs): an all-NULL column is one NULL repeated, a
column of few runs (text, integers, booleans) is its runs, expanded by ``gather``. Floats and
times are sent as they are (a run test would merge 0.0 with -0.0). Nothing else sees the
difference: there is no packed frame outside a pickle.
"""

from __future__ import annotations

import numpy as np
import polars as pl

#: Frames shorter than this are pickled as they are: packing them would save almost nothing.
MIN_ROWS = 256
#: A column is sent as runs when it has at most one run per this many rows.
ROWS_PER_RUN = 16
#: dtypes whose equal values are identical (no -0.0, no NaN): safe to send as runs.
RUN_DTYPES = frozenset(
    {pl.Utf8, pl.Boolean, pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64}
)


class _Packed:
    """Pickles as the recipe that rebuilds its frame (``__reduce__``): the unpickler gets a
    ``pl.DataFrame``, never this object."""

    __slots__ = ("args",)

    def __init__(self, *args):
        self.args = args

    def __reduce__(self):
        return unpack, self.args


def packed(df):
    """``df`` itself, or a stand-in that pickles smaller and unpickles as an equal frame.

    The columns sent as they are stay one frame (one polars serialization: per column, its
    fixed cost is more than the packing saves); the others are plain Python values."""
    if not isinstance(df, pl.DataFrame) or df.height < MIN_ROWS:
        return df
    n = df.height
    names = df.columns
    packs: list[tuple] = []  # (name, dtype, run lengths or None, run values)
    for s in df.get_columns():
        if s.null_count() == n:
            packs.append((s.name, s.dtype, None, None))
        elif s.dtype in RUN_DTYPES:
            runs = s.rle().struct.unnest()
            if runs.height * ROWS_PER_RUN <= n:
                packs.append((s.name, s.dtype, runs.get_column("len").to_list(),
                              runs.get_column("value").to_list()))
    if not packs:
        return df
    return _Packed(n, names, df.drop([p[0] for p in packs]), packs)


def unpack(height: int, names: list[str], rest: pl.DataFrame, packs: list[tuple]) -> pl.DataFrame:
    """The frame ``packed`` stood in for: its columns in their order."""
    cols = dict(zip(rest.columns, rest.get_columns()))
    for name, dtype, lengths, values in packs:
        if lengths is None:  # all NULL
            cols[name] = pl.Series(name, [None], dtype=dtype).new_from_index(0, height)
        elif len(lengths) == 1:
            cols[name] = pl.Series(name, values, dtype=dtype).new_from_index(0, height)
        else:
            at = np.repeat(np.arange(len(lengths), dtype=np.uint32), lengths)
            cols[name] = pl.Series(name, values, dtype=dtype).gather(at)
    return pl.DataFrame([cols[name] for name in names])
